"""Statistical twins: exact lookalike search of prospects among clients.

:class:`TwinIndex` is fitted on the clients (the converted contacts, the seed
audience) and searched with the prospects: for each prospect, its ``k`` most
similar clients — its statistical twins — with their similarities, a
lookalike score, audience expansion and readable explanations.

Metrics
-------
``"cosine"``, ``"inner_product"``, ``"sqeuclidean"``
    Dense float32 features (a numeric matrix, or a contact table encoded with
    :meth:`ContactTable.encode`: numbers standardised on the population given
    to ``fit``, one-hot categories).
    ``sqeuclidean`` reports squared distances (smaller is more alike). A zero
    vector has cosine similarity 0 with anything.
``"jaccard"``, ``"weighted_jaccard"``
    Category sets (a 0/1 matrix, or a contact table's category-set column) as
    bitsets; the weighted form weighs each category (by default its inverse
    document frequency among the clients, so rare categories count more).
    Two empty sets have similarity 0.
``"mixed"``
    Gower-style: a weighted mean over the columns of a contact table —
    numeric columns ``1 - |a - b| / range`` (clipped at 0; the range of the
    population given to ``fit``, else of the clients), categorical columns 1
    when equal and 0 otherwise (an unseen category matches nothing),
    category sets their Jaccard similarity. A part missing on either side
    drops out of that pair's mean (its weight is not counted); a pair with no
    part left has similarity 0.

Blocking (``block_on``) restricts each prospect's twins to clients with
exactly the same values of the key columns (compared as a tuple, whatever
their number and cardinality; a missing or unseen key matches nothing).
Protected attributes (``exclude``) are left out of the similarity, the
blocking and the explanations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from . import _core, _frames
from ._config import resolve_threads
from ._progress import progress as progress_bar
from ._validation import as_vector, check_int
from .table import ContactTable, Schema

__all__ = ["TwinIndex", "TwinResult", "METRICS"]

METRICS = ("cosine", "inner_product", "sqeuclidean", "jaccard", "weighted_jaccard", "mixed")
_ALIASES = {"ip": "inner_product", "l2": "sqeuclidean", "euclidean2": "sqeuclidean", "gower": "mixed"}
_DENSE = ("cosine", "inner_product", "sqeuclidean")
_BITS = ("jaccard", "weighted_jaccard")


@dataclass
class TwinResult:
    """The twins of each prospect.

    Row i is prospect i; its first ``counts[i]`` slots hold twins, best first
    (ties: lower client row first). Slots past the count hold client row -1,
    client id -1 (integer ids) or None (other ids) and similarity -inf (+inf
    distance for ``sqeuclidean``): nothing is padded with a real-looking
    neighbour. ``score`` and ``value_score`` never hold NaN or infinities.
    """

    metric: str
    k: int
    rows: np.ndarray           # (n, k) int64 client rows, -1 past the count
    similarities: np.ndarray   # (n, k) float32 (squared distances for sqeuclidean)
    counts: np.ndarray         # (n,) int32 twins found
    prospect_ids: np.ndarray   # (n,)
    client_ids: np.ndarray     # (n, k), -1 or None past the count
    score: np.ndarray          # (n,) lookalike score
    value_score: np.ndarray | None = None  # (n,) value-weighted lookalike score

    def __len__(self) -> int:
        return len(self.counts)

    def __repr__(self) -> str:
        short = int(np.count_nonzero(self.counts < self.k))
        return (f"TwinResult({len(self):,} prospects, k={self.k}, metric={self.metric!r}, "
                f"{short:,} with fewer than k twins)")

    def _repr_html_(self) -> str:
        from . import _display  # every display is drawn there
        return _display.twin_result(self)

    def to_pandas(self) -> pd.DataFrame:
        """One row per (prospect, twin) found: prospect_id, rank (1 = best), client_id, similarity."""
        found = self.rows >= 0
        i, r = np.nonzero(found)
        return pd.DataFrame({
            "prospect_id": self.prospect_ids[i],
            "rank": (r + 1).astype(np.int32),
            "client_id": self.client_ids[i, r],
            "similarity": self.similarities[i, r],
        })

    def scores(self) -> pd.DataFrame:
        """One row per prospect: prospect_id, twins found, lookalike score (and value score)."""
        out = {"prospect_id": self.prospect_ids, "twins": self.counts, "score": self.score}
        if self.value_score is not None:
            out["value_score"] = self.value_score
        return pd.DataFrame(out)


class TwinIndex:
    """Exact top-k lookalike search of prospects among clients.

    Parameters
    ----------
    metric : one of ``METRICS`` (aliases: "l2", "ip", "gower").
    block_on : categorical columns whose values a twin must share exactly.
    weights : ``mixed``: ``{column: weight}`` or one weight per column of
        ``columns_used_`` (default 1 each); ``weighted_jaccard``: one weight
        per category (default: inverse document frequency among the clients);
        dense metrics: one weight per feature (features scaled by its square
        root). Weights are finite and >= 0.
    exclude : columns never used (protected attributes: not in the
        similarity, the blocking or the explanations).
    columns : the columns to compare (default: every column of the clients'
        table except the id, ``block_on`` and ``exclude``).
    progress : show a progress bar during long searches (tqdm when
        installed, else a line on stderr).
    n_threads : threads for fit and search (None: the ``threads(n)`` block
        around the call, else the process default).
    prospect_tile, client_tile : work sizes of the engine (prospects per work
        item, clients per scored tile); they trade cache use for overhead and
        never change the result.
    """

    def __init__(self, metric: str = "mixed", *, block_on: Sequence[str] | None = None, weights=None,
                 exclude: Sequence[str] | None = None, columns: Sequence[str] | None = None,
                 progress: bool = False, n_threads: int | None = None, prospect_tile: int = 192,
                 client_tile: int = 1024):
        self.metric = metric
        self.block_on = block_on
        self.weights = weights
        self.exclude = exclude
        self.columns = columns
        self.progress = progress
        self.n_threads = n_threads
        self.prospect_tile = prospect_tile
        self.client_tile = client_tile

    # ------------------------------------------------------------------ fit
    def fit(self, clients, value=None, *, id: str | None = None, population=None,
            schema: Schema | None = None) -> "TwinIndex":
        """Index the clients.

        Parameters
        ----------
        clients : a numeric matrix (dense metrics, used as given), a 0/1
            matrix (Jaccard metrics), or a table — pandas DataFrame, Arrow
            table, mapping of arrays or :class:`ContactTable` — for any metric.
        value : an array, or the name of a numeric column of the clients:
            what each client is worth (e.g. its margin), weighing the value
            score. A value column is read, not compared — prospects have no
            value — so it is not in ``columns_used_`` unless ``columns=``
            names it.
        id : the clients' id column (default: the DataFrame's index, or row
            numbers).
        population : the contacts the prospects come from — all contacts (the
            clients among them), or the prospects, or a sample of them — as a
            table with the clients' columns (others are ignored). The schema
            that encodes both sides is learnt on it: the categories, and for
            numeric columns the mean and standard deviation that dense
            metrics standardise with and the range of the mixed metric's
            numeric parts. The clients' own statistics describe only the
            seed: standardised on them, every feature is centred on the
            clients and the score no longer tells clients from the rest.
        schema : a :class:`Schema` learnt beforehand on the population (e.g.
            ``ContactTable.from_pandas(contacts).schema``, or
            ``Schema.load(path)``), instead of ``population``.

        Without ``population`` or ``schema`` the schema is learnt on the
        clients (``schema_learnt_on_ == "clients"``): dense metrics then refuse
        a table with numeric columns (pass ``population=clients`` to
        standardise on the clients knowingly); the mixed metric takes its
        numeric ranges from the clients (Gower's convention); categories and
        category sets do not depend on it. A :class:`ContactTable` keeps its
        own schema unless ``population`` or ``schema`` is given.
        """
        metric = _ALIASES.get(self.metric, self.metric)
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {self.metric!r}")
        self.metric_ = metric
        block_on = _names(self.block_on, "block_on")
        exclude = _names(self.exclude, "exclude")
        if set(block_on) & set(exclude):
            raise ValueError(f"columns {sorted(set(block_on) & set(exclude))} are both excluded (protected) and "
                             "blocking keys: a protected column cannot be used for blocking")
        check_int(self.prospect_tile, "prospect_tile", min_value=1, max_value=65536)
        check_int(self.client_tile, "client_tile", min_value=8, max_value=1 << 20)
        if population is not None and schema is not None:
            raise ValueError("give population or schema, not both (schema is learnt on a population)")
        if schema is not None and not isinstance(schema, Schema):
            raise TypeError(f"schema must be a twinscore Schema, got {type(schema).__name__}")
        value_column = value if isinstance(value, str) else None
        self.value_column_ = value_column

        if _is_matrix(clients):
            if block_on or self.columns is not None or exclude:
                raise ValueError("block_on, columns and exclude name table columns: pass the clients as a table "
                                 "(DataFrame, Arrow table or ContactTable), not a bare matrix")
            if value_column is not None:
                raise ValueError("value names a column: pass the clients as a table, or value as an array")
            if population is not None or schema is not None:
                raise ValueError("population and schema encode tables; a matrix is used as given (standardise it "
                                 "on the population yourself, or pass the clients as a table)")
            self.schema_ = None
            self.schema_learnt_on_ = None
            self._fit_matrix(clients)
        else:
            table, ids = _as_table(clients, id=id, schema=None, extra=[value_column] if value_column else [])
            self._value_source = {value_column: table.numeric(value_column)} if value_column else {}
            used = self._columns_to_compare(table, block_on, exclude, value_column)
            keyed = used + [c for c in block_on if c not in used]
            encoding = self._encoding(table, keyed, population, schema, own=not isinstance(clients, ContactTable))
            if encoding is not None:  # the clients read with the population's codes and statistics
                table, _ = _as_table(clients, id=id, schema=encoding)
            self._fit_table(table, ids, used, block_on, exclude)

        n = self.n_clients_
        if value is None:
            self.value_ = None
        elif value_column is not None:
            self.value_ = as_vector(self._value_source[value_column], f"value column '{value_column}'", n)
        else:
            self.value_ = as_vector(value, "value", n)
        return self

    def _options(self) -> dict:
        return {"prospect_tile": int(self.prospect_tile), "client_tile": int(self.client_tile)}

    def _fit_matrix(self, X):
        metric = self.metric_
        if metric == "mixed":
            raise ValueError("the mixed metric compares the columns of a table: pass the clients as a table")
        self.block_on_, self.excluded_ = [], []
        if metric in _DENSE:
            X = _frames.numeric_matrix(X, "clients")
            self.n_features_in_ = X.shape[1]
            self.feature_names_ = [f"x{j}" for j in range(X.shape[1])]
            self._dense_weights = _dense_weights(self.weights, X.shape[1])
            X = self._weigh(X)
            side = {"dense": X}
        else:
            bits, m = _pack_matrix(X, "clients")
            self.n_features_in_ = m
            self.feature_names_ = [str(j) for j in range(m)]
            side = {"bits": bits}
            self._bit_weights = self._jaccard_weights(m, self.feature_names_)
        self.columns_used_ = list(self.feature_names_) if metric in _DENSE else []
        self.client_ids_ = np.arange(len(side.get("dense", side.get("bits"))))
        self.n_clients_ = len(self.client_ids_)
        self._clients_side = side
        self.index_ = _core.TwinIndex.fit(metric, **side, bit_weights=self._bit_weights_list(), **self._options(),
                                          n_threads=resolve_threads(self.n_threads))
        self._read_bit_weights()
        self.n_blocks_ = 1

    def _columns_to_compare(self, table: ContactTable, block_on, exclude, value_column) -> list[str]:
        """The clients' columns the similarity reads (checked against block_on, exclude and columns)."""
        metric = self.metric_
        names = table.schema.names
        for what, cols in (("block_on", block_on), ("exclude", exclude)):
            for c in cols:
                if c not in names and c != value_column:
                    raise KeyError(f"{what} names column '{c}', which the clients do not have (columns: {names})")
        if self.columns is not None:
            used = _names(self.columns, "columns")
            for c in used:
                if c not in names:
                    raise KeyError(f"columns names '{c}', which the clients do not have (columns: {names})")
                if c in exclude:
                    raise ValueError(f"column '{c}' is both in columns and excluded")
        else:
            used = [c for c in names if c not in block_on and c not in exclude and c != value_column
                    and table.schema[c].role != "timestamp"]
        if metric in _BITS:
            sets = [c for c in used if table.schema[c].role == "category_set"]
            if len(sets) != 1:
                raise ValueError(f"metric {metric!r} compares one category-set column; the clients have {sets} "
                                 "among the columns used (choose one with columns=[...])")
            used = sets
        if not used:
            raise ValueError("no column is left to compare the clients on")
        return used

    def _fit_table(self, table: ContactTable, ids, used, block_on, exclude):
        metric = self.metric_
        for c in block_on:
            if table.schema[c].role != "categorical":
                raise TypeError(f"block_on column '{c}' is {table.schema[c].role}; blocking keys must be categorical")
        self.columns_used_ = used
        self.block_on_ = block_on
        self.excluded_ = exclude
        self.schema_ = table.schema.select(used + [c for c in block_on if c not in used])
        self.client_ids_ = ids
        self.n_clients_ = len(table)
        self._clients_table = table
        side = self._table_side(table, fitting=True)
        self._clients_side = side
        self.index_ = _core.TwinIndex.fit(metric, **side, **self._mixed_config(table),
                                          bit_weights=self._bit_weights_list(), key_other=self._key_other(),
                                          **self._options(), n_threads=resolve_threads(self.n_threads))
        self._read_bit_weights()
        self.n_blocks_ = self.index_.n_blocks

    # The engine's view of one side of a table-based index.
    def _table_side(self, table: ContactTable, fitting: bool = False) -> dict:
        metric = self.metric_
        side: dict[str, Any] = {}
        if metric in _DENSE:
            enc = table.encode(self.columns_used_)
            if fitting:
                self.feature_names_ = enc.feature_names
                self.n_features_in_ = enc.X.shape[1]
                self._dense_weights = _dense_weights(self.weights, enc.X.shape[1])
            side["dense"] = self._weigh(enc.X)
        elif metric in _BITS:
            name = self.columns_used_[0]
            bits = np.ascontiguousarray(table.bitsets(name))
            side["bits"] = bits
            if fitting:
                cats = list(table.schema[name].categories) + ["(other)"]
                self.feature_names_ = cats
                self.n_features_in_ = len(cats)
                self._bit_weights = self._jaccard_weights(len(cats), cats)
        else:
            roles = table.roles
            side["numeric"] = [np.ascontiguousarray(table.numeric(c), dtype=np.float32)
                               for c in self.columns_used_ if roles[c] == "numeric"]
            side["categorical"] = [table.codes(c) for c in self.columns_used_ if roles[c] == "categorical"]
            side["sets"] = [(np.ascontiguousarray(table.bitsets(c)), table.set_missing(c).view(np.uint8))
                            for c in self.columns_used_ if roles[c] == "category_set"]
        if self.block_on_:  # the engine blocks on the tuple of the key columns' codes
            side["keys"] = [table.codes(c) for c in self.block_on_]
        return side

    def _key_other(self) -> list[int]:
        """Each key column's "unseen" code: a value outside the schema's dictionary matches no one."""
        return [len(self.schema_[c].categories) for c in self.block_on_]

    def _encoding(self, table: ContactTable, names: list[str], population, schema, own: bool) -> Schema | None:
        """The schema both sides are encoded with, or None for the one the clients were read with.

        ``own``: that schema was learnt on these clients (a frame read here; a
        ContactTable's schema is its builder's choice, unless its numeric
        statistics are its own).
        """
        if schema is not None:
            self.schema_learnt_on_ = "given"
            return _select(schema, names, "schema")
        if population is not None:
            self.schema_learnt_on_ = "population"
            return _select(_population_schema(population, table.schema, names), names, "population")
        own = own or _statistics_are_own(table, names)
        self.schema_learnt_on_ = "clients" if own else "given"
        numeric = [c for c in names if table.schema[c].role == "numeric"]
        if own and self.metric_ in _DENSE and numeric:
            raise ValueError(
                f"metric {self.metric_!r} standardises the numeric columns {numeric[:6]} with the mean and "
                "standard deviation of a schema; learnt on the clients alone, they centre every feature on the "
                "clients, and the lookalike score no longer tells clients from the rest (on real data it can rank "
                "prospects below random). Pass population= (all contacts, or the prospects: the schema is learnt "
                "on them) or schema= (a Schema learnt on them); population=clients standardises on the clients "
                "knowingly")
        return None

    def _mixed_config(self, table: ContactTable) -> dict:
        if self.metric_ != "mixed":
            return {}
        roles = table.roles
        w = _column_weights(self.weights, self.columns_used_)
        self.weights_ = dict(zip(self.columns_used_, w))
        by = {r: [c for c in self.columns_used_ if roles[c] == r] for r in ("numeric", "categorical", "category_set")}
        # The population's range (from the schema) unless the schema is the clients' own: then the engine
        # learns it on the clients, as Gower's coefficient does on the sample it compares.
        ranges = [] if self.schema_learnt_on_ == "clients" else [_range(self.schema_[c]) for c in by["numeric"]]
        return {
            "numeric_ranges": ranges,
            "numeric_weights": [self.weights_[c] for c in by["numeric"]],
            "categorical_weights": [self.weights_[c] for c in by["categorical"]],
            "categorical_other": [len(table.schema[c].categories) for c in by["categorical"]],
            "set_weights": [self.weights_[c] for c in by["category_set"]],
        }

    def _jaccard_weights(self, m: int, names: list[str]) -> np.ndarray | None:
        """The user's category weights, or None: no weights (jaccard) or the engine's IDF (weighted_jaccard)."""
        if self.metric_ == "jaccard":
            if self.weights is not None:
                raise ValueError("metric 'jaccard' takes no weights; use metric='weighted_jaccard'")
            return None
        if self.weights is None:  # inverse document frequency among the clients, computed by the engine at fit
            return None
        if isinstance(self.weights, Mapping):
            unknown = [c for c in self.weights if c not in names]
            if unknown:
                raise KeyError(f"weights name categories {unknown} that are not among {names}")
            w = np.array([self.weights.get(c, 1.0) for c in names], dtype=np.float64)
        else:
            w = np.asarray(self.weights, dtype=np.float64)
            if w.ndim != 1 or len(w) not in (m, m - 1 if names[-1:] == ["(other)"] else m):
                raise ValueError(f"weights must hold one weight per category ({m}), got shape {w.shape}")
            if len(w) == m - 1:
                w = np.append(w, 1.0)
        _check_weights(w)
        return w

    def _read_bit_weights(self):
        """weighted_jaccard: the weights the engine used (given or IDF), one per category."""
        if self.metric_ != "weighted_jaccard":
            return
        w = np.asarray(self.index_.bit_weights, dtype=np.float32)[: self.n_features_in_]
        self._bit_weights = w
        self.weights_ = dict(zip(self.feature_names_, w.astype(np.float64).tolist()))

    def _bit_weights_list(self) -> list[float]:
        w = getattr(self, "_bit_weights", None)
        if self.metric_ != "weighted_jaccard" or w is None:
            return []
        words = (len(w) + 63) // 64
        full = np.zeros(words * 64, dtype=np.float32)
        full[: len(w)] = w
        return full.tolist()

    def _weigh(self, X: np.ndarray) -> np.ndarray:
        w = getattr(self, "_dense_weights", None)
        if w is None:
            return X
        if X.shape[1] != len(w):
            raise ValueError(f"the prospects have {X.shape[1]} features, the clients had {len(w)}")
        return np.ascontiguousarray(X * np.sqrt(w, dtype=np.float32))

    # --------------------------------------------------------------- search
    def _check_fitted(self):
        if not hasattr(self, "index_"):
            raise ValueError("this TwinIndex is not fitted yet: call fit(clients) first")

    def _prospect_side(self, prospects, id):
        """(engine side, prospect ids, prospect table or None)."""
        if self.schema_ is None:
            if not _is_matrix(prospects):
                raise TypeError("the index was fitted on a matrix: search it with a matrix of the same columns")
            if self.metric_ in _DENSE:
                X = self._weigh(_frames.numeric_matrix(prospects, "prospects"))
                if X.shape[1] != self.n_features_in_:
                    raise ValueError(f"the prospects have {X.shape[1]} features, the clients had "
                                     f"{self.n_features_in_}")
                return {"dense": X}, np.arange(len(X)), None
            bits, m = _pack_matrix(prospects, "prospects")
            if m != self.n_features_in_:
                raise ValueError(f"the prospects have {m} categories, the clients had {self.n_features_in_}")
            return {"bits": bits}, np.arange(len(bits)), None
        if _is_matrix(prospects):
            raise TypeError("the index was fitted on a table: search it with a table holding the columns "
                            f"{self.schema_.names}")
        table, ids = _as_table(prospects, id=id, schema=self.schema_)
        return self._table_side(table), ids, table

    def search(self, prospects, k: int = 10, *, id: str | None = None, progress: bool | None = None) -> TwinResult:
        """The k most similar clients of each prospect (within its block).

        ``prospects``: the same kind of input as the clients at fit (a table
        is read with the clients' schema: same categories, same codes).
        k must be between 1 and the number of clients; a prospect whose block
        holds fewer clients gets those there are (see ``counts``).
        """
        self._check_fitted()
        k = check_int(k, "k", min_value=1)
        if k > self.n_clients_:
            raise ValueError(f"k = {k} is larger than the {self.n_clients_} clients of the index")
        side, ids, _ = self._prospect_side(prospects, id)
        rows, sims, counts = self._run(side, k, self.progress if progress is None else progress)
        return self._result(rows, sims, counts, ids, k)

    def _run(self, side: dict, k: int, progress: bool):
        n = _side_rows(side)
        n_threads = resolve_threads(self.n_threads)
        if not progress or n < 20_000:
            return self.index_.search(k, **side, n_threads=n_threads)
        # Chunks of prospects, so a bar can move; each prospect's answer does
        # not depend on the chunk it is in.
        bounds = np.linspace(0, n, min(100, n // 1000) + 1).astype(np.int64)
        parts = []
        bar = progress_bar(n, desc="twins", unit="prospect", enabled=True)
        for a, b in zip(bounds[:-1], bounds[1:]):
            parts.append(self.index_.search(k, **_slice_side(side, a, b), n_threads=n_threads))
            bar.update(int(b - a))
        bar.close()
        return tuple(np.concatenate([p[j] for p in parts]) for j in range(3))

    def _result(self, rows, sims, counts, prospect_ids, k) -> TwinResult:
        found = rows >= 0
        ids = np.asarray(self.client_ids_)
        if ids.dtype.kind in "iu":
            client_ids = np.where(found, ids[np.maximum(rows, 0)], -1)
        else:
            client_ids = np.empty(rows.shape, dtype=object)
            client_ids[found] = ids[rows[found]]
        sim = self._as_similarity(sims, found)
        score = (sim.sum(axis=1) / k).astype(np.float64)
        value_score = None
        if self.value_ is not None:
            v = np.where(found, self.value_[np.maximum(rows, 0)], 0.0)
            value_score = (sim * v).sum(axis=1) / k
        return TwinResult(self.metric_, k, rows, sims, counts, np.asarray(prospect_ids), client_ids, score,
                          value_score)

    def _as_similarity(self, sims: np.ndarray, found: np.ndarray) -> np.ndarray:
        """Similarities in the metric's sense, 0 past the count (squared distances d -> 1 / (1 + d))."""
        s = sims.astype(np.float64)
        if self.metric_ == "sqeuclidean":
            s = 1.0 / (1.0 + np.where(found, s, 0.0))
        return np.where(found, s, 0.0)

    def lookalike_score(self, prospects, k: int = 10, *, id: str | None = None, by: str = "auto") -> pd.Series:
        """Each prospect's lookalike score: the sum of its k twins' similarities / k
        (a twin not found counts 0, so prospects of every block are on one scale);
        ``by="value"`` weighs each twin by its client value (needs ``fit(value=...)``)."""
        res = self.search(prospects, k=min(k, self.n_clients_), id=id)
        return pd.Series(self._pick(res, by), index=pd.Index(res.prospect_ids, name="prospect_id"),
                         name="value_score" if self._by(by) == "value" else "score")

    def _by(self, by: str) -> str:
        if by not in ("auto", "score", "value"):
            raise ValueError(f"by must be 'auto', 'score' or 'value', got {by!r}")
        if by == "value" and self.value_ is None:
            raise ValueError("by='value' needs the clients' value: fit(clients, value=...)")
        return "value" if by == "value" or (by == "auto" and self.value_ is not None) else "score"

    def _pick(self, res: TwinResult, by: str) -> np.ndarray:
        return res.value_score if self._by(by) == "value" else res.score

    def expand(self, prospects, *, fraction: float | None = None, n: int | None = None, exclude_mask=None,
               k: int = 10, id: str | None = None, by: str = "auto") -> pd.DataFrame:
        """The prospects most like the seed clients, best first: a lookalike audience.

        Give ``fraction`` (e.g. 0.01–0.10 of the prospects) or ``n``.
        ``exclude_mask`` (booleans, one per prospect) removes prospects that
        must not be targeted (already clients, opted out). k is capped at the
        number of seed clients, so a single seed client works. Ranked by the
        value-weighted score when the index has client values (``by="auto"``),
        ties by prospect order. Returns prospect_id, score (and value_score), rank.
        """
        self._check_fitted()
        if (fraction is None) == (n is None):
            raise ValueError("give exactly one of fraction and n")
        k = check_int(k, "k", min_value=1)
        res = self.search(prospects, k=min(k, self.n_clients_), id=id)
        total = len(res)
        keep = np.ones(total, dtype=bool)
        if exclude_mask is not None:
            mask = np.asarray(exclude_mask)
            if mask.dtype != bool or mask.shape != (total,):
                raise ValueError(f"exclude_mask must be {total} booleans (one per prospect), got "
                                 f"dtype {mask.dtype}, shape {mask.shape}")
            keep &= ~mask
        if fraction is not None:
            from ._validation import check_float
            fraction = check_float(fraction, "fraction", min_value=0.0, max_value=1.0, strict_min=True)
            size = int(round(fraction * total))
        else:
            size = check_int(n, "n", min_value=1)
        key = self._pick(res, by)
        cand = np.flatnonzero(keep)
        order = cand[np.lexsort((cand, -key[cand]))][:size]
        out = {"prospect_id": res.prospect_ids[order], "score": res.score[order]}
        if res.value_score is not None:
            out["value_score"] = res.value_score[order]
        out["twins"] = res.counts[order]
        out["rank"] = np.arange(1, len(order) + 1)
        return pd.DataFrame(out)

    # -------------------------------------------------------------- explain
    def explain(self, prospects, prospect, client, *, id: str | None = None) -> pd.DataFrame:
        """What makes ``client`` a twin of ``prospect``: one row per column (or
        feature, or category), biggest contribution first.

        ``prospect`` and ``client`` are ids (row numbers for matrix input).
        Columns: column, prospect, client, similarity (of that part),
        weight, contribution (its share of the pair's similarity — they add
        up to it; for ``sqeuclidean``, to the distance) and a sentence.
        Blocking keys are listed with contribution 0; excluded columns never appear.
        """
        self._check_fitted()
        side, ids, table = self._prospect_side(prospects, id)
        pr = _row_of(ids, prospect, "prospect")
        cr = _row_of(self.client_ids_, client, "client")
        parts, total = self.index_.score_pairs(np.array([pr], dtype=np.int64), np.array([cr], dtype=np.int64),
                                               **{k: v for k, v in side.items() if k != "keys"},
                                               n_threads=resolve_threads(self.n_threads))
        similarity = float(total[0])
        if self.metric_ == "mixed":
            df = self._explain_mixed(table, pr, cr, parts[0])
        elif self.metric_ in _BITS:
            df = self._explain_bits(side["bits"][pr], self._clients_side["bits"][cr])
        else:
            df = self._explain_dense(side["dense"][pr], self._clients_side["dense"][cr])
        if self.block_on_ and table is not None:
            rows = []
            for c in self.block_on_:
                a = _label(table, self.schema_, c, pr)
                b = _label(self._clients_table, self.schema_, c, cr)
                rows.append({"column": c, "prospect": a, "client": b, "similarity": 1.0 if a == b else 0.0,
                             "weight": 0.0, "contribution": 0.0, "explanation": f"blocking key: same {_nice(c)} ({a})"})
            df = pd.concat([df, pd.DataFrame(rows)], ignore_index=True)
        df.attrs["similarity"] = similarity
        df.attrs["prospect"] = prospect
        df.attrs["client"] = client
        return df

    def _explain_mixed(self, table, pr, cr, parts) -> pd.DataFrame:
        roles = table.roles
        order = ([c for c in self.columns_used_ if roles[c] == "numeric"]
                 + [c for c in self.columns_used_ if roles[c] == "categorical"]
                 + [c for c in self.columns_used_ if roles[c] == "category_set"])
        ranges = dict(zip([c for c in order if roles[c] == "numeric"], self.index_.numeric_ranges))
        w = np.array([self.weights_[c] for c in order])
        sims = np.asarray(parts, dtype=np.float64)
        present = ~np.isnan(sims)
        total_w = w[present].sum()
        contrib = np.where(present, w * np.nan_to_num(sims), 0.0) / (total_w if total_w > 0 else 1.0)
        rows = []
        for j, c in enumerate(order):  # one pair: a loop over its columns
            a = _label(table, self.schema_, c, pr)
            b = _label(self._clients_table, self.schema_, c, cr)
            rows.append({"column": c, "prospect": a, "client": b,
                         "similarity": float(sims[j]) if present[j] else np.nan, "weight": float(w[j]),
                         "contribution": float(contrib[j]),
                         "explanation": _sentence(c, roles[c], a, b, sims[j], ranges.get(c), table, self, pr, cr)})
        df = pd.DataFrame(rows)
        return df.sort_values("contribution", ascending=False, kind="stable").reset_index(drop=True)

    def _explain_bits(self, a_bits, c_bits) -> pd.DataFrame:
        m = self.n_features_in_
        fa = np.unpackbits(a_bits.view(np.uint8), bitorder="little")[:m].astype(bool)
        fc = np.unpackbits(c_bits.view(np.uint8), bitorder="little")[:m].astype(bool)
        w = np.asarray(self._bit_weights) if self.metric_ == "weighted_jaccard" else np.ones(m)
        either = np.flatnonzero(fa | fc)
        union_w = w[either].sum()
        names = np.asarray(self.feature_names_, dtype=object)
        both = fa[either] & fc[either]
        return pd.DataFrame({
            "column": names[either], "prospect": fa[either], "client": fc[either],
            "similarity": both.astype(float), "weight": w[either],
            "contribution": np.where(both, w[either], 0.0) / (union_w if union_w > 0 else 1.0),
            "explanation": [f"{n}: {'both' if b else ('prospect only' if x else 'client only')}"
                            for n, b, x in zip(names[either], both, fa[either])],
        }).sort_values(["contribution", "column"], ascending=[False, True], kind="stable").reset_index(drop=True)

    def _explain_dense(self, x, y) -> pd.DataFrame:
        x = x.astype(np.float64)
        y = y.astype(np.float64)
        if self.metric_ == "sqeuclidean":
            contrib, what = (x - y) ** 2, "squared difference"
        elif self.metric_ == "cosine":
            nx, ny = np.linalg.norm(x), np.linalg.norm(y)
            contrib = x * y / (nx * ny) if nx > 0 and ny > 0 else np.zeros_like(x)
            what = "product / norms"
        else:
            contrib, what = x * y, "product"
        names = np.asarray(self.feature_names_, dtype=object)
        keep = (contrib != 0) | ((x != 0) & (y != 0))
        text = [_feature_sentence(n, a, b, c, what) for n, a, b, c in zip(names, x, y, contrib)]
        df = pd.DataFrame({"column": names, "prospect": x, "client": y, "similarity": contrib,
                           "weight": np.ones_like(x), "contribution": contrib, "explanation": text})[keep]
        order = np.argsort(-np.abs(df["contribution"].to_numpy()), kind="stable")
        return df.iloc[order].reset_index(drop=True)

    def __repr__(self) -> str:
        fitted = f", fitted on {self.n_clients_:,} clients" if hasattr(self, "index_") else ""
        return f"TwinIndex(metric={self.metric!r}, block_on={self.block_on!r}, exclude={self.exclude!r}{fitted})"


# ---------------------------------------------------------------------------
# Helpers


def _names(v, what: str) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    try:
        out = [str(c) for c in v]
    except TypeError:
        raise TypeError(f"{what} must be a list of column names, got {type(v).__name__}") from None
    if len(set(out)) != len(out):
        raise ValueError(f"{what} lists a column twice: {out}")
    return out


def _is_matrix(x) -> bool:
    return isinstance(x, np.ndarray) or (isinstance(x, (list, tuple)) and len(x) > 0
                                          and isinstance(x[0], (list, tuple, np.ndarray)))


def _as_table(data, *, id, schema: Schema | None, extra=()):
    """(ContactTable, ids) of clients or prospects; ids default to the DataFrame's index or row numbers."""
    if isinstance(data, ContactTable):
        if schema is not None and any(c not in data.schema or data.schema[c] != schema[c] for c in schema.names):
            data = data.to_pandas()  # its own codes: re-read with the index's schema
        else:
            ids = data.ids if data.ids is not None else np.arange(len(data))
            return data, ids
    ids = None
    if isinstance(data, pd.DataFrame) and id is None:
        ids = data.index.to_numpy()
    if schema is None:
        roles = {c: "numeric" for c in extra}
        table = ContactTable._from_any(data, id=id, roles=roles, schema=None)
    else:
        table = schema.apply(data, id=id)
    if ids is None:
        ids = table.ids if table.ids is not None else np.arange(len(table))
    return table, np.asarray(ids)


def _column_names(data, what: str) -> list[str]:
    names = _frames.column_names(data)
    if names is None and isinstance(data, Mapping):
        names = [str(c) for c in data]
    if names is None:
        raise TypeError(f"{what} must be a DataFrame (pandas or polars), an Arrow table, a mapping of arrays or a "
                        f"ContactTable, got {type(data).__name__}")
    return names


def _population_schema(population, clients_schema: Schema, names: list[str]) -> Schema:
    """The schema of the population's columns ``names``, read with the clients' roles."""
    if isinstance(population, ContactTable):
        return population.schema
    columns = _column_names(population, "population")
    missing = [c for c in names if c not in columns]
    if missing:
        raise KeyError(f"the population has no column {missing}: it needs every column the clients are compared "
                       f"or blocked on ({names})")
    roles = {c: clients_schema[c].role if c in names else None for c in columns}
    try:
        return Schema.learn(population, roles=roles)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"population: {exc}") from None


def _select(schema: Schema, names: list[str], what: str) -> Schema:
    missing = [c for c in names if c not in schema]
    if missing:
        raise KeyError(f"the {what} has no column {missing}: it needs every column the clients are compared or "
                       f"blocked on ({names})")
    return schema.select(names)


def _statistics_are_own(table: ContactTable, names: list[str]) -> bool:
    """Whether the table's schema was learnt on the table itself: its numeric
    columns' mean and standard deviation are the table's own."""
    for c in names:
        spec = table.schema[c]
        if spec.role == "numeric":
            own = table.summary(c)
            if not (_same(spec.mean, own["mean"]) and _same(spec.std, own["std"])):
                return False
    return True


def _same(a, b) -> bool:
    a = np.nan if a is None else float(a)
    b = np.nan if b is None else float(b)
    return a == b or (np.isnan(a) and np.isnan(b))


def _range(spec) -> float:
    """A numeric column's range in the encoding schema (the population's)."""
    if spec.min is None or spec.max is None:
        raise ValueError(f"the schema has no range (min, max) for numeric column '{spec.name}': the mixed metric "
                         "needs it; learn the schema on data where the column has values")
    return float(spec.max - spec.min)


def _pack_matrix(X, name: str):
    """A 0/1 matrix -> (uint64 bitsets, categories); bit j of a row is column j."""
    a = np.asarray(X)
    if a.dtype.kind not in "biu":
        raise TypeError(f"{name}: the Jaccard metrics take a 0/1 (bool or integer) matrix, got dtype {a.dtype}")
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D 0/1 matrix, got shape {a.shape}")
    packed = np.packbits(a != 0, axis=1, bitorder="little")
    words = (a.shape[1] + 63) // 64
    buf = np.zeros((a.shape[0], words * 8), dtype=np.uint8)
    buf[:, : packed.shape[1]] = packed
    return buf.view("<u8"), a.shape[1]


def _check_weights(w: np.ndarray):
    if not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite")
    if np.any(w < 0):
        raise ValueError(f"weights must be >= 0, got {w[w < 0][:3].tolist()}")


def _column_weights(weights, columns: list[str]) -> list[float]:
    if weights is None:
        return [1.0] * len(columns)
    if isinstance(weights, Mapping):
        unknown = [c for c in weights if c not in columns]
        if unknown:
            raise KeyError(f"weights name columns {unknown} that are not compared (columns used: {columns})")
        w = np.array([weights.get(c, 1.0) for c in columns], dtype=np.float64)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or len(w) != len(columns):
            raise ValueError(f"weights must hold one weight per column compared ({len(columns)}: {columns}), "
                             f"got {w.shape[0] if w.ndim == 1 else w.shape}")
    _check_weights(w)
    if w.sum() <= 0:
        raise ValueError("at least one weight must be > 0")
    return w.tolist()


def _dense_weights(weights, d: int):
    if weights is None:
        return None
    if isinstance(weights, Mapping):
        raise TypeError("dense metrics take one weight per feature, as a sequence")
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or len(w) != d:
        raise ValueError(f"weights must hold one weight per feature ({d}), got shape {w.shape}")
    _check_weights(w)
    return w.astype(np.float32)


def _side_rows(side: dict) -> int:
    for key in ("dense", "bits"):
        if key in side:
            return len(side[key])
    for key in ("numeric", "categorical"):
        if side.get(key):
            return len(side[key][0])
    return len(side["sets"][0][0])


def _slice_side(side: dict, a: int, b: int) -> dict:
    out = {}
    for key, v in side.items():
        if key in ("dense", "bits"):
            out[key] = v[a:b]
        elif key == "sets":
            out[key] = [(bits[a:b], miss[a:b]) for bits, miss in v]
        else:
            out[key] = [x[a:b] for x in v]
    return out


def _row_of(ids, value, what: str) -> int:
    ids = np.asarray(ids)
    hit = np.flatnonzero(ids == value)
    if len(hit) == 0:
        raise KeyError(f"{what} {value!r} is not among the {what}s' ids")
    return int(hit[0])


def _label(table: ContactTable, schema: Schema, column: str, row: int):
    """A readable value of one cell (None when missing)."""
    spec = schema[column]
    if spec.role == "numeric":
        v = float(table.numeric(column)[row])
        return None if np.isnan(v) else v
    if spec.role == "categorical":
        code = int(table.codes(column)[row])
        if code < 0:
            return None
        return spec.categories[code] if code < len(spec.categories) else "(other)"
    if table.set_missing(column)[row]:
        return None
    flags = np.unpackbits(table.bitsets(column)[row].view(np.uint8), bitorder="little")
    cats = list(spec.categories) + ["(other)"]
    return [cats[j] for j in np.flatnonzero(flags[: len(cats)])]


def _feature_sentence(name: str, a: float, b: float, c: float, what: str) -> str:
    """A readable line for one dense feature; one-hot features ("col=value", "set:item") in words."""
    for sep, verb in (("=", "same"), (":", "both have")):
        if sep in name and a == 1 and b == 1:
            col, val = name.split(sep, 1)
            return f"{verb} {_nice(col)}: {val}" if sep == "=" else f"{verb} {val} in {_nice(col)}"
    return f"{name}: {a:.3g} vs {b:.3g}, {what} {c:+.3g}"


def _nice(column: str) -> str:
    return column.replace("_", " ")


def _sentence(column, role, a, b, sim, value_range, table, index, pr, cr) -> str:
    name = _nice(column)
    if a is None or b is None:
        side = "prospect's" if a is None else "client's"
        return f"{name} missing on the {side} side: left out"
    if role == "categorical":
        return f"same {name} ({a})" if sim == 1 else f"different {name} ({a} vs {b})"
    if role == "numeric":
        diff = abs(a - b)
        share = diff / value_range if value_range else 0.0
        scale = "the clients'" if index.schema_learnt_on_ == "clients" else "the population's"
        return f"{name} {a:,.4g} vs {b:,.4g}: {share:.0%} of {scale} range apart"
    both = sorted(set(a) & set(b))
    either = set(a) | set(b)
    shared = f" ({', '.join(both)})" if both else ""
    return f"{len(both)} of {len(either)} {name} shared{shared}"


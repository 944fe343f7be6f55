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
    vector has cosine similarity 0 with anything. ``inner_product`` and
    ``sqeuclidean`` refuse a row whose norm passes 6.5e18 (a distance or
    product could then overflow float32); the cosine takes any finite row.
``"jaccard"``, ``"weighted_jaccard"``
    Category sets (a 0/1 matrix, or a contact table's category-set column) as
    bitsets; the weighted form weighs each category (by default its inverse
    document frequency among the clients, so rare categories count more).
    Two empty sets have similarity 0. A category outside the schema (unseen
    when the table was read) counts in its set's size but is shared with
    nothing: two unseen categories may differ. Each distinct unseen category
    of a set counts once ({a, x, y} with x, y unseen has size 3), as a set of
    names would.
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

import copy
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from . import _core, _frames, _lookalike
from ._model_file import ModelFileMixin, register
from ._config import resolve_threads
from ._progress import progress as progress_bar
from ._validation import as_vector, check_int
from .table import ContactTable, Schema

__all__ = ["TwinIndex", "TwinResult", "METRICS"]

METRICS = ("cosine", "inner_product", "sqeuclidean", "jaccard", "weighted_jaccard", "mixed")
_ALIASES = {"ip": "inner_product", "l2": "sqeuclidean", "euclidean2": "sqeuclidean", "gower": "mixed"}
_DENSE = ("cosine", "inner_product", "sqeuclidean")
_BITS = ("jaccard", "weighted_jaccard")
# Metrics whose weights are learnt by default when fit has a reference (see TwinIndex, weights).
_AUTO_BY_DEFAULT = ("mixed", "weighted_jaccard")


@register
@dataclass
class TwinResult:
    """The twins of each prospect.

    Row i is prospect i; its first ``counts[i]`` slots hold twins, best first
    (ties: lower client row first). Slots past the count hold client row -1,
    client id -1 (integer ids) or None (other ids) and similarity -inf (+inf
    distance for ``sqeuclidean``): nothing is padded with a real-looking
    neighbour. ``score`` and ``value_score`` never hold NaN or infinities.

    With a reference (``fit(..., reference=)``), ``reference_rows`` and
    ``reference_similarities`` hold each prospect's ``k_reference`` nearest
    reference contacts (rows of the reference sample) and
    ``reference_score`` / ``value_reference_score`` how much more the
    prospect resembles the clients than the reference (see
    :class:`TwinIndex`, "Lookalike score").
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
    reference_score: np.ndarray | None = None        # (n,) score minus the reference similarity
    value_reference_score: np.ndarray | None = None  # (n,) value_score minus mean value x reference similarity
    reference_similarity: np.ndarray | None = None   # (n,) mean similarity of the k_reference nearest reference rows
    reference_rows: np.ndarray | None = None         # (n, k_reference) rows of the reference sample, -1 past the count
    reference_similarities: np.ndarray | None = None  # (n, k_reference) as similarities
    k_reference: int | None = None
    client_values: np.ndarray | None = field(default=None, repr=False)  # (clients,) the index's client values

    def __len__(self) -> int:
        return len(self.counts)

    def __repr__(self) -> str:
        short = int(np.count_nonzero(self.counts < self.k))
        ref = f", reference k={self.k_reference}" if self.k_reference is not None else ""
        return (f"TwinResult({len(self):,} prospects, k={self.k}, metric={self.metric!r}, "
                f"{short:,} with fewer than k twins{ref})")

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
        """One row per prospect: prospect_id, twins found, lookalike score (and value score, and the
        reference scores when the index has a reference)."""
        out = {"prospect_id": self.prospect_ids, "twins": self.counts, "score": self.score}
        for name in ("value_score", "reference_score", "value_reference_score"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return pd.DataFrame(out)

    def recommend(self, client_items, top: int = 5, *, client: str = "client_id", item: str | None = None,
                  weight: str | None = None, by: str = "auto") -> pd.DataFrame:
        """What each prospect's twins bought: the items to offer it first.

        An item's score for a prospect is the share of its twins' weight held
        by the twins who bought it::

            score(i, m) = sum_j t_ij q_jm / sum_j t_ij

        over the twins j found, with t_ij the twin's similarity (clipped at
        0; for ``sqeuclidean`` ``1 / (1 + d)``), times its client value with
        ``by="value"`` (the default when the index has values), and q_jm = 1
        when client j bought item m (0 otherwise), or the sum of ``weight``
        over its purchases of m (an amount or a quantity). Without ``weight``
        the score is the (weighted) share of twins who bought the item, in
        [0, 1]: a prospect who resembles clients is likely to want what they
        bought.

        Parameters
        ----------
        client_items : the clients' purchases: a DataFrame with one row per
            purchase (``client`` id, ``item`` and optionally ``weight``
            columns), or a Series of item lists indexed by client id (e.g.
            ``clients.set_index("client_id")["categories"]``). Its client ids
            are the index's; clients absent from it bought nothing.
        top : items per prospect (>= 1).
        client, item, weight : column names in a DataFrame (``item``
            defaults to the one column besides ``client`` and ``weight``).
        by : ``"auto"``, ``"similarity"`` or ``"value"``.

        Returns
        -------
        DataFrame: prospect_id, rank (1 = first to offer), item, score,
        twins (how many of its twins bought it); prospects whose twins bought
        nothing have no row. Ties rank the items in sorted order.
        """
        top = check_int(top, "top", min_value=1)
        if by not in ("auto", "similarity", "value"):
            raise ValueError(f"by must be 'auto', 'similarity' or 'value', got {by!r}")
        if by == "value" and self.client_values is None:
            raise ValueError("by='value' needs the clients' value: fit(clients, value=...)")
        found = self.rows >= 0
        sim = np.where(found, self.similarities.astype(np.float64), 0.0)
        if self.metric == "sqeuclidean":
            sim = np.where(found, 1.0 / (1.0 + np.maximum(sim, 0.0)), 0.0)
        weight_of = np.maximum(sim, 0.0)
        if by != "similarity" and self.client_values is not None:
            weight_of = weight_of * np.where(found, self.client_values[np.maximum(self.rows, 0)], 0.0)
        return _lookalike.recommend(self.client_ids, weight_of, self.prospect_ids, client_items, top, client, item,
                                    weight)


class TwinIndex(ModelFileMixin):
    """Exact top-k lookalike search of prospects among clients.

    Parameters
    ----------
    metric : one of ``METRICS`` (aliases: "l2", "ip", "gower").
    block_on : categorical columns whose values a twin must share exactly.
    weights : ``"auto"``: learnt from the clients against the reference
        given to ``fit`` (per column for ``mixed``, per feature for dense
        metrics, per category for ``weighted_jaccard``; see "Learnt weights"
        below). ``mixed``: ``{column: weight}`` or one weight per column of
        ``columns_used_``; ``weighted_jaccard``: one weight per category;
        dense metrics: one weight per feature (features scaled by its square
        root). Weights are finite and >= 0. None (the default): ``"auto"``
        when ``fit`` has a reference (``mixed`` and ``weighted_jaccard``),
        else 1 each for ``mixed`` and dense metrics and the inverse document
        frequency among the clients for ``weighted_jaccard``.
    exclude : columns never used (protected attributes: not in the
        similarity, the blocking or the explanations).
    columns : the columns to compare (default: every column of the clients'
        table except the id, ``block_on`` and ``exclude``).
    numeric_scale : how the mixed metric compares numbers. ``"rank"`` (the
        default): ``1 - |F(a) - F(b)|`` with F the mid-rank distribution
        function of the population given to ``fit`` (else of the reference,
        else of the clients) — one minus the share of contacts lying between
        the two values, so a skewed column (page values, amounts) is compared
        where its contacts are, not on a range one outlier sets.
        ``"range"``: Gower's ``1 - |a - b| / range``.
    reference_size : rows of the reference searched for the reference score:
        None (the default) samples as many rows as there are clients (the
        reference search then costs what the clients' search costs); an
        integer samples that many; ``"all"`` keeps every row. A reference no
        larger is used whole.
    random_state : seed of the reference sample.
    progress : show a progress bar during long searches (tqdm when
        installed, else a line on stderr).
    n_threads : threads for fit and search (None: the ``threads(n)`` block
        around the call, else the process default).
    prospect_tile, client_tile : work sizes of the engine (prospects per work
        item, clients per scored tile); they trade cache use for overhead and
        never change the result.

    Notes
    -----
    **Lookalike score.** ``score`` is the mean similarity of a prospect's k
    twins (a twin not found counts 0). It measures how common the prospect's
    profile is among the clients — also high for a profile common among
    everyone. With a reference population R (``fit(..., reference=)``, by
    default the ``population``), the reference score measures how much more
    the prospect resembles the clients C than R::

        reference_score(x) = 1/k  sum_{j <= k}  s(x, c_(j))  -  1/k' sum_{j <= k'} s(x, r_(j))

    with c_(j) its j-th most similar client, r_(j) its j-th most similar
    contact of the reference sample (within its block when blocked; absent
    ones count 0) and ``k' = max(1, round(k |R| / |C|))`` (k with the
    default sample of |C| rows): the two means cover neighbourhoods of the
    same share of each population, so the score is positive where the
    clients are denser than the population around x — a k-nearest-neighbour
    estimate of whether the density ratio p_C(x) / p_R(x) exceeds 1. With
    client values v (``fit(value=)``), ``value_reference_score`` =
    ``value_score - mean(v) * reference similarity``: twins among the
    valuable clients, against what a typical contact finds. ``expand``
    ranks by it. Both searches are exact, blocked and in C++.

    **Learnt weights.** ``weights="auto"`` weighs each column by what sets
    the clients apart from the reference: w = v / (v + 0.1) with
    v = max(IV - (B - 1)(1/|C| + 1/|R|), 0), IV the column's information
    value between clients and reference over its B bins (numeric columns in
    10 quantile bins of the reference, categories, category-set members added
    up), its sampling bias subtracted — a column unrelated to the clients
    weighs about 0 — and saturated, so a column of IV 0.1 weighs 1/2 and a
    dominant one cannot silence the others. Dense metrics weigh each feature
    the same way (a one-hot feature: its two values). ``weights_`` reports
    them, ``column_contrast_`` the bins they come from.
    """

    def __init__(self, metric: str = "mixed", *, block_on: Sequence[str] | None = None, weights=None,
                 exclude: Sequence[str] | None = None, columns: Sequence[str] | None = None,
                 numeric_scale: str = "rank", reference_size: int | str | None = None, random_state: int = 0,
                 progress: bool = False, n_threads: int | None = None, prospect_tile: int = 192,
                 client_tile: int = 1024):
        self.metric = metric
        self.block_on = block_on
        self.weights = weights
        self.exclude = exclude
        self.columns = columns
        self.numeric_scale = numeric_scale
        self.reference_size = reference_size
        self.random_state = random_state
        self.progress = progress
        self.n_threads = n_threads
        self.prospect_tile = prospect_tile
        self.client_tile = client_tile

    # ------------------------------------------------------------------ fit
    def fit(self, clients, value=None, *, id: str | None = None, population=None,
            schema: Schema | None = None, reference=None) -> "TwinIndex":
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
            metrics standardise with, the range or the ranks of the mixed
            metric's numeric parts. The clients' own statistics describe only
            the seed: standardised on them, every feature is centred on the
            clients and the score no longer tells clients from the rest. It
            is also the reference, unless ``reference`` is given.
        schema : a :class:`Schema` learnt beforehand on the population (e.g.
            ``ContactTable.from_pandas(contacts).schema``, or
            ``Schema.load(path)``), instead of ``population``.
        reference : the contacts the clients are set apart from — all
            contacts, the prospects, or a sample of them (with or without the
            clients) — as a table with the clients' columns (a matrix of the
            same columns for matrix clients). It gives the reference score
            (see the class notes), ``weights="auto"`` and the reasons of
            :meth:`reasons`; the search reads a sample of it
            (``reference_size``). Without ``population`` or ``schema``, the
            encoding is learnt on it too. Default: ``population``.

        Without ``population``, ``schema`` or ``reference`` the schema is
        learnt on the clients (``schema_learnt_on_ == "clients"``): dense
        metrics then refuse a table with numeric columns (pass
        ``population=clients`` to standardise on the clients knowingly); the
        mixed metric takes its numeric ranges or ranks from the clients
        (Gower's convention); categories and category sets do not depend on
        it. A :class:`ContactTable` keeps its own schema unless
        ``population``, ``schema`` or ``reference`` is given.
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
        self._check_settings()
        if population is not None and schema is not None:
            raise ValueError("give population or schema, not both (schema is learnt on a population)")
        if schema is not None and not isinstance(schema, Schema):
            raise TypeError(f"schema must be a twinscore Schema, got {type(schema).__name__}")
        value_column = value if isinstance(value, str) else None
        self.value_column_ = value_column
        if reference is None:
            reference = population  # the contacts the prospects come from: what the clients are set apart from
        self._weights_mode(reference is not None)  # weights="auto" without a reference fails before any work

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
            self._fit_matrix(clients, reference)
        else:
            self._fit_frame(clients, id, value_column, block_on, exclude, population, schema, reference)

        n = self.n_clients_
        if value is None:
            self.value_ = None
        elif value_column is not None:
            self.value_ = as_vector(self._value_source[value_column], f"value column '{value_column}'", n)
        else:
            self.value_ = as_vector(value, "value", n)
        return self

    def _fit_frame(self, clients, id, value_column, block_on, exclude, population, schema, reference):
        """fit() for clients given as a table: the encoding, then the reference and the population read with it."""
        table, ids = _as_table(clients, id=id, schema=None, extra=[value_column] if value_column else [])
        self._value_source = {value_column: table.numeric(value_column)} if value_column else {}
        used = self._columns_to_compare(table, block_on, exclude, value_column)
        keyed = used + [c for c in block_on if c not in used]
        learn_on, what = ((population, "population") if population is not None or schema is not None
                          else (reference, "reference"))
        encoding = self._encoding(table, keyed, learn_on, schema, own=not isinstance(clients, ContactTable),
                                  what=what)
        if encoding is not None:  # the clients read with the population's codes and statistics
            table, _ = _as_table(clients, id=id, schema=encoding)
        ref_table = self._read_side_table(reference, table.schema.select(keyed), "reference")
        if population is None:  # the ranks of numbers: on the population, else the reference, else the clients
            scale = (ref_table, "reference") if ref_table is not None else (None, "clients")
        else:
            scale = (ref_table if population is reference else
                     self._read_side_table(population, table.schema.select(keyed), "population"), "population")
        self._fit_table(table, ids, used, block_on, exclude, ref_table, scale)

    def _check_settings(self):
        check_int(self.prospect_tile, "prospect_tile", min_value=1, max_value=65536)
        check_int(self.client_tile, "client_tile", min_value=8, max_value=1 << 20)
        if self.numeric_scale not in ("rank", "range"):
            raise ValueError(f"numeric_scale must be 'rank' or 'range', got {self.numeric_scale!r}")
        if not (self.reference_size is None or self.reference_size == "all"):
            check_int(self.reference_size, "reference_size", min_value=1)
        check_int(self.random_state, "random_state", min_value=0)

    def _weights_mode(self, has_reference: bool) -> str:
        """"auto" (learnt from the reference), "given" or "default"."""
        w = self.weights
        if isinstance(w, str):
            if w != "auto":
                raise ValueError(f"weights must be 'auto', a mapping or a sequence of numbers, got {w!r}")
            if self.metric_ == "jaccard":
                raise ValueError("metric 'jaccard' takes no weights; use metric='weighted_jaccard'")
            if not has_reference:
                raise ValueError("weights='auto' learns the weights from the clients against a reference population: "
                                 "pass fit(clients, reference=contacts) (or population=contacts)")
            return "auto"
        if w is None:
            return "auto" if has_reference and self.metric_ in _AUTO_BY_DEFAULT else "default"
        return "given"

    def _auto(self) -> bool:
        """Whether the table index being fitted learns its weights from its reference."""
        return self._weights_mode(self._reference_table is not None) == "auto"

    @staticmethod
    def _read_side_table(data, schema: Schema, what: str) -> ContactTable | None:
        """A reference or population table read with the index's schema (None stays None)."""
        if data is None:
            return None
        if _is_matrix(data):
            raise TypeError(f"{what} must be a table like the clients (DataFrame, Arrow table, mapping of arrays or "
                            "ContactTable), got a matrix")
        columns = data.schema.names if isinstance(data, ContactTable) else _column_names(data, what)
        missing = [c for c in schema.names if c not in columns]
        if missing:
            raise KeyError(f"the {what} has no column {missing}: it needs every column the clients are compared or "
                           f"blocked on ({schema.names})")
        try:
            table, _ = _as_table(data, id=None, schema=schema)  # an empty table is refused here
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"{what}: {exc}") from None
        return table

    def _options(self) -> dict:
        opts = {"prospect_tile": int(self.prospect_tile), "client_tile": int(self.client_tile)}
        # A table's category sets keep every unseen category in one "(other)" bit (the last): it counts in a
        # set's size but the engine intersects it with nothing, since two unseen categories may differ.
        schema = getattr(self, "schema_", None)
        if schema is not None and self.metric_ in _BITS:
            opts["bit_other"] = len(schema[self.columns_used_[0]].categories)
        elif schema is not None and self.metric_ == "mixed":
            opts["set_other"] = [len(schema[c].categories) for c in self.columns_used_
                                 if schema[c].role == "category_set"]
        return opts

    def _other_bit(self) -> int:
        """The feature index of the unseen categories' bit of a bitset metric, or -1 (a 0/1 matrix has none)."""
        return self._options().get("bit_other", -1)

    def _fit_matrix(self, X, reference=None):
        metric = self.metric_
        if metric == "mixed":
            raise ValueError("the mixed metric compares the columns of a table: pass the clients as a table")
        self.block_on_, self.excluded_ = [], []
        self.column_contrast_ = None
        self.numeric_scale_learnt_on_ = None
        mode = self._weights_mode(reference is not None)
        if metric in _DENSE:
            X = _frames.numeric_matrix(X, "clients")
            R = None if reference is None else self._reference_matrix(reference, X.shape[1])
            self.n_features_in_ = X.shape[1]
            self.feature_names_ = [f"x{j}" for j in range(X.shape[1])]
            self._dense_weights = self._learn_dense_weights(X, R) if mode == "auto" else \
                _dense_weights(self.weights, X.shape[1])
            side = {"dense": self._weigh(X)}
            ref_side = None if R is None else {"dense": self._weigh(R)}
        else:
            bits, m = _pack_matrix(X, "clients")
            self.n_features_in_ = m
            self.feature_names_ = [str(j) for j in range(m)]
            side = {"bits": bits}
            ref_side = None
            if reference is not None:
                ref_bits, m_ref = _pack_matrix(reference, "reference")
                if m_ref != m:
                    raise ValueError(f"the reference has {m_ref} categories, the clients have {m}")
                ref_side = {"bits": ref_bits}
            self._bit_weights = self._learn_bit_weights(np.asarray(X) != 0, np.asarray(reference) != 0) \
                if mode == "auto" else self._jaccard_weights(m, self.feature_names_)
        self.columns_used_ = list(self.feature_names_) if metric in _DENSE else []
        self.client_ids_ = np.arange(len(side.get("dense", side.get("bits"))))
        self.n_clients_ = len(self.client_ids_)
        self._clients_side = side
        self.index_ = _core.TwinIndex.fit(metric, **side, bit_weights=self._bit_weights_list(), **self._options(),
                                          n_threads=resolve_threads(self.n_threads))
        self._read_bit_weights()
        self._report_dense_weights()
        self.n_blocks_ = 1
        self._mixed_cfg = {}
        self._fit_reference(ref_side, {})

    def _reference_matrix(self, reference, d: int) -> np.ndarray:
        if not _is_matrix(reference):
            raise TypeError("the clients are a matrix: give the reference as a matrix of the same columns")
        R = _frames.numeric_matrix(reference, "reference")
        if R.shape[1] != d:
            raise ValueError(f"the reference has {R.shape[1]} features, the clients have {d}")
        return R

    def _learn_dense_weights(self, X: np.ndarray, R: np.ndarray) -> np.ndarray:
        """Per-feature weights learnt from the clients X against the reference R (see the class notes)."""
        ivs, w = _lookalike.feature_weights(X, R, resolve_threads(self.n_threads))
        self.feature_iv_ = dict(zip(self.feature_names_, ivs.tolist()))
        return _nonzero_weights(w, "feature").astype(np.float32)

    def _learn_bit_weights(self, held_c: np.ndarray, held_r: np.ndarray) -> np.ndarray:
        """Per-category weights learnt from 0/1 matrices of the clients and the reference."""
        _, iv, w = _lookalike.member_contrast(held_c.sum(axis=0), held_r.sum(axis=0), len(held_c), len(held_r))
        self.feature_iv_ = dict(zip(self.feature_names_, iv.tolist()))
        return _nonzero_weights(w, "category")

    def _report_dense_weights(self):
        """weights_ of a dense index: one weight per feature (1 each without weights)."""
        if self.metric_ not in _DENSE:
            return
        w = self._dense_weights if self._dense_weights is not None else np.ones(self.n_features_in_)
        self.weights_ = dict(zip(self.feature_names_, np.asarray(w, dtype=np.float64).tolist()))

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

    def _fit_table(self, table: ContactTable, ids, used, block_on, exclude, reference: ContactTable | None = None,
                   scale: tuple = (None, "clients")):
        """Index the clients' table; ``reference`` (read with the same schema) gives the reference
        index and the learnt weights, ``scale`` (a table, or None for the clients, and its name) the ranks."""
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
        self._reference_table = reference
        self.column_contrast_ = None if reference is None else \
            _lookalike.contrast(table, reference, used, resolve_threads(self.n_threads))
        self._learn_ranks(table if scale[0] is None else scale[0], scale[1])
        side = self._table_side(table, fitting=True)
        self._clients_side = side
        self._mixed_cfg = self._mixed_config(table)
        self.index_ = _core.TwinIndex.fit(metric, **side, **self._mixed_cfg,
                                          bit_weights=self._bit_weights_list(), key_other=self._key_other(),
                                          **self._options(), n_threads=resolve_threads(self.n_threads))
        self._read_bit_weights()
        self._report_dense_weights()
        self.n_blocks_ = self.index_.n_blocks
        if self._mixed_cfg:  # the reference is compared on the clients' scale: the ranges the engine used
            self._mixed_cfg = dict(self._mixed_cfg, numeric_ranges=list(self.index_.numeric_ranges))
        self._fit_reference(None if reference is None else self._table_side(reference), self._mixed_cfg)

    def _learn_ranks(self, table: ContactTable, on: str):
        """The mixed metric's rank scale of each numeric column compared, learnt on ``table``."""
        self._ranks = {}
        self.numeric_scale_learnt_on_ = None
        if self.metric_ != "mixed" or self.numeric_scale != "rank":
            return
        roles = table.roles
        self._ranks = {c: _lookalike.RankScale(table.numeric(c)) for c in self.columns_used_ if roles[c] == "numeric"}
        self.numeric_scale_learnt_on_ = on

    def _fit_reference(self, side: dict | None, config: dict):
        """The reference index: a sample of the reference's rows (``reference_size``), indexed with the
        clients' weights, ranges, category weights and block keys."""
        self.reference_index_ = None
        self.n_reference_ = 0
        self.reference_sample_ = None
        if side is None:
            return
        n = _side_rows(side)
        size = n if self.reference_size == "all" else (self.n_clients_ if self.reference_size is None
                                                       else int(self.reference_size))
        rows = np.arange(n) if n <= size else \
            np.sort(np.random.default_rng(self.random_state).choice(n, size, replace=False))
        side = _take_side(side, rows)
        self._reference_side = side
        self.reference_sample_ = rows
        self.n_reference_ = len(rows)
        self.reference_index_ = _core.TwinIndex.fit(
            self.metric_, **side, **config, bit_weights=self._bit_weights_list(),
            key_other=self._key_other() if self.block_on_ else [], **self._options(),
            n_threads=resolve_threads(self.n_threads))

    def _k_reference(self, k: int) -> int:
        """The reference neighbours matched with k twins: the same share of each population."""
        return int(max(1, min(self.n_reference_, np.floor(k * self.n_reference_ / self.n_clients_ + 0.5))))

    # The engine's view of one side of a table-based index.
    def _table_side(self, table: ContactTable, fitting: bool = False) -> dict:
        metric = self.metric_
        side: dict[str, Any] = {}
        if metric in _DENSE:
            enc = table.encode(self.columns_used_)
            if fitting:
                self.feature_names_ = enc.feature_names
                self.n_features_in_ = enc.X.shape[1]
                self._dense_weights = self._learn_dense_weights(
                    enc.X, self._reference_table.encode(self.columns_used_).X) if self._auto() else \
                    _dense_weights(self.weights, enc.X.shape[1])
            side["dense"] = self._weigh(enc.X)
        elif metric in _BITS:
            name = self.columns_used_[0]
            bits = np.ascontiguousarray(table.bitsets(name))
            side["bits"] = bits
            side["bits_unseen"] = table.set_unseen(name)  # each unseen category counts in a set's size
            if fitting:
                cats = list(table.schema[name].categories) + ["(other)"]
                self.feature_names_ = cats
                self.n_features_in_ = len(cats)
                self._bit_weights = self._learn_bit_weights(
                    _held(table, name, len(cats)), _held(self._reference_table, name, len(cats))) \
                    if self._auto() else self._jaccard_weights(len(cats), cats)
        else:
            roles = table.roles
            side["numeric"] = [self._numeric_part(table, c) for c in self.columns_used_ if roles[c] == "numeric"]
            side["categorical"] = [table.codes(c) for c in self.columns_used_ if roles[c] == "categorical"]
            side["sets"] = [(np.ascontiguousarray(table.bitsets(c)), table.set_missing(c).view(np.uint8),
                             table.set_unseen(c)) for c in self.columns_used_ if roles[c] == "category_set"]
        if self.block_on_:  # the engine blocks on the tuple of the key columns' codes
            side["keys"] = [table.codes(c) for c in self.block_on_]
        return side

    def _numeric_part(self, table: ContactTable, column: str) -> np.ndarray:
        """A numeric column as the mixed metric compares it: its ranks, or its values (float32)."""
        if column in self._ranks:
            return self._ranks[column](table.numeric(column))
        return np.ascontiguousarray(table.numeric(column), dtype=np.float32)

    def _key_other(self) -> list[int]:
        """Each key column's "unseen" code: a value outside the schema's dictionary matches no one."""
        return [len(self.schema_[c].categories) for c in self.block_on_]

    def _encoding(self, table: ContactTable, names: list[str], population, schema, own: bool,
                  what: str = "population") -> Schema | None:
        """The schema both sides are encoded with, or None for the one the clients were read with.

        ``own``: that schema was learnt on these clients (a frame read here; a
        ContactTable's schema is its builder's choice, unless its numeric
        statistics are its own).
        """
        if schema is not None:
            self.schema_learnt_on_ = "given"
            return _select(schema, names, "schema")
        if population is not None:  # the population, or the reference standing in for it
            self.schema_learnt_on_ = what
            return _select(_population_schema(population, table.schema, names, what), names, what)
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
        if self._auto():
            learnt = np.array([self.column_contrast_[c].weight for c in self.columns_used_])
            w = _nonzero_weights(learnt, "column").tolist()
        else:
            w = _column_weights(self.weights, self.columns_used_)
        self.weights_ = dict(zip(self.columns_used_, w))
        by = {r: [c for c in self.columns_used_ if roles[c] == r] for r in ("numeric", "categorical", "category_set")}
        # Ranks lie in [0, 1]: a range of 1. Else the population's range (from the schema) unless the schema is
        # the clients' own: then the engine learns it on the clients, as Gower's coefficient does on the sample
        # it compares.
        if self._ranks:
            ranges = [1.0] * len(by["numeric"])
        else:
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
        holds fewer clients gets those there are (see ``counts``). With a
        reference, its ``k_reference`` nearest reference contacts are searched
        too and the reference scores filled in.
        """
        self._check_fitted()
        k = check_int(k, "k", min_value=1)
        if k > self.n_clients_:
            raise ValueError(f"k = {k} is larger than the {self.n_clients_} clients of the index")
        side, ids, _ = self._prospect_side(prospects, id)
        return self._search_side(side, ids, k, self.progress if progress is None else progress)

    def _search_side(self, side: dict, ids, k: int, progress: bool = False) -> TwinResult:
        rows, sims, counts = self._run(self.index_, side, k, progress)
        res = self._result(rows, sims, counts, ids, k)
        if getattr(self, "reference_index_", None) is not None:
            kr = self._k_reference(k)
            ref_rows, ref_sims, _ = self._run(self.reference_index_, side, kr, progress)
            self._add_reference(res, ref_rows, ref_sims, kr)
        return res

    def _run(self, index, side: dict, k: int, progress: bool):
        n = _side_rows(side)
        n_threads = resolve_threads(self.n_threads)
        if not progress or n < 20_000:
            return index.search(k, **side, n_threads=n_threads)
        # Chunks of prospects, so a bar can move; each prospect's answer does
        # not depend on the chunk it is in.
        bounds = np.linspace(0, n, min(100, n // 1000) + 1).astype(np.int64)
        parts = []
        bar = progress_bar(n, desc="twins", unit="prospect", enabled=True)
        for a, b in zip(bounds[:-1], bounds[1:]):
            parts.append(index.search(k, **_slice_side(side, a, b), n_threads=n_threads))
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
                          value_score, client_values=self.value_)

    def _add_reference(self, res: TwinResult, ref_rows, ref_sims, kr: int):
        """The reference scores of a result, from each prospect's kr nearest reference contacts."""
        found = ref_rows >= 0
        reference = self._as_similarity(ref_sims, found).sum(axis=1) / kr
        res.reference_similarity = reference
        res.reference_score = res.score - reference
        if res.value_score is not None:
            res.value_reference_score = res.value_score - float(np.mean(self.value_)) * reference
        res.reference_rows = np.where(found, self.reference_sample_[np.maximum(ref_rows, 0)], -1)
        res.reference_similarities = ref_sims
        res.k_reference = kr

    def _as_similarity(self, sims: np.ndarray, found: np.ndarray) -> np.ndarray:
        """Similarities in the metric's sense, 0 past the count (squared distances d -> 1 / (1 + d))."""
        s = sims.astype(np.float64)
        if self.metric_ == "sqeuclidean":
            s = 1.0 / (1.0 + np.where(found, s, 0.0))
        return np.where(found, s, 0.0)

    def lookalike_score(self, prospects, k: int = 10, *, id: str | None = None, by: str = "auto") -> pd.Series:
        """Each prospect's lookalike score, a Series named after it (see ``by``).

        ``by``: ``"score"`` (the mean similarity of the k twins, a twin not
        found counting 0), ``"value"`` (each twin weighed by its client
        value; needs ``fit(value=...)``), ``"reference"`` and
        ``"value_reference"`` (how much more the prospect resembles the
        clients than the reference; needs a reference) or ``"auto"``: the
        reference score when the index has a reference, value-weighted when
        it has values.
        """
        res = self.search(prospects, k=min(k, self.n_clients_), id=id)
        name = self._by(by)
        return pd.Series(getattr(res, name), index=pd.Index(res.prospect_ids, name="prospect_id"), name=name)

    _BY = {"score": "score", "value": "value_score", "reference": "reference_score",
           "value_reference": "value_reference_score"}

    def _by(self, by: str) -> str:
        """The result field a ``by`` names."""
        if by != "auto" and by not in self._BY:
            raise ValueError(f"by must be 'auto' or one of {list(self._BY)}, got {by!r}")
        has_value = self.value_ is not None
        has_reference = getattr(self, "reference_index_", None) is not None
        if "value" in by and not has_value:
            raise ValueError(f"by={by!r} needs the clients' value: fit(clients, value=...)")
        if "reference" in by and not has_reference:
            raise ValueError(f"by={by!r} needs a reference: fit(clients, reference=contacts) (or population=)")
        if by == "auto":
            by = ("value_" if has_value else "") + ("reference" if has_reference else "score")
            by = "value" if by == "value_score" else by
        return self._BY[by]

    def expand(self, prospects, *, fraction: float | None = None, n: int | None = None, exclude_mask=None,
               k: int = 10, id: str | None = None, by: str = "auto") -> pd.DataFrame:
        """The prospects most like the seed clients, best first: a lookalike audience.

        Give ``fraction`` (e.g. 0.01–0.10 of the prospects) or ``n``.
        ``exclude_mask`` (booleans, one per prospect) removes prospects that
        must not be targeted (already clients, opted out). k is capped at the
        number of seed clients, so a single seed client works. Ranked by
        ``by`` (see :meth:`lookalike_score`), ties by prospect order.
        ``"auto"`` ranks by the reference score, value-weighted when the index
        has client values; an index fitted without a reference takes the
        prospects given as its reference (a sample of ``reference_size``
        rows): the audience is then the prospects who resemble the clients
        more than the other prospects do — the plain score (``by="score"``)
        favours profiles common among everyone and can rank the buyers below
        random. Returns prospect_id, score (and value_score, reference_score,
        value_reference_score when there), twins, rank.
        """
        self._check_fitted()
        if (fraction is None) == (n is None):
            raise ValueError("give exactly one of fraction and n")
        k = min(check_int(k, "k", min_value=1), self.n_clients_)
        side, ids, _ = self._prospect_side(prospects, id)
        index = self
        if by == "auto" and getattr(self, "reference_index_", None) is None:
            index = copy.copy(self)  # this index, with the prospects as its reference for this call
            index._fit_reference(side, self._mixed_cfg)
        key_name = index._by(by)
        res = index._search_side(side, ids, k)
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
        key = getattr(res, key_name)
        cand = np.flatnonzero(keep)
        order = cand[np.lexsort((cand, -key[cand]))][:size]
        out = {"prospect_id": res.prospect_ids[order]}
        for name in ("score", "value_score", "reference_score", "value_reference_score"):
            if getattr(res, name) is not None:
                out[name] = getattr(res, name)[order]
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
            df = self._explain_bits(side, self._clients_side, pr, cr)
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

    def _explain_bits(self, side: dict, base: dict, pr: int, cr: int) -> pd.DataFrame:
        m = self.n_features_in_
        fa = np.unpackbits(side["bits"][pr].view(np.uint8), bitorder="little")[:m].astype(bool)
        fc = np.unpackbits(base["bits"][cr].view(np.uint8), bitorder="little")[:m].astype(bool)
        w = np.asarray(self._bit_weights) if self.metric_ == "weighted_jaccard" else np.ones(m)
        either = np.flatnonzero(fa | fc)
        names = np.asarray(self.feature_names_, dtype=object)
        both = fa[either] & fc[either] & (either != self._other_bit())  # unseen categories are never shared
        shared = fa & fc & (np.arange(m) != self._other_bit())
        union_w = float(_union_weight(fa[None], fc[None], shared[None], w, self._other_bit(),
                                      _further_unseen(side, [pr]), _further_unseen(base, [cr]))[0])
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

    # -------------------------------------------------------------- reasons
    def reasons(self, prospects, *, top: int = 3, k: int = 10, id: str | None = None) -> pd.DataFrame:
        """Why each prospect: the criteria it shares with its twins that set the
        clients apart from the reference, in words a marketer reads.

        The reference score splits exactly over the columns compared::

            reference_score(x) = sum_c  1/k sum_j part_c(x, c_(j))  -  1/k' sum_j part_c(x, r_(j))

        with part_c(x, y) column c's share of the pair's similarity — for the
        mixed metric w_c s_c(x, y) over the weights of the parts present; for
        cosine and inner product the products of the column's features (over
        the norms for cosine); for the Jaccard metrics each category both hold,
        weighted, over the weight of their union (the categories are the
        reasons). The columns of largest positive share — where the prospect
        resembles its twins among the clients more than its nearest contacts
        of the reference — whose value (its bin, category, or a member of its
        set) is at least 1.1 times as common among the clients as in the
        reference are its reasons, each said with the prospect's value and
        that ratio.

        Parameters
        ----------
        prospects : a table, as for :meth:`search` (explain an audience, not
            a whole base: the pairs of every twin are scored again).
        top : reasons per prospect (>= 1).
        k : twins per prospect (capped at the number of clients).
        id : the prospects' id column.

        Returns
        -------
        DataFrame, one row per prospect: prospect_id, reference_score, why
        ("resembles clients more than the population on: month Nov (3.2× as
        common among clients); ..."), and reason_1..top (the columns, or
        categories), contribution_1..top (their shares of the reference
        score); None and NaN where fewer columns have a positive share.
        """
        self._check_fitted()
        if getattr(self, "reference_index_", None) is None:
            raise ValueError("reasons compare the clients with a reference: fit(clients, reference=contacts) "
                             "(or population=contacts)")
        if self.schema_ is None:
            raise ValueError("reasons name table columns: fit the index on a table (DataFrame, Arrow table, "
                             "ContactTable), not a matrix")
        if self.metric_ == "sqeuclidean":
            raise ValueError("metric 'sqeuclidean' scores 1 / (1 + distance), which does not split over the "
                             "columns: explain with metric 'mixed', 'cosine' or 'inner_product'")
        top = check_int(top, "top", min_value=1)
        k = min(check_int(k, "k", min_value=1), self.n_clients_)
        side, ids, table = self._prospect_side(prospects, id)
        res = self._search_side(side, ids, k)
        names, shares = self._reason_shares(side, res)
        # A reason is shared with the twins more than with the reference's contacts (a positive share)
        # and sets the clients apart: the prospect's value is at least 10 % more common among them.
        shares = np.where(self._over_represented(table, names), shares, 0.0)
        top = min(top, len(names))
        order = np.argsort(-shares, axis=1, kind="stable")[:, :top]
        values = np.take_along_axis(shares, order, axis=1)
        positive = values > 0
        words = self._reason_words(table, names, order, positive)
        out = {"prospect_id": res.prospect_ids, "reference_score": res.reference_score,
               "why": _why(words, positive)}
        labels = np.asarray(names, dtype=object)
        for j in range(top):  # a loop over reason ranks, not rows
            out[f"reason_{j + 1}"] = np.where(positive[:, j], labels[order[:, j]], None)
            out[f"contribution_{j + 1}"] = np.where(positive[:, j], values[:, j], np.nan)
        return pd.DataFrame(out)

    def _reason_shares(self, side: dict, res: TwinResult):
        """(reason names, (n, reasons) shares of the reference score): the twins' parts minus the reference's."""
        clients = self._pair_shares(self.index_, self._clients_side, side, res.rows) / res.k
        sample_rows = np.where(res.reference_rows >= 0,
                               np.searchsorted(self.reference_sample_, np.maximum(res.reference_rows, 0)), -1)
        reference = self._pair_shares(self.reference_index_, self._reference_side, side, sample_rows)
        return self._reason_names(), clients - reference / res.k_reference

    def _over_represented(self, table: ContactTable, names: list[str]) -> np.ndarray:
        """(n, reasons): whether the prospect's value of each reason is more common among the clients."""
        if self.metric_ in _BITS:
            lift = self.column_contrast_[self.columns_used_[0]].lift()
            return np.broadcast_to(lift[: len(names)] >= _lookalike.MIN_LIFT, (len(table), len(names)))
        return np.stack([_lookalike.over_represented(self.column_contrast_[c], table) for c in names], axis=1)

    def _reason_names(self) -> list[str]:
        if self.metric_ in _BITS:
            return list(self.feature_names_)
        return self._engine_columns() if self.metric_ == "mixed" else list(dict.fromkeys(self._feature_columns()))

    def _engine_columns(self) -> list[str]:
        """The mixed metric's columns in the engine's order: numeric, categorical, category sets."""
        roles = {c: self.schema_[c].role for c in self.columns_used_}
        return [c for r in ("numeric", "categorical", "category_set") for c in self.columns_used_ if roles[c] == r]

    def _feature_columns(self) -> list[str]:
        """The column of each dense feature, in the encoder's order (numbers, categories, sets)."""
        out = []
        for c in self._engine_columns():
            spec = self.schema_[c]
            out += [c] * (1 if spec.role == "numeric" else len(spec.categories))
        return out

    def _pair_shares(self, index, base: dict, side: dict, rows: np.ndarray, chunk: int = 65536) -> np.ndarray:
        """(n, reasons): each prospect's sum over its found neighbours (``rows`` of ``base``) of each
        reason's share of the pair's similarity."""
        n = rows.shape[0]
        p, slot = np.nonzero(rows >= 0)
        c = rows[p, slot]
        out = np.zeros((n, len(self._reason_names())))
        for a in range(0, len(p), chunk):  # bounded memory: chunks of pairs
            np.add.at(out, p[a:a + chunk], self._pair_parts(index, base, side, p[a:a + chunk], c[a:a + chunk]))
        return out

    def _pair_parts(self, index, base: dict, side: dict, p: np.ndarray, c: np.ndarray) -> np.ndarray:
        """(pairs, reasons): each reason's share of the similarity of the pairs (prospect p, row c of base);
        the shares of a pair add up to its similarity."""
        if self.metric_ == "mixed":
            parts, _ = index.score_pairs(p.astype(np.int64), c.astype(np.int64),
                                         **{key: v for key, v in side.items() if key != "keys"},
                                         n_threads=resolve_threads(self.n_threads))
            cfg = self._mixed_cfg
            w = np.array(cfg["numeric_weights"] + cfg["categorical_weights"] + cfg["set_weights"])
            present = ~np.isnan(parts)
            total = np.where(present, w, 0.0).sum(axis=1, keepdims=True)
            return np.where(present, w * np.nan_to_num(parts), 0.0) / np.where(total > 0, total, 1.0)
        if self.metric_ in _BITS:
            m = self.n_features_in_
            a = np.unpackbits(side["bits"][p].view(np.uint8), axis=1, bitorder="little")[:, :m].astype(bool)
            b = np.unpackbits(base["bits"][c].view(np.uint8), axis=1, bitorder="little")[:, :m].astype(bool)
            w = np.asarray(self._bit_weights, dtype=np.float64) if self.metric_ == "weighted_jaccard" else np.ones(m)
            shared = (a & b) & (np.arange(m) != self._other_bit())  # unseen categories are never shared
            union = _union_weight(a, b, shared, w, self._other_bit(), _further_unseen(side, p),
                                  _further_unseen(base, c))[:, None]
            return shared * w / np.where(union > 0, union, 1.0)
        x = side["dense"][p].astype(np.float64)
        y = base["dense"][c].astype(np.float64)
        prod = x * y
        if self.metric_ == "cosine":
            norms = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
            prod = prod / np.where(norms > 0, norms, np.inf)[:, None]
        groups = pd.factorize(pd.Index(self._feature_columns()))[0]
        return prod @ np.eye(groups.max() + 1)[groups]

    def _reason_words(self, table: ContactTable, names: list[str], order: np.ndarray, positive: np.ndarray):
        """(n, top) words of each prospect's reasons (None where there is none)."""
        words = np.full(order.shape, None, dtype=object)
        for j, name in enumerate(names):  # a loop over the reasons, not the rows
            hit = (order == j) & positive
            rows = np.flatnonzero(hit.any(axis=1))
            if len(rows) == 0:
                continue
            if self.metric_ in _BITS:
                col = self.column_contrast_[self.columns_used_[0]]
                said = np.full(len(rows), f"{name} ({_lookalike._times([col.lift()[j]])[0]} as common among "
                               "clients)", dtype=object)
            else:
                said = _lookalike.reason_words(self.column_contrast_[name], table, rows)
            at = np.full(len(order), -1)
            at[rows] = np.arange(len(rows))
            i, r = np.nonzero(hit)
            words[i, r] = said[at[i]]
        return words

    # ----------------------------------------------------------- model files
    # The engines are not stored: a model file holds the encoded clients (and
    # the reference sample) as the engines were given them, with the
    # configuration they were fitted with, and loading fits the engines again
    # from them. Fit is deterministic, so searches are bit-identical; its
    # input checks (sizes, shapes, weights, ranges) vet the file's arrays like
    # any user input; and the engine's sorted copies, norms and panels are not
    # stored twice.
    # The reference table and the value column are read during fit only.
    _model_file_skip = ("index_", "reference_index_", "_reference_table", "_value_source")

    def _model_file_restore(self):
        if "metric_" not in self.__dict__:  # saved before fit
            return
        self._reference_table = None
        self._value_source = {}
        if self.metric_ not in METRICS:
            raise ValueError(f"unknown metric {self.metric_!r}")
        n_threads = resolve_threads(self.n_threads)
        common = dict(bit_weights=self._bit_weights_list(), key_other=self._key_other() if self.block_on_ else [],
                      **self._options(), n_threads=n_threads)
        self.index_ = _core.TwinIndex.fit(self.metric_, **self._clients_side, **self._mixed_cfg, **common)
        n = self.index_.size
        if len(self.client_ids_) != n or self.n_clients_ != n or (self.value_ is not None and len(self.value_) != n):
            raise ValueError(f"the index holds {n} clients, its ids {len(self.client_ids_)}, n_clients_ "
                             f"{self.n_clients_}")
        if self.reference_sample_ is not None:
            self.reference_index_ = _core.TwinIndex.fit(self.metric_, **self._reference_side, **self._mixed_cfg,
                                                        **common)
            if self.reference_index_.size != len(self.reference_sample_) or self.n_reference_ != \
                    len(self.reference_sample_):
                raise ValueError("the reference sample and the reference index differ in size")
        else:
            self.reference_index_ = None

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


def _population_schema(population, clients_schema: Schema, names: list[str], what: str = "population") -> Schema:
    """The schema of the population's columns ``names``, read with the clients' roles
    (``what``: the argument it came from, for the messages)."""
    if isinstance(population, ContactTable):
        return population.schema
    if _is_matrix(population):
        raise TypeError(f"{what} must be a table like the clients (DataFrame, Arrow table, mapping of arrays or "
                        "ContactTable), got a matrix")
    columns = _column_names(population, what)
    missing = [c for c in names if c not in columns]
    if missing:
        raise KeyError(f"the {what} has no column {missing}: it needs every column the clients are compared "
                       f"or blocked on ({names})")
    roles = {c: clients_schema[c].role if c in names else None for c in columns}
    try:
        return Schema.learn(population, roles=roles)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{what}: {exc}") from None


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
        if key in ("dense", "bits", "bits_unseen"):
            out[key] = v[a:b]
        elif key == "sets":
            out[key] = [tuple(x[a:b] for x in col) for col in v]
        else:
            out[key] = [x[a:b] for x in v]
    return out


def _take_side(side: dict, rows: np.ndarray) -> dict:
    """Some rows of an engine side (contiguous copies)."""
    out = {}
    for key, v in side.items():
        if key in ("dense", "bits", "bits_unseen"):
            out[key] = np.ascontiguousarray(v[rows])
        elif key == "sets":
            out[key] = [tuple(np.ascontiguousarray(x[rows]) for x in col) for col in v]
        else:
            out[key] = [np.ascontiguousarray(x[rows]) for x in v]
    return out


def _further_unseen(side: dict, rows) -> np.ndarray:
    """Each row's unseen categories beyond the first (the "other" bit stands for the first one)."""
    u = side.get("bits_unseen")
    if u is None:
        return np.zeros(len(rows))
    return np.maximum(np.asarray(u)[rows].astype(np.float64) - 1, 0)


def _union_weight(a, b, shared, w, other: int, further_a, further_b) -> np.ndarray:
    """The weight of the union of rows of sets a and b (bool (n, m)) as the engine counts it: |A| + |B| -
    |A & B|, each unseen category an item of its own (the other bit intersects nothing)."""
    wo = w[other] if other >= 0 else 0.0
    return (a @ w) + (b @ w) - (shared @ w) + (further_a + further_b) * wo


def _held(table: ContactTable, column: str, m: int) -> np.ndarray:
    """(rows, m) booleans: which of the m categories of a set column each row holds."""
    flags = np.unpackbits(table.bitsets(column).view(np.uint8), axis=1, bitorder="little")
    return flags[:, :m].astype(bool)


def _nonzero_weights(w: np.ndarray, what: str) -> np.ndarray:
    """Learnt weights, or 1 each when none is > 0: then nothing sets the clients apart from the
    reference (every information value within sampling noise), and no part can be preferred."""
    w = np.asarray(w, dtype=np.float64)
    if w.sum() > 0:
        return w
    warnings.warn(f"weights='auto': no {what} sets the clients apart from the reference (every information value "
                  "is within sampling noise); every weight is 1", RuntimeWarning, stacklevel=4)
    return np.ones_like(w)


def _row_of(ids, value, what: str) -> int:
    # One id: a list would broadcast (and match its first element), True would match id 1.
    if isinstance(value, (bool, np.bool_)) or not (np.isscalar(value) or value is None):
        raise TypeError(f"{what} must be one id (a number or a string), got {type(value).__name__}")
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


def _why(words: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """One sentence per prospect from its reasons' words."""
    text = pd.Series([""] * len(words), dtype=object)
    for j in range(words.shape[1]):  # a loop over reason ranks, not rows
        sep = "" if j == 0 else "; "
        text = text + np.where(positive[:, j], sep + words[:, j].astype(str), "")
    said = "resembles clients more than the population on: " + text
    return np.where(positive[:, 0] if words.shape[1] else False, said.to_numpy(dtype=object),
                    "resembles the population as much as the clients: no criterion sets it apart")


def _nice(column: str) -> str:
    return column.replace("_", " ")


def _sentence(column, role, a, b, sim, value_range, table, index, pr, cr) -> str:
    name = _nice(column)
    if a is None or b is None:
        side = "prospect's" if a is None else "client's"
        return f"{name} missing on the {side} side: left out"
    if role == "categorical":
        return f"same {name} ({a})" if sim == 1 else f"different {name} ({a} vs {b})"
    if role == "numeric" and index.numeric_scale_learnt_on_ is not None:  # compared on ranks
        among = {"clients": "the clients", "reference": "the reference"}.get(index.numeric_scale_learnt_on_,
                                                                               "the population")
        between = 1 - sim
        return f"{name} {a:,.4g} vs {b:,.4g}: {between:.1%} of {among} lie between" if between < 0.1 else \
            f"{name} {a:,.4g} vs {b:,.4g}: {between:.0%} of {among} lie between"
    if role == "numeric":
        diff = abs(a - b)
        share = diff / value_range if value_range else 0.0
        scale = "the clients'" if index.schema_learnt_on_ == "clients" else "the population's"
        return f"{name} {a:,.4g} vs {b:,.4g}: {share:.0%} of {scale} range apart"
    both = sorted((set(a) & set(b)) - {"(other)"})  # two unseen categories may differ: never shared
    either = set(a) | set(b)
    shared = f" ({', '.join(both)})" if both else ""
    return f"{len(both)} of {len(either)} {name} shared{shared}"


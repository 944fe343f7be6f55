"""Statistical twins on Dask DataFrames of prospects.

The index is fitted in memory (the clients, and a population sample for the
schema and the reference) and searched partition by partition, placed one
of two ways:

* broadcast (the default): the fitted index is one key of the graph, sent to
  each worker once and rebuilt there from its model bytes;
* sharded by block (``shards=n``): each block key's clients go to one of n
  shards. The clients, as a Dask DataFrame (the one given to ``fit``, or the
  pandas one cut into partitions), are shuffled by that key and each shard is
  encoded and indexed on a worker from its own clients; the prospects are
  shuffled by the same key into partitions that each depend on one shard, so
  a worker holds the clients of its shards only and the client sends no
  shard. Twins are searched within a block, so the answer is the local one:
  the same twins, similarities, ties and scores.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from .. import _core
from .._config import resolve_threads
from .._validation import check_float, check_int
from ..twins import TwinIndex, TwinResult, _take_side
from ._partitions import _is_dask, broadcast, shuffle_method

__all__ = ["DaskTwinIndex"]

# Columns added to the prospects on their way through a shuffle.
_SHARD = "__twinscore_shard__"
_ID = "__twinscore_id__"
_POSITION = "__twinscore_position__"
_ROW = "__twinscore_row__"


class DaskTwinIndex(TwinIndex):
    """:class:`twinscore.TwinIndex` whose searches also take Dask DataFrames
    of prospects.

    ``fit`` takes what the local index takes; a Dask DataFrame given as the
    clients, ``population`` or ``reference`` is computed first (give a sample
    as the population). With local input every method is the local one. With
    a Dask DataFrame of prospects:

    * ``search`` returns a Dask DataFrame, one row per (prospect, twin):
      prospect_id, rank, client_id, similarity (as :meth:`TwinResult.to_pandas`);
    * ``scores`` a Dask DataFrame, one row per prospect (as :meth:`TwinResult.scores`);
    * ``lookalike_score`` a Dask Series indexed by prospect id;
    * ``recommend`` a Dask DataFrame of the items the twins bought;
    * ``reasons`` a Dask DataFrame of each prospect's reasons;
    * ``expand`` the audience, computed: a pandas DataFrame equal to the local one.

    Prospect ids are the ``id`` column, else each partition's index. Rows
    come partition by partition, or shard by shard with ``shards=n`` (an
    index fitted with ``block_on``); sort on prospect_id (and rank) to
    compare with a local result.
    """

    # The clients as given (a Dask or pandas DataFrame) are what the workers build shards from:
    # never written to a model file (a loaded index builds its shards on the client instead).
    _model_file_skip = TwinIndex._model_file_skip + ("_client_source",)

    def fit(self, clients, value=None, *, id=None, population=None, schema=None, reference=None):
        """As :meth:`twinscore.TwinIndex.fit`; Dask inputs are computed first. Returns self.

        Clients given as a DataFrame are also kept for ``shards=n``: a pandas one as a copy of
        the columns the index reads, a Dask one as its graph (read again when the shards are
        built: it must give the same rows then)."""
        import dask

        lengths = None
        if _is_dask(clients):  # read once: the rows, and each partition's length to number them
            source = clients
            clients, lengths = dask.compute(clients, clients.map_partitions(len))
        value, population, reference = (x.compute() if _is_dask(x) else x for x in (value, population, reference))
        super().fit(clients, value, id=id, population=population, schema=schema, reference=reference)
        self._client_source = None
        if self.schema_ is not None and self.block_on_:
            names = list(self.schema_.names)
            if lengths is not None:
                starts = np.concatenate([[0], np.cumsum(np.asarray(lengths, dtype=np.int64))])
                self._client_source = source[names].map_partitions(
                    _with_row, starts, meta=source._meta[names].assign(**{_ROW: np.int64(0)}))
            elif isinstance(clients, pd.DataFrame):
                self._client_source = clients[names].reset_index(drop=True).assign(
                    **{_ROW: np.arange(len(clients), dtype=np.int64)})
        return self

    # ---------------------------------------------------------- searches
    def search(self, prospects, k: int = 10, *, id=None, progress=None, shards: int | None = None):
        """As :meth:`twinscore.TwinIndex.search`; a Dask DataFrame of (prospect, twin) rows for Dask prospects."""
        if not _is_dask(prospects):
            return super().search(prospects, k, id=id, progress=progress)
        return self._per_partition(prospects, id, shards, _SearchPart(self._dask_k(k, capped=False)))

    def scores(self, prospects, k: int = 10, *, id=None, shards: int | None = None):
        """One row per prospect: prospect_id, twins, score (and value_score, reference_score,
        value_reference_score when the index has them): ``search(...).scores()`` for local
        prospects, a Dask DataFrame for Dask ones."""
        if not _is_dask(prospects):
            return super().search(prospects, k, id=id).scores()
        return self._per_partition(prospects, id, shards, _ScoresPart(self._dask_k(k, capped=False)))

    def lookalike_score(self, prospects, k: int = 10, *, id=None, by: str = "auto", shards: int | None = None):
        """As :meth:`twinscore.TwinIndex.lookalike_score`; a Dask Series indexed by prospect id for Dask prospects."""
        if not _is_dask(prospects):
            return super().lookalike_score(prospects, k, id=id, by=by)
        name = self._by(by)
        frame = self._per_partition(prospects, id, shards, _ScoresPart(self._dask_k(k, capped=True), name))
        meta = _as_series(frame._meta, name)
        return frame.map_partitions(_as_series, name, meta=meta)

    def recommend(self, prospects, client_items, top: int = 5, *, k: int = 10, id=None, client: str = "client_id",
                  item: str | None = None, weight: str | None = None, by: str = "auto", shards: int | None = None):
        """What each prospect's twins bought (:meth:`TwinResult.recommend` of a search with k twins),
        for local or Dask prospects (``client_items`` is small: it goes to every worker)."""
        k = self._dask_k(k, capped=True)
        if _is_dask(client_items):  # a small log: computed once, then sent to every worker
            client_items = client_items.compute()
        options = dict(client=client, item=item, weight=weight, by=by)
        if not _is_dask(prospects):
            return super().search(prospects, k, id=id).recommend(client_items, top, **options)
        return self._per_partition(prospects, id, shards, _RecommendPart(k, client_items, top, options))

    def reasons(self, prospects, *, top: int = 3, k: int = 10, id=None):
        """As :meth:`twinscore.TwinIndex.reasons`; a Dask DataFrame for Dask prospects."""
        if not _is_dask(prospects):
            return super().reasons(prospects, top=top, k=k, id=id)
        return self._per_partition(prospects, id, None, _ReasonsPart(top, k))

    def expand(self, prospects, *, fraction=None, n=None, exclude_mask=None, k: int = 10, id=None,
               by: str = "auto", shards: int | None = None) -> pd.DataFrame:
        """The audience, as :meth:`twinscore.TwinIndex.expand`. For Dask prospects ``exclude_mask``
        names a boolean column (True: never target), the audience is computed and returned as a
        pandas DataFrame equal to the local one; an index without a reference samples it from the
        prospects as the local call does (the same rows, by their position in the whole table)."""
        if not _is_dask(prospects):
            return super().expand(prospects, fraction=fraction, n=n, exclude_mask=exclude_mask, k=k, id=id, by=by)
        self._check_fitted()
        if (fraction is None) == (n is None):
            raise ValueError("give exactly one of fraction and n")
        if exclude_mask is not None and (not isinstance(exclude_mask, str) or exclude_mask not in prospects.columns):
            raise KeyError(f"exclude_mask must name a boolean column of the Dask prospects, got {exclude_mask!r}")
        k = self._dask_k(k, capped=True)
        lengths = np.asarray(prospects.map_partitions(len).compute(), dtype=np.int64)
        total = int(lengths.sum())
        if fraction is not None:
            size = int(round(check_float(fraction, "fraction", min_value=0.0, max_value=1.0, strict_min=True) * total))
        else:
            size = check_int(n, "n", min_value=1)
        starts = np.concatenate([[0], np.cumsum(lengths)])
        positioned = prospects.map_partitions(_with_position, starts, meta=prospects._meta.assign(**{_POSITION: 0}))
        index = self
        if by == "auto" and getattr(self, "reference_index_", None) is None:
            index = self._with_prospects_as_reference(positioned, id, total)
        name = index._by(by)
        scores = index._per_partition(positioned, id, shards, _ScoresPart(k, exclude=exclude_mask, position=True))
        return _audience(scores, name, size)

    # ---------------------------------------------------------- placement
    def _per_partition(self, prospects, id, shards, part: "_Part"):
        import dask.dataframe as dd

        self._check_fitted()
        if not isinstance(prospects, dd.DataFrame):
            raise TypeError(f"prospects must be a Dask DataFrame, got {type(prospects).__name__}")
        self._check_columns(prospects, id)
        if shards is not None:
            return self._sharded(prospects, id, check_int(shards, "shards", min_value=1), part)
        empty = part.empty(self.to_local(), prospects._meta_nonempty, id)
        return prospects.map_partitions(_run_part, broadcast(self.to_local(), "twinindex"), part, id, empty, meta=empty,
                                        align_dataframes=False)

    def _check_columns(self, prospects, id):
        """The prospects' columns, checked from the metadata before anything runs."""
        need = [] if self.schema_ is None else list(self.schema_.names)
        missing = [c for c in need + ([id] if id is not None else []) if c not in prospects.columns]
        if missing:
            raise KeyError(f"the prospects lack the column(s) {missing}: the index compares and blocks on {need}")

    def _sharded(self, prospects, id, shards: int, part: "_Part"):
        import dask
        import dask.dataframe as dd

        if not self.block_on_:
            raise ValueError("shards= splits the index by block key: fit it with block_on=[...]")
        if id is None:  # the ids are the index, which the shuffle replaces: keep them as a column
            prospects = prospects.map_partitions(_index_as_column, meta=_index_as_column(prospects._meta))
            id = _ID
        # Each shard's prospects in m partitions (m = the prospects' partitions per shard), so a
        # shard's task stays the size of an input partition: partition q = j * m + sub holds
        # prospects of shard j only, sub = their input partition mod m.
        m = -(-prospects.npartitions // shards)
        keyed = prospects.map_partitions(_with_shard, self.schema_.select(self.block_on_), shards, m,
                                         meta=prospects._meta.assign(**{_SHARD: np.int64(0)}))
        by_shard = keyed.set_index(_SHARD, divisions=list(range(shards * m + 1)), sort=True,
                                   shuffle_method=shuffle_method(keyed))
        empty = part.empty(self.to_local(), prospects._meta_nonempty, id)
        built = self._built_shards(shards)
        out = [dask.delayed(_run_shard)(p, built[q // m], part, id, empty)
               for q, p in enumerate(by_shard.to_delayed())]
        return dd.from_delayed(out, meta=empty, verify_meta=False)

    def _built_shards(self, n: int) -> list:
        """The n shards as Dask keys, each built on a worker from its own clients (shuffled there by
        block key): what the prospects' partitions of shard j depend on. Clients not given as a
        DataFrame (a ContactTable, Arrow, a loaded index) are cut into shards here and sent."""
        import dask

        state = self._light().__dict__  # a plain dict: the light index is no model a file could restore
        reference = self._reference_pieces(n)
        source = getattr(self, "_client_source", None)
        if source is None:
            of = _key_shard(self._clients_side["keys"], n)
            rows = [np.flatnonzero(of == j) for j in range(n)]
            return [broadcast(_TwinShard(state, rows[j], _take_side(self._clients_side, rows[j]), *reference[j]),
                              f"twinshard{j}") for j in range(n)]
        light = broadcast(state, "twinlight")
        by_shard = self._clients_by_shard(source, n)
        return [dask.delayed(_build_shard, pure=True)(p, light, *reference[j])
                for j, p in enumerate(by_shard.to_delayed())]

    def _clients_by_shard(self, source, n: int):
        """The clients' compared and key columns with their row in the whole index (kept by fit), in
        n partitions: shard j's clients, and only them, in partition j."""
        import dask.dataframe as dd

        frame = source
        if isinstance(source, pd.DataFrame):
            frame = dd.from_pandas(source, npartitions=max(1, min(n, len(source))), sort=False)
        keyed = frame.map_partitions(_with_shard, self.schema_.select(self.block_on_), n, 1,
                                     meta=frame._meta.assign(**{_SHARD: np.int64(0)}))
        return keyed.set_index(_SHARD, divisions=list(range(n + 1)), sort=True, shuffle_method=shuffle_method(keyed))

    def _reference_pieces(self, n: int) -> list[tuple]:
        """Each shard's reference rows and their encoded side (None, None without a reference):
        the reference sample is cut here — it is the sample the index was fitted with."""
        if self.reference_sample_ is None:
            return [(None, None)] * n
        of = _key_shard(self._reference_side["keys"], n)
        return [(rows, _take_side(self._reference_side, rows)) for rows in (np.flatnonzero(of == j) for j in range(n))]

    def _light(self) -> TwinIndex:
        """This index without its engines and encoded tables: what turns a shard's rows into the
        whole index's result (ids, values, metric, schema, reference size)."""
        light = TwinIndex.__new__(TwinIndex)
        heavy = ("index_", "reference_index_", "_clients_side", "_reference_side", "_clients_table",
                 "_reference_table", "_value_source", "_client_source")
        light.__dict__.update({k: v for k, v in self.__dict__.items() if k not in heavy})
        return light

    def _with_prospects_as_reference(self, prospects, id, total: int) -> "DaskTwinIndex":
        """A copy of this index whose reference is sampled from the Dask prospects as the local
        ``expand`` samples the whole table: the same rows, by their position in it."""
        size = total if self.reference_size == "all" else (self.n_clients_ if self.reference_size is None
                                                           else int(self.reference_size))
        rows = np.arange(total) if total <= size else \
            np.sort(np.random.default_rng(self.random_state).choice(total, size, replace=False))
        sample = prospects.map_partitions(_take_positions, rows, meta=prospects._meta).compute()
        index = copy.copy(self)
        side, _, _ = index._prospect_side(sample, id)
        index.reference_size = "all"  # the sample is the reference: index it whole
        index._fit_reference(side, index._mixed_cfg)
        index.reference_size = self.reference_size
        index.reference_sample_ = rows
        return index

    def _dask_k(self, k, capped: bool) -> int:
        self._check_fitted()
        k = check_int(k, "k", min_value=1)
        if capped:
            return min(k, self.n_clients_)
        if k > self.n_clients_:
            raise ValueError(f"k = {k} is larger than the {self.n_clients_} clients of the index")
        return k

    def to_local(self) -> TwinIndex:
        """The plain, fitted :class:`TwinIndex` (the same engines, no copy)."""
        local = TwinIndex.__new__(TwinIndex)
        local.__dict__.update({k: v for k, v in self.__dict__.items() if k != "_client_source"})
        return local


# ---------------------------------------------------------------- shards
class _TwinShard:
    """The clients of some blocks, as a worker receives them: the whole index's small state (ids,
    values, schema, weights), the shard's encoded rows and their rows in the whole index. The
    engines are fitted on first use in the worker's process, not pickled."""

    def __init__(self, state: dict, rows, side: dict, reference_rows, reference_side: dict | None):
        self.state, self.rows, self.side = state, rows, side
        self.reference_rows, self.reference_side = reference_rows, reference_side
        self._index = None

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_index"}

    def __setstate__(self, state):
        self.__dict__.update(state, _index=None)

    def index(self) -> "_ShardIndex":
        if self._index is None:
            self._index = _ShardIndex(self)
        return self._index


class _ShardIndex(TwinIndex):
    """A TwinIndex whose engines hold one shard's clients and whose searches answer in the whole
    index's rows: ``_run`` maps the engines' rows back, so ids, values, scores and reference
    rows are those of the whole index."""

    def __init__(self, shard: _TwinShard):
        self.__dict__.update(shard.state)
        n_threads = resolve_threads(self.n_threads)
        common = dict(bit_weights=self._bit_weights_list(), key_other=self._key_other(), **self._options(),
                      n_threads=n_threads)
        fit = lambda side: _core.TwinIndex.fit(self.metric_, **side, **self._mixed_cfg, **common)  # noqa: E731
        self._back = {}
        self.index_ = fit(shard.side) if len(shard.rows) else None
        self._back[id(self.index_)] = shard.rows
        self.reference_index_ = None
        if shard.reference_side is not None:
            self.reference_index_ = fit(shard.reference_side) if len(shard.reference_rows) else _NoRows()
            self._back[id(self.reference_index_)] = shard.reference_rows

    def _run(self, index, side: dict, k: int, progress: bool):
        from ..twins import _side_rows

        n = _side_rows(side)
        size = 0 if index is None or isinstance(index, _NoRows) else index.size
        rows = np.full((n, k), -1, dtype=np.int64)
        sims = np.full((n, k), np.inf if self.metric_ == "sqeuclidean" else -np.inf, dtype=np.float32)
        counts = np.zeros(n, dtype=np.int32)
        if size:  # k past the shard's clients: the slots past them are empty, as past a small block's
            got_rows, got_sims, counts = super()._run(index, side, min(k, size), progress)
            back = self._back[id(index)]
            rows[:, :got_rows.shape[1]] = np.where(got_rows >= 0, back[np.maximum(got_rows, 0)], -1)
            sims[:, :got_sims.shape[1]] = got_sims
        return rows, sims, counts


class _NoRows:
    """A shard's reference index when none of the reference sample falls in its blocks."""
    size = 0


def _key_shard(keys: list, n: int) -> np.ndarray:
    """Each row's shard: a hash of its tuple of key codes, mod n (the same codes give the same
    shard on both sides, since prospects are read with the clients' schema)."""
    h = np.zeros(len(keys[0]), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for codes in keys:
            h = (h ^ np.asarray(codes).astype(np.int64).view(np.uint64)) * np.uint64(0x9E3779B97F4A7C15)
            h ^= h >> np.uint64(29)
    return (h % np.uint64(n)).astype(np.int64)


def _with_shard(df: pd.DataFrame, keys, n: int, m: int, partition_info=None) -> pd.DataFrame:
    """The rows with their partition: shard * m + (input partition mod m), the shard from their
    key columns read with the index's schema ``keys``."""
    if len(df) == 0:
        return df.assign(**{_SHARD: np.zeros(0, dtype=np.int64)})
    table = keys.apply(df[keys.names], id=None)
    sub = 0 if partition_info is None else int(partition_info["number"]) % m
    return df.assign(**{_SHARD: _key_shard([table.codes(c) for c in keys.names], n) * m + sub})


def _with_row(df: pd.DataFrame, starts: np.ndarray, partition_info=None) -> pd.DataFrame:
    start = 0 if partition_info is None else int(starts[partition_info["number"]])
    return df.assign(**{_ROW: np.arange(start, start + len(df), dtype=np.int64)})


def _build_shard(df: pd.DataFrame, state: dict, reference_rows, reference_side) -> "_TwinShard":
    """Shard j from its clients, on the worker: encoded with the index's schema, in the whole
    index's row order (so ties fall as in the local search)."""
    from ..twins import _as_table

    light = TwinIndex.__new__(TwinIndex)
    light.__dict__.update(state)
    df = df.sort_values(_ROW, kind="stable")
    rows = df[_ROW].to_numpy(dtype=np.int64)
    side = None  # a shard without clients has no engine: its prospects find no twin
    if len(df):
        table, _ = _as_table(df.drop(columns=[_ROW]).reset_index(drop=True), id=None, schema=light.schema_)
        side = light._table_side(table)
    return _TwinShard(state, rows, side, reference_rows, reference_side)


def _index_as_column(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(**{_ID: df.index.to_numpy()})


def _run_shard(df: pd.DataFrame, shard: _TwinShard, part: "_Part", id, empty: pd.DataFrame) -> pd.DataFrame:
    df = df.reset_index(drop=True)  # the index is the shard number now
    return empty if len(df) == 0 else part.run(shard.index(), df, id)


# ---------------------------------------------------------------- partitions
class _Part:
    """What runs on one partition of prospects against an index (picklable)."""

    def run(self, index: TwinIndex, df: pd.DataFrame, id) -> pd.DataFrame:
        raise NotImplementedError

    def empty(self, index: TwinIndex, sample: pd.DataFrame, id) -> pd.DataFrame:
        """The output of no prospect: the columns and dtypes of one made-up row's output."""
        return self.run(index, sample.head(1), id).iloc[:0]


class _SearchPart(_Part):
    def __init__(self, k):
        self.k = k

    def run(self, index, df, id):
        return _search(index, df, id, self.k).to_pandas()


class _ScoresPart(_Part):
    def __init__(self, k, column=None, exclude=None, position=False):
        self.k, self.column, self.exclude, self.position = k, column, exclude, position

    def run(self, index, df, id):
        out = _search(index, df, id, self.k).scores()
        if self.column is not None:
            out = out[["prospect_id", self.column]]
        if self.exclude is not None:
            out["excluded"] = _flags(df[self.exclude], self.exclude)
        if self.position:
            out[_POSITION] = df[_POSITION].to_numpy()
        return out


class _RecommendPart(_Part):
    def __init__(self, k, client_items, top, options):
        self.k, self.client_items, self.top, self.options = k, client_items, top, options

    def run(self, index, df, id):
        return _search(index, df, id, self.k).recommend(self.client_items, self.top, **self.options)


class _ReasonsPart(_Part):
    def __init__(self, top, k):
        self.top, self.k = top, k

    def run(self, index, df, id):
        return index.reasons(df, top=self.top, k=self.k, id=id)


def _search(index: TwinIndex, df: pd.DataFrame, id, k: int) -> TwinResult:
    """The partition's twins; a matrix-fitted index reads the partition's values, its ids being
    the partition's index."""
    if index.schema_ is None:
        res = index.search(df.drop(columns=[_POSITION], errors="ignore").to_numpy(), k)
        res.prospect_ids = df.index.to_numpy()
        return res
    return index.search(df, k, id=id)


def _run_part(df: pd.DataFrame, index: TwinIndex, part: _Part, id, empty: pd.DataFrame) -> pd.DataFrame:
    return empty if len(df) == 0 else part.run(index, df, id)


def _flags(values: pd.Series, name: str) -> np.ndarray:
    if values.dtype != bool or values.isna().any():
        raise ValueError(f"exclude_mask column {name!r} must hold booleans without missing values, "
                         f"got dtype {values.dtype}")
    return values.to_numpy(dtype=bool)


def _as_series(frame: pd.DataFrame, name: str) -> pd.Series:
    return pd.Series(frame[name].to_numpy(), index=pd.Index(frame["prospect_id"].to_numpy(), name="prospect_id"),
                     name=name)


def _with_position(df: pd.DataFrame, starts: np.ndarray, partition_info=None) -> pd.DataFrame:
    """The prospects with their position in the whole table (partition start + row)."""
    start = 0 if partition_info is None else int(starts[partition_info["number"]])
    return df.assign(**{_POSITION: np.arange(start, start + len(df), dtype=np.int64)})


def _take_positions(df: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """The partition's rows whose whole-table positions are among ``rows`` (sorted)."""
    pos = df[_POSITION].to_numpy()
    if len(pos) == 0:
        return df
    lo, hi = np.searchsorted(rows, [pos[0], pos[-1] + 1])
    return df.iloc[rows[lo:hi] - pos[0]]


def _audience(scores, name: str, size: int) -> pd.DataFrame:
    """The ``size`` best prospects by ``name`` (ties: earlier position first), as the local expand
    ranks them: each partition's own best first, then the best of those."""
    def best(p: pd.DataFrame) -> pd.DataFrame:
        if "excluded" in p:
            p = p[~p["excluded"]]
        return p.sort_values([name, _POSITION], ascending=[False, True], kind="stable").head(size)

    top = best(scores.map_partitions(best, meta=scores._meta).compute()).reset_index(drop=True)
    columns = ["prospect_id"] + [c for c in ("score", "value_score", "reference_score", "value_reference_score")
                                 if c in top.columns] + ["twins"]
    out = top[columns].copy()
    out["rank"] = np.arange(1, len(out) + 1)
    return out

"""Client value of Dask transaction logs: RFM, the CLV calibration summary,
and BG/NBD / Gamma-Gamma applied partition by partition.

A client's figures need all its transactions in one place: the log is
shuffled by a hash of the client id and each partition summarised by the
local engine. RFM scores rank a client among *all* clients: the partitions'
values are combined into one table of distinct values and counts (exact:
no sample, no sketch), which every partition reads its scores from. The
models are fitted in memory on the summary (one row per client, compressed
to its distinct patterns) and applied per partition.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import _frames
from .. import value as _value
from .._validation import check_int
from ._partitions import _is_dask, partition_count
from .events import _shuffled, _used

__all__ = ["rfm", "calibration_summary", "lifetime_value", "DaskBetaGeo", "DaskGammaGamma"]

_NS_PER_DAY = 86_400 * 10**9
_SCORED = {"R": "recency_days", "F": "frequency", "M": "monetary"}


def rfm(transactions, *, customer: str, date: str, amount: str | None = None, invoice: str | None = None,
        now=None, as_of=None, bins: int = 5, segments: pd.DataFrame | None = None, npartitions: int | None = None):
    """:func:`twinscore.value.rfm` of a Dask transaction log: a Dask DataFrame indexed by client,
    equal row for row to the local result (R, F, M scored among all clients; rows come
    partition by partition instead of in order of first appearance). ``now`` defaults to the
    latest date of the whole log; the count of transactions after ``as_of`` is not kept."""
    bins = check_int(bins, "bins", min_value=2, max_value=100)
    _check(transactions, customer, date, amount, invoice)
    if now is not None and as_of is not None:
        raise ValueError("give at most one of now= (later transactions are an error) and as_of= (later "
                         "transactions are ignored)")
    cut = None if as_of is None else _frames.timestamp(as_of, "as_of")
    if cut is None and now is None:
        now = _latest(transactions[date], date)
    reference = cut if cut is not None else _frames.timestamp(now, "now")
    options = dict(customer=customer, date=date, amount=amount, invoice=invoice, now=reference, bins=bins)
    transactions = transactions[_used(customer, date, amount, invoice)]  # only what RFM reads moves
    log = _shuffled(transactions, customer, partition_count(npartitions, transactions.npartitions))
    meta = _value.rfm(transactions._meta_nonempty.head(1).assign(**{date: reference}), **options).iloc[:0]
    figures = log.map_partitions(_Figures(options, cut, meta), meta=meta)
    ranks = _rank_tables([figures[c] for s, c in _SCORED.items() if s in meta.columns])
    return figures.map_partitions(_scored, ranks, bins, segments, meta=meta)


def calibration_summary(transactions, *, customer: str, date: str, calibration_end, amount: str | None = None,
                        observation_end=None, period_days: float = 7.0, as_of=None, npartitions: int | None = None):
    """:func:`twinscore.value.calibration_summary` of a Dask transaction log: a Dask DataFrame
    indexed by client, equal row for row to the local result (rows partition by partition).
    ``observation_end`` defaults as locally (``as_of``, else the latest date of the whole log,
    at least ``calibration_end``)."""
    _check(transactions, customer, date, amount, None)
    options = dict(customer=customer, date=date, calibration_end=calibration_end, amount=amount,
                   observation_end=observation_end, period_days=period_days, as_of=as_of)
    sample = transactions._meta_nonempty.head(1).assign(**{date: _frames.timestamp(calibration_end,
                                                                                   "calibration_end")})
    meta = _value.calibration_summary(sample, **options).iloc[:0]
    transactions = transactions[_used(customer, date, amount)]
    log = _shuffled(transactions, customer, partition_count(npartitions, transactions.npartitions))
    cut = None if as_of is None else _frames.timestamp(as_of, "as_of")
    return log.map_partitions(_Summary(options, cut, meta, date), meta=meta)


class DaskBetaGeo(_value.BetaGeo):
    """:class:`twinscore.value.BetaGeo` that also predicts for a Dask summary (one partition at a
    time); ``fit`` on a Dask summary computes it first (one row per client, fitted on its
    distinct patterns)."""

    def fit(self, summary, weights=None):
        return super().fit(_local(summary), _local(weights))

    def predict(self, summary, t, **kw):
        if not _is_dask(summary):
            return super().predict(summary, t, **kw)
        local = self.to_local()
        return _per_partition(summary, lambda p: local.predict(p, t, **kw))

    def probability_alive(self, summary, **kw):
        if not _is_dask(summary):
            return super().probability_alive(summary, **kw)
        local = self.to_local()
        return _per_partition(summary, lambda p: local.probability_alive(p, **kw))

    def to_local(self) -> _value.BetaGeo:
        """The plain fitted :class:`BetaGeo`."""
        local = _value.BetaGeo.__new__(_value.BetaGeo)
        local.__dict__.update(self.__dict__)
        return local


class DaskGammaGamma(_value.GammaGamma):
    """:class:`twinscore.value.GammaGamma` that also scores a Dask summary (``expected_spend``
    per partition; :func:`lifetime_value` with a fitted BG/NBD)."""

    def fit(self, summary, weights=None):
        return super().fit(_local(summary), _local(weights))

    def expected_spend(self, summary):
        if not _is_dask(summary):
            return super().expected_spend(summary)
        local = self.to_local()
        return _per_partition(summary, local.expected_spend)

    def to_local(self) -> _value.GammaGamma:
        """The plain fitted :class:`GammaGamma`."""
        local = _value.GammaGamma.__new__(_value.GammaGamma)
        local.__dict__.update(self.__dict__)
        return local


def lifetime_value(purchases, spend, summary, **kw):
    """:func:`twinscore.value.lifetime_value` of each client of a Dask summary (partition by
    partition; the same keywords), else the local function."""
    if not _is_dask(summary):
        return _value.lifetime_value(purchases, spend, summary, **kw)
    purchases = purchases.to_local() if hasattr(purchases, "to_local") else purchases
    spend = spend.to_local() if hasattr(spend, "to_local") else spend
    return _per_partition(summary, lambda p: _value.lifetime_value(purchases, spend, p, **kw))


# ---------------------------------------------------------------- RFM
class _Figures:
    """One partition's clients: the local RFM without its scores (they come from all clients)."""

    def __init__(self, options, cut, meta):
        self.options, self.cut, self.meta = options, cut, meta

    def __call__(self, df: pd.DataFrame) -> pd.DataFrame:
        df = _known_at(df, self.options["date"], self.cut)
        if len(df) == 0:
            return self.meta
        out = _value.rfm(df, **self.options)
        out.attrs = {}
        return out


def _rank_tables(columns):
    """For each scored column, its distinct values over all clients (sorted, better last) and
    how many clients are strictly worse than each: a client's score is read from them."""
    import dask

    def distinct(s: pd.Series, negate: bool):
        v = s.to_numpy(dtype=np.float64)
        return np.unique(-v if negate else v, return_counts=True)

    def combine(*parts):
        values = np.concatenate([p[0] for p in parts])
        counts = np.concatenate([p[1] for p in parts])
        u, inverse = np.unique(values, return_inverse=True)
        total = np.bincount(inverse, weights=counts, minlength=len(u)).astype(np.int64)
        worse = np.concatenate([[0], np.cumsum(total)[:-1]])
        return u, worse, int(total.sum())

    tables = []
    for col in columns:
        negate = col.name == "recency_days"  # a recent purchase is better
        parts = [dask.delayed(distinct)(p, negate) for p in col.to_delayed()]
        tables.append(dask.delayed(combine)(*parts))
    return dask.delayed(list)(tables)


def _scored(df: pd.DataFrame, ranks, bins: int, segments) -> pd.DataFrame:
    """The partition's clients with R, F, M, RFM and segment read from the whole table's ranks:
    1 + floor(bins * L / n), L the clients strictly worse (as the local scores)."""
    if len(df) == 0:
        return df
    df = df.copy()
    scores = []
    for (letter, col), (values, worse, n) in zip([(s, c) for s, c in _SCORED.items() if s in df.columns], ranks):
        v = df[col].to_numpy(dtype=np.float64)
        L = worse[np.searchsorted(values, -v if col == "recency_days" else v)]
        s = (1 + (bins * L) // n).astype(df[letter].dtype)
        df[letter] = s
        scores.append(s)
    df["RFM"] = pd.Series(_value._score_strings(scores, bins), index=df.index).astype(df["RFM"].dtype)
    if "segment" in df:
        df["segment"] = pd.Series(_value._segments_of(df["R"].to_numpy(), df["F"].to_numpy(),
                                                      _value.DEFAULT_SEGMENTS if segments is None else segments,
                                                      bins), index=df.index)
    return df


# ---------------------------------------------------------------- CLV summary
class _Summary:
    def __init__(self, options, cut, meta, date):
        self.options, self.cut, self.meta, self.date = options, cut, meta, date

    def __call__(self, df: pd.DataFrame) -> pd.DataFrame:
        df = _known_at(df, self.date, self.cut)
        if len(df) == 0:
            return self.meta
        out = _value.calibration_summary(df, **self.options)
        out.attrs = {}
        return out


# ---------------------------------------------------------------- shared
def _known_at(df: pd.DataFrame, date: str, cut) -> pd.DataFrame:
    """The partition's transactions known at ``cut`` (all without one)."""
    if cut is None or len(df) == 0:
        return df
    return df[~(_frames.timestamps_ns(df[date], date, missing="keep") > cut.value)]


def _latest(dates, name: str) -> pd.Timestamp:
    """The latest date of the whole log, read as the local functions read dates."""
    latest = dates.map_partitions(
        lambda s: pd.Series([_frames.timestamps_ns(s, name, missing="keep").max() if len(s) else np.iinfo(np.int64).min],
                            dtype=np.int64), meta=pd.Series([], dtype=np.int64)).max().compute()
    if latest == np.iinfo(np.int64).min:
        raise ValueError("transactions is empty")
    return pd.Timestamp(int(latest), unit="ns")


def _check(transactions, customer, date, amount, invoice):
    import dask.dataframe as dd

    if not isinstance(transactions, dd.DataFrame):
        raise TypeError(f"transactions must be a Dask DataFrame here (the local function takes pandas), got "
                        f"{transactions.__class__.__name__}")
    for role, col in (("customer", customer), ("date", date), ("amount", amount), ("invoice", invoice)):
        if col is not None and col not in transactions.columns:
            raise KeyError(f"transactions has no column '{col}' ({role}); columns: {list(transactions.columns)}")


def _local(x):
    return x.compute() if _is_dask(x) else x


def _per_partition(summary, fn):
    """``fn`` (a pandas summary -> Series or DataFrame) over the Dask summary's partitions."""
    sample = summary._meta_nonempty.head(1)
    for c in ("frequency", "recency", "T"):
        if c in sample:
            sample[c] = 1.0 if c != "T" else 2.0
    meta = fn(sample).iloc[:0]
    return summary.map_partitions(lambda p: meta if len(p) == 0 else fn(p), meta=meta)

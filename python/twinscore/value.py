"""Client value: RFM segments, BG/NBD purchase model, Gamma-Gamma spend model, lifetime value.

The per-client work (grouping the log by client, quantile scores, likelihoods
and their gradients, predictions) runs in the C++ engines; this module checks
and converts the columns and shapes the results as pandas tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from . import _core, _frames
from ._model_file import ModelFileMixin
from ._config import resolve_threads
from ._frames import NS_PER_DAY as _NS_PER_DAY
from ._validation import check_float, check_int

__all__ = ["rfm", "DEFAULT_SEGMENTS", "calibration_summary", "BetaGeo", "GammaGamma", "lifetime_value"]

# The standard RFM segment map on R and F scores 1-5 (first matching rule
# wins). Pass your own table with the same columns to `rfm(segments=...)`.
DEFAULT_SEGMENTS = pd.DataFrame(
    [
        ("Champions", 5, 5, 4, 5),
        ("Loyal Customers", 3, 4, 4, 5),
        ("Potential Loyalists", 4, 5, 2, 3),
        ("New Customers", 5, 5, 1, 1),
        ("Promising", 4, 4, 1, 1),
        ("Need Attention", 3, 3, 3, 3),
        ("About to Sleep", 3, 3, 1, 2),
        ("Can't Lose Them", 1, 2, 5, 5),
        ("At Risk", 1, 2, 3, 4),
        ("Hibernating", 2, 2, 1, 2),
        ("Lost", 1, 1, 1, 2),
    ],
    columns=["segment", "r_min", "r_max", "f_min", "f_max"],
)


# ---------------------------------------------------------------- RFM

def _segment_lookup(segments: pd.DataFrame, bins: int) -> tuple[np.ndarray, list[str]]:
    """A bins x bins table of segment codes for (R, F); uncovered cells get "Other"."""
    if not isinstance(segments, pd.DataFrame):
        raise TypeError("segments must be a DataFrame with columns segment, r_min, r_max, f_min, f_max")
    missing = {"segment", "r_min", "r_max", "f_min", "f_max"} - set(segments.columns)
    if missing:
        raise KeyError(f"segments lacks the columns {sorted(missing)}")
    names = list(dict.fromkeys(segments["segment"].astype(str))) + ["Other"]
    table = np.full((bins, bins), len(names) - 1, dtype=np.int32)
    r = np.arange(1, bins + 1)[:, None]
    f = np.arange(1, bins + 1)[None, :]
    # Rules are few: apply from last to first so the first matching rule wins.
    for rule in segments.iloc[::-1].itertuples(index=False):
        for col in ("r_min", "r_max", "f_min", "f_max"):
            v = getattr(rule, col)
            if not (isinstance(v, (int, np.integer)) and 1 <= v <= bins):
                raise ValueError(f"segments: {col} of {rule.segment!r} must be an integer in [1, {bins}], got {v!r}")
        hit = (r >= rule.r_min) & (r <= rule.r_max) & (f >= rule.f_min) & (f <= rule.f_max)
        table[hit] = names.index(str(rule.segment))
    return table, names


def _string_dtype():
    """pandas' default "str" dtype (Arrow-backed, pandas >= 2.3), or None on older pandas."""
    try:
        return pd.StringDtype(na_value=np.nan)
    except TypeError:
        return None


def _fixed_width_strings(scores: list[np.ndarray]):
    """Scores of one digit each side by side, as an Arrow string column built from its buffers.

    The characters are the scores' digits interleaved (one row of a 2-D byte
    array per client) and the offsets a fixed stride: no per-string work.
    """
    n, width = len(scores[0]), len(scores)
    chars = np.empty((n, width), dtype=np.uint8)
    for j, s in enumerate(scores):
        np.add(s, ord("0"), out=chars[:, j], casting="unsafe")
    dtype = _string_dtype()
    if dtype is None:  # older pandas: plain object strings
        return chars.view(f"S{width}").ravel().astype(str).astype(object)
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32 if (n + 1) * width < 2**31 else np.int64)
    kind = pa.string() if offsets.dtype == np.int32 else pa.large_string()
    text = pa.Array.from_buffers(kind, n, [None, pa.py_buffer(offsets), pa.py_buffer(chars)])
    return pd.array(text, dtype=dtype)


def _segments_of(r: np.ndarray, f: np.ndarray, segments: pd.DataFrame, bins: int) -> pd.Categorical:
    """Each client's segment from its R and F scores, as a categorical.

    One lookup in a (bins + 1)^2 table indexed by R * (bins + 1) + F (row and
    column 0 unused): a single small-integer pass instead of two shifted
    copies and a 2-D gather; the codes come from the table, so pandas need not
    validate them.
    """
    table, names = _segment_lookup(segments, bins)
    lut = np.zeros((bins + 1, bins + 1), dtype=np.int8 if len(names) <= 127 else np.int32)
    lut[1:, 1:] = table
    index = r.astype(np.int16) * np.int16(bins + 1) + f
    return pd.Categorical.from_codes(lut.ravel().take(index), dtype=pd.CategoricalDtype(names), validate=False)


def _score_strings(scores: list[np.ndarray], bins: int):
    """The scores written side by side ("545"), as a string column.

    Every client's string is one of bins**len(scores) combinations: build
    those once and take them by combination code in Arrow (no per-client
    string formatting).
    """
    if bins <= 9:  # one digit a score: every string has len(scores) bytes, laid out directly
        return _fixed_width_strings(scores)
    if bins ** len(scores) > len(scores[0]):  # more combinations than clients: format each client
        text = pd.Series(scores[0]).astype(str)
        for s in scores[1:]:
            text = text + pd.Series(s).astype(str)
        return text.array
    code = np.zeros(len(scores[0]), dtype=np.int32)
    names = np.array([""])
    for s in scores:
        code = code * bins + (s.astype(np.int32) - 1)
        names = np.char.add(names[:, None], np.arange(1, bins + 1).astype(str)[None, :]).ravel()
    dtype = _string_dtype()
    if dtype is None:  # older pandas: plain object strings
        return names[code].astype(object)
    return pd.array(pa.array(names).take(pa.array(code)), dtype=dtype)


def rfm(transactions: pd.DataFrame, *, customer: str, date: str, amount: str | None = None, invoice: str | None = None,
        now=None, as_of=None, bins: int = 5, segments: pd.DataFrame | None = None) -> pd.DataFrame:
    """Recency, frequency, monetary value, quantile scores and named segments per client.

    Parameters
    ----------
    transactions : one row per transaction, in any order.
    customer : client id column (any integer or string kind, or categorical).
    date : transaction date column (datetime; tz-aware dates are taken in UTC).
    amount : transaction value column (>= 0; NaN and negative amounts are
        rejected — net returns out before). Without it there is no M.
    invoice : order id column, for a log of invoice *lines*: frequency then
        counts a client's distinct orders (not its lines), and the average
        basket is per order. Without it every row is one transaction.
    now : the reference date for recency (default: the latest date). A
        transaction after ``now`` is an error.
    as_of : instead of ``now``, the date of a snapshot: the clients as they
        stood then — recency counts from ``as_of``, transactions after it are
        ignored (their number is in ``result.attrs["later_transactions"]``),
        and clients who first bought later are not yet clients.
    bins : number of quantile scores (2..100; the segment map needs 5 unless
        ``segments`` is given).
    segments : the segment rules as a table (segment, r_min, r_max, f_min,
        f_max), first matching rule wins; default :data:`DEFAULT_SEGMENTS`.

    Returns
    -------
    DataFrame indexed by client (order of first appearance): first_purchase,
    last_purchase, recency_days, frequency (number of transactions, or of
    distinct orders with ``invoice``),
    monetary (total), average_basket, R, F, M (1..bins, higher is better: R
    is high for a recent purchase), RFM (e.g. "545") and segment.

    Scores: a client's score is 1 + floor(bins * L / n), with L the number
    of clients whose value is strictly worse. Equal values always share a
    score; when many clients share a value (frequency 1 is common) some scores
    may be skipped rather than splitting equal clients arbitrarily.
    """
    bins = check_int(bins, "bins", min_value=2, max_value=100)
    ids_s = _frames.column(transactions, customer, "customer", "transactions")
    time = _frames.timestamps_ns(_frames.column(transactions, date, "date", "transactions"), date,
                                 missing="keep")  # the engine names a NaT's row
    amt = _frames.amounts(_frames.column(transactions, amount, "amount", "transactions"), amount) \
        if amount is not None else None
    if len(time) == 0:
        raise ValueError("transactions is empty")
    if now is not None and as_of is not None:
        raise ValueError("give at most one of now= (later transactions are an error) and as_of= (later "
                         "transactions are ignored)")
    orders = _frames.column(transactions, invoice, "invoice", "transactions") if invoice is not None else None
    later = 0
    if as_of is not None:
        now = _frames.timestamp(as_of, "as_of")
        after = time > now.value  # NaT is the smallest int64: kept, and named by the engine
        later = int(np.count_nonzero(after))
        if later == len(time):
            raise ValueError(f"transactions: every transaction is after as_of = {now}")
        if later:
            keep = ~after
            ids_s, time = ids_s[keep], time[keep]
            amt = amt[keep] if amt is not None else None
            orders = orders[keep] if orders is not None else None
    # NaT is the smallest int64: it never is the maximum unless every date is
    # missing, and the engine rejects it with its row.
    now_ts = _frames.timestamp(now, "now") if now is not None else pd.Timestamp(int(time.max()), unit="ns")
    raw = _frames.int64_ids(ids_s, customer) if orders is None else None
    try:
        if raw is not None:  # integer ids: grouped straight from the ids, one pass
            agg = _core.rfm_aggregate_ids(raw, time, amt, int(now_ts.value), n_threads=resolve_threads())
            id_dtype = ids_s.dtype if pd.api.types.is_integer_dtype(ids_s.dtype) else np.int64  # whole floats
            ids = pd.Index(agg["id"], name=ids_s.name).astype(id_dtype, copy=False)
        else:
            codes, ids = _frames.client_codes(ids_s, customer)
            agg = _core.rfm_aggregate(codes, time, amt, len(ids), int(now_ts.value), n_threads=resolve_threads())
            if orders is not None:
                agg["count"] = _orders_per_client(codes, orders, invoice, len(ids))
    except ValueError as exc:
        # The engine finds a bad row (missing date, date after now, bad
        # amount) by its position; the columns it read are named here.
        columns = f"date column {date!r}" + (f", amount column {amount!r}" if amount is not None else "")
        raise ValueError(f"transactions ({columns}): {exc}") from None
    recency = (now_ts.value - agg["last"]) / _NS_PER_DAY
    # R, F and M scored in one call: their selections run concurrently.
    scored = [np.ascontiguousarray(-recency), agg["count"].astype(np.float64)]
    if amt is not None:
        scored.append(agg["total"])
    scores = _core.quantile_scores_columns(scored, bins, n_threads=resolve_threads())
    cols = {
        "first_purchase": agg["first"].view("datetime64[ns]"),
        "last_purchase": agg["last"].view("datetime64[ns]"),
        "recency_days": recency,
        "frequency": agg["count"],
        "R": scores[0],
        "F": scores[1],
    }
    if amt is not None:
        cols["monetary"] = agg["total"]
        cols["average_basket"] = agg["total"] / agg["count"]
        cols["M"] = scores[2]
    cols["RFM"] = _score_strings([cols[s] for s in "RFM" if s in cols], bins)
    if segments is not None or bins == 5:  # the standard map is defined on 1-5 scores
        cols["segment"] = _segments_of(cols["R"], cols["F"], DEFAULT_SEGMENTS if segments is None else segments, bins)
    # One construction, and copy=False: the columns are this call's own arrays,
    # so the frame keeps them as they are instead of stacking same-dtype
    # columns into 2-D blocks (a copy of every column: ~1/3 of the time spent
    # outside the engine at 1M clients).
    out = pd.DataFrame(cols, index=ids, copy=False)
    out.attrs["later_transactions"] = later
    return out


def _orders_per_client(codes: np.ndarray, invoices: pd.Series, name: str, n_clients: int) -> np.ndarray:
    """Distinct (client, order) pairs per client: a log of invoice lines counted in orders."""
    missing = invoices.isna().to_numpy()
    if missing.any():
        raise ValueError(f"invoice column {name!r} holds {int(missing.sum()):,} missing order ids (the first at "
                         f"row {int(np.argmax(missing))})")
    order_codes, uniques = pd.factorize(invoices)
    pairs = np.unique(codes.astype(np.int64) * len(uniques) + order_codes)
    return np.bincount(pairs // len(uniques), minlength=n_clients).astype(np.int64)


# ---------------------------------------------------------------- calibration summaries

def calibration_summary(transactions, *, customer: str, date: str, calibration_end,
                        amount: str | None = None, observation_end=None, period_days: float = 7.0,
                        as_of=None, batch_rows: int = 4_000_000) -> pd.DataFrame:
    """Per-client frequency / recency / T (and monetary value) for the BG/NBD and Gamma-Gamma models.

    Purchases on one calendar day (UTC) count as one transaction (their
    amounts are added). For each client who bought on or before
    ``calibration_end``: ``frequency`` = repeat purchase days in calibration,
    ``recency`` = time from the first to the last of them, ``T`` = time from
    the first purchase to ``calibration_end``, in periods of ``period_days``
    (7 = weeks); ``monetary_value`` = mean value of the repeat days (0 when
    none); with ``observation_end``, ``holdout_frequency`` = purchase days in
    (calibration_end, observation_end]. Clients who first bought later are
    left out. ``observation_end`` defaults to the latest date (at least
    ``calibration_end``); a purchase after it is an error. ``as_of``, the date
    of a snapshot, instead ignores the purchases after it (their number is in
    ``result.attrs["later_transactions"]``) and is the default
    ``observation_end``.

    ``transactions`` is one table (pandas, polars, Arrow), or a log too big
    for memory: an iterable of such tables (chunks), or the path of a Parquet
    file or directory, read ``batch_rows`` rows at a time. Chunks may come in
    any order, unsorted, a client's purchases (even those of one day) spread
    over several: the result is the one-shot call's on their concatenation
    (clients in order of first appearance). Nothing is sorted and no row is
    kept: memory is bounded by the clients (about 24 bytes each plus one bit
    per day between the earliest and the latest date — ~120 bytes a client
    for a two-year log) and one chunk, not by the number of transactions.
    """
    period_days = check_float(period_days, "period_days", min_value=0.0, strict_min=True)
    batch_rows = check_int(batch_rows, "batch_rows", min_value=1)
    cal = _frames.timestamp(calibration_end, "calibration_end").value // _NS_PER_DAY
    cut = _frames.timestamp(as_of, "as_of") if as_of is not None else None
    obs = _frames.timestamp(observation_end, "observation_end").value // _NS_PER_DAY \
        if observation_end is not None else None
    if obs is not None and obs < cal:
        raise ValueError("observation_end must not be before calibration_end")
    if observation_end is None and cut is not None:  # rows after as_of are dropped before the engine sees them
        observation_end, obs = cut, cut.value // _NS_PER_DAY
    one_table = _frames.is_frame(transactions)
    stream = _core.CalibrationStream(int(cal), None if obs is None or cut is not None else int(obs))
    clients = _ClientCodes(customer)
    dates = _DateKind(date)
    later = 0
    for k, chunk in enumerate(_chunks(transactions, [customer, date] + ([amount] if amount else []), batch_rows)):
        where = "transactions" if one_table else f"transactions (chunk {k})"
        ids_s = _frames.column(chunk, customer, "customer", where)
        raw_dates = _frames.column(chunk, date, "date", where)
        dates.check(raw_dates, k)
        time = _frames.timestamps_ns(raw_dates, date)
        amt = _frames.amounts(_frames.column(chunk, amount, "amount", where), amount) \
            if amount is not None else None
        if cut is not None:  # what was known at as_of: later purchases dropped and counted
            after = time > cut.value
            if after.any():
                later += int(np.count_nonzero(after))
                ids_s, time = ids_s[~after], time[~after]
                amt = amt[~after] if amt is not None else None
        codes = clients.codes(ids_s)
        try:
            stream.add(codes, np.floor_divide(time, _NS_PER_DAY), amt, clients.size, 0,
                       n_threads=resolve_threads())
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    if stream.rows == 0:
        if later:
            raise ValueError(f"transactions: every transaction is after as_of = {cut}")
        raise ValueError("transactions is empty")
    end = obs if obs is not None else max(int(cal), int(stream.latest_day))
    if end < cal:
        raise ValueError(f"observation_end must not be before calibration_end (as_of = {cut})")
    s = stream.finish(int(end), period_days, n_threads=resolve_threads())
    keep = s.pop("has_calibration").astype(bool)
    cols = ["frequency", "recency", "T"] + (["monetary_value"] if amount is not None else [])
    if observation_end is not None:
        cols.append("holdout_frequency")
    out = pd.DataFrame({c: s[c][keep] for c in cols}, index=clients.index()[keep])
    out.attrs["later_transactions"] = later
    return out


def _chunks(transactions, columns: list[str], batch_rows: int):
    """The chunks of a log: one table, a Parquet path read batch by batch, or an iterable of tables."""
    import os

    if _frames.is_frame(transactions):
        yield transactions
        return
    if isinstance(transactions, (str, os.PathLike)):
        import pyarrow.dataset as ds

        path = os.fspath(transactions)
        if not os.path.exists(path):
            raise ValueError(f"transactions: no Parquet file or directory at {path!r}")
        dataset = ds.dataset(path, format="parquet")
        missing = [c for c in columns if c not in dataset.schema.names]
        if missing:
            raise KeyError(f"transactions: the Parquet data at {path!r} lacks the columns {missing} "
                           f"(columns: {dataset.schema.names[:20]})")
        yield from dataset.to_batches(columns=columns, batch_size=batch_rows)
        return
    if isinstance(transactions, (bytes, dict)) or not hasattr(transactions, "__iter__"):
        raise TypeError("transactions must be a DataFrame (pandas or polars), an Arrow table, an iterable of "
                        f"those (chunks) or a Parquet path, got {type(transactions).__name__}")
    for k, chunk in enumerate(transactions):
        if not _frames.is_frame(chunk):
            raise TypeError(f"transactions: chunk {k} must be a DataFrame (pandas or polars) or an Arrow table / "
                            f"record batch, got {type(chunk).__name__}")
        yield chunk


class _DateKind:
    """Refuses a log whose chunks hold dates of different kinds (naive in one, time-zone-aware or text in
    another): each would be read on its own terms, and a naive/aware mix is usually a mistake upstream."""

    def __init__(self, name: str):
        self.name, self.first = name, None

    @staticmethod
    def _kind(s: pd.Series) -> str:
        t = s.dtype
        if isinstance(t, pd.ArrowDtype):
            t = t.pyarrow_dtype
            if pa.types.is_timestamp(t):
                return "time-zone-aware" if t.tz else "naive"
            return "naive" if pa.types.is_date(t) else "text"
        if isinstance(t, pd.DatetimeTZDtype):
            return "time-zone-aware"
        return "naive" if pd.api.types.is_datetime64_dtype(t) else "text"

    def check(self, s: pd.Series, k: int) -> None:
        kind = self._kind(s)
        if self.first is None:
            self.first = (kind, s.dtype)
        elif kind != self.first[0]:
            raise TypeError(f"date column {self.name!r} holds {kind} dates ({s.dtype}) in chunk {k} but "
                            f"{self.first[0]} dates ({self.first[1]}) in chunk 0: convert the chunks alike")


class _ClientCodes:
    """Dense client codes shared by the chunks of a log, in order of first appearance.

    Each chunk's ids are factorised (hashed once); only its distinct ids are
    looked up among the clients seen so far, and the new ones appended.
    """

    def __init__(self, name: str):
        self.name, self._known, self.size = name, None, 0

    def codes(self, ids_s: pd.Series) -> np.ndarray:
        local, uniques = _frames.client_codes(ids_s, self.name)
        if len(uniques) == 0:  # an empty chunk says nothing of the ids' kind
            return np.ascontiguousarray(local, dtype=np.int32)
        if self._known is None:
            self._known, self.size = uniques, len(uniques)
            return local
        kinds = ["integer" if u.dtype.kind in "iu" else "text" for u in (self._known, uniques)]
        if kinds[0] != kinds[1] and len(uniques):
            raise TypeError(f"id column {self.name!r} holds {kinds[1]} ids in a chunk but {kinds[0]} ids in the "
                            "earlier ones: convert them alike (e.g. .astype(str))")
        where = self._known.get_indexer(uniques)
        new = where < 0
        if new.any():
            where[new] = self.size + np.arange(int(new.sum()))
            self._known = self._known.append(uniques[new])
            self.size = len(self._known)
        if self.size >= 2**31:
            raise ValueError(f"id column {self.name!r}: more than 2^31 - 1 clients")
        return np.ascontiguousarray(where.astype(np.int32)[local])

    def index(self) -> pd.Index:
        return self._known.rename(self.name) if self._known is not None else pd.Index([])


def _index(summary) -> pd.Index:
    """The rows' labels of a summary: its index, or positions for Arrow and polars (which have none)."""
    return summary.index if isinstance(summary, pd.DataFrame) else pd.RangeIndex(len(summary))


# The engines count iterations in a C int: more is refused by name, not by pybind11's "incompatible function
# arguments" (and no fit needs a billion iterations).
_MAX_ITER = 2**31 - 1


def _summary_arrays(summary, names=("frequency", "recency", "T")) -> list[np.ndarray]:
    if _frames.is_frame(summary):  # polars and Arrow as pandas, the one way in
        summary = _frames.as_pandas(summary, "summary")
    if not isinstance(summary, pd.DataFrame):
        raise TypeError(f"summary must be a DataFrame with columns {list(names)}, got {type(summary).__name__}")
    out = []
    for c in names:
        if c not in summary.columns:
            raise KeyError(f"summary lacks the column {c!r} (columns: {list(summary.columns)})")
        if int((summary.columns == c).sum()) > 1:
            raise ValueError(f"summary has {int((summary.columns == c).sum())} columns named {c!r}: which to read "
                             "is ambiguous")
        s = summary[c]
        if not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
            raise TypeError(f"summary column {c!r} must be numeric, got {s.dtype}")
        a = np.ascontiguousarray(s.to_numpy(dtype=np.float64, na_value=np.nan))
        if not np.isfinite(a).all():
            raise ValueError(f"summary column {c!r} holds a non-finite value at row {int(np.argmax(~np.isfinite(a)))}")
        out.append(a)
    if len(out[0]) == 0:
        raise ValueError("summary is empty")
    return out


def _weights(weights, n: int):
    if weights is None:
        return None
    if isinstance(weights, pd.Series):
        weights = weights.to_numpy(dtype=np.float64, na_value=np.nan) if pd.api.types.is_numeric_dtype(
            weights.dtype) and not pd.api.types.is_bool_dtype(weights.dtype) else weights.to_numpy()
    raw = np.asarray(weights)
    if raw.dtype.kind not in "fiu":
        raise TypeError(f"weights must be numbers, one per client, got {type(weights).__name__} of dtype {raw.dtype}")
    w = np.ascontiguousarray(raw, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"weights must have shape ({n},), got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("weights must be finite and >= 0")
    return w


def _compress(cols: list[np.ndarray], weights):
    """Distinct (frequency, recency, T) rows with their total weight (many clients share a pattern)."""
    x, t, T, w = _core.clv_compress(*cols, weights, n_threads=resolve_threads())
    return [x, t, T], w


# ---------------------------------------------------------------- BG/NBD

_BOUNDARY = {0: "interior", 1: "no_dropout", 2: "a_plus_b_held"}


def _store_uncertainty(model, names, compute) -> None:
    """Set covariance_, std_errors_, fixed_ and boundary_ from the engine's observed information.

    When the information is not positive definite (the data do not identify
    the parameters) the fit still stands: covariance_ and std_errors_ are
    None and summary() / intervals raise a ValueError carrying the reason.
    """
    try:
        cov, fixed, boundary = compute()
    except ValueError as e:
        model.covariance_ = model.std_errors_ = model.fixed_ = None
        model.boundary_ = None
        model._uncertainty_error = str(e)
        return
    model.covariance_ = pd.DataFrame(cov, index=list(names), columns=list(names))
    model.std_errors_ = pd.Series(np.sqrt(np.maximum(np.diag(cov), 0.0)), index=list(names), name="se")
    model.fixed_ = pd.Series(np.asarray(fixed, dtype=bool), index=list(names), name="fixed")
    model.boundary_ = _BOUNDARY[boundary]
    model._uncertainty_error = None


def _check_uncertainty(model) -> None:
    if not hasattr(model, "params_"):
        raise ValueError(f"this {type(model).__name__} is not fitted yet: call fit first")
    if model.covariance_ is None:
        raise ValueError(f"no standard errors: {model._uncertainty_error}")


def _z(level) -> float:
    from statistics import NormalDist

    level = check_float(level, "level", min_value=0.0, strict_min=True)
    if not level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return NormalDist().inv_cdf((1 + level) / 2)


def _summary_table(model, level: float) -> pd.DataFrame:
    """coef, se, lower, upper (normal approximation on the log scale), fixed."""
    _check_uncertainty(model)
    z = _z(level)
    coef = pd.Series(model.params_, dtype=float)
    se = model.std_errors_.reindex(coef.index)
    fixed = model.fixed_.reindex(coef.index)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.where(fixed, 0.0, np.exp(z * se / coef))
    lower = np.where(fixed, coef, coef / spread)
    upper = np.where(fixed, coef, coef * spread)
    return pd.DataFrame({"coef": coef, "se": se, "lower": lower, "upper": upper, "fixed": fixed})


def _draws(model, draws, seed) -> np.ndarray:
    """Parameter draws (draws x k) from the asymptotic distribution on the log scale."""
    _check_uncertainty(model)
    draws = check_int(draws, "draws", min_value=2, max_value=1_000_000)
    seed = check_int(seed, "seed", min_value=0, max_value=2**63 - 1)
    params = np.array(list(model.params_.values()), dtype=float)
    return _core.clv_sample_params(params, np.ascontiguousarray(model.covariance_.to_numpy()), draws, seed,
                                   n_threads=resolve_threads())


def _count(n) -> str:
    """A client count for a repr: whole numbers with thousands separators (weights may make it fractional)."""
    return f"{n:,.0f}" if float(n).is_integer() else f"{n:,.2f}"


class PurchaseModel(ModelFileMixin):
    """What the purchase models (BG/NBD, Pareto/NBD, BG/BB) share: their
    parameters, the fit on compressed summary patterns with its observed
    information, the parameter table and the parameter draws. A model names
    its four parameters (``_NAMES``), the summary columns it reads
    (``summary_columns``) and its engine (``_ENGINE``: the ``_core`` functions
    ``<engine>_fit`` and ``<engine>_covariance``, looked up at each call)."""

    _NAMES: tuple = ()
    _ENGINE = ""
    summary_columns = ("frequency", "recency", "T")

    def __init__(self, *, penalizer: float = 0.0, max_iter: int = 500, tol: float = 1e-9, compress: bool = True):
        self.penalizer = penalizer
        self.max_iter = max_iter
        self.tol = tol
        self.compress = compress

    def __repr__(self) -> str:
        name = type(self).__name__
        if not hasattr(self, "params_"):
            return f"{name}(penalizer={self.penalizer!r})" if self.penalizer else f"{name}()"
        p = ", ".join(f"{k}={self.params_[k]:.3g}" for k in self._NAMES)
        penalty = f", penalizer={self.penalizer:g}" if self.penalizer else ""
        return f"{name}({p}, n={_count(self.n_clients_)} clients, LL={self.log_likelihood_:.1f}{penalty})"

    def fit(self, summary: pd.DataFrame, weights=None):
        """Fit the model to per-client summaries (one row per client, the columns
        ``summary_columns``), with optional non-negative client ``weights`` (e.g. counts of
        identical rows). Returns self, fitted."""
        penalizer = check_float(self.penalizer, "penalizer", min_value=0.0)
        max_iter = check_int(self.max_iter, "max_iter", min_value=1, max_value=_MAX_ITER)
        tol = check_float(self.tol, "tol", min_value=0.0, strict_min=True)
        if not isinstance(self.compress, (bool, np.bool_)):
            raise TypeError(f"compress must be True or False, got {type(self.compress).__name__}")
        arrays = self._arrays(summary)
        weights = self._client_weights(summary, weights)
        w = _weights(weights, len(arrays[0]))
        if self.compress:
            arrays, w = _compress(list(arrays), w)
        threads = resolve_threads()
        fit = getattr(_core, f"{self._ENGINE}_fit")
        params, ll, n_iter, _ = fit(*arrays, w, max_iter, tol, penalizer, n_threads=threads)
        self.params_ = dict(zip(self._NAMES, params))
        _store_uncertainty(self, self.params_, lambda: self._covariance(params, *arrays, w, penalizer,
                                                                        n_threads=threads))
        self.log_likelihood_ = ll
        self.n_iter_ = n_iter
        self.n_clients_ = int(len(summary)) if weights is None else float(np.sum(weights))
        return self

    def _covariance(self, params, *arrays_weights_penalizer, n_threads):
        """(covariance, fixed, boundary code) of the fit from the engine's observed information."""
        return getattr(_core, f"{self._ENGINE}_covariance")(params, *arrays_weights_penalizer, n_threads=n_threads)

    def _arrays(self, summary) -> list[np.ndarray]:
        return _summary_arrays(summary, self.summary_columns)

    def _client_weights(self, summary, weights):
        return weights

    def _params(self) -> list[float]:
        if not hasattr(self, "params_"):
            raise ValueError(f"this {type(self).__name__} is not fitted yet: call fit first")
        return [self.params_[k] for k in self._NAMES]

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """The parameters with their standard errors and ``level`` confidence intervals.

        Returns
        -------
        DataFrame
            One row per parameter: ``coef``, ``se``, ``lower``, ``upper`` and
            ``fixed``. The parameters are positive, so the interval is the
            normal approximation on the log scale: coef * exp(-/+ z se / coef),
            z the normal quantile of (1 + level) / 2 — always inside (0, inf),
            and asymmetric. A fixed parameter (held on a boundary of the
            likelihood, see ``boundary_``) has se 0 and lower = upper = its value.
        """
        return _summary_table(self, level)

    def sample_params(self, draws: int = 200, seed: int = 0) -> pd.DataFrame:
        """Parameter draws from their asymptotic distribution: log theta ~ N(log theta_hat, D^-1 covariance_ D^-1).

        D = diag(theta_hat); fixed parameters are copied. Seeded, the same on
        every machine and thread count. One column per parameter.
        """
        return pd.DataFrame(_draws(self, draws, seed), columns=list(self._NAMES))


class BetaGeo(PurchaseModel):
    """BG/NBD purchase model (Fader, Hardie & Lee 2005), fitted by maximum likelihood.

    Purchase rates are Gamma(r, alpha) across clients; after each repeat
    purchase a client drops out with a probability p drawn from Beta(a, b).

    Parameters
    ----------
    penalizer : float, default 0
        L2 penalty on the four parameters (0 = plain maximum likelihood).
    max_iter : int, default 500
        Optimiser iterations before the fit is declared non-converged (a
        ValueError, never silent parameters).
    tol : float, default 1e-9
        Gradient tolerance on the mean log-likelihood.
    compress : bool, default True
        Fit on the distinct (frequency, recency, T) patterns weighted by their
        counts: the same likelihood, fewer terms.

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``, ``a``, ``b``.
    log_likelihood_ : float
        Log-likelihood at the fit (without the penalty).
    n_iter_ : int
        Optimiser iterations.
    n_clients_ : int or float
        Clients fitted (the sum of the weights when weights are given).
    covariance_ : DataFrame
        Asymptotic covariance of (r, alpha, a, b): the inverse of the observed
        information (the Hessian of the log-likelihood at the fit, by central
        differences of the analytic gradient, mapped from the fit's
        coordinates by the delta method; the penalty is included when
        ``penalizer`` > 0). None when the information is not positive
        definite (the data do not identify the parameters; ``summary`` then
        raises a ValueError saying so).
    std_errors_ : Series
        Square roots of its diagonal.
    fixed_ : Series of bool
        Parameters held at a boundary value: standard error 0, interval the
        value itself (see Notes).
    boundary_ : str
        ``"interior"``, ``"no_dropout"`` (a = 0, b = inf held: the covariance
        is that of r and alpha on the no-dropout face) or ``"a_plus_b_held"``
        (the likelihood is flat in a + b, its supremum at a + b -> 0 or
        infinity: a + b is held where the fit stopped, and a, b vary only
        through the mean drop-out probability a / (a + b): a rank-one joint
        covariance, correlation -1).

    Notes
    -----
    The fit maximises the likelihood over the closed parameter set, so it
    also succeeds when the maximum lies on the edge a -> 0: the *no-dropout
    limit*, where every drop-out probability is 0 and the model is the NBD
    with r, alpha. It then reports ``a = 0.0`` and ``b = inf`` (Beta(0, inf)
    puts all its mass on p = 0; b has no effect there), r and alpha are the
    NBD's maximum-likelihood values, ``probability_alive`` is 1 and
    ``predict`` gives the NBD's (r + x) t / (alpha + T). Predictions are
    valid for every fitted value (a + b < 1 and a = 1 included). When the
    maximum lies where a + b -> infinity (one drop-out probability a / (a + b)
    for all clients) or a + b -> 0, the fit stops on the way, once the slope
    left is below ``tol``, and at the latest where a + b reaches e^30 or e^-30:
    a, b are then huge (or tiny), the likelihood is within rounding of its
    supremum, and predictions are the limit's.
    """

    _NAMES = ("r", "alpha", "a", "b")
    _ENGINE = "bgnbd"

    def log_likelihood(self, summary: pd.DataFrame, weights=None) -> float:
        """Log-likelihood of ``summary`` (columns frequency, recency, T) under the fitted parameters."""
        x, t_x, T = _summary_arrays(summary)
        ll, _ = _core.bgnbd_loglik(self._params(), x, t_x, T, _weights(weights, len(x)), n_threads=resolve_threads())
        return ll

    def _predict(self, summary, t: float):
        t = check_float(t, "t", min_value=0.0)
        x, t_x, T = _summary_arrays(summary)
        return _core.bgnbd_predict(self._params(), x, t_x, T, t, n_threads=resolve_threads())

    def _intervals(self, summary, t, interval, draws, seed, which):
        z_level = check_float(interval, "interval", min_value=0.0, strict_min=True)
        if not z_level < 1:
            raise ValueError(f"interval must be in (0, 1), got {interval}")
        t = check_float(t, "t", min_value=0.0)
        x, t_x, T = _summary_arrays(summary)
        return _core.bgnbd_predict_intervals(_draws(self, draws, seed), x, t_x, T, t, z_level, which,
                                             n_threads=resolve_threads())

    def predict(self, summary: pd.DataFrame, t: float, *, interval: float | None = None, draws: int = 200,
                seed: int = 0):
        """Expected purchases of each client in the next ``t`` periods.

        Parameters
        ----------
        summary : DataFrame
            Columns ``frequency``, ``recency``, ``T``.
        t : float
            Horizon, in the summaries' periods (>= 0).
        interval : float, optional
            A level in (0, 1), e.g. 0.95, for per-client intervals from the
            parameters' uncertainty: the prediction is computed under
            ``draws`` parameter draws (`sample_params` with ``seed``) and the
            interval is the (1 -/+ interval) / 2 quantiles of those values
            (linear interpolation, numpy's default). It reflects the
            estimation error of the four parameters, not the client's own
            randomness (how many purchases will actually happen).
        draws, seed : int
            Number of parameter draws (>= 2) and their seed.

        Returns
        -------
        Series or DataFrame
            E[Y(t) | frequency, recency, T] (Fader, Hardie & Lee 2005, eq. 10),
            indexed like ``summary``; with ``interval``, a DataFrame with
            that column and ``lower``, ``upper``.
        """
        expected, _ = self._predict(summary, t)
        name = f"expected_purchases_{t:g}"
        if interval is None:
            return pd.Series(expected, index=_index(summary), name=name)
        lo, hi = self._intervals(summary, t, interval, draws, seed, "expected")
        return pd.DataFrame({name: expected, "lower": lo, "upper": hi}, index=_index(summary))

    def probability_alive(self, summary: pd.DataFrame, *, interval: float | None = None, draws: int = 200,
                          seed: int = 0):
        """Probability that each client has not dropped out by the end of calibration (1 when frequency is 0).

        With ``interval`` (see `predict`) a DataFrame with ``p_alive``,
        ``lower`` and ``upper``.
        """
        _, alive = self._predict(summary, 0.0)
        if interval is None:
            return pd.Series(alive, index=_index(summary), name="p_alive")
        lo, hi = self._intervals(summary, 0.0, interval, draws, seed, "alive")
        return pd.DataFrame({"p_alive": alive, "lower": lo, "upper": hi}, index=_index(summary))

    def expected_purchases_new(self, t: float) -> float:
        """Expected repeat purchases of a new client over its first ``t`` periods."""
        zero = pd.DataFrame({"frequency": [0.0], "recency": [0.0], "T": [0.0]})
        return float(self._predict(zero, t)[0][0])

    def _repr_html_(self) -> str:
        from . import _display  # every display is drawn there
        return _display.beta_geo(self)


# ---------------------------------------------------------------- Gamma-Gamma

def _spend_arrays(summary) -> tuple[np.ndarray, np.ndarray]:
    """frequency and monetary_value, checked: finite, and a mean spend that is not negative."""
    x, m = _summary_arrays(summary, ("frequency", "monetary_value"))
    if (m < 0).any():
        row = int(np.argmax(m < 0))
        raise ValueError(f"summary column 'monetary_value' must be >= 0 (a mean spend), got {m[row]} at row {row} "
                         f"({int((m < 0).sum())} negative values): net refunds cannot be modelled as spend")
    return x, m


class GammaGamma(ModelFileMixin):
    """Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV").

    Each transaction's value is Gamma(p, nu) for a client-specific nu, itself
    Gamma(q, v) across clients.

    Parameters
    ----------
    penalizer : float, default 0
        L2 penalty on the three parameters (0 = plain maximum likelihood).
    max_iter : int, default 500
        Optimiser iterations before the fit is declared non-converged.
    tol : float, default 1e-9
        Gradient tolerance on the mean log-likelihood.

    Attributes
    ----------
    params_ : dict
        ``p``, ``q``, ``v``.
    log_likelihood_ : float
        Log-likelihood at the fit (without the penalty), on the clients fitted.
    n_iter_ : int
        Optimiser iterations.
    n_clients_ : int
        Clients fitted: those with at least one repeat purchase
        (``frequency`` >= 1) and a mean repeat spend ``monetary_value`` > 0.
    covariance_, std_errors_, fixed_, boundary_
        As for `BetaGeo`: the inverse observed information of (p, q, v).

    Notes
    -----
    ``fit`` ignores the other clients: one-time buyers carry no repeat spend,
    and a mean spend of exactly 0 (repeat orders of no value: samples, free
    replacements) has density 0 under the model. ``expected_spend`` still
    gives every client a finite value: the posterior mean
    (p v + p x m) / (p x + q - 1), which for x = 0 is the population mean
    p v / (q - 1) and for m = 0 is p v / (p x + q - 1): below the population
    mean, lower the more zero-value orders were seen, and the limit of what a
    client spending a cent per order gets (the likelihood of a client's nu
    given a total spend of 0 is proper, so the posterior is). A negative
    mean spend is refused.
    """

    def __init__(self, *, penalizer: float = 0.0, max_iter: int = 500, tol: float = 1e-9):
        self.penalizer = penalizer
        self.max_iter = max_iter
        self.tol = tol

    def __repr__(self) -> str:
        if not hasattr(self, "params_"):
            return f"GammaGamma(penalizer={self.penalizer!r})" if self.penalizer else "GammaGamma()"
        p = self.params_
        penalty = f", penalizer={self.penalizer:g}" if self.penalizer else ""
        return (f"GammaGamma(p={p['p']:.3g}, q={p['q']:.3g}, v={p['v']:.3g}, "
                f"n={_count(self.n_clients_)} clients, LL={self.log_likelihood_:.1f}{penalty})")

    def fit(self, summary: pd.DataFrame, weights=None) -> "GammaGamma":
        """Fit the spend model on the repeat buyers with a positive mean spend.

        Parameters
        ----------
        summary : DataFrame
            Columns ``frequency`` and ``monetary_value`` (mean value of the
            repeat purchases, >= 0), one row per client.
        weights : array-like of shape (n,), optional
            Non-negative client weights.

        Returns
        -------
        GammaGamma
            self, fitted.
        """
        penalizer = check_float(self.penalizer, "penalizer", min_value=0.0)
        max_iter = check_int(self.max_iter, "max_iter", min_value=1, max_value=_MAX_ITER)
        tol = check_float(self.tol, "tol", min_value=0.0, strict_min=True)
        x, m = _spend_arrays(summary)
        w = _weights(weights, len(x))
        keep = (x >= 1) & (m > 0)
        if not keep.any():
            raise ValueError(f"no repeat buyer with a positive mean spend (frequency >= 1 and monetary_value > 0) "
                             f"among {len(x):,} clients ({int((x >= 1).sum()):,} repeat buyers): the spend model "
                             f"cannot be fitted")
        xk, mk = np.ascontiguousarray(x[keep]), np.ascontiguousarray(m[keep])
        wk = None if w is None else np.ascontiguousarray(w[keep])
        threads = resolve_threads()
        params, ll, n_iter, _ = _core.gammagamma_fit(xk, mk, wk, max_iter, tol, penalizer, n_threads=threads)
        self.params_ = dict(zip(("p", "q", "v"), params))
        _store_uncertainty(self, self.params_, lambda: _core.gammagamma_covariance(params, xk, mk, wk, penalizer,
                                                                                    n_threads=threads))
        self.log_likelihood_ = ll
        self.n_iter_ = n_iter
        self.n_clients_ = int(keep.sum())
        return self

    def _params(self) -> list[float]:
        if not hasattr(self, "params_"):
            raise ValueError("this GammaGamma is not fitted yet: call fit first")
        p = [self.params_[k] for k in ("p", "q", "v")]
        if not p[1] > 1:
            raise ValueError(f"the fitted spend model has q = {p[1]:.4g} <= 1: its mean spend is infinite (a heavy "
                             f"tail of large orders); refit with a penalizer or without the outlying orders")
        return p

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """p, q, v with ``coef``, ``se``, ``lower``, ``upper`` (log-scale normal interval, as `BetaGeo.summary`)."""
        return _summary_table(self, level)

    def sample_params(self, draws: int = 200, seed: int = 0) -> pd.DataFrame:
        """Parameter draws on the log scale, as `BetaGeo.sample_params`; columns p, q, v."""
        return pd.DataFrame(_draws(self, draws, seed), columns=["p", "q", "v"])

    def expected_spend(self, summary: pd.DataFrame) -> pd.Series:
        """Expected mean spend per transaction of each client.

        Parameters
        ----------
        summary : DataFrame
            Columns ``frequency`` and ``monetary_value`` (>= 0).

        Returns
        -------
        Series
            (p v + p x m) / (p x + q - 1), finite for every client: the
            population mean when frequency is 0 (see the class notes for a
            mean spend of 0).
        """
        x, m = _spend_arrays(summary)
        spend = _core.gammagamma_spend(self._params(), x, m, n_threads=resolve_threads())
        return pd.Series(spend, index=_index(summary), name="expected_spend")

    def _repr_html_(self) -> str:
        from . import _display  # every display is drawn there
        return _display.gamma_gamma(self)


def _value_engine(purchases):
    """The engine of the lifetime value (and its intervals) for a purchase model: BetaGeo, or a model class that
    names its own (ParetoNBD's ``_value_intervals``, so that this module need not import it)."""
    if isinstance(purchases, BetaGeo):
        return _core.clv_value_intervals
    engine = getattr(type(purchases), "_value_intervals", None)
    if engine is not None:
        return engine
    raise TypeError(f"purchases must be a fitted BetaGeo or ParetoNBD, got {type(purchases).__name__}")


def lifetime_value(purchases: BetaGeo, spend: GammaGamma, summary: pd.DataFrame, *, months: int = 12,
                   monthly_discount: float = 0.01, margin: float = 1.0, period_days: float = 7.0,
                   interval: float | None = None, draws: int = 200, seed: int = 0):
    """Discounted lifetime value of each client over the next ``months``.

    Parameters
    ----------
    purchases : BetaGeo or ParetoNBD
        Fitted purchase model.
    spend : GammaGamma
        Fitted spend model (q > 1).
    summary : DataFrame
        Columns ``frequency``, ``recency``, ``T`` and ``monetary_value``.
    months : int, default 12
        Horizon, 1 to 1200.
    monthly_discount : float, default 0.01
        Discount rate per month (>= 0).
    margin : float, default 1
        Share of the spend kept as value (>= 0).
    period_days : float, default 7
        Length of the summaries' period in days (7 for weeks).
    interval : float, optional
        A level in (0, 1) for per-client intervals from both models'
        parameter uncertainty: the CLV under ``draws`` joint draws (purchase
        parameters from ``purchases.sample_params(draws, seed)``, spend
        parameters independently from ``spend.sample_params(draws, seed + 1)``),
        and their (1 -/+ interval) / 2 quantiles. Computed in C++; the
        costly part (the expected purchases at each month) is shared by the
        clients of one (frequency, T) pair, so its cost grows with draws x
        months x distinct pairs, the rest with draws x clients.
    draws, seed : int
        Number of draws (>= 2) and the seed.

    Returns
    -------
    Series or DataFrame
        CLV = margin * expected spend * sum over months m of (expected
        purchases in month m) / (1 + monthly_discount)^m, a month being
        365.25/12 days; finite for every client of ``summary``. With
        ``interval``, a DataFrame with ``clv``, ``lower`` and ``upper``.
    """
    value_intervals = _value_engine(purchases)
    if not isinstance(spend, GammaGamma):
        raise TypeError(f"spend must be a fitted GammaGamma, got {type(spend).__name__}")
    months = check_int(months, "months", min_value=1, max_value=1200)
    d = check_float(monthly_discount, "monthly_discount", min_value=0.0)
    margin = check_float(margin, "margin", min_value=0.0)
    period_days = check_float(period_days, "period_days", min_value=0.0, strict_min=True)
    needed = ("frequency", "recency", "T", "monetary_value")
    if _frames.is_frame(summary) and not set(needed) <= set(_frames.column_names(summary)):
        missing = [c for c in needed if c not in _frames.column_names(summary)]
        raise KeyError(f"summary lacks the columns {missing} (columns: {list(summary.columns)})")
    _summary_arrays(summary, needed)  # type, numeric, finite and non-empty
    _spend_arrays(summary)  # a negative mean spend is refused
    gg_point = np.array([spend._params()], dtype=float)  # refuses q <= 1 (an infinite mean spend)
    bg_point = np.array([purchases._params()], dtype=float)
    x, t_x, T, m = _summary_arrays(summary, needed)
    m = np.where(x > 0, m, 0.0)  # the mean spend of a client without repeat purchase is not used
    # sum_m (E_m - E_{m-1}) / (1 + d)^m = sum_m E_m c_m with c_m = 1/(1+d)^m - 1/(1+d)^(m+1), c_M = 1/(1+d)^M:
    # the engine sums the expected purchases at each month end once per (frequency, T) pair and draw.
    disc = (1.0 + d) ** -np.arange(1, months + 2, dtype=float)
    coefs = np.append(disc[:-2] - disc[1:-1], disc[months - 1])
    horizons = np.arange(1, months + 1, dtype=float) * (365.25 / 12 / period_days)
    threads = resolve_threads()
    point, _ = value_intervals(bg_point, gg_point, x, t_x, T, m, horizons, coefs, margin, 0.5,
                                         n_threads=threads)
    clv = pd.Series(point, index=_index(summary), name="clv")
    if interval is None:
        return clv
    level = check_float(interval, "interval", min_value=0.0, strict_min=True)
    if not level < 1:
        raise ValueError(f"interval must be in (0, 1), got {interval}")
    bg_draws, gg_draws = _draws(purchases, draws, seed), _draws(spend, draws, seed + 1)
    lo, hi = value_intervals(bg_draws, gg_draws, x, t_x, T, m, horizons, coefs, margin, level,
                                       n_threads=threads)
    return pd.DataFrame({"clv": clv, "lower": lo, "upper": hi}, index=_index(summary))


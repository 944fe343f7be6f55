"""Diagnostics of the purchase models, as tables: the figures an analyst shows before trusting a forecast.

Every function takes a fitted model through the interface the purchase models
share — ``predict(summary, t)``, ``expected_purchases_new(t)``,
``log_likelihood_``, ``params_``, ``n_clients_`` and, for the count
distribution, ``purchase_count_probabilities(ages, max_count)`` (the BG/NBD's
is computed here) — so :class:`~twinscore.BetaGeo`,
:class:`~twinscore.BetaGeoBetaBinom` and any model with the same methods plug
in. A model's summary columns are its ``summary_columns`` (frequency, recency
and the client's age: ``T`` by default, ``n_periods`` for the BG/BB).

- :func:`calibration_holdout`: holdout purchases by calibration frequency,
  actual against the model's conditional expectation.
- :func:`period_transactions`: clients by repeat purchases in calibration,
  actual against the model's expected counts.
- :func:`cumulative_transactions`: the cohort's repeat transactions over
  time, cumulative and per period, actual against the model.
- :func:`split_clients`: a random (optionally stratified) split of the
  clients, to fit on one part and check on the other.
- :func:`compare_models`: log-likelihood, AIC, BIC and holdout errors of
  several fitted models side by side.

Numbers only: the plots in :mod:`twinscore.plot` draw from the same tables.
Nothing here loops over clients.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import numpy as np
import pandas as pd

from . import _frames
from ._frames import NS_PER_DAY as _NS_PER_DAY
from ._validation import check_float, check_int

__all__ = ["calibration_holdout", "period_transactions", "cumulative_transactions", "split_clients",
           "compare_models", "bgnbd_count_probabilities"]

_DEFAULT_COLUMNS = ("frequency", "recency", "T")


def _columns(model) -> tuple[str, str, str]:
    return tuple(getattr(model, "summary_columns", _DEFAULT_COLUMNS))


def _fitted(model) -> dict:
    params = getattr(model, "params_", None)
    if not isinstance(params, dict) or not callable(getattr(model, "predict", None)):
        raise TypeError(f"model must be a fitted twinscore purchase model (BetaGeo, BetaGeoBetaBinom, ...), got "
                        f"{type(model).__name__}")
    return params


def _summary(summary, names) -> pd.DataFrame:
    if not isinstance(summary, pd.DataFrame):
        raise TypeError(f"summary must be a DataFrame with columns {list(names)}, got {type(summary).__name__}")
    missing = [c for c in names if c not in summary.columns]
    if missing:
        raise KeyError(f"summary lacks the columns {missing} (columns: {list(summary.columns)})")
    if len(summary) == 0:
        raise ValueError("summary is empty")
    for c in names:
        if int((summary.columns == c).sum()) > 1:
            raise ValueError(f"summary has {int((summary.columns == c).sum())} columns named {c!r}: which to read "
                             "is ambiguous")
        dtype = summary[c].dtype
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            raise TypeError(f"summary column {c!r} must be numeric, got {dtype}")
        a = summary[c].to_numpy(dtype=np.float64, na_value=np.nan)
        if not np.isfinite(a).all():
            raise ValueError(f"summary column {c!r} holds a non-finite value at row {int(np.argmax(~np.isfinite(a)))}")
    return summary


def _horizon(t, summary: pd.DataFrame) -> float:
    """The holdout length: ``t``, else the summary's ``n_holdout_periods`` (set by discrete_summary)."""
    if t is None:
        t = summary.attrs.get("n_holdout_periods")
        if t is None:
            raise ValueError("t (the holdout's length in the summary's periods) is required: the summary does not "
                             "record it")
    return check_float(t, "t", min_value=0.0)


def _bins(frequency: np.ndarray, cap: int, name: str = "frequency") -> np.ndarray:
    if len(frequency) and frequency.min() < 0:
        row = int(np.argmax(frequency < 0))
        raise ValueError(f"summary column {name!r} must be >= 0, got {frequency[row]:g} at row {row}")
    return np.minimum(frequency, cap).astype(np.int64)


# The open-ended last group of the frequency tables: a table of a million rows is already unreadable.
_MAX_FREQUENCY = 1_000_000
# The count tables (ages x counts) are built whole: past this many cells (800 MB) they are refused by name.
_MAX_CELLS = 100_000_000


def _ages(ages, max_count) -> tuple[np.ndarray, int]:
    """The ages of a count table (finite, >= 0) and its max_count, refused before a table too large to hold."""
    a = np.asarray(ages)
    if a.dtype == object or a.dtype.kind not in "fiub":
        raise TypeError(f"ages must be numbers, got {type(ages).__name__} of dtype {a.dtype}")
    T = np.ascontiguousarray(a, dtype=np.float64).ravel()
    if not (np.isfinite(T).all() and (T >= 0).all()):
        raise ValueError("ages must be finite and >= 0")
    max_count = check_int(max_count, "max_count", min_value=0, max_value=_MAX_CELLS - 1)
    if len(T) * (max_count + 1) > _MAX_CELLS:
        raise ValueError(f"{len(T):,} ages x {max_count + 1:,} counts (max_count = {max_count:,}) is a table of more "
                         f"than {_MAX_CELLS:,} probabilities: ask for fewer ages or a smaller max_count")
    return T, max_count


def _bin_labels(cap: int) -> pd.Index:
    return pd.Index([str(k) for k in range(cap)] + [f"{cap}+"], name="frequency")


# ---------------------------------------------------------------- calibration vs holdout

def calibration_holdout(model, summary: pd.DataFrame, *, t: float | None = None,
                        max_frequency: int = 7) -> pd.DataFrame:
    """Holdout purchases by calibration frequency: actual mean against the model's conditional expectation.

    Parameters
    ----------
    model : fitted purchase model
    summary : DataFrame
        The model's summary columns and ``holdout_frequency`` (from
        :func:`~twinscore.calibration_summary` with an ``observation_end``, or
        :func:`~twinscore.discrete_summary`).
    t : float, optional
        The holdout's length in the summary's periods (default: the
        summary's ``attrs["n_holdout_periods"]``, which
        :func:`~twinscore.discrete_summary` records).
    max_frequency : int, default 7
        The last, open-ended group ("7+").

    Returns
    -------
    DataFrame
        One row per calibration frequency 0, 1, ..., ``max_frequency``+:
        ``clients``, ``actual`` (mean holdout purchases), ``model`` (mean of
        ``model.predict(summary, t)``), and ``actual_total`` / ``model_total``.
        Empty groups are left out.
    """
    _fitted(model)
    cols = _columns(model)
    s = _summary(summary, list(cols) + ["holdout_frequency"])
    t = _horizon(t, s)
    cap = check_int(max_frequency, "max_frequency", min_value=1, max_value=_MAX_FREQUENCY)
    predicted = model.predict(s, t).to_numpy(dtype=np.float64)
    group = _bins(s[cols[0]].to_numpy(dtype=np.float64), cap, cols[0])
    actual = s["holdout_frequency"].to_numpy(dtype=np.float64)
    clients = np.bincount(group, minlength=cap + 1)
    a_tot = np.bincount(group, weights=actual, minlength=cap + 1)
    m_tot = np.bincount(group, weights=predicted, minlength=cap + 1)
    keep = clients > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame({"clients": clients, "actual": a_tot / clients, "model": m_tot / clients,
                            "actual_total": a_tot, "model_total": m_tot}, index=_bin_labels(cap))
    return out[keep]


# ---------------------------------------------------------------- period transactions

def bgnbd_count_probabilities(params: dict, ages, max_count: int) -> np.ndarray:
    """P(X(T) = x) of the BG/NBD for each age T and x = 0..max_count (Fader, Hardie & Lee 2005, eq. 8).

    Every term is a log-space product (no power or factorial overflows for
    large x or T); the no-dropout limit (a = 0) is the NBD. Returns an array
    of shape (len(ages), max_count + 1).
    """
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping of r, alpha, a, b (a BetaGeo's params_), got "
                        f"{type(params).__name__}")
    missing = [k for k in ("r", "alpha", "a", "b") if k not in params]
    if missing:
        raise KeyError(f"params lacks {missing}: the BG/NBD's parameters are r, alpha, a, b")
    r, alpha = (check_float(params[k], f"params[{k!r}]", min_value=0.0, strict_min=True) for k in ("r", "alpha"))
    a = check_float(params["a"], "params['a']", min_value=0.0)
    b = params["b"]
    if not (isinstance(b, numbers.Real) and not isinstance(b, bool) and float(b) == math.inf):
        b = check_float(b, "params['b']", min_value=0.0, strict_min=True)  # inf: the no-dropout limit
    b = float(b)
    T, max_count = _ages(ages, max_count)
    log_p = np.log(alpha) - np.log(alpha + T)  # log of alpha / (alpha + T)
    with np.errstate(divide="ignore"):
        log_q = np.log(T) - np.log(alpha + T)  # -inf at T = 0
    no_dropout = a == 0 or math.isinf(b)

    def lbeta(u, v):
        return math.lgamma(u) + math.lgamma(v) - math.lgamma(u + v)

    out = np.empty((len(T), max_count + 1))
    head = np.zeros(len(T))  # P_NBD(X <= x - 1): the NBD's mass below x
    for x in range(max_count + 1):  # a loop over the counts, each vectorised over the ages
        c = math.lgamma(r + x) - math.lgamma(r) - math.lgamma(x + 1)
        log_nb = c + r * log_p + (x * log_q if x > 0 else 0.0)
        nb = np.exp(log_nb)
        if no_dropout:
            out[:, x] = nb
        else:
            first = np.exp(lbeta(a, b + x) - lbeta(a, b) + log_nb)
            second = math.exp(lbeta(a + 1, b + x - 1) - lbeta(a, b)) * np.maximum(1.0 - head, 0.0) if x > 0 else 0.0
            out[:, x] = first + second
        head = head + nb
    return out


def _count_probabilities(model, ages: np.ndarray, max_count: int) -> np.ndarray:
    own = getattr(model, "purchase_count_probabilities", None)
    if callable(own):
        return np.asarray(own(ages, max_count))
    params = model.params_
    if {"r", "alpha", "a", "b"} <= set(params):
        return bgnbd_count_probabilities(params, ages, max_count)
    raise TypeError(f"{type(model).__name__} has no purchase_count_probabilities(ages, max_count): its count "
                    f"distribution is unknown")


def period_transactions(model, summary: pd.DataFrame, *, max_frequency: int = 7) -> pd.DataFrame:
    """Clients by repeat purchases in calibration: actual counts against the model's expected counts.

    The model's count for x is the sum over clients of P(X(age_i) = x), the
    model's distribution of repeat purchases of a client of that age (T for
    the BG/NBD, n_periods for the BG/BB); the last row holds
    ``max_frequency`` and more, so both columns sum to the clients.

    Returns
    -------
    DataFrame
        Indexed by frequency "0", "1", ..., "7+": ``actual``, ``model``, and
        their shares of the clients ``actual_share``, ``model_share``.
    """
    _fitted(model)
    cols = _columns(model)
    s = _summary(summary, [cols[0], cols[2]])
    cap = check_int(max_frequency, "max_frequency", min_value=1, max_value=_MAX_FREQUENCY)
    actual = np.bincount(_bins(s[cols[0]].to_numpy(dtype=np.float64), cap, cols[0]),
                         minlength=cap + 1).astype(np.float64)
    ages, counts = np.unique(s[cols[2]].to_numpy(dtype=np.float64), return_counts=True)
    probs = _count_probabilities(model, ages, cap - 1)  # x = 0..cap-1; the rest is the open bin
    expected = counts.astype(np.float64) @ probs
    expected = np.r_[expected, len(s) - expected.sum()]
    n = float(len(s))
    return pd.DataFrame({"actual": actual, "model": expected, "actual_share": actual / n,
                         "model_share": expected / n}, index=_bin_labels(cap))


# ---------------------------------------------------------------- transactions over time

def _ticks(transactions, customer: str, date: str, freq: str | None, period_days: float):
    """(client codes, tick of each transaction, tick length in model periods, tick -> start date)."""
    codes, _ = _frames.client_codes(_frames.column(transactions, customer, "customer", "transactions"), customer)
    time = _frames.timestamps_ns(_frames.column(transactions, date, "date", "transactions"), date)
    if len(codes) == 0:
        raise ValueError("transactions is empty")
    if freq is None:
        return codes, np.floor_divide(time, _NS_PER_DAY), 1.0 / period_days, None
    if not isinstance(freq, str):
        raise TypeError(f"freq must be a pandas period alias such as 'W' or 'Y', got {type(freq).__name__}")
    try:
        ticks = pd.DatetimeIndex(time.view("datetime64[ns]")).to_period(freq).asi8
    except (ValueError, TypeError) as exc:
        raise ValueError(f"freq {freq!r} is not a pandas period alias: {exc}") from None
    return codes, ticks, 1.0, freq


# Rows of the transactions-over-time table (days or periods): 2,700 years of days.
_MAX_TICKS = 1_000_000


def distinct_pairs(codes: np.ndarray, ticks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (client code, tick) pairs, sorted by client then tick: one sort of the two keys (a
    packed code * span + tick would overflow int64 for fine periods of many clients)."""
    codes = np.asarray(codes, dtype=np.int64)
    ticks = np.asarray(ticks, dtype=np.int64)
    order = np.lexsort((ticks, codes))
    c, t = codes[order], ticks[order]
    keep = np.r_[True, (c[1:] != c[:-1]) | (t[1:] != t[:-1])] if len(c) else np.zeros(0, dtype=bool)
    return c[keep], t[keep]


def _cutoff(value, name: str, freq: str | None) -> int:
    ts = _frames.timestamp(value, name)
    if freq is None:
        return int(ts.value // _NS_PER_DAY)
    return int(pd.Period(ts.tz_localize(None), freq).ordinal)


def cumulative_transactions(model, transactions, *, customer: str, date: str, calibration_end,
                            observation_end=None, period_days: float = 7.0, freq: str | None = None) -> pd.DataFrame:
    """The cohort's repeat transactions over time, cumulative and per period: actual against the model.

    The cohort is the clients whose first purchase is on or before
    ``calibration_end`` (as in :func:`~twinscore.calibration_summary`). The
    model's cumulative count at time tau is sum_i E[X(tau - s_i)], s_i the
    client's first purchase and E[X(t)] = ``model.expected_purchases_new(t)``
    (a convolution of the births with the model's curve, no loop over
    clients). Actual repeat transactions count one per client-day after the
    client's first day (one per client-period after its first period with
    ``freq``).

    Parameters
    ----------
    model : fitted purchase model
    transactions : DataFrame
        The log the model's summary came from.
    customer, date : str
        Its client id and date columns.
    calibration_end : date
        The end of the calibration (its periods are flagged ``holdout`` = False).
    observation_end : date, optional
        The last date shown (default: the latest transaction).
    period_days : float, default 7
        Continuous-time models (BG/NBD, Pareto/NBD): the model's period in
        days, a whole number of days; rows are periods of that length from
        the cohort's first purchase day.
    freq : str, optional
        Discrete-opportunity models (BG/BB): the opportunity period (pandas
        alias, as given to :func:`~twinscore.discrete_summary`); rows are
        those periods.

    Returns
    -------
    DataFrame
        One row per period from the cohort's first: ``start`` (its first
        day), ``actual`` and ``model`` (cumulative repeat transactions at the
        period's end), ``actual_incremental`` and ``model_incremental`` (in
        the period), ``holdout`` (the period starts after the calibration).
    """
    _fitted(model)
    if freq is None:
        period_days = check_float(period_days, "period_days", min_value=0.0, strict_min=True,
                                  max_value=_MAX_TICKS)
        if not float(period_days).is_integer():
            raise ValueError(f"period_days must be a whole number of days here, got {period_days}")
    codes, ticks, scale, freq = _ticks(transactions, customer, date, freq, period_days)
    cal = _cutoff(calibration_end, "calibration_end", freq)
    end = _cutoff(observation_end, "observation_end", freq) if observation_end is not None else int(ticks.max())
    if end < cal:
        raise ValueError("observation_end must not be before calibration_end")
    # Distinct (client, tick) pairs, sorted: the first of each client is its birth.
    low = int(ticks.min())
    if end - low + 1 > _MAX_TICKS:
        raise ValueError(f"the transactions span {end - low + 1:,} {'days' if freq is None else f'periods of {freq!r}'}"
                         f", more than the {_MAX_TICKS:,} rows this table holds: choose a coarser freq")
    who, tick = distinct_pairs(codes, ticks - low)
    is_first = np.r_[True, who[1:] != who[:-1]]
    birth = np.full(int(who.max()) + 1, -1)
    birth[who[is_first]] = tick[is_first]
    cohort = birth[who] <= cal - low
    if not cohort.any():
        raise ValueError("no client first bought on or before calibration_end")
    start = int(tick[cohort & is_first].min())
    n_ticks = end - low - start + 1
    repeat = cohort & ~is_first & (tick <= end - low)
    actual_per_tick = np.bincount(tick[repeat] - start, minlength=n_ticks)[:n_ticks].astype(np.float64)
    births = np.bincount(tick[cohort & is_first] - start, minlength=n_ticks)[:n_ticks].astype(np.float64)
    # The model's curve E[X(u)] at every age u = 0..n_ticks-1 (a loop over the time grid, not the clients),
    # evaluated at the end of each tick: the age at the end of tick k of a client born in tick b is k - b
    # whole ticks (a client is born at the end of its first day or period).
    curve = np.array([model.expected_purchases_new(u * scale if freq is None else u) for u in range(n_ticks)])
    model_per_tick_cum = np.convolve(births, curve)[:n_ticks]
    actual_cum = np.cumsum(actual_per_tick)
    step = int(period_days) if freq is None else 1
    ends = np.arange(step - 1, n_ticks, step)
    if len(ends) == 0 or ends[-1] != n_ticks - 1:
        ends = np.r_[ends, n_ticks - 1]  # the last, partial period
    a_c, m_c = actual_cum[ends], model_per_tick_cum[ends]
    first_tick = np.r_[0, ends[:-1] + 1] + start + low
    if freq is None:
        starts = pd.to_datetime(first_tick * _NS_PER_DAY, unit="ns")
    else:
        starts = pd.PeriodIndex.from_ordinals(first_tick, freq=freq).start_time
    return pd.DataFrame({"start": starts, "actual": a_c, "model": m_c, "actual_incremental": np.diff(a_c, prepend=0.0),
                         "model_incremental": np.diff(m_c, prepend=0.0), "holdout": first_tick > cal},
                        index=pd.RangeIndex(1, len(ends) + 1, name="period"))


# ---------------------------------------------------------------- holdout by a split of the clients

def split_clients(summary: pd.DataFrame, *, test_size: float = 0.3, stratify: str | None = "frequency",
                  max_groups: int = 10, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A random split of the clients into a fitting part and a checking part.

    Fit the model on the first, then compare its predictions with the
    holdout purchases of the second (:func:`calibration_holdout`,
    :func:`compare_models`): a holdout by clients, beside the holdout by
    time that the calibration period gives.

    Parameters
    ----------
    summary : DataFrame
        One row per client.
    test_size : float, default 0.3
        Share of the clients in the checking part, in (0, 1).
    stratify : str or None, default "frequency"
        A column whose distribution both parts keep: each of its values (the
        largest capped into ``max_groups`` - 1 and more) is split in the
        same proportion. None: a plain random split.
    max_groups : int, default 10
        Strata of ``stratify``.
    seed : int, default 0

    Returns
    -------
    (train, test) : two DataFrames, rows of ``summary`` in their order.
    """
    if not isinstance(summary, pd.DataFrame):
        raise TypeError(f"summary must be a DataFrame of at least 2 clients, got {type(summary).__name__}")
    if len(summary) < 2:
        raise ValueError(f"summary must be a DataFrame of at least 2 clients, got {len(summary)}")
    share = check_float(test_size, "test_size", min_value=0.0, strict_min=True)
    if not share < 1:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    seed = check_int(seed, "seed", min_value=0)
    rng = np.random.default_rng(seed)
    u = rng.random(len(summary))
    if stratify is None:
        group = np.zeros(len(summary), dtype=np.int64)
    else:
        groups = check_int(max_groups, "max_groups", min_value=1)
        values = _summary(summary, [stratify])[stratify].to_numpy(dtype=np.float64)
        codes = np.unique(values, return_inverse=True)[1]
        group = np.minimum(codes, groups - 1)
    # Within each stratum, the clients of the lowest share of random ranks go to the test part.
    order = np.lexsort((u, group))
    g_sorted = group[order]
    starts = np.flatnonzero(np.r_[True, g_sorted[1:] != g_sorted[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    rank = np.arange(len(order)) - np.repeat(starts, sizes)
    test = np.zeros(len(summary), dtype=bool)
    test[order] = rank < np.repeat(np.round(sizes * share).astype(np.int64), sizes)
    return summary[~test], summary[test]


# ---------------------------------------------------------------- model comparison

def compare_models(models, summary, *, t: float | None = None) -> pd.DataFrame:
    """Fitted purchase models side by side: fit statistics and holdout errors.

    Parameters
    ----------
    models : dict of name -> fitted model, or a list (named by class)
    summary : DataFrame or dict of name -> DataFrame
        The holdout data each model predicts: its summary columns and
        ``holdout_frequency`` (a dict when the models read different
        summaries, e.g. a BG/BB beside a BG/NBD).
    t : float, optional
        The holdout's length in the summary's periods (default: the
        summary's ``attrs["n_holdout_periods"]``).

    Returns
    -------
    DataFrame
        One row per model: ``log_likelihood`` (at its fit), ``n_params``,
        ``n_clients`` (fitted), ``aic`` = 2k - 2 LL, ``bic`` = k ln(n) - 2 LL,
        and on the holdout: ``mae`` and ``rmse`` of the per-client purchases,
        ``predicted_total``, ``actual_total`` and ``total_error`` (predicted /
        actual - 1). LL, AIC and BIC compare models fitted on the same data
        in the same units only.
    """
    if isinstance(models, dict):
        named = list(models.items())
    elif isinstance(models, (list, tuple)):
        named = [(type(m).__name__, m) for m in models]
        names = [n for n, _ in named]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:  # one row per name: a second model of a class would replace the first
            raise ValueError(f"models holds more than one {twice[0]}: pass a dict to name each model")
    else:
        raise TypeError(f"models must be a dict or a list of fitted models, got {type(models).__name__}")
    if not named:
        raise ValueError("models is empty")
    rows = {}
    for name, model in named:  # a loop over the few models, not the clients
        params = _fitted(model)
        s = summary.get(name) if isinstance(summary, dict) else summary
        if s is None:
            raise KeyError(f"summary has no entry for model {name!r}")
        cols = _columns(model)
        s = _summary(s, list(cols) + ["holdout_frequency"])
        horizon = _horizon(t, s)
        predicted = model.predict(s, horizon).to_numpy(dtype=np.float64)
        actual = s["holdout_frequency"].to_numpy(dtype=np.float64)
        fixed = getattr(model, "fixed_", None)  # parameters held at a boundary are not estimated
        k = len(params) - (int(np.sum(np.asarray(fixed, dtype=bool))) if fixed is not None else 0)
        ll, n = float(model.log_likelihood_), float(model.n_clients_)
        err = predicted - actual
        rows[name] = {"log_likelihood": ll, "n_params": k, "n_clients": n, "aic": 2 * k - 2 * ll,
                      "bic": k * math.log(n) - 2 * ll, "mae": float(np.mean(np.abs(err))),
                      "rmse": float(np.sqrt(np.mean(err ** 2))), "predicted_total": float(predicted.sum()),
                      "actual_total": float(actual.sum()),
                      "total_error": float(predicted.sum() / actual.sum() - 1) if actual.sum() > 0 else np.nan}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")

"""Drift between two runs: has the population moved, and do last run's scores
still match what happened?

A nightly score is only as good as the resemblance between the contacts it is
computed on and those it was fitted on. :func:`psi` compares one score or
feature between a reference run (``expected``: the training table, last
month's run) and a new one (``actual``) by its population stability index,

    PSI = sum_b (a_b - e_b) ln(a_b / e_b),

with e_b and a_b the shares of the two runs in bin b. The bins are learnt on
the reference run: for a numeric column as the criteria engine bins it
(``discriminating_criteria``: by value for at most ``bins`` distinct values,
else quantiles of the reference with a bin of its own for any value held by
more than one quantile's share, such as a dominant 0), missing values in a bin
of their own and, for a column binned by value, new values in "(other)"; for
a categorical column one bin per category, "(other)" for categories the
reference never had and "(missing)". Shares are smoothed by ``smoothing``
rows per bin, so that a bin empty in one run gives a large but finite part.
The usual reading: below 0.1 stable, 0.1 to 0.25 watch, 0.25 and above act
(the population has changed: refit or investigate).

:func:`stability` runs :func:`psi` on every column of two tables (the
characteristic stability of the features), largest first.
:func:`calibration_check` compares last run's conversion probabilities with
the outcomes observed since: per score bin the expected and the observed
conversions, the Hosmer-Lemeshow statistic and its p-value, the Brier score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from . import _core, _frames
from ._config import resolve_threads
from ._validation import as_vector, check_float, check_int
from .criteria import MISSING_LABEL, OTHER_LABEL, _interval_labels, _value_label
from .table import ContactTable

__all__ = ["Stability", "Calibration", "psi", "stability", "calibration_check", "WATCH", "ACT"]

WATCH = 0.1  # PSI from which a change is worth watching
ACT = 0.25   # PSI from which the population has changed


def _status(value: float) -> str:
    return "stable" if value < WATCH else ("watch" if value < ACT else "act")


@dataclass
class Stability:
    """The population stability of one column between two runs.

    Attributes
    ----------
    column : str
        The column compared.
    psi : float
        The population stability index (>= 0).
    status : str
        "stable" (PSI < 0.1), "watch" (0.1 to 0.25) or "act" (>= 0.25).
    table : DataFrame
        One row per bin, in value order (numeric) or category order, with
        "(other)" and "(missing)" last where they hold rows: bin, expected
        and actual rows, expected and actual shares (unsmoothed), the bin's
        part of the PSI.
    """

    column: str
    psi: float
    status: str
    table: pd.DataFrame

    def __repr__(self) -> str:
        return f"Stability({self.column!r}: PSI {self.psi:.4f}, {self.status}, {len(self.table)} bins)"


def _frame(values, name: str) -> pd.DataFrame:
    if isinstance(values, pd.DataFrame):
        raise TypeError(f"{name} must be one column (a Series or an array), got a DataFrame")
    if isinstance(values, pd.Series):
        return pd.DataFrame({"value": values.reset_index(drop=True)})
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return pd.DataFrame({"value": values.to_pandas()})
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return pd.DataFrame({"value": arr})


def _numeric_bins(ref: ContactTable, new: ContactTable, column: str, bins: int, n_threads: int):
    """(labels, expected counts, actual counts) of a numeric column, bins learnt on ref."""
    cols = [ref.numeric(column), new.numeric(column)]
    binning = _core.numeric_bins([column], [cols[0]], bins, n_threads=n_threads)[0]
    codes = [_core.numeric_bin_codes([column], [c], [binning], n_threads=n_threads)[0] for c in cols]
    values, edges = np.asarray(binning[0], dtype=np.float32 if binning[2] else np.float64), np.asarray(binning[1])
    labels = [_value_label(v) for v in values] + _interval_labels(edges) + [OTHER_LABEL, MISSING_LABEL]
    lower = np.concatenate([values, edges[:-1] if len(edges) >= 2 else edges, [np.inf, np.inf]])
    order = np.argsort(lower, kind="stable")  # value order; other and missing last
    counts = [np.bincount(c, minlength=len(labels))[order] for c in codes]
    return [labels[i] for i in order], counts[0], counts[1]


def _categorical_bins(ref: ContactTable, new: ContactTable, column: str):
    """(labels, expected counts, actual counts): the categories, other (unseen) and missing."""
    cats = list(ref.schema[column].categories)
    k = len(cats)
    counts = []
    for t in (ref, new):
        codes = t.codes(column).astype(np.int64)
        counts.append(np.bincount(np.where(codes < 0, k + 1, codes), minlength=k + 2))
    return cats + [OTHER_LABEL, MISSING_LABEL], counts[0], counts[1]


def _psi_of(ref: ContactTable, new: ContactTable, column: str, bins: int, smoothing: float,
            n_threads: int) -> Stability:
    role = ref.roles[column]
    if role == "numeric":
        labels, e, a = _numeric_bins(ref, new, column, bins, n_threads)
    elif role == "categorical":
        labels, e, a = _categorical_bins(ref, new, column)
    else:
        raise TypeError(f"column '{column}' is {role}: the PSI compares numeric or categorical columns")
    keep = (e + a) > 0
    labels = [lab for lab, k in zip(labels, keep) if k]
    e, a = e[keep].astype(np.float64), a[keep].astype(np.float64)
    n_bins = len(e)
    es = (e + smoothing) / (e.sum() + smoothing * n_bins)
    as_ = (a + smoothing) / (a.sum() + smoothing * n_bins)
    part = (as_ - es) * np.log(as_ / es)
    value = float(part.sum())
    table = pd.DataFrame({"bin": labels, "expected_rows": e.astype(np.int64), "actual_rows": a.astype(np.int64),
                          "expected_share": e / e.sum(), "actual_share": a / a.sum(), "psi": part})
    return Stability(column=column, psi=value, status=_status(value), table=table)


def _check_options(bins, smoothing, n_threads):
    return (check_int(bins, "bins", min_value=2, max_value=1000),  # one bin measures no shift
            check_float(smoothing, "smoothing", min_value=0.0, strict_min=True), resolve_threads(n_threads))


def psi(expected, actual, *, bins: int = 10, smoothing: float = 0.5, name: str = "value",
        n_threads: int | None = None) -> Stability:
    """Population stability index of one score or feature between two runs.

    Parameters
    ----------
    expected : array-like, Series or Arrow array
        The reference run (the table the model was fitted on, last run's
        scores). Numbers (any numeric dtype, missing values allowed),
        strings or categoricals.
    actual : array-like, Series or Arrow array
        The new run, of the same kind.
    bins : int
        Bins of a numeric column besides missing (1..1000), learnt on
        ``expected`` (see the module docstring).
    smoothing : float
        Rows added to every bin of both runs (> 0) so that an empty bin gives
        a finite part.
    name : str
        The column's name in the result.
    n_threads : int, optional
        Threads of the binning (None: the ``threads(n)`` block around the
        call, else the process default); the result is the same for any number.

    Returns
    -------
    Stability
        ``psi``, ``status`` and the per-bin ``table``.

    Raises
    ------
    ValueError
        An empty run, an infinite value, ``bins`` or ``smoothing`` out of range.
    TypeError
        A DataFrame instead of one column, or runs of different kinds (numbers
        against text).
    """
    bins, smoothing, n_threads = _check_options(bins, smoothing, n_threads)
    ref_df, new_df = _frame(expected, "expected"), _frame(actual, "actual")
    for label, df in (("expected", ref_df), ("actual", new_df)):
        if len(df) == 0:
            raise ValueError(f"{label} is empty")
    ref = ContactTable.from_pandas(ref_df.rename(columns={"value": name}))
    new = _apply(ref, new_df.rename(columns={"value": name}), "actual")
    return _psi_of(ref, new, name, bins, smoothing, n_threads)


def _apply(ref: ContactTable, df: pd.DataFrame, label: str) -> ContactTable:
    try:
        return ref.schema.apply(df, id=None)
    except TypeError as e:
        raise TypeError(f"{label} is not of the reference's kind: {e}") from None


def stability(expected: pd.DataFrame, actual: pd.DataFrame, columns=None, *, bins: int = 10,
              smoothing: float = 0.5, n_threads: int | None = None) -> pd.DataFrame:
    """The population stability of every column between two runs, largest first.

    Parameters
    ----------
    expected, actual : DataFrame
        The reference run and the new one; ``actual`` holds at least the
        compared columns (in any order).
    columns : list of str, optional
        The columns to compare (default: every numeric and categorical column
        of ``expected``; dates and category sets are not compared).
    bins, smoothing, n_threads
        As :func:`psi`.

    Returns
    -------
    DataFrame
        One row per column: column, kind, psi, status, bins, the missing
        share in each run; the per-bin tables in ``.attrs["tables"]`` (a dict
        by column).

    Raises
    ------
    KeyError
        A column missing from either table.
    TypeError
        Not DataFrames, or a column of another kind in ``actual``.
    ValueError
        An empty table or ``columns``, options out of range.
    """
    bins, smoothing, n_threads = _check_options(bins, smoothing, n_threads)
    expected, actual = (_frames.as_pandas(df, label) if _frames.is_frame(df) else df
                        for label, df in (("expected", expected), ("actual", actual)))
    for label, df in (("expected", expected), ("actual", actual)):
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"{label} must be a pandas DataFrame, got {type(df).__name__}")
        if len(df) == 0:
            raise ValueError(f"{label} is empty")
    if columns is None:
        columns = list(expected.columns)
        explicit = False
    else:
        columns = list(columns)
        explicit = True
        if not columns:
            raise ValueError("columns is empty")
    for label, df in (("expected", expected), ("actual", actual)):
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise KeyError(f"columns {missing} are not in {label}")
    ref = ContactTable.from_pandas(expected[columns])
    compared = [c for c in columns if ref.roles[c] in ("numeric", "categorical")]
    if explicit and len(compared) < len(columns):
        other = [c for c in columns if c not in compared]
        raise TypeError(f"columns {other} are neither numeric nor categorical: the PSI cannot compare them")
    if not compared:
        raise ValueError("no numeric or categorical column to compare")
    ref = ContactTable.from_pandas(expected[compared])
    new = _apply(ref, actual[compared], "actual")
    rows, tables = [], {}
    for c in compared:
        s = _psi_of(ref, new, c, bins, smoothing, n_threads)
        tables[c] = s.table
        miss = s.table[s.table["bin"] == MISSING_LABEL]
        rows.append({"column": c, "kind": ref.roles[c], "psi": s.psi, "status": s.status, "bins": len(s.table),
                     "expected_missing": float(miss["expected_share"].sum()),
                     "actual_missing": float(miss["actual_share"].sum())})
    out = pd.DataFrame(rows).sort_values(["psi", "column"], ascending=[False, True], kind="stable")
    out = out.reset_index(drop=True)
    out.attrs["tables"] = tables
    return out


@dataclass
class Calibration:
    """Last run's probabilities against the outcomes observed since.

    Attributes
    ----------
    table : DataFrame
        One row per score bin (equal counts by rank, lowest scores first):
        rows, mean_score, expected (sum of the probabilities), observed
        (conversions), observed_rate.
    expected, observed : float
        Conversions expected by the scores and observed, over all rows.
    hosmer_lemeshow : float
        sum_b (O_b - E_b)^2 / (E_b (1 - E_b / n_b)) over the bins.
    dof : int
        Its degrees of freedom (bins - 2).
    p_value : float
        P(chi2(dof) >= hosmer_lemeshow): small (< 0.05) when the scores no
        longer match the outcomes.
    brier : float
        Mean squared difference of score and outcome.
    """

    table: pd.DataFrame
    expected: float
    observed: float
    hosmer_lemeshow: float
    dof: int
    p_value: float
    brier: float

    def __repr__(self) -> str:
        return (f"Calibration(expected {self.expected:,.1f} vs observed {self.observed:,.0f} conversions; "
                f"Hosmer-Lemeshow {self.hosmer_lemeshow:.2f} on {self.dof} dof, p = {self.p_value:.3g}; "
                f"Brier {self.brier:.4f})")


def _chi2_sf(x: float, k: int) -> float:
    """P(chi2(k) >= x): the regularised upper incomplete gamma Q(k/2, x/2)."""
    a, z = k / 2.0, x / 2.0
    if z <= 0:
        return 1.0
    log_front = a * math.log(z) - z - math.lgamma(a)
    if z < a + 1:  # series for P, then Q = 1 - P
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1
            term *= z / ap
            total += term
            if term < total * 1e-16:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    # continued fraction for Q (modified Lentz)
    tiny = 1e-300
    b = z + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-16:
            break
    return math.exp(log_front) * h


def calibration_check(scores, outcomes, *, bins: int = 10) -> Calibration:
    """Compare probabilities scored last run with the outcomes observed since.

    Parameters
    ----------
    scores : array-like
        Conversion probabilities in [0, 1], one per contact, no missing value.
    outcomes : array-like
        What each contact did since: 0/1 or booleans, no missing value.
    bins : int
        Score bins of equal counts by rank (3..1000; ties split by order).

    Returns
    -------
    Calibration

    Raises
    ------
    ValueError
        Lengths that differ, fewer rows than bins, a score outside [0, 1] or
        missing, an outcome other than 0/1, ``bins`` out of range.
    """
    bins = check_int(bins, "bins", min_value=3, max_value=1000)
    p = as_vector(scores, "scores", allow_nan=True)  # a missing score is refused below, with the range
    y_raw = np.asarray(outcomes)
    if p.ndim != 1 or y_raw.ndim != 1 or len(p) != len(y_raw):
        raise ValueError(f"scores and outcomes must be 1-D of the same length, got {p.shape} and {y_raw.shape}")
    if len(p) < bins:
        raise ValueError(f"{len(p)} rows is fewer than bins = {bins}")
    if not np.all((p >= 0) & (p <= 1)):
        raise ValueError("scores must be probabilities in [0, 1] with no missing value")
    y = y_raw.astype(np.float64) if y_raw.dtype != object else np.asarray(y_raw.tolist(), dtype=np.float64)
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("outcomes must be 0/1 or booleans with no missing value")
    order = np.argsort(p, kind="stable")
    bin_of = np.empty(len(p), dtype=np.int64)
    bin_of[order] = np.arange(len(p)) * bins // len(p)
    n_b = np.bincount(bin_of, minlength=bins).astype(np.float64)
    e_b = np.bincount(bin_of, weights=p, minlength=bins)
    o_b = np.bincount(bin_of, weights=y, minlength=bins)
    # A bin whose probabilities are all 0 or all 1 has E (1 - E / n) = 0: it
    # adds nothing when it is right, and is infinitely wrong otherwise.
    var = e_b * (1 - e_b / n_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        parts = np.where(var > 0, (o_b - e_b) ** 2 / var, np.where(o_b == e_b, 0.0, np.inf))
    hl = float(parts.sum())
    dof = bins - 2
    p_value = _chi2_sf(hl, dof) if math.isfinite(hl) else 0.0
    table = pd.DataFrame({"bin": np.arange(1, bins + 1), "rows": n_b.astype(np.int64), "mean_score": e_b / n_b,
                          "expected": e_b, "observed": o_b.astype(np.int64), "observed_rate": o_b / n_b})
    return Calibration(table=table, expected=float(p.sum()), observed=float(y.sum()), hosmer_lemeshow=hl, dof=dof,
                       p_value=p_value, brier=float(np.mean((p - y) ** 2)))

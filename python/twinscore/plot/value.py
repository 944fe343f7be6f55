"""Client value, drawn: the RFM grid, segment sizes and value, and the BG/NBD
model's pictures (lifetimes' frequency/recency and probability-alive
matrices, calibration against holdout purchases, period transactions).

The RFM plots read the table :func:`twinscore.rfm` returns; the BG/NBD plots
ask the fitted model (``predict``, ``probability_alive``, ``params_``) for
every model number they draw.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .._validation import check_float, check_int
from ._base import COLORS, axes, frame, heatmap, percent_axis

__all__ = ["rfm_grid", "segment_value", "frequency_recency_matrix", "probability_alive_matrix",
           "calibration_purchases", "period_transactions", "transactions_over_time"]


def rfm_grid(rfm, *, value: str | None = None, ax=None):
    """Clients (or the total of ``value``) per cell of the R x F grid.

    Rows are R scores (5, the most recent, at the top), columns F scores;
    the counts are a crosstab of the table :func:`twinscore.rfm` returns.

    Parameters
    ----------
    rfm : DataFrame
        The table of :func:`twinscore.rfm` (columns R, F, and ``value``).
    value : str, optional
        A column to sum per cell (e.g. ``"monetary"``); by default clients are counted.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.
    """
    t = frame(rfm, "rfm", ["R", "F"] + ([value] if value is not None else []))
    if value is None:
        grid = pd.crosstab(t["R"], t["F"])
    else:
        grid = t.pivot_table(index="R", columns="F", values=value, aggfunc="sum", fill_value=0.0)
    grid = grid.sort_index(ascending=False)  # best recency on top, as marketers read the grid
    ax = axes(ax, figsize=(6.0, 4.8))
    heatmap(ax, grid.to_numpy(dtype=np.float64), grid.index, grid.columns, fmt=",.0f", cmap="Blues",
            colorbar="clients" if value is None else f"total {value}")
    ax.set_xlabel("F score (frequency, 5 = most purchases)")
    ax.set_ylabel("R score (recency, 5 = most recent)")
    ax.set_title("RFM grid: " + ("clients per cell" if value is None else f"{value} per cell"))
    return ax


def _segment_table(rfm: pd.DataFrame, value: str) -> pd.DataFrame:
    g = rfm.groupby("segment", observed=True)
    out = pd.DataFrame({"clients": g.size(), "value": g[value].sum()})
    out["client_share"] = out["clients"] / out["clients"].sum()
    out["value_share"] = out["value"] / out["value"].sum()
    return out.sort_values("value", ascending=True)  # the largest value at the top of a barh


def segment_value(rfm, *, value: str = "monetary", ax=None):
    """Each RFM segment's share of the clients beside its share of ``value``.

    "20 % of the clients, 60 % of the revenue": the segments' sizes and the
    sums of ``value`` from the :func:`twinscore.rfm` table.

    Parameters
    ----------
    rfm : DataFrame
        The table of :func:`twinscore.rfm` (columns segment and ``value``).
    value : str, default "monetary"
        The column whose total each segment holds a share of.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.
    """
    t = frame(rfm, "rfm", ["segment", value])
    if not pd.api.types.is_numeric_dtype(t[value].dtype) or pd.api.types.is_bool_dtype(t[value].dtype):
        raise TypeError(f"rfm column {value!r} must be numeric, got {t[value].dtype}")
    table = _segment_table(t, value)
    y = np.arange(len(table))
    ax = axes(ax, figsize=(6.4, 0.45 * len(table) + 1.5))
    a = ax.barh(y + 0.2, table["client_share"].to_numpy(), height=0.4, color=COLORS["ref"], label="share of clients")
    b = ax.barh(y - 0.2, table["value_share"].to_numpy(), height=0.4, color=COLORS["main"],
                label=f"share of {value}")
    ax.bar_label(a, labels=[f"{v:.0%}" for v in table["client_share"]], fontsize=8, padding=2)
    ax.bar_label(b, labels=[f"{v:.0%}" for v in table["value_share"]], fontsize=8, padding=2)
    ax.set_yticks(y, labels=[f"{s} ({n:,})" for s, n in zip(table.index, table["clients"])])
    percent_axis(ax.xaxis)
    ax.set_xlabel("share of all clients / of the total")
    ax.set_ylabel("segment (clients)")
    ax.set_title(f"Segments: clients and {value}")
    ax.legend(frameon=False, loc="lower right")
    return ax


# ---------------------------------------------------------------- BG/NBD

def _params(model) -> dict:
    params = getattr(model, "params_", None)
    if not isinstance(params, dict) or not {"r", "alpha", "a", "b"} <= set(params):
        raise TypeError(f"model must be a fitted twinscore BetaGeo, got {type(model).__name__}")
    return params


def _grid(summary: pd.DataFrame, max_frequency, max_recency) -> tuple[np.ndarray, np.ndarray, float]:
    """The frequencies (0..max) and recencies (0..T, at most 60 steps) of the matrix, and T."""
    s = frame(summary, "summary", ["frequency", "recency", "T"])
    T = float(s["T"].max())
    if max_frequency is None and float(s["frequency"].max()) > 10_000:
        raise ValueError(f"summary's largest frequency is {float(s['frequency'].max()):g}: a column per frequency "
                         "is too many, give max_frequency (at most 10,000)")
    fmax = int(s["frequency"].max()) if max_frequency is None else check_int(max_frequency, "max_frequency",
                                                                              min_value=1, max_value=10_000)
    rmax = T if max_recency is None else check_float(max_recency, "max_recency", min_value=0.0, strict_min=True)
    freq = np.arange(0, max(fmax, 1) + 1, dtype=np.float64)
    rec = np.linspace(0.0, min(rmax, T), min(60, int(math.ceil(min(rmax, T))) + 1))
    return freq, rec, T


def _matrix(model, summary, max_frequency, max_recency, what: str, t: float):
    """(matrix, frequencies, recencies, T): the model's ``what`` for a client of age T, one row
    per recency (increasing) and one column per frequency. A client without repeat purchase
    has recency 0: the rest of the frequency-0 column is no client (NaN, left blank)."""
    _params(model)
    freq, rec, T = _grid(summary, max_frequency, max_recency)
    F, R = np.meshgrid(freq, rec)
    possible = (F > 0) | (R == 0)
    grid = pd.DataFrame({"frequency": F[possible], "recency": R[possible], "T": T})
    values = model.predict(grid, t) if what == "expected" else model.probability_alive(grid)
    matrix = np.full(F.shape, np.nan)
    matrix[possible] = values.to_numpy()
    return matrix, freq, rec, T


def _matrix_axes(ax, matrix, freq, rec, *, cmap, label):
    """The matrix with recency growing upward: the top right holds the recent, frequent buyers."""
    low, high = (rec[0], rec[-1]) if len(rec) > 1 else (rec[0] - 0.5, rec[0] + 0.5)
    image = ax.imshow(matrix, cmap=cmap, aspect="auto", interpolation="nearest", origin="lower",
                      extent=(freq[0] - 0.5, freq[-1] + 0.5, low, high))
    ax.figure.colorbar(image, ax=ax, label=label)
    ax.set_xlabel("frequency (repeat purchases in calibration)")
    ax.set_ylabel("recency (age at the last purchase, periods)")
    return image


def frequency_recency_matrix(model, summary, *, t: float = 1.0, max_frequency: int | None = None,
                             max_recency: float | None = None, ax=None):
    """Expected purchases by frequency and recency (lifetimes' frequency/recency matrix).

    For a client of the oldest age T in ``summary``, ``model.predict`` of the
    next ``t`` periods at each frequency (columns) and recency (rows, growing
    upward); frequency 0 exists only at recency 0.

    Parameters
    ----------
    model : BetaGeo
        A fitted BG/NBD model.
    summary : DataFrame
        The :func:`twinscore.calibration_summary` it was fitted on (frequency, recency, T).
    t : float, default 1
        Periods ahead (> 0).
    max_frequency : int, optional
        Last frequency shown (default: the largest in ``summary``).
    max_recency : float, optional
        Last recency shown (default: T); at most 60 rows are drawn.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.
    """
    t = check_float(t, "t", min_value=0.0, strict_min=True)
    matrix, freq, rec, T = _matrix(model, summary, max_frequency, max_recency, "expected", t)
    ax = axes(ax, figsize=(6.4, 5.0))
    _matrix_axes(ax, matrix, freq, rec, cmap="viridis", label=f"expected purchases in {t:g} periods")
    ax.set_title(f"Expected purchases in the next {t:g} periods (T = {T:.0f})")
    return ax


def probability_alive_matrix(model, summary, *, max_frequency: int | None = None,
                             max_recency: float | None = None, ax=None):
    """Probability a client is still active, by frequency and recency.

    ``model.probability_alive`` for a client of the oldest age T, laid out as
    :func:`frequency_recency_matrix`.

    Parameters
    ----------
    model : BetaGeo
        A fitted BG/NBD model.
    summary : DataFrame
        The calibration summary (frequency, recency, T).
    max_frequency : int, optional
        Last frequency shown (default: the largest in ``summary``).
    max_recency : float, optional
        Last recency shown (default: T).
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.
    """
    matrix, freq, rec, T = _matrix(model, summary, max_frequency, max_recency, "alive", 0.0)
    ax = axes(ax, figsize=(6.4, 5.0))
    _matrix_axes(ax, matrix, freq, rec, cmap="RdYlGn", label="probability alive")
    ax.set_title(f"Probability a client is alive (T = {T:.0f})")
    return ax


def _capped(frequency: pd.Series, cap: int) -> np.ndarray:
    return np.minimum(frequency.to_numpy(dtype=np.float64), cap).astype(np.int64)


def calibration_purchases(model, summary, *, t: float, max_frequency: int = 7, ax=None):
    """Holdout purchases, actual against the model, by calibration purchases.

    Mean ``holdout_frequency`` and mean ``model.predict(summary, t)`` of the
    clients grouped by their repeat purchases in calibration (the last group
    holds ``max_frequency`` and more).

    Parameters
    ----------
    model : BetaGeo
        A fitted BG/NBD model.
    summary : DataFrame
        :func:`twinscore.calibration_summary` with an ``observation_end`` (its
        ``holdout_frequency`` column).
    t : float
        The holdout's length in the summary's periods.
    max_frequency : int, default 7
        The last, open-ended group.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.
    """
    s = frame(summary, "summary", ["frequency", "recency", "T", "holdout_frequency"])
    t = check_float(t, "t", min_value=0.0, strict_min=True)
    cap = check_int(max_frequency, "max_frequency", min_value=1, max_value=10_000)
    table = pd.DataFrame({"frequency": _capped(s["frequency"], cap), "actual": s["holdout_frequency"].to_numpy(),
                          "model": model.predict(s, t).to_numpy()}).groupby("frequency").mean()
    ax = axes(ax)
    x = table.index.to_numpy()
    ax.plot(x, table["actual"].to_numpy(), marker="o", color=COLORS["main"], label="actual")
    ax.plot(x, table["model"].to_numpy(), marker="s", linestyle="--", color=COLORS["second"], label="model")
    ax.set_xticks(x, labels=[f"{v}+" if v == cap else str(v) for v in x])
    ax.set_xlabel("purchases in the calibration period (repeat)")
    ax.set_ylabel(f"mean purchases in the holdout ({t:.3g} periods)")
    ax.set_title("Calibration vs holdout purchases")
    ax.legend(frameon=False)
    return ax


def _frequency_probabilities(params: dict, T: np.ndarray, max_x: int) -> np.ndarray:
    """P(X(T_i) = x) for x = 0..max_x-1 and each client i (Fader, Hardie & Lee 2005, eq. 8).

    The terms in x alone are scalars (log-gamma and log-beta of the few x);
    the powers of alpha / (alpha + T) are vectorised over the clients.
    """
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))

    def lbeta(p, q):
        return math.lgamma(p) + math.lgamma(q) - math.lgamma(p + q)

    p0 = (alpha / (alpha + T)) ** r
    q = T / (alpha + T)
    out = np.empty((max_x, len(T)))
    partial = np.zeros(len(T))  # sum over j < x of c_j q^j
    for x in range(max_x):  # a loop over the few frequencies, each vectorised over clients
        c = math.exp(math.lgamma(r + x) - math.lgamma(r) - math.lgamma(x + 1))
        first = math.exp(lbeta(a, b + x) - lbeta(a, b)) * c * p0 * q ** x
        second = math.exp(lbeta(a + 1, b + x - 1) - lbeta(a, b)) * (1.0 - p0 * partial) if x > 0 else 0.0
        out[x] = first + second
        partial = partial + c * q ** x
    return out


def period_transactions(model, summary, *, max_frequency: int = 7, ax=None):
    """Clients by repeat purchases in calibration: actual against the model.

    The model's bars are the sum over clients of P(X(T_i) = x) at each
    client's own age T_i, the BG/NBD distribution of ``model.params_``
    (Fader, Hardie & Lee 2005, eq. 8); the last bar holds ``max_frequency``
    and more, so both sets of bars sum to the clients.

    Parameters
    ----------
    model : BetaGeo
        A fitted BG/NBD model.
    summary : DataFrame
        The calibration summary (frequency, T).
    max_frequency : int, default 7
        The last, open-ended bar.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.
    """
    params = _params(model)
    s = frame(summary, "summary", ["frequency", "T"])
    cap = check_int(max_frequency, "max_frequency", min_value=1, max_value=10_000)  # a bar per frequency
    actual = np.bincount(_capped(s["frequency"], cap), minlength=cap + 1)
    expected = _frequency_probabilities(params, s["T"].to_numpy(dtype=np.float64), cap).sum(axis=1)
    expected = np.r_[expected, len(s) - expected.sum()]
    x = np.arange(cap + 1)
    ax = axes(ax)
    ax.bar(x - 0.2, actual, width=0.4, color=COLORS["main"], label="actual")
    ax.bar(x + 0.2, expected, width=0.4, color=COLORS["second"], label="model")
    ax.set_xticks(x, labels=[f"{v}+" if v == cap else str(v) for v in x])
    ax.set_xlabel("repeat purchases in the calibration period")
    ax.set_ylabel("clients")
    ax.set_title("Period transactions: actual vs model")
    ax.legend(frameon=False)
    return ax


# ---------------------------------------------------------------- transactions over time

def transactions_over_time(table, *, cumulative: bool = True, ax=None):
    """The cohort's repeat transactions over time, actual against the model.

    Draws the table :func:`twinscore.value_diagnostics.cumulative_transactions`
    returns (any purchase model: BG/NBD, BG/BB, ...), with a dashed line where
    the holdout begins.

    Parameters
    ----------
    table : DataFrame
        Columns ``actual``, ``model``, ``actual_incremental``,
        ``model_incremental`` and ``holdout``, one row per period.
    cumulative : bool, default True
        Cumulative counts; False draws the transactions of each period.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.
    """
    suffix = "" if cumulative else "_incremental"
    t = frame(table, "table", [f"actual{suffix}", f"model{suffix}", "holdout"])
    x = np.arange(1, len(t) + 1)
    ax = axes(ax)
    ax.plot(x, t[f"actual{suffix}"].to_numpy(dtype=np.float64), color=COLORS["main"], label="actual")
    ax.plot(x, t[f"model{suffix}"].to_numpy(dtype=np.float64), linestyle="--", color=COLORS["second"], label="model")
    holdout = t["holdout"].to_numpy(dtype=bool)
    if holdout.any() and not holdout.all():
        ax.axvline(int(np.argmax(holdout)) + 0.5, color=COLORS["ref"], linestyle=":", label="holdout begins")
    ax.set_xlabel("period since the cohort's first purchase")
    ax.set_ylabel("repeat transactions" + (" (cumulative)" if cumulative else " per period"))
    ax.set_title("Repeat transactions: actual vs model")
    ax.legend(frameon=False)
    return ax

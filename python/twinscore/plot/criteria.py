"""Discriminating criteria and segments, drawn: information value per
criterion, WoE and target rate per bin, scorecard points, and the segment
profile index heat map.

The numbers are the columns of :class:`twinscore.Criteria` (``summary``,
``bins``), :class:`twinscore.Scorecard` (``points``) and
:func:`twinscore.segment_profiles`.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_int
from ._base import COLORS, axes, frame, heatmap, percent_axis

__all__ = ["information_value", "criterion_bins", "scorecard_points", "profile_heatmap"]

# The usual reading of information value (as in Criteria.summary's strength).
_IV_LEVELS = ((0.02, "weak"), (0.1, "medium"), (0.3, "strong"))
_STRENGTH_COLORS = {"useless": "#bdbdbd", "weak": "#9ecae1", "medium": "#4292c6", "strong": "#08519c"}


def _criteria(criteria):
    if not (hasattr(criteria, "summary") and hasattr(criteria, "bins")):
        raise TypeError(f"criteria must be a twinscore Criteria, got {type(criteria).__name__}")
    return criteria


def information_value(criteria, *, top: int = 15, ax=None):
    """The criteria by information value, with the 0.02 / 0.1 / 0.3 thresholds.

    Bars are ``criteria.summary``'s ``iv``, coloured by its strength.

    Parameters
    ----------
    criteria : Criteria
        The result of :func:`twinscore.discriminating_criteria`.
    top : int, default 15
        How many criteria (the strongest).
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.
    """
    c = _criteria(criteria)
    top = check_int(top, "top", min_value=1)
    s = frame(c.summary, "criteria.summary", ["criterion", "iv", "strength"]).head(top).iloc[::-1]
    ax = axes(ax, figsize=(6.4, 0.32 * len(s) + 1.4))
    bars = ax.barh(np.arange(len(s)), s["iv"].to_numpy(),
                   color=[_STRENGTH_COLORS.get(str(v), COLORS["main"]) for v in s["strength"]])
    ax.bar_label(bars, labels=[f"{v:.3f}" for v in s["iv"]], fontsize=8, padding=2)
    ax.set_yticks(np.arange(len(s)), labels=list(s["criterion"]))
    for level, word in _IV_LEVELS:
        ax.axvline(level, color=COLORS["ref"], linestyle=":", linewidth=1)
        ax.text(level, len(s) - 0.4, f" {word}", fontsize=7, color=COLORS["ref"], va="bottom")
    ax.set_xlabel("information value")
    ax.set_ylabel("criterion")
    ax.set_title("What sets the target group apart")
    return ax


def criterion_bins(criteria, criterion: str, *, ax=None):
    """One criterion's bins: weight of evidence (bars) and target rate (line).

    Bars are green where the target group is over-represented; the line,
    on the right axis, is the bin's target rate against the overall rate
    (``criteria.bins``' ``woe`` and ``rate``).

    Parameters
    ----------
    criteria : Criteria
        The result of :func:`twinscore.discriminating_criteria`.
    criterion : str
        The criterion's name, as in ``criteria.summary['criterion']``.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.
    """
    c = _criteria(criteria)
    if not isinstance(criterion, str):
        raise TypeError(f"criterion must be a criterion name, got {type(criterion).__name__}")
    bins = frame(c.bins, "criteria.bins", ["criterion", "bin", "woe", "rate"])
    b = bins[bins["criterion"] == criterion]
    if b.empty:
        raise KeyError(f"criterion {criterion!r} is not among the criteria "
                       f"({', '.join(map(str, c.summary['criterion'].head(10)))}, ...)")
    x = np.arange(len(b))
    woe = b["woe"].to_numpy()
    ax = axes(ax)
    ax.bar(x, woe, color=np.where(woe >= 0, COLORS["good"], COLORS["bad"]), label="weight of evidence")
    ax.axhline(0.0, color=COLORS["ref"], linewidth=1)
    ax.set_xticks(x, labels=[str(v) for v in b["bin"]], rotation=30 if len(b) > 4 else 0, ha="right"
                  if len(b) > 4 else "center")
    ax.set_xlabel(f"bin of {criterion}")
    ax.set_ylabel("weight of evidence (ln odds ratio)")
    rate = ax.twinx()
    rate.plot(x, b["rate"].to_numpy(), marker="o", color=COLORS["second"], label="target rate")
    rate.axhline(c.n_target / c.n, color=COLORS["second"], linestyle=":", linewidth=1, label="overall rate")
    rate.set_ylim(bottom=0)
    percent_axis(rate.yaxis)
    rate.set_ylabel("target rate in the bin")
    iv = float(c.summary.loc[c.summary["criterion"] == criterion, "iv"].iloc[0])
    ax.set_title(f"{criterion}: WoE and target rate per bin (IV {iv:.3f})")
    handles = ax.get_legend_handles_labels()[0] + rate.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], frameon=False, fontsize=8)
    return ax


def scorecard_points(scorecard, *, ax=None):
    """The points of every bin of a scorecard, criterion by criterion.

    Parameters
    ----------
    scorecard : Scorecard
        The result of :meth:`Criteria.scorecard` (its ``points`` table).
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.
    """
    if not (hasattr(scorecard, "points") and hasattr(scorecard, "base")):
        raise TypeError(f"scorecard must be a twinscore Scorecard, got {type(scorecard).__name__}")
    p = frame(scorecard.points, "scorecard.points", ["criterion", "bin", "points"]).iloc[::-1]
    pts = p["points"].to_numpy(dtype=np.float64)
    y = np.arange(len(p))
    ax = axes(ax, figsize=(6.4, 0.25 * len(p) + 1.4))
    bars = ax.barh(y, pts, color=np.where(pts >= 0, COLORS["good"], COLORS["bad"]))
    ax.bar_label(bars, labels=[f"{v:+.0f}" for v in pts], fontsize=7, padding=2)
    ax.set_yticks(y, labels=[f"{c}: {b}" for c, b in zip(p["criterion"], p["bin"])], fontsize=7)
    ax.axvline(0.0, color=COLORS["ref"], linewidth=1)
    ax.set_xlabel(f"points (added to the base {scorecard.base:g})")
    ax.set_ylabel("criterion: bin")
    ax.set_title("Scorecard points")
    return ax


def profile_heatmap(profiles, *, ax=None):
    """Each segment's indices as a heat map (100 = the population's mean).

    The ``... index`` columns of :func:`twinscore.segment_profiles`, rows
    labelled with each segment's share; blue above average, red below.

    Parameters
    ----------
    profiles : DataFrame
        The table of :func:`twinscore.segment_profiles`.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.
    """
    t = frame(profiles, "profiles", ["share"])
    cols = [c for c in t.columns if c.endswith(" index")]
    if not cols:
        raise KeyError("profiles has no '... index' column: profile numeric columns, conversion or value")
    values = t[cols].to_numpy(dtype=np.float64)
    rows = [f"{s} ({share:.0%})" for s, share in zip(t.index, t["share"])]
    ax = axes(ax, figsize=(1.1 * len(cols) + 3.0, 0.45 * len(t) + 1.6))
    heatmap(ax, values, rows, [c.removesuffix(" index") for c in cols], fmt=".0f", cmap="RdBu", center=100.0,
            colorbar="index (100 = population)")
    ax.set_xlabel("measure (index)")
    ax.set_ylabel("segment (share of contacts)")
    ax.set_title("Segment profiles")
    return ax

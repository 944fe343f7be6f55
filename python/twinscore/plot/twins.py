"""Statistical twins, drawn: why a client is a prospect's twin (the parts of
:meth:`twinscore.TwinIndex.explain`), conversion by lookalike-score decile,
and the conversions an audience of each size brings (from
:func:`twinscore.metrics.lift_table`)."""

from __future__ import annotations

import numpy as np

from .. import metrics
from .._validation import as_vector
from ._base import COLORS, axes, frame, percent_axis


def _score(lookalike_score):
    """The scores, refused under their own name (lift_table would call them y_score)."""
    s = as_vector(lookalike_score, "lookalike_score")
    if len(s) == 0:
        raise ValueError("lookalike_score is empty")
    return s

__all__ = ["twin_explanation", "lookalike_conversion", "audience_conversions"]


def twin_explanation(explanation, *, top: int = 10, ax=None):
    """Why a client is a prospect's twin: each part's contribution to the similarity.

    Bars are the ``contribution`` column of :meth:`TwinIndex.explain`,
    labelled with its sentences (largest first).

    Parameters
    ----------
    explanation : DataFrame
        The table of :meth:`TwinIndex.explain` (its ``attrs`` give the title).
    top : int, default 10
        How many parts.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.
    """
    from .._validation import check_int

    e = frame(explanation, "explanation", ["column", "contribution", "explanation"])
    top = check_int(top, "top", min_value=1)
    e = e.head(top).iloc[::-1]
    contrib = e["contribution"].to_numpy(dtype=np.float64)
    y = np.arange(len(e))
    ax = axes(ax, figsize=(7.0, 0.4 * len(e) + 1.5))
    bars = ax.barh(y, contrib, color=np.where(contrib > 0, COLORS["main"], COLORS["ref"]))
    ax.bar_label(bars, labels=[f"{v:+.3f}" for v in contrib], fontsize=8, padding=2)
    ax.set_yticks(y, labels=list(e["explanation"]), fontsize=8)
    ax.set_xlabel("contribution to the similarity")
    ax.set_ylabel("part (column, category or feature)")
    a = explanation.attrs
    title = "Why they are twins"
    if {"prospect", "client", "similarity"} <= set(a):
        title += f": prospect {a['prospect']} and client {a['client']} (similarity {a['similarity']:.3f})"
    ax.set_title(title, fontsize=10)
    return ax


def lookalike_conversion(y_true, lookalike_score, *, n_bins: int = 10, ax=None):
    """Conversion rate by lookalike-score bin, against the average.

    The ``conversion_rate`` of :func:`twinscore.metrics.lift_table` of the
    score: does resemblance predict conversion?

    Parameters
    ----------
    y_true : array-like of 0/1
        Observed conversions of the prospects.
    lookalike_score : array-like
        Their lookalike scores (``TwinResult.score`` or ``value_score``).
    n_bins : int, default 10
        Score bins (bin 1 = the most alike).
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.
    """
    t = metrics.lift_table(y_true, _score(lookalike_score), n_bins=n_bins)
    rate = t["conversion_rate"].to_numpy()
    overall = t["converted"].sum() / t["weight"].sum()
    x = t.index.to_numpy()
    ax = axes(ax)
    bars = ax.bar(x, rate, color=COLORS["main"], label="conversion rate of the bin")
    ax.bar_label(bars, labels=[f"{v:.1%}" for v in rate], fontsize=7, padding=2)
    ax.axhline(overall, color=COLORS["ref"], linestyle="--", label=f"average {overall:.2%}")
    ax.set_xticks(x)
    percent_axis(ax.yaxis)
    ax.set_xlabel("lookalike-score bin (1 = most like the clients)")
    ax.set_ylabel("conversion rate")
    ax.set_title("Conversion by lookalike score")
    ax.legend(frameon=False)
    return ax


def audience_conversions(y_true, lookalike_score, *, n_bins: int = 20, ax=None):
    """Conversions an audience brings against its size, the most alike first.

    Cumulative contacts and conversions of the score's
    :func:`~twinscore.metrics.lift_table`, beside a random audience
    converting at the average rate.

    Parameters
    ----------
    y_true : array-like of 0/1
        Observed conversions of the prospects.
    lookalike_score : array-like
        Their lookalike scores.
    n_bins : int, default 20
        Points of the curve.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.
    """
    t = metrics.lift_table(y_true, _score(lookalike_score), n_bins=n_bins)
    size = np.r_[0, np.cumsum(t["contacts"].to_numpy())]
    conv = np.r_[0.0, np.cumsum(t["converted"].to_numpy())]
    overall = t["converted"].sum() / t["weight"].sum()
    ax = axes(ax)
    ax.plot(size, conv, marker=".", color=COLORS["main"], label="lookalike audience")
    ax.plot([0, size[-1]], [0, overall * size[-1]], color=COLORS["ref"], linestyle="--", label="random audience")
    ax.set_xlim(0, size[-1])
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    ax.set_xlabel("audience size (prospects, most alike first)")
    ax.set_ylabel("conversions in the audience")
    ax.set_title("Audience size vs conversions")
    ax.legend(frameon=False, loc="lower right")
    return ax

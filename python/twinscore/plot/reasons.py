"""The reasons of a score, drawn: global importance (mean |contribution| per
feature) and one contact's reasons as a waterfall from the base value to its
score, for a :class:`~twinscore.TreeScorer` (exact TreeSHAP) or a
:class:`~twinscore.LogisticScorer` (coefficient x encoded value).

The contributions are the models' own reason tables (``top_reasons``,
``explain``), taken with every feature: nothing is recomputed here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._validation import check_int
from ._base import COLORS, axes

__all__ = ["reason_importance", "reason_waterfall"]


def _kind(model) -> str:
    if hasattr(model, "top_reasons") and hasattr(model, "contributions"):
        if model.n_outputs != 1:
            raise ValueError(f"model has {model.n_outputs} outputs: the reason plots take a one-score model")
        return "trees"
    if hasattr(model, "explain") and hasattr(model, "feature_names_"):
        return "linear"
    raise TypeError(f"model must be a fitted TreeScorer or LogisticScorer, got {type(model).__name__}")


def _long(reasons: pd.DataFrame) -> pd.DataFrame:
    """reason_k / contribution_k columns -> one row per (contact, reason), missing reasons dropped."""
    k = sum(1 for c in reasons.columns if c.startswith("reason_"))
    names = np.stack([reasons[f"reason_{j}"].to_numpy(dtype=object) for j in range(1, k + 1)], axis=1)
    values = np.stack([reasons[f"contribution_{j}"].to_numpy(dtype=np.float64) for j in range(1, k + 1)], axis=1)
    row = np.repeat(np.arange(len(reasons)), k)
    out = pd.DataFrame({"row": row, "reason": names.ravel(), "contribution": values.ravel()})
    return out[out["reason"].notna()]


def contributions(model, X, *, groups=None) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(every contribution in long form, base value per row, score per row) of ``X``.

    Trees: the SHAP values of ``top_reasons`` with all features (or
    ``groups``), the bias column as base, ``predict_margin`` as score.
    Logistic: ``explain`` with all features, the intercept as base,
    ``decision_function`` (log-odds) as score.
    """
    if _kind(model) == "trees":
        reasons = model.top_reasons(X, top=model.n_features_in_, groups=groups, direction="abs")
        base = np.asarray(model.contributions(X), dtype=np.float64)[:, -1]
        score = np.asarray(model.predict_margin(X), dtype=np.float64)
    else:
        if groups is not None:
            raise ValueError("groups applies to TreeScorer reasons only")
        reasons = model.explain(X, top=len(model.feature_names_))
        score = np.asarray(model.decision_function(X), dtype=np.float64)
        base = np.full(len(score), float(model.intercept_[0]))
    return _long(reasons), base, score


def reason_importance(model, X, *, top: int = 15, groups=None, ax=None):
    """What drives the score: mean |contribution| of each feature over ``X``.

    The contributions are the model's own reasons with every feature
    (TreeSHAP for a :class:`~twinscore.TreeScorer`, coefficient x encoded
    value for a :class:`~twinscore.LogisticScorer`), a feature without a
    reason for a row counting 0.

    Parameters
    ----------
    model : TreeScorer or LogisticScorer
        A fitted one-score model.
    X : DataFrame or matrix
        The contacts, as the model takes them.
    top : int, default 15
        How many features.
    groups : dict, optional
        TreeScorer only: columns summed into one reason (see ``top_reasons``).
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.
    """
    top = check_int(top, "top", min_value=1)
    long, base, _ = contributions(model, X, groups=groups)
    imp = (long["contribution"].abs().groupby(long["reason"]).sum() / len(base)).sort_values(ascending=False)
    imp = imp.head(top).iloc[::-1]
    ax = axes(ax, figsize=(6.4, 0.32 * len(imp) + 1.4))
    bars = ax.barh(np.arange(len(imp)), imp.to_numpy(), color=COLORS["main"])
    ax.bar_label(bars, labels=[f"{v:.3f}" for v in imp], fontsize=8, padding=2)
    ax.set_yticks(np.arange(len(imp)), labels=[str(i) for i in imp.index])
    ax.set_xlabel("mean |contribution| (log-odds)" if _kind(model) == "linear" else "mean |SHAP value| (margin)")
    ax.set_ylabel("feature")
    ax.set_title(f"What drives the score ({len(base):,} contacts)")
    return ax


def reason_waterfall(model, X, *, row: int = 0, max_display: int = 10, groups=None, ax=None):
    """One contact's score built up from the base value, reason by reason.

    Starts at the base (the intercept, or the trees' bias), adds the
    largest contributions in turn (the rest as one bar) and ends at the
    contact's log-odds or margin.

    Parameters
    ----------
    model : TreeScorer or LogisticScorer
        A fitted one-score model.
    X : DataFrame or numpy matrix
        Contacts, as the model takes them.
    row : int, default 0
        Position of the contact in ``X``.
    max_display : int, default 10
        Reasons shown before the rest is summed.
    groups : dict, optional
        TreeScorer only: columns summed into one reason.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.
    """
    if not isinstance(X, (pd.DataFrame, np.ndarray)):
        raise TypeError(f"X must be a DataFrame or a numeric matrix, got {type(X).__name__}")
    row = check_int(row, "row", min_value=0, max_value=len(X) - 1)
    max_display = check_int(max_display, "max_display", min_value=1)
    one = X.iloc[[row]] if isinstance(X, pd.DataFrame) else X[row:row + 1]
    long, base, score = contributions(model, one, groups=groups)
    long = long.reindex(long["contribution"].abs().sort_values(ascending=False, kind="stable").index)
    shown = long.head(max_display)
    rest = long["contribution"].iloc[max_display:].sum()
    names = list(shown["reason"].astype(str)) + ([f"{len(long) - len(shown)} other features"]
                                                 if len(long) > len(shown) else [])
    steps = np.r_[shown["contribution"].to_numpy(), [rest] if len(long) > len(shown) else []]
    start = base[0] + np.r_[0.0, np.cumsum(steps)[:-1]]
    y = np.arange(len(steps))[::-1]
    ax = axes(ax, figsize=(6.4, 0.35 * len(steps) + 1.6))
    bars = ax.barh(y, steps, left=start, color=np.where(steps >= 0, COLORS["bad"], COLORS["main"]))
    ax.bar_label(bars, labels=[f"{v:+.3f}" for v in steps], fontsize=8, padding=2)
    ax.axvline(base[0], color=COLORS["ref"], linestyle=":", linewidth=1, label=f"base {base[0]:.3f}")
    ax.axvline(score[0], color="black", linestyle="--", linewidth=1, label=f"score {score[0]:.3f}")
    ax.set_yticks(y, labels=names)
    what = "log-odds" if _kind(model) == "linear" else "margin"
    ax.set_xlabel(f"{what} (base + contributions = the contact's score)")
    ax.set_ylabel("reason")
    label = X.index[row] if isinstance(X, pd.DataFrame) else row
    ax.set_title(f"Reasons of contact {label}")
    ax.legend(frameon=False, fontsize=8, loc="best")
    return ax

"""Measures of a score: AUC, KS, lift / cumulative gains, score bands, calibration.

The ranking and counting run in C++ (a parallel sort of the scores, ties kept
together); AUC counts ties as one half, as scikit-learn's ``roc_auc_score``.
``y_true`` holds 0/1 outcomes (or booleans), ``y_score`` finite scores (higher
means more likely to convert); ``sample_weight`` optional.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import _core
from ._config import resolve_threads
from ._validation import as_vector, check_int

__all__ = ["roc_auc", "ks_statistic", "roc_summary", "roc_curve", "lift_table", "band_table", "calibration_table"]


def _inputs(y_true, y_score, sample_weight):
    score = as_vector(y_score, "y_score")
    y = as_vector(y_true, "y_true", len(score))
    if not np.isin(y, (0.0, 1.0)).all():
        bad = y[~np.isin(y, (0.0, 1.0))][0]
        raise ValueError(f"y_true must hold 0/1 outcomes, got {bad}")
    w = np.empty(0) if sample_weight is None else as_vector(sample_weight, "sample_weight", len(score))
    if len(score) == 0:
        raise ValueError("y_score is empty")
    return y, score, w


def roc_summary(y_true, y_score, *, sample_weight=None) -> dict:
    """AUC, KS (max TPR - FPR), the score where KS is reached, weighted positives and negatives."""
    y, s, w = _inputs(y_true, y_score, sample_weight)
    return _core.roc_summary(s, y, w, n_threads=resolve_threads())


def roc_auc(y_true, y_score, *, sample_weight=None) -> float:
    """Area under the ROC curve (ties count one half). Fails on a single class."""
    return roc_summary(y_true, y_score, sample_weight=sample_weight)["auc"]


def ks_statistic(y_true, y_score, *, sample_weight=None) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the cumulative
    score distributions of converters and non-converters."""
    return roc_summary(y_true, y_score, sample_weight=sample_weight)["ks"]


def roc_curve(y_true, y_score, *, n_points: int = 200, sample_weight=None) -> pd.DataFrame:
    """The ROC curve at up to ``n_points`` + 2 thresholds.

    Thresholds are the scores' quantiles, plus the KS threshold of
    :func:`roc_summary`, so the curve passes through the point where KS is
    reached (there ``tpr - fpr`` equals its ``ks``). Counts come from
    :func:`band_table`'s engine pass over the bands between thresholds.

    Parameters
    ----------
    y_true : array-like of 0/1
        Observed outcomes (both classes present).
    y_score : array-like
        Finite scores, higher = more likely to convert.
    n_points : int, default 200
        Quantiles of the scores taken as thresholds (>= 2).
    sample_weight : array-like, optional
        A weight per contact.

    Returns
    -------
    DataFrame
        threshold (decreasing), fpr, tpr. A row predicts 1 for the scores >=
        its threshold; the first row (threshold +inf) is the origin, the last
        (the lowest score) is (1, 1).
    """
    y, s, w = _inputs(y_true, y_score, sample_weight)
    n_points = check_int(n_points, "n_points", min_value=2, max_value=1_000_000)
    ks_threshold = _core.roc_summary(s, y, w)["ks_threshold"]  # also refuses a single class
    top = s.max()
    cuts = np.unique(np.r_[np.quantile(s, np.linspace(0.0, 1.0, n_points)), ks_threshold, top])
    # One more edge above the top score: its band holds the scores equal to
    # the top one, so the threshold at the top score is a point of its own.
    edges = np.r_[cuts, np.nextafter(top, np.inf)]
    t = _core.band_table(s, y, w, edges)
    pos, neg = t["positives"], t["weight"] - t["positives"]
    # Predicting 1 from band b upward: counts summed from the top band down.
    tp = np.cumsum(pos[::-1])[::-1]
    fp = np.cumsum(neg[::-1])[::-1]
    out = pd.DataFrame({"threshold": np.r_[np.inf, cuts[::-1]],
                        "fpr": np.r_[0.0, fp[::-1] / fp[0]],
                        "tpr": np.r_[0.0, tp[::-1] / tp[0]]})
    return out


def _frame(t: dict, total_pos: float, total_w: float, label: str) -> pd.DataFrame:
    w, pos = t["weight"], t["positives"]
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = pos / w
        df = pd.DataFrame({
            "contacts": t["rows"],
            "weight": w,
            "converted": pos,
            "conversion_rate": rate,
            "mean_score": t["score_sum"] / w,
            "min_score": t["min_score"],
            "max_score": t["max_score"],
        })
        overall = total_pos / total_w
        df["lift"] = rate / overall
        df["cumulative_contacts_share"] = np.cumsum(w) / total_w
        df["cumulative_gain"] = np.cumsum(pos) / total_pos if total_pos > 0 else np.nan
        df["cumulative_lift"] = (np.cumsum(pos) / np.cumsum(w)) / overall
    df.index = pd.RangeIndex(1, len(df) + 1, name=label)
    return df


def lift_table(y_true, y_score, *, n_bins: int = 10, sample_weight=None) -> pd.DataFrame:
    """Lift and cumulative-gains table by n-tile of score (deciles by default).

    Contacts are ranked by decreasing score (ties by position) and cut into
    ``n_bins`` groups of equal size; bin 1 holds the best scores. Columns:
    contacts, weight, converted, conversion_rate, mean/min/max score, lift
    (conversion rate over the overall rate), cumulative share of contacts,
    cumulative gain (share of all converters captured so far), cumulative lift.
    """
    y, s, w = _inputs(y_true, y_score, sample_weight)
    n_bins = check_int(n_bins, "n_bins", min_value=1, max_value=len(s))
    t = _core.gains_table(s, y, w, n_bins, n_threads=resolve_threads())
    total_w = float(t["weight"].sum())
    return _frame(t, float(t["positives"].sum()), total_w, "bin")


def band_table(y_true, y_score, bands, *, sample_weight=None, labels=None) -> pd.DataFrame:
    """Conversion by score band: ``bands`` are increasing edges covering every
    score (band i holds edges[i] <= score < edges[i+1], the last one closed)."""
    y, s, w = _inputs(y_true, y_score, sample_weight)
    edges = as_vector(bands, "bands")
    if len(edges) < 2 or not (np.diff(edges) > 0).all():  # the engine's own check names no argument
        raise ValueError(f"bands must be at least two strictly increasing edges, got {edges[:10].tolist()}")
    t = _core.band_table(s, y, w, edges, n_threads=resolve_threads())
    df = _frame(t, float(t["positives"].sum()), float(t["weight"].sum()), "band")
    if labels is None:
        labels = [f"[{a:g}, {b:g}{']' if i == len(edges) - 2 else ')'}" for i, (a, b) in
                  enumerate(zip(edges[:-1], edges[1:]))]
    if len(labels) != len(df):
        raise ValueError(f"labels: {len(labels)} names for {len(df)} bands")
    df.index = pd.Index(labels, name="band")
    return df


def calibration_table(y_true, y_prob, *, n_bins: int = 10, strategy: str = "uniform",
                      sample_weight=None) -> pd.DataFrame:
    """Predicted against observed conversion, by bin of predicted probability.

    ``strategy="uniform"``: bins of equal width on [0, 1] (as scikit-learn's
    ``calibration_curve``); ``"quantile"``: bins of equal size. Columns:
    contacts, mean_predicted, observed (conversion rate), gap (observed -
    predicted). Empty bins are dropped.
    """
    p = as_vector(y_prob, "y_prob")
    if ((p < 0) | (p > 1)).any():
        raise ValueError("y_prob must hold probabilities in [0, 1]")
    n_bins = check_int(n_bins, "n_bins", min_value=1)
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        df = band_table(y_true, p, edges, sample_weight=sample_weight)
    elif strategy == "quantile":
        df = lift_table(y_true, p, n_bins=min(n_bins, len(p)), sample_weight=sample_weight).iloc[::-1]
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")
    df = df[df["contacts"] > 0]
    out = pd.DataFrame({"contacts": df["contacts"], "mean_predicted": df["mean_score"],
                        "observed": df["conversion_rate"]})
    out["gap"] = out["observed"] - out["mean_predicted"]
    return out

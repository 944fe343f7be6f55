"""A conversion score, drawn: lift by decile, cumulative gains, ROC with the
KS point, calibration with counts, and the score's distribution by outcome.

Every number drawn is read from :mod:`twinscore.metrics` (``lift_table``,
``roc_curve``, ``roc_summary``, ``calibration_table``, ``band_table``): the
picture and the table a user prints never disagree.
"""

from __future__ import annotations

import numpy as np

from .. import metrics
from ._base import COLORS, axes, percent_axis, pyplot

__all__ = ["ScoreDisplay", "lift", "gains", "roc", "calibration", "score_distribution"]


def _bin_word(n_bins: int) -> str:
    return {10: "decile", 20: "vingtile", 5: "quintile", 4: "quartile", 100: "percentile"}.get(n_bins, "bin")


class ScoreDisplay:
    """The measures of one score against observed outcomes, as plots.

    Build it with :meth:`from_predictions` (outcomes and scores) or
    :meth:`from_estimator` (a fitted model, its inputs and the outcomes),
    in the manner of scikit-learn's ``RocCurveDisplay``. Each method draws
    on ``ax`` (or a new figure) and returns the Axes.

    Parameters
    ----------
    y_true : 0/1 outcomes (converted or not).
    y_score : the scores (higher = more likely to convert); probabilities
        in [0, 1] for :meth:`calibration`.
    sample_weight : optional weight per contact.
    name : the score's name in legends and titles.
    """

    def __init__(self, y_true, y_score, *, sample_weight=None, name: str = "score"):
        if not isinstance(name, str):
            raise TypeError(f"name must be a string, got {type(name).__name__}")
        # The metrics check outcomes and scores (0/1, finite, same length)
        # and both classes: checked once here, so a bad input fails at build.
        self.summary_ = metrics.roc_summary(y_true, y_score, sample_weight=sample_weight)
        self.y_true, self.y_score, self.sample_weight, self.name = y_true, y_score, sample_weight, name

    @classmethod
    def from_predictions(cls, y_true, y_score, *, sample_weight=None, name: str = "score") -> "ScoreDisplay":
        """The display of scores already computed.

        Parameters
        ----------
        y_true : array-like of 0/1
            Observed outcomes.
        y_score : array-like
            The scores.
        sample_weight : array-like, optional
            A weight per contact.
        name : str, default "score"
            The score's name in legends.

        Returns
        -------
        ScoreDisplay
        """
        return cls(y_true, y_score, sample_weight=sample_weight, name=name)

    @classmethod
    def from_estimator(cls, estimator, X, y, *, sample_weight=None, name: str | None = None) -> "ScoreDisplay":
        """Score ``X`` with a fitted binary model and display it.

        Parameters
        ----------
        estimator : fitted model
            With ``predict_proba`` (its second column is the score), or ``predict``
            returning one score per row (a binary :class:`~twinscore.TreeScorer`).
        X : table or matrix
            The contacts, as the model takes them.
        y : array-like of 0/1
            Their observed outcomes.
        sample_weight : array-like, optional
            A weight per contact.
        name : str, optional
            The score's name (default: the estimator's class).

        Returns
        -------
        ScoreDisplay
        """
        if hasattr(estimator, "predict_proba"):
            proba = np.asarray(estimator.predict_proba(X))
            if proba.ndim != 2 or proba.shape[1] != 2:
                raise ValueError(f"estimator must be a binary classifier: predict_proba gave shape {proba.shape}")
            score = proba[:, 1]
        elif hasattr(estimator, "predict"):
            score = np.asarray(estimator.predict(X), dtype=np.float64)
            if score.ndim != 1:
                raise ValueError(f"estimator must score one value per row: predict gave shape {score.shape}")
        else:
            raise TypeError(f"estimator must have predict_proba or predict, got {type(estimator).__name__}")
        return cls(y, score, sample_weight=sample_weight, name=name or type(estimator).__name__)

    def _kw(self) -> dict:
        return {"sample_weight": self.sample_weight}

    def lift(self, *, n_bins: int = 10, ax=None):
        """Lift of each score bin (bars) and the cumulative lift (line), bin 1 = the best scores.

        From :func:`twinscore.metrics.lift_table` (``lift``, ``cumulative_lift``).

        Parameters
        ----------
        n_bins : int, default 10
            Score bins (deciles).
        ax : matplotlib Axes, optional
            Where to draw; by default a new figure.

        Returns
        -------
        matplotlib.axes.Axes
            The Axes drawn on.
        """
        t = metrics.lift_table(self.y_true, self.y_score, n_bins=n_bins, **self._kw())
        ax = axes(ax)
        x = t.index.to_numpy()
        bars = ax.bar(x, t["lift"].to_numpy(), color=COLORS["main"], label="lift of the bin")
        ax.bar_label(bars, labels=[f"{v:.1f}" for v in t["lift"]], fontsize=8, padding=2)
        ax.plot(x, t["cumulative_lift"].to_numpy(), marker="o", color=COLORS["second"], label="cumulative lift")
        ax.axhline(1.0, color=COLORS["ref"], linestyle="--", linewidth=1, label="average (lift 1)")
        ax.set_xticks(x)
        ax.set_xlabel(f"{_bin_word(len(t))} of {self.name} (1 = highest scores)")
        ax.set_ylabel("lift (conversion rate / average)")
        ax.set_title(f"Lift by {_bin_word(len(t))}")
        ax.legend(frameon=False)
        return ax

    def gains(self, *, n_bins: int = 20, ax=None):
        """Share of converters captured against the share of contacts targeted, best scores first.

        From :func:`~twinscore.metrics.lift_table` (``cumulative_contacts_share``,
        ``cumulative_gain``), with the random targeting (the diagonal) and the
        perfect one (every converter first).

        Parameters
        ----------
        n_bins : int, default 20
            Points of the curve.
        ax : matplotlib Axes, optional
            Where to draw; by default a new figure.

        Returns
        -------
        matplotlib.axes.Axes
            The Axes drawn on.
        """
        t = metrics.lift_table(self.y_true, self.y_score, n_bins=n_bins, **self._kw())
        ax = axes(ax)
        x = np.r_[0.0, t["cumulative_contacts_share"].to_numpy()]
        y = np.r_[0.0, t["cumulative_gain"].to_numpy()]
        rate = t["converted"].sum() / t["weight"].sum()
        ax.plot(x, y, marker=".", color=COLORS["main"], label=self.name)
        ax.plot([0, 1], [0, 1], color=COLORS["ref"], linestyle="--", label="random")
        ax.plot([0, rate, 1], [0, 1, 1], color=COLORS["good"], linestyle=":", label="perfect")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        percent_axis(ax.xaxis)
        percent_axis(ax.yaxis)
        ax.set_xlabel("contacts targeted (best scores first)")
        ax.set_ylabel("converters captured")
        ax.set_title("Cumulative gains")
        ax.legend(frameon=False, loc="lower right")
        return ax

    def roc(self, *, n_points: int = 200, ax=None):
        """The ROC curve with its AUC, and KS as the gap to the diagonal where it is largest.

        From :func:`~twinscore.metrics.roc_curve` and :func:`~twinscore.metrics.roc_summary`:
        the curve passes through the KS threshold, where the segment is drawn.

        Parameters
        ----------
        n_points : int, default 200
            Thresholds (the score's quantiles, plus the KS threshold).
        ax : matplotlib Axes, optional
            Where to draw; by default a new figure.

        Returns
        -------
        matplotlib.axes.Axes
            The Axes drawn on.
        """
        curve = metrics.roc_curve(self.y_true, self.y_score, n_points=n_points, **self._kw())
        s = self.summary_
        ks_point = curve[curve["threshold"] == s["ks_threshold"]].iloc[0]
        ax = axes(ax)
        ax.plot(curve["fpr"].to_numpy(), curve["tpr"].to_numpy(), color=COLORS["main"],
                label=f"{self.name} (AUC {s['auc']:.3f})")
        ax.plot([0, 1], [0, 1], color=COLORS["ref"], linestyle="--", label="random (AUC 0.5)")
        ax.vlines(ks_point["fpr"], ks_point["fpr"], ks_point["tpr"], color=COLORS["second"], linewidth=2,
                  label=f"KS {s['ks']:.3f} at score >= {s['ks_threshold']:.3g}")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("false positive rate (non-converters targeted)")
        ax.set_ylabel("true positive rate (converters targeted)")
        ax.set_title("ROC curve")
        ax.legend(frameon=False, loc="lower right")
        return ax

    def calibration(self, *, n_bins: int = 10, strategy: str = "quantile", ax=None):
        """Observed conversion against the predicted probability per bin (reliability diagram).

        From :func:`~twinscore.metrics.calibration_table`; the contacts of each bin
        as bars behind, on the right axis.

        Parameters
        ----------
        n_bins : int, default 10
            Bins of predicted probability.
        strategy : {"quantile", "uniform"}, default "quantile"
            Bins of equal size (readable for rare conversions) or of equal width on [0, 1].
        ax : matplotlib Axes, optional
            Where to draw; by default a new figure.

        Returns
        -------
        matplotlib.axes.Axes
            The Axes drawn on.
        """
        t = metrics.calibration_table(self.y_true, self.y_score, n_bins=n_bins, strategy=strategy, **self._kw())
        ax = axes(ax)
        top = 1.05 * float(max(t["mean_predicted"].max(), t["observed"].max(), 1e-9))
        counts = ax.twinx()
        counts.bar(t["mean_predicted"].to_numpy(), t["contacts"].to_numpy(), width=top / (2.5 * len(t)),
                   color=COLORS["light"], label="contacts in the bin")
        counts.set_ylabel("contacts in the bin")
        ax.set_zorder(counts.get_zorder() + 1)  # the curve in front of the bars
        ax.patch.set_visible(False)
        ax.plot([0, top], [0, top], color=COLORS["ref"], linestyle="--", label="perfectly calibrated")
        ax.plot(t["mean_predicted"].to_numpy(), t["observed"].to_numpy(), marker="o", color=COLORS["main"],
                label=self.name)
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel("predicted conversion probability (bin mean)")
        ax.set_ylabel("observed conversion rate")
        ax.set_title("Calibration")
        ax.legend(frameon=False, loc="upper left")
        return ax

    def distribution(self, *, n_bins: int = 20, ax=None):
        """The score's distribution among converters and non-converters (each sums to 100 %).

        From the conversion counts of :func:`~twinscore.metrics.band_table` over
        equal-width score bands.

        Parameters
        ----------
        n_bins : int, default 20
            Score bands.
        ax : matplotlib Axes, optional
            Where to draw; by default a new figure.

        Returns
        -------
        matplotlib.axes.Axes
            The Axes drawn on.
        """
        edges = _edges(self.y_score, n_bins)
        t = metrics.band_table(self.y_true, self.y_score, edges, **self._kw())
        conv = t["converted"].to_numpy()
        rest = (t["weight"] - t["converted"]).to_numpy()
        ax = axes(ax)
        ax.stairs(rest / rest.sum(), edges, fill=True, alpha=0.5, color=COLORS["ref"], label="not converted")
        ax.stairs(conv / conv.sum(), edges, fill=True, alpha=0.6, color=COLORS["main"], label="converted")
        percent_axis(ax.yaxis)
        ax.set_xlabel(self.name)
        ax.set_ylabel("share of the group")
        ax.set_title("Score distribution by outcome")
        ax.legend(frameon=False)
        return ax

    def dashboard(self, *, figsize=(11.0, 8.0)):
        """Lift, gains, ROC and calibration on one 2 x 2 figure.

        Parameters
        ----------
        figsize : (float, float), default (11, 8)
            The figure's size in inches.

        Returns
        -------
        matplotlib.figure.Figure
            The new figure.
        """
        size = np.asarray(figsize, dtype=object).ravel() if not isinstance(figsize, str) else np.array([figsize])
        if len(size) != 2 or not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                                     and np.isfinite(v) and v > 0 for v in size):
            raise ValueError(f"figsize must be (width, height) in inches, two finite numbers > 0, got {figsize!r}")
        fig, grid = pyplot().subplots(2, 2, figsize=figsize, layout="constrained")
        self.lift(ax=grid[0, 0])
        self.gains(ax=grid[0, 1])
        self.roc(ax=grid[1, 0])
        self.calibration(ax=grid[1, 1])
        return fig


def _edges(y_score, n_bins: int) -> np.ndarray:
    """Equal-width band edges over the scores' range (a constant score gets one band around it)."""
    from .._validation import as_vector, check_int

    n_bins = check_int(n_bins, "n_bins", min_value=1, max_value=10_000)  # more bands than pixels: a typo
    s = as_vector(y_score, "y_score")
    lo, hi = float(s.min()), float(s.max())
    if lo == hi:
        return np.array([lo - 0.5, hi + 0.5])
    return np.linspace(lo, hi, n_bins + 1)


def lift(y_true, y_score, *, n_bins: int = 10, sample_weight=None, name: str = "score", ax=None):
    """Lift by score bin and the cumulative lift: see :meth:`ScoreDisplay.lift`.

    Parameters
    ----------
    y_true : array-like of 0/1
        Observed outcomes.
    y_score : array-like
        Scores (higher = more likely to convert).
    n_bins : int, default 10
        Score bins (deciles).
    sample_weight : array-like, optional
        A weight per contact.
    name : str, default "score"
        The score's name in legends.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.
    """
    return ScoreDisplay(y_true, y_score, sample_weight=sample_weight, name=name).lift(n_bins=n_bins, ax=ax)


def gains(y_true, y_score, *, n_bins: int = 20, sample_weight=None, name: str = "score", ax=None):
    """Cumulative gains with the random and perfect lines: see :meth:`ScoreDisplay.gains`.

    Parameters
    ----------
    y_true : array-like of 0/1
        Observed outcomes.
    y_score : array-like
        Scores (higher = more likely to convert).
    n_bins : int, default 20
        Points of the curve.
    sample_weight : array-like, optional
        A weight per contact.
    name : str, default "score"
        The score's name in legends.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.
    """
    return ScoreDisplay(y_true, y_score, sample_weight=sample_weight, name=name).gains(n_bins=n_bins, ax=ax)


def roc(y_true, y_score, *, n_points: int = 200, sample_weight=None, name: str = "score", ax=None):
    """ROC curve with its AUC and the KS point: see :meth:`ScoreDisplay.roc`.

    Parameters
    ----------
    y_true : array-like of 0/1
        Observed outcomes.
    y_score : array-like
        Scores (higher = more likely to convert).
    n_points : int, default 200
        Thresholds (the score's quantiles, plus the KS threshold).
    sample_weight : array-like, optional
        A weight per contact.
    name : str, default "score"
        The score's name in legends.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.
    """
    return ScoreDisplay(y_true, y_score, sample_weight=sample_weight, name=name).roc(n_points=n_points, ax=ax)


def calibration(y_true, y_prob, *, n_bins: int = 10, strategy: str = "quantile", sample_weight=None,
                name: str = "score", ax=None):
    """Reliability diagram with the contacts per bin: see :meth:`ScoreDisplay.calibration`.

    Parameters
    ----------
    y_true : array-like of 0/1
        Observed outcomes.
    y_prob : array-like
        Predicted probabilities in [0, 1].
    n_bins : int, default 10
        Bins of predicted probability.
    strategy : {"quantile", "uniform"}, default "quantile"
        Bins of equal size, or of equal width on [0, 1].
    sample_weight : array-like, optional
        A weight per contact.
    name : str, default "score"
        The score's name in legends.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.
    """
    return ScoreDisplay(y_true, y_prob, sample_weight=sample_weight, name=name).calibration(
        n_bins=n_bins, strategy=strategy, ax=ax)


def score_distribution(y_true, y_score, *, n_bins: int = 20, sample_weight=None, name: str = "score", ax=None):
    """The score's distribution among converters and the rest: see :meth:`ScoreDisplay.distribution`.

    Parameters
    ----------
    y_true : array-like of 0/1
        Observed outcomes.
    y_score : array-like
        Scores (higher = more likely to convert).
    n_bins : int, default 20
        Equal-width score bands.
    sample_weight : array-like, optional
        A weight per contact.
    name : str, default "score"
        The score's name in legends.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.
    """
    return ScoreDisplay(y_true, y_score, sample_weight=sample_weight, name=name).distribution(n_bins=n_bins, ax=ax)

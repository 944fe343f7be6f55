"""Plots of twinscore's results (``pip install "twinscore[plot]"`` for matplotlib).

Each function draws on the ``ax`` it is given, or on a new figure, and
returns the Axes; the numbers it draws are read from the library's own result
tables (``metrics.lift_table``, ``roc_curve``, ``calibration_table``,
``rfm``, ``Criteria.summary`` / ``bins``, ``segment_profiles``,
``TwinIndex.explain``, ``ContactPlan.summary``, the models' reasons), so a
plot never disagrees with the table a user prints. matplotlib is imported on
the first plot, not with the package.

Scores
    :class:`ScoreDisplay` (``from_predictions`` / ``from_estimator``),
    :func:`lift`, :func:`gains`, :func:`roc`, :func:`calibration`,
    :func:`score_distribution`.
Client value
    :func:`rfm_grid`, :func:`segment_value`, :func:`frequency_recency_matrix`,
    :func:`probability_alive_matrix`, :func:`calibration_purchases`,
    :func:`period_transactions`, :func:`transactions_over_time`.
Criteria and segments
    :func:`information_value`, :func:`criterion_bins`,
    :func:`scorecard_points`, :func:`profile_heatmap`.
Twins
    :func:`twin_explanation`, :func:`lookalike_conversion`,
    :func:`audience_conversions`.
Reasons (trees and logistic)
    :func:`reason_importance`, :func:`reason_waterfall`.
Contact plan and tables
    :func:`plan_channels`, :func:`profit_vs_budget`, :func:`fill_rates`.
"""

from .criteria import criterion_bins, information_value, profile_heatmap, scorecard_points
from .plan import fill_rates, plan_channels, profit_vs_budget
from .reasons import reason_importance, reason_waterfall
from .scores import ScoreDisplay, calibration, gains, lift, roc, score_distribution
from .twins import audience_conversions, lookalike_conversion, twin_explanation
from .value import (calibration_purchases, frequency_recency_matrix, period_transactions, probability_alive_matrix,
                    rfm_grid, segment_value, transactions_over_time)

__all__ = [
    "ScoreDisplay", "lift", "gains", "roc", "calibration", "score_distribution",
    "rfm_grid", "segment_value", "frequency_recency_matrix", "probability_alive_matrix", "calibration_purchases",
    "period_transactions", "transactions_over_time",
    "information_value", "criterion_bins", "scorecard_points", "profile_heatmap",
    "twin_explanation", "lookalike_conversion", "audience_conversions",
    "reason_importance", "reason_waterfall",
    "plan_channels", "profit_vs_budget", "fill_rates",
]

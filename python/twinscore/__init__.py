"""twinscore: high-throughput scoring of contact tables for prospect and customer
relationship management — behavioural scores, statistical twins, segmentation.

The heavy work runs in a C++ core (Eigen, oneTBB, Abseil) with the GIL released;
this package converts tables, checks input and shapes results.
"""

from . import _core, datasets, drift, events, kpi, leads, metrics, plot, triggers
from . import value_diagnostics
from ._config import _check_simd_environment, get_num_threads, set_num_threads, show_config, threads
from ._frames import timestamp as to_timestamp
from ._model_file import from_bytes, load, save, to_bytes
from ._progress import progress
from .cluster import KMeans, MiniBatchKMeans
from .criteria import Criteria, Scorecard, discriminating_criteria, lift_at
from .leads import LeadRules, score_leads
from .linear import LogisticScorer
from .plan import Channel, ContactPlan, PressureRule, contact_plan
from .segments import segment_profiles
from .table import ColumnSpec, ContactTable, Encoded, Schema
from .trees import TreeScorer
from .twins import TwinIndex, TwinResult
from .value import DEFAULT_SEGMENTS, BetaGeo, GammaGamma, calibration_summary, lifetime_value, rfm
from .pareto_nbd import ParetoNBD
from .bgbb import BetaGeoBetaBinom, discrete_summary

__version__ = "0.1.0"

_check_simd_environment()

__all__ = [
    # tables and threads
    "ContactTable", "Schema", "ColumnSpec", "Encoded", "datasets",
    "set_num_threads", "get_num_threads", "threads", "show_config", "to_timestamp", "progress",
    # behavioural scoring
    "events", "leads", "metrics", "LeadRules", "score_leads", "LogisticScorer",
    # client value
    "rfm", "DEFAULT_SEGMENTS", "calibration_summary", "BetaGeo", "ParetoNBD", "GammaGamma", "lifetime_value", "kpi",
    "triggers", "BetaGeoBetaBinom", "discrete_summary", "value_diagnostics",
    # segments and the contact plan
    "KMeans", "MiniBatchKMeans", "segment_profiles", "discriminating_criteria", "Criteria", "Scorecard", "lift_at",
    "contact_plan", "Channel", "ContactPlan", "PressureRule",
    # monitoring between runs
    "drift",
    # statistical twins
    "TwinIndex", "TwinResult",
    # tree ensembles
    "TreeScorer",
    # model files (every fitted object; pickle goes through the same bytes)
    "save", "load", "to_bytes", "from_bytes",
    # plots (matplotlib, imported on first use)
    "plot",
    "__version__",
]

"""twinscore: high-throughput scoring of contact tables for prospect and customer
relationship management — behavioural scores, statistical twins, segmentation.

The heavy work runs in a C++ core (Eigen, oneTBB, Abseil) with the GIL released;
this package converts tables, checks input and shapes results.
"""

from . import _core, datasets, kpi, triggers
from ._config import get_num_threads, set_num_threads, threads
from .table import ColumnSpec, ContactTable, Encoded, Schema
from .trees import TreeScorer
from .twins import TwinIndex, TwinResult
from .value import DEFAULT_SEGMENTS, BetaGeo, GammaGamma, calibration_summary, lifetime_value, rfm

from . import events, leads, metrics, scoring
from .leads import LeadRules, score_leads
from .linear import LogisticScorer

__version__ = "0.1.0"

__all__ = [
    "ContactTable",
    "Schema",
    "ColumnSpec",
    "Encoded",
    "TreeScorer",
    "TwinIndex",
    "TwinResult",
    "datasets",
    "set_num_threads",
    "get_num_threads",
    "threads",
    "__version__",
    "rfm",
    "DEFAULT_SEGMENTS",
    "calibration_summary",
    "BetaGeo",
    "GammaGamma",
    "lifetime_value",
    "kpi",
    "triggers",

    "events",
    "leads",
    "metrics",
    "LeadRules",
    "score_leads",
    "LogisticScorer",
]

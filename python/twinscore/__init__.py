"""twinscore: high-throughput scoring of contact tables for prospect and customer
relationship management — behavioural scores, statistical twins, segmentation.

The heavy work runs in a C++ core (Eigen, oneTBB, Abseil) with the GIL released;
this package converts tables, checks input and shapes results.
"""

from . import _core, datasets
from ._config import get_num_threads, set_num_threads, threads
from .table import ColumnSpec, ContactTable, Encoded, Schema
from .cluster import KMeans, MiniBatchKMeans
from .criteria import Criteria, Scorecard, discriminating_criteria, lift_at
from .plan import Channel, ContactPlan, contact_plan
from .segments import segment_profiles

__version__ = "0.1.0"

__all__ = [
    "ContactTable",
    "Schema",
    "ColumnSpec",
    "Encoded",
    "datasets",
    "set_num_threads",
    "get_num_threads",
    "threads",
    "__version__",
    "KMeans",
    "MiniBatchKMeans",
    "segment_profiles",
    "discriminating_criteria",
    "Criteria",
    "Scorecard",
    "lift_at",
    "contact_plan",
    "Channel",
    "ContactPlan",
]

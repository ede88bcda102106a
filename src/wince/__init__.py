"""wince: systematic perturbation analysis of machine-learning models.

Tells how a model reacts to small, realistic input variations — a typo, a JPEG re-save, a dim
room, a drifting sensor — where it is robust, where it is fragile, and how sure we are.
"""

from wince.api import Run, analyze, open
from wince.metrics import Metric, declare_metric, register_metric
from wince.perturbations.base import registry
from wince.plan import Plan, load_plan
from wince.realism import augment
from wince.store.store import Store, open_store

__all__ = [
    "Metric",
    "Plan",
    "Run",
    "Store",
    "analyze",
    "augment",
    "declare_metric",
    "load_plan",
    "open",
    "open_store",
    "register_metric",
    "registry",
]

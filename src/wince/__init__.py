"""wince: systematic perturbation analysis of machine-learning models.

Tells how a model reacts to small, realistic input variations — a typo, a JPEG re-save, a dim
room, a drifting sensor — where it is robust, where it is fragile, and how sure we are.

The public names below are imported on first use, not with the package: `wince --help` and
`wince --version` then start without pandas, NumPy, SciPy, OpenCV, SQLAlchemy or DuckDB.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names for type checkers, as redundant aliases (re-exported)
    from wince.api import Run as Run
    from wince.api import analyze as analyze
    from wince.api import open as open
    from wince.api import run as run
    from wince.metrics import Metric as Metric
    from wince.metrics import declare_metric as declare_metric
    from wince.metrics import register_metric as register_metric
    from wince.perturbations.base import registry as registry
    from wince.perturbations.functional import perturb as perturb
    from wince.plan import Plan as Plan
    from wince.plan import load_plan as load_plan
    from wince.realism.augment import augment as augment
    from wince.store.store import Store as Store
    from wince.store.store import open_store as open_store

_PUBLIC_NAMES = {
    "Metric": "wince.metrics",
    "Plan": "wince.plan",
    "Run": "wince.api",
    "Store": "wince.store.store",
    "analyze": "wince.api",
    "open": "wince.api",
    "augment": "wince.realism.augment",
    "declare_metric": "wince.metrics",
    "load_plan": "wince.plan",
    "open_store": "wince.store.store",
    "perturb": "wince.perturbations.functional",
    "register_metric": "wince.metrics",
    "registry": "wince.perturbations.base",
    "run": "wince.api",
}
"""Each public name and the module that defines it."""

__all__ = sorted(_PUBLIC_NAMES)


_SUBPACKAGES = frozenset(
    {
        "analysis",
        "datasets",
        "defences",
        "governance",
        "metrics",
        "models",
        "monitor",
        "outputs",
        "perturbations",
        "plots",
        "realism",
        "report",
        "store",
        "testing",
    }
)
"""The modules reachable as attributes after `import wince` (`wince.datasets.ArrayDataset`)."""


def __getattr__(name: str) -> Any:
    """Import a public name or a subpackage on first use (then it is a plain attribute)."""
    if name in _SUBPACKAGES:
        return importlib.import_module(f"wince.{name}")  # the import sets the attribute
    module = _PUBLIC_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'wince' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's attributes, the public names not yet imported included."""
    return sorted(set(globals()) | set(_PUBLIC_NAMES) | _SUBPACKAGES)

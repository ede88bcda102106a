"""Analysis: turn stored outcomes into a sensitivity profile, with statistics by default.

Every function reads a run through `load_run_data` (and, where new model evaluations are
needed, a `Probe`) and returns a frozen result with DataFrames and a `to_payload()` for the
store. `analyze_run` computes them all and stores them under the run.
"""

from wince.analysis.breaking import BreakingPoints, breaking_points
from wince.analysis.curves import Curves, cliffs, local_sensitivity, sensitivity_curves
from wince.analysis.data import RunData, load_run_data
from wince.analysis.global_sensitivity import GlobalSensitivity, global_sensitivity
from wince.analysis.gradients import Gradients, input_gradients
from wince.analysis.interactions import Interactions, interactions
from wince.analysis.local import ColumnSensitivity, column_sensitivity
from wince.analysis.profile import Profile, analyze_run
from wince.analysis.regions import DataQuality, Regions, data_quality, fragile_regions
from wince.analysis.significance import Verdicts, verdicts

__all__ = [
    "BreakingPoints",
    "ColumnSensitivity",
    "Curves",
    "DataQuality",
    "GlobalSensitivity",
    "Gradients",
    "Interactions",
    "Profile",
    "Regions",
    "RunData",
    "Verdicts",
    "analyze_run",
    "breaking_points",
    "cliffs",
    "column_sensitivity",
    "data_quality",
    "fragile_regions",
    "global_sensitivity",
    "input_gradients",
    "interactions",
    "load_run_data",
    "local_sensitivity",
    "sensitivity_curves",
    "verdicts",
]

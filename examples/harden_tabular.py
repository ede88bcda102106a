"""Harden the demo's breast-cancer model against impossible values and missing cells, offline.

The demo's tabular model (a standardised logistic regression on scikit-learn's breast-cancer
table) extrapolates linearly: a reading recorded in the wrong unit or a sentinel such as
9999 where a value was unknown moves its decision far, and a missing cell (NaN) makes it
refuse the record. This example analyses it on the held-out split under unit confusion,
sentinel values, a sensor's gain error and missing values, then runs `wince harden` with
every defence that applies to a tabular classifier: `tabular.clip` (each column clipped to
the range the clean data spans), `tabular.impute` (a missing cell replaced by its column's
clean median), `tabular.units` (a value recorded in another unit divided back into range,
an impossible one clipped), `model.temperature` and `model.tta`. It prints each defence's
measured gains (exposure reduction per finding, paired with the run; scenarios the model
refused that the defended model answers) and costs (clean-accuracy change with its
non-inferiority test, latency).

    python examples/harden_tabular.py            # all 228 test rows, five levels, two seeds
    python examples/harden_tabular.py --quick    # reduced size, as CI runs it

It exits 0 when a defence qualifies (a significant reduction, or refused scenarios
answered, at non-inferior clean accuracy).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from _hardening import analyze_and_harden, command_line, sweep_plan

from wince.defences.harden import Hardening
from wince.demo.models import breast_cancer_data, breast_cancer_logistic

PERTURBATIONS = (
    "tabular.unit_confusion",
    "tabular.sentinel_values",
    "tabular.sensor_gain",
    "tabular.missing_values",
)


def make_plan(quick: bool) -> dict[str, Any]:
    """One sweep per perturbation, no combinations."""
    return sweep_plan(
        "harden-tabular",
        "Breast-cancer logistic regression under impossible and missing values.",
        PERTURBATIONS,
        quick,
    )


def main(quick: bool = False, store: str | Path | None = None) -> Hardening:
    """Analyse the tabular model, harden the run and print each defence's gains and costs.

    Args:
        quick: three levels, one seed, a smaller bootstrap (for tests and CI); the table's
            228 test rows either way.
        store: folder (or store URL) for the runs; default a temporary folder.
    """
    return analyze_and_harden(
        breast_cancer_logistic(), breast_cancer_data(), make_plan(quick), store=store
    )


if __name__ == "__main__":
    sys.exit(command_line(__doc__.split("\n\n")[0], main))

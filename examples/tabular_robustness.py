"""Tabular robustness: a disease-progression regressor under noise, drift and bad records.

Offline: scikit-learn's bundled diabetes table in its original units (age in years, sex,
BMI, blood pressure in mmHg, six blood serum measurements) and a gradient-boosted regressor
trained on 60% of the patients. The other 40% are analysed under five realistic data
problems: measurement noise, drifting blood-pressure and BMI readings, rounding, values
missing more often when they are high, and "0" written where a value was unknown. A
regression has no flips: the verdicts use the change in mean absolute error (in the
target's units) and in the predictions themselves. The script prints where the model turns
fragile and writes an HTML report.

    python examples/tabular_robustness.py            # full size
    python examples/tabular_robustness.py --quick    # reduced size, as CI runs it
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from _findings import print_findings
from sklearn.datasets import load_diabetes
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import train_test_split

import wince
from wince.datasets.base import ArrayDataset

OUT_DIR = Path("wince-examples/tabular")
# age and sex are whole numbers (sex a category code): perturbed values stay whole, and
# numeric noise never touches a category code
KINDS = {"age": "integer", "sex": "categorical"}


def plan(quick: bool) -> dict[str, Any]:
    levels = [1, 3, 5] if quick else [1, 2, 3, 4, 5]
    return {
        "name": "example-tabular",
        "description": "Gradient boosting on scikit-learn's diabetes table (original units).",
        "perturbations": [
            {"name": "tabular.gaussian_noise", "levels": levels},
            {
                "name": "tabular.sensor_drift",
                "levels": levels,
                "params": {"columns": ["bp", "bmi"]},
            },
            {"name": "tabular.quantisation", "levels": levels},
            {
                "name": "tabular.missing_values",
                "levels": levels,
                "params": {"mechanism": "mnar_high"},
            },
            {"name": "tabular.sentinel_values", "levels": levels, "params": {"sentinel": 0}},
        ],
        "combinations": "none" if quick else "pairwise",
        "repeats": 2 if quick else 5,
        "seed": 0,
        "analysis": {
            # target units (disease progression score, sd 77): an MAE 2 points worse, or
            # predictions moving 5 points on average, no longer count as robust
            "tolerance": {"mae": 2.0, "mean_abs_change": 5.0},
            "bootstrap": 200 if quick else 1000,
        },
    }


def main(quick: bool = False, out_dir: str | Path = OUT_DIR) -> dict[str, Any]:
    """Train, analyse, print the findings and write the report; returns what was produced."""
    out = Path(out_dir)
    table = load_diabetes(scaled=False)
    x_train, x_test, y_train, y_test = train_test_split(
        table.data, table.target, test_size=0.4, random_state=0
    )
    if quick:
        x_test, y_test = x_test[:100], y_test[:100]
    # histogram gradient boosting accepts missing values (NaN) as they come
    model = HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05, random_state=0)
    model.fit(x_train, y_train)
    names = list(table.feature_names)
    data = ArrayDataset(
        x_test,
        y_test,
        modality="tabular",
        feature_names=names,
        column_kinds=[KINDS.get(name, "float") for name in names],
        name="diabetes patients (test 40%)",
    )
    run = wince.run(model, data, plan(quick), store=str(out / ".wince"))
    profile = run.analyze()
    print_findings(run, profile, quality="mae", harms=("mean_abs_change", "mae"))
    report = run.report(out=out / f"report-{run.id}.html")
    print(f"  report: {report}")
    return {"run_id": run.id, "report": report, "verdicts": profile.verdicts.scenarios}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced size (as in CI)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args()
    main(quick=args.quick, out_dir=args.out)

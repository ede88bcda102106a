"""A pipeline fitted on a DataFrame with categorical columns, analysed from a CSV file.

Offline: scikit-learn's bundled diabetes table in original units, written to a CSV as
clinics export it: `sex` as a code (1 or 2, declared categorical in the plan) and a text
column `bmi_class` (the WHO class of the body-mass index). The model is a scikit-learn
pipeline that one-hot encodes the categories (unknown ones ignored) and scales the numbers,
then predicts whether the disease progressed beyond the median. wince reads the CSV with
the plan's data section, hands the pipeline DataFrames with the original columns (no
feature-name warnings), and measures mistyped categories, missing cells and sensor noise.

    python examples/dataframe_pipeline.py            # full size
    python examples/dataframe_pipeline.py --quick    # reduced size, as CI runs it
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _findings import print_findings
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_diabetes
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import wince

OUT_DIR = Path("wince-examples/dataframe")
CATEGORIES = ["sex", "bmi_class"]


def patients() -> pd.DataFrame:
    """The diabetes table with a text BMI class and a `progressed` label."""
    table = load_diabetes(scaled=False, as_frame=True).frame
    bmi_class = pd.cut(
        table["bmi"],
        bins=[0, 18.5, 25, 30, np.inf],
        labels=["underweight", "normal", "overweight", "obese"],
        right=False,
    ).astype(str)
    progressed = (table["target"] > table["target"].median()).astype(int)
    frame = table.drop(columns="target").assign(
        sex=table["sex"].astype(int), bmi_class=bmi_class, progressed=progressed
    )
    frame.insert(0, "patient", [f"p{i:03d}" for i in range(len(frame))])
    return frame


def pipeline(features: pd.DataFrame, labels: pd.Series) -> Any:
    numbers = [c for c in features.columns if c not in CATEGORIES]
    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), CATEGORIES),
        (make_pipeline(SimpleImputer(), StandardScaler()), numbers),
    )
    return make_pipeline(encode, LogisticRegression(max_iter=2000)).fit(features, labels)


def plan(csv: Path, quick: bool) -> dict[str, Any]:
    levels = [1, 3, 5] if quick else [1, 2, 3, 4, 5]
    return {
        "name": "example-dataframe",
        "description": "One-hot + logistic regression on a CSV with categorical columns.",
        "data": {"csv": str(csv), "id": "patient", "label": "progressed", "categorical": ["sex"]},
        "perturbations": [
            {"name": "tabular.category_typos", "levels": levels},
            {"name": "tabular.missing_values", "levels": levels, "params": {"columns": "numeric"}},
            {"name": "tabular.gaussian_noise", "levels": levels},
        ],
        "combinations": "none" if quick else "pairwise",
        "repeats": 2 if quick else 5,
        "seed": 0,
        "analysis": {"bootstrap": 200 if quick else 1000},
    }


def main(quick: bool = False, out_dir: str | Path = OUT_DIR) -> dict[str, Any]:
    """Fit, write the CSV, analyse, print the findings and write the report."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = patients()
    train, test = train_test_split(frame, test_size=0.4, random_state=0)
    features = train.drop(columns=["patient", "progressed"])
    model = pipeline(features, train["progressed"])
    csv = out / "patients-test.csv"
    (test.iloc[:100] if quick else test).to_csv(csv, index=False)
    run = wince.run(model, plan=plan(csv, quick), store=out / ".wince")
    profile = run.analyze()
    print_findings(run, profile, quality="accuracy", harms=("flip_rate",))
    report = run.report(out=out / f"report-{run.id}.html")
    print(f"  report: {report}")
    return {"run_id": run.id, "report": report, "verdicts": profile.verdicts.scenarios}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced size (as in CI)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args()
    main(quick=args.quick, out_dir=args.out)

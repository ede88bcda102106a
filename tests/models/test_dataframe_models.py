"""Estimators fitted on DataFrames get DataFrames with their column names."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import wince
from wince.datasets import ArrayDataset
from wince.errors import DataError

PLAN = {
    "name": "frame",
    "perturbations": [{"name": "tabular.gaussian_noise", "severities": [0.5]}],
    "repeats": 2,
}


def fitted_on_a_frame():
    frame, y = load_breast_cancer(return_X_y=True, as_frame=True)
    frame, y = frame.iloc[:, :6], y.to_numpy()
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, y)
    return model, frame, y


@pytest.mark.slow
def test_a_frame_fitted_pipeline_runs_from_csv_without_feature_name_warnings(tmp_path):
    model, frame, y = fitted_on_a_frame()
    frame.assign(label=y).to_csv(tmp_path / "cancer.csv", index=False)
    plan = {**PLAN, "data": {"csv": str(tmp_path / "cancer.csv"), "label": "label"}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "X does not have valid feature names" fails the test
        run = wince.run(model, plan=plan, store=str(tmp_path / "s"))
    accuracy = run.summary().query("scenario == 'baseline' and metric == 'accuracy'")["value"]
    assert float(accuracy.iloc[0]) == pytest.approx(model.score(frame, y))


def test_columns_in_another_order_than_at_fitting_are_refused(tmp_path):
    model, frame, y = fitted_on_a_frame()
    swapped = frame[list(reversed(frame.columns))]
    data = ArrayDataset(swapped.to_numpy(), y, feature_names=list(swapped.columns))
    with pytest.raises(DataError, match=r"\(another order\); select and order them as at fitting"):
        wince.run(model, data, PLAN, store=str(tmp_path))
    fewer = ArrayDataset(frame.to_numpy()[:, :5], y, feature_names=list(frame.columns[:5]))
    with pytest.raises(DataError, match=r"\(missing \['mean compactness'\]\)"):
        wince.run(model, fewer, PLAN, store=str(tmp_path))


@pytest.mark.slow
def test_arrays_without_names_still_reach_a_frame_fitted_model_by_position(tmp_path):
    model, frame, y = fitted_on_a_frame()
    run = wince.run(model, (frame.to_numpy(), y), PLAN, store=str(tmp_path))
    predicted = run.outcomes().query("scenario == 'baseline'")
    assert np.isclose(predicted["correct"].mean(), model.score(frame, y))

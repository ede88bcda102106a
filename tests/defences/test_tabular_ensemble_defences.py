"""tabular.robust_scale, tabular.units and model.ensemble: their own behaviour and refusals."""

from __future__ import annotations

import time

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

import wince
from wince.cli import app
from wince.datasets.base import ArrayDataset
from wince.defences import CleanData, DefendedModel, create
from wince.defences.ensemble import member_spec
from wince.defences.harden import parse_defence
from wince.defences.tabular import UNIT_FACTORS
from wince.errors import DataError, ModelError, ParameterError, StoreError
from wince.governance.verify import verify_run
from wince.models import as_model
from wince.models.base import Predictions, Task
from wince.perturbations import DataContext, Modality

CONTEXT = DataContext(Modality.TABULAR)


def _clean_table(rows: int = 2000, seed: int = 0) -> np.ndarray:
    """Weights in kg (mean 70, sd 12) and heights in m (mean 1.7, sd 0.1)."""
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.normal(70.0, 12.0, rows), rng.normal(1.7, 0.1, rows)])


def _quartiles(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q25, q50, q75 = np.percentile(x, [25, 50, 75], axis=0)
    return q50, q75 - q25


def _fitted(name: str, clean: np.ndarray, **options):
    defence = create(name, options)
    defence.fit(None, CleanData(clean, None, CONTEXT))
    return defence


# tabular.robust_scale


def test_robust_scale_undoes_a_unit_change_on_a_batch():
    clean = _clean_table()
    defence = _fitted("tabular.robust_scale", clean)
    batch = _clean_table(rows=200, seed=1)
    in_grams = batch * np.array([1000.0, 1.0])
    assert defence.drifted(in_grams).tolist() == [True, False]
    rescaled = defence.transform(in_grams)
    clean_median, clean_iqr = _quartiles(clean)
    median, iqr = _quartiles(rescaled)
    assert median[0] == pytest.approx(clean_median[0], rel=1e-9)
    assert iqr[0] == pytest.approx(clean_iqr[0], rel=1e-9)
    # the map is affine per column: the rescaled batch is the clean batch up to its own
    # sampling offset from the clean median and IQR
    np.testing.assert_array_equal(np.argsort(rescaled[:, 0]), np.argsort(batch[:, 0]))
    assert np.abs(rescaled[:, 0] - batch[:, 0]).mean() < 1.5  # kg, the column's sd is 12
    np.testing.assert_array_equal(rescaled[:, 1], batch[:, 1])
    assert in_grams[0, 0] == batch[0, 0] * 1000  # the input is not changed


def test_robust_scale_undoes_an_offset_drift_and_leaves_clean_batches_unchanged():
    clean = _clean_table()
    defence = _fitted("tabular.robust_scale", clean)
    batch = _clean_table(rows=200, seed=2)
    np.testing.assert_array_equal(defence.transform(batch), batch)
    drifted = batch + np.array([0.0, 0.5])  # a height sensor 50 cm off
    assert defence.drifted(drifted).tolist() == [False, True]
    np.testing.assert_allclose(
        _quartiles(defence.transform(drifted))[0][1], _quartiles(clean)[0][1], rtol=1e-9
    )


def test_robust_scale_passes_small_batches_and_constant_columns_unchanged():
    clean = np.column_stack([_clean_table()[:, 0], np.zeros(2000)])
    defence = _fitted("tabular.robust_scale", clean, min_rows=30)
    small = _clean_table(rows=29, seed=3) * 1000
    np.testing.assert_array_equal(defence.transform(small), small)
    shifted = np.column_stack([_clean_table(rows=40, seed=3)[:, 0], np.full(40, 5.0)])
    np.testing.assert_array_equal(defence.transform(shifted), shifted)
    assert defence.fitted_state()["iqrs"][1] == 0.0


def test_robust_scale_keeps_missing_values_missing_and_reads_quartiles_without_them():
    clean = _clean_table()
    defence = _fitted("tabular.robust_scale", clean)
    batch = _clean_table(rows=101, seed=4) * 1000
    batch[::10, 0] = np.nan
    batch[5, 1] = np.inf
    rescaled = defence.transform(batch)
    assert np.isnan(rescaled[::10, 0]).all()
    assert rescaled[5, 1] == np.inf
    present = np.isfinite(rescaled)
    assert present.sum() == 2 * 101 - 11 - 1
    for column in (0, 1):
        values = rescaled[present[:, column], column]
        assert np.median(values) == pytest.approx(np.median(clean[:, column]), rel=1e-9)


# tabular.units


def test_units_repairs_grams_where_kilograms_are_expected():
    defence = _fitted("tabular.units", _clean_table())
    x = np.array([[72_000.0, 1.75], [65.0, 180.0], [80.0, 1.8]])
    checked = defence.transform(x)
    # 72 000 "kg" is 72 kg written in grams; 180 "m" is 1.80 m written in cm
    np.testing.assert_allclose(checked, [[72.0, 1.75], [65.0, 1.8], [80.0, 1.8]])
    state = defence.fitted_state()
    # a tenth of a typical weight (6-8) is still a plausible one: x 0.1 is not detectable
    assert state["factors"][0] == [10.0, 100.0, 1000.0, 0.01, 0.001]
    assert state["low"][0] == pytest.approx(_clean_table()[:, 0].min())
    assert state["medians"][1] == pytest.approx(np.median(_clean_table()[:, 1]))


def test_units_marks_impossible_values_missing_or_clips_them():
    clean = _clean_table()
    missing = _fitted("tabular.units", clean, impossible="missing")
    x = np.array([[-500.0, 1.7], [70.0, np.inf], [np.nan, 1.6], [3.5e5, 1.7]])
    checked = missing.transform(x)
    # -500 kg and an infinite height are no unit of a weight or height: dropped; 350 000
    # is 350 kg in grams, beyond any clean weight, and 35 000 kg in dag is no listed unit
    assert np.isnan(checked[[0, 1, 3], [0, 1, 0]]).all()
    assert checked[2, 1] == 1.6
    assert np.isnan(checked[2, 0])
    clipped = _fitted("tabular.units", clean, impossible="clip", slack=0.0)
    low, high = clean.min(axis=0), clean.max(axis=0)
    checked = clipped.transform(x)
    assert checked[[0, 1, 3], [0, 1, 0]].tolist() == [low[0], high[1], high[0]]


def test_units_considers_only_factors_detectable_in_a_column():
    # a zero-centred column: ten times a value is as plausible as the value
    rng = np.random.default_rng(5)
    centred = rng.normal(0.0, 1.0, (500, 1))
    defence = _fitted("tabular.units", centred)
    assert defence.fitted_state()["factors"] == [[]]
    high = float(centred.max()) * 1.25 + 5.0  # beyond the plausible range
    assert defence.transform(np.array([[high]]))[0, 0] == pytest.approx(
        centred.max() + 0.25 * (centred.max() - centred.min())
    )


def test_tabular_defences_refuse_bad_options_with_the_fix():
    with pytest.raises(ParameterError, match="impossible must be one of 'clip', 'missing'"):
        create("tabular.units", {"impossible": "drop"})
    with pytest.raises(ParameterError, match=r"slack must be a finite number .* in \[0, 10\]"):
        create("tabular.units", {"slack": -1})
    with pytest.raises(ParameterError, match="min_rows must be a whole number of rows >= 4"):
        create("tabular.robust_scale", {"min_rows": 2})
    with pytest.raises(ParameterError, match="tolerance must be a finite number"):
        create("tabular.robust_scale", {"tolerance": 0})
    with pytest.raises(DataError, match="not fitted"):
        create("tabular.units").transform(np.zeros((2, 2)))
    with pytest.raises(DataError, match="column 1 of the clean data has no finite value"):
        _fitted("tabular.units", np.array([[1.0, np.nan], [2.0, np.nan]]))
    assert len(UNIT_FACTORS) == 6


# model.ensemble


@pytest.fixture(scope="module")
def wine():
    x, y = load_wine(return_X_y=True)
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    forest = RandomForestClassifier(n_estimators=20, random_state=0).fit(x, y)
    return x, y, logistic, forest


def test_ensemble_averages_probabilities_like_numpy(wine):
    x, _, logistic, forest = wine
    defence = create("model.ensemble", {"models": [forest]})
    defended = defence.wrap(as_model(logistic))
    predicted = defended.predict(x)
    expected = (logistic.predict_proba(x) + forest.predict_proba(x)) / 2
    np.testing.assert_allclose(predicted.scores, expected, rtol=1e-12)
    np.testing.assert_array_equal(predicted.labels, expected.argmax(axis=1))
    weighted = create("model.ensemble", {"models": [forest], "weights": [3, 1]})
    np.testing.assert_allclose(
        weighted.predict(as_model(logistic), x).scores,
        0.75 * logistic.predict_proba(x) + 0.25 * forest.predict_proba(x),
        rtol=1e-12,
    )


def test_ensemble_averages_regressors_values_with_weights():
    x, y = load_diabetes(return_X_y=True)
    linear, ridge = LinearRegression().fit(x, y), Ridge(alpha=1.0).fit(x, y)
    defence = create("model.ensemble", {"models": [ridge], "weights": np.array([1.0, 3.0])})
    np.testing.assert_allclose(
        defence.predict(as_model(linear), x).values,
        0.25 * linear.predict(x) + 0.75 * ridge.predict(x),
        rtol=1e-12,
    )


def test_ensemble_reads_members_and_weights_from_a_command_line_option(wine, tmp_path):
    x, _, logistic, forest = wine
    path = tmp_path / "forest.joblib"
    joblib.dump(forest, path)
    name, options = parse_defence(f"model.ensemble:models={path};{path},weights=2;1;1")
    defence = create(name, options)
    assert defence.weights == (0.5, 0.25, 0.25)
    np.testing.assert_allclose(
        defence.predict(as_model(logistic), x).scores,
        0.5 * logistic.predict_proba(x) + 0.5 * forest.predict_proba(x),
        rtol=1e-12,
    )
    assert member_spec("mymodels:build").factory == "mymodels:build"
    assert member_spec("models/net.onnx").onnx == "models/net.onnx"


def test_ensemble_identity_changes_when_a_member_changes(wine):
    x, y, logistic, forest = wine
    model = as_model(logistic)
    first = create("model.ensemble", {"models": [forest]}).wrap(model)
    again = create("model.ensemble", {"models": [forest]}).wrap(model)
    other_forest = RandomForestClassifier(n_estimators=20, random_state=1).fit(x, y)
    other = create("model.ensemble", {"models": [other_forest]}).wrap(model)
    assert isinstance(first, DefendedModel)
    assert first.fingerprint() == again.fingerprint()
    assert first.fingerprint() != other.fingerprint()
    described = first.defence.describe()
    assert described["options"]["models"] == ["in memory"]  # an object: nothing rebuilds it
    members = described["fitted"]["members"]
    assert members == [
        {"label": members[0]["label"], "fingerprint": as_model(forest).fingerprint()}
    ]


def test_ensemble_refuses_members_of_other_classes_or_tasks(wine):
    x, y, logistic, _ = wine
    two_classes = LogisticRegression(max_iter=1000).fit(x, y.clip(0, 1))
    defence = create("model.ensemble", {"models": [two_classes]})
    with pytest.raises(ModelError, match=r"model 1 .* has classes \[0, 1\] and the run's model"):
        defence.fit(as_model(logistic), CleanData(x, y, CONTEXT))
    regressor = LinearRegression().fit(x, y.astype(float))
    with pytest.raises(ModelError, match="is a regression model and the run's is a classif"):
        create("model.ensemble", {"models": [regressor]}).predict(as_model(logistic), x)
    with pytest.raises(ModelError, match="the models answer different tasks"):
        create("model.ensemble", {"models": [regressor, two_classes]})


def test_ensemble_refuses_bad_options_with_the_fix(wine):
    _, _, _, forest = wine
    with pytest.raises(ParameterError, match="models must name at least one other model"):
        create("model.ensemble")
    with pytest.raises(ParameterError, match="models must name at least one other model"):
        create("model.ensemble", {"models": ""})
    with pytest.raises(
        ParameterError, match=r"weights must be 2 non-negative numbers.*weights=1;1"
    ):
        create("model.ensemble", {"models": [forest], "weights": [1, 2, 3]})
    with pytest.raises(ParameterError, match="weights must be 2"):
        create("model.ensemble", {"models": [forest], "weights": [0, 0]})
    with pytest.raises(ParameterError, match="weights must be 2"):
        create("model.ensemble", {"models": [forest], "weights": "1;heavy"})
    with pytest.raises(ParameterError, match=r"cannot tell what model 'forest\.txt' is"):
        create("model.ensemble", {"models": "forest.txt"})
    with pytest.raises(ParameterError, match="is not a valid model section"):
        create("model.ensemble", {"models": [{"pickel": "forest.joblib"}]})


class _SlowRecordingModel:
    """A slow classifier (the cache then looks perturbed samples up one by one) that records
    the size of each batch it is asked about: class 1 when the first column is above 70."""

    task = Task.CLASSIFICATION
    classes = (0, 1)

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []

    def predict(self, x):
        time.sleep(0.01)  # 0.1 ms a sample for 100 samples: above the cache's dedup threshold
        self.batch_sizes.append(len(x))
        above = (np.asarray(x, dtype=float)[:, 0] > 70.0).astype(float)
        return Predictions.from_probabilities(np.column_stack([1 - above, above]))

    def fingerprint(self) -> str:
        return "slow-recording"

    def close(self) -> None:
        pass


def test_harden_passes_a_batch_dependent_defence_whole_batches_never_cached_rows(tmp_path):
    x = _clean_table(rows=100, seed=6)
    data = ArrayDataset(x, (x[:, 0] > 70.0).astype(int), modality="tabular", name="people")
    model = _SlowRecordingModel()
    plan = {
        "name": "per-batch",
        "perturbations": [{"name": "tabular.unit_confusion", "levels": [5]}],
        "repeats": 1,
        "seed": 0,
    }
    run = wince.run(model, data, plan, store=tmp_path)
    model.batch_sizes.clear()
    run.harden(["tabular.robust_scale"], model=model, data=data)
    # the rerun's batches are whole: a cached run would ask only about the rows its clean
    # baseline had not answered (the confused ones)
    assert set(model.batch_sizes) == {100}


def test_harden_with_an_ensemble_records_its_members_and_pairs_its_run(wine, tmp_path):
    x, y, logistic, forest = wine
    path = tmp_path / "forest.joblib"
    joblib.dump(forest, path)
    data = ArrayDataset(x, y, modality="tabular", name="wine")
    plan = {
        "name": "ensemble",
        "perturbations": [{"name": "tabular.gaussian_noise", "levels": [5]}],
        "repeats": 1,
        "seed": 0,
        "analysis": {"bootstrap": 200},
    }
    run = wince.run(logistic, data, plan, store=tmp_path / "store")
    hardening = run.harden([f"model.ensemble:models={path}"], model=logistic, data=data)
    defended = wince.open(run.store, str(hardening.defences.loc[0, "run_id"]))
    recorded = defended.lineage["defence"]
    assert recorded["name"] == "model.ensemble"
    assert recorded["options"]["models"] == [str(path)]
    assert recorded["fitted"]["members"][0]["fingerprint"] == as_model(forest).fingerprint()
    assert recorded["options"]["weights"] == [0.5, 0.5]
    baseline = defended.outcomes().query("scenario == 'baseline'").sort_values("sample_index")
    expected = (logistic.predict_proba(x) + forest.predict_proba(x)) / 2
    np.testing.assert_array_equal(baseline["pred"], expected.argmax(axis=1))
    np.testing.assert_allclose(baseline["confidence"], expected.max(axis=1), rtol=1e-6)


def _cli(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_an_ensemble_hardened_from_the_command_line_is_verified_from_its_lineage(wine, tmp_path):
    x, y, logistic, forest = wine
    model_path, member_path = tmp_path / "logistic.joblib", tmp_path / "forest.joblib"
    joblib.dump(logistic, model_path)
    joblib.dump(forest, member_path)
    table = tmp_path / "wine.csv"
    columns = [f"f{i}" for i in range(x.shape[1])]
    pd.DataFrame(x, columns=columns).assign(target=y).to_csv(table, index=False)
    plan = {
        "name": "ensemble-verify",
        "model": {"pickle": str(model_path)},
        "data": {"csv": str(table), "label": "target"},
        "perturbations": [{"name": "tabular.gaussian_noise", "levels": [5]}],
        "repeats": 1,
        "analysis": {"bootstrap": 200},
    }
    store = tmp_path / "store"
    run = wince.run(plan=plan, store=store)
    hardened = _cli(
        "harden", run.id, "--defence", f"model.ensemble:models={member_path}",
        "--no-progress", "--json", "--store", str(store),
    )  # fmt: skip
    assert hardened.exit_code == 0, hardened.output
    runs = run.store.list_runs()
    defended = runs.loc[runs["hardens"] == run.id, "run_id"].tolist()
    assert len(defended) == 1
    recorded = run.store.run(defended[0])["lineage"]["defence"]
    assert recorded["options"]["models"] == [str(member_path)]
    verified = _cli("verify", defended[0], "--fraction", "1", "--store", str(store))
    assert verified.exit_code == 0, verified.output
    assert f"verified: run {defended[0]}" in verified.output


def test_verify_of_an_ensemble_of_in_memory_members_says_to_harden_again_from_python(
    wine, tmp_path
):
    x, y, logistic, forest = wine
    model_path = tmp_path / "logistic.joblib"
    joblib.dump(logistic, model_path)
    table = tmp_path / "wine.csv"
    pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])]).assign(target=y).to_csv(
        table, index=False
    )
    plan = {
        "name": "ensemble-in-memory",
        "model": {"pickle": str(model_path)},
        "data": {"csv": str(table), "label": "target"},
        "perturbations": [{"name": "tabular.gaussian_noise", "levels": [5]}],
        "repeats": 1,
        "analysis": {"bootstrap": 200},
    }
    run = wince.run(plan=plan, store=tmp_path / "store")
    hardening = run.harden([create("model.ensemble", {"models": [forest]})])
    defended = str(hardening.defences.loc[0, "run_id"])
    with pytest.raises(StoreError, match=r"used in-memory models .* cannot be re-executed from "
                       r"its lineage; harden run \w+ again from Python"):  # fmt: skip
        verify_run(run.store, defended, fraction=1.0)

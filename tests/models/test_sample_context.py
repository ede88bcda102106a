"""Models that need more than their inputs: sample ids and metadata (`SampleContext`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import wince
from wince.datasets import ArrayDataset, read_csv
from wince.errors import ModelError
from wince.models import CallableAdapter, SampleContext

PLAN = {
    "name": "context",
    "perturbations": [{"name": "tabular.gaussian_noise", "levels": [2, 5]}],
    "repeats": 2,
}


def sites_data(n: int = 120) -> ArrayDataset:
    """One feature; each sample comes from a site whose instrument reads 2.0 too high."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, 1))
    site = np.where(np.arange(n) % 3 == 0, "north", "south")
    labels = (x[:, 0] - np.where(site == "north", 2.0, 0.0) > 0).astype(int)
    return ArrayDataset(x, labels, ids=[f"s{i:03d}" for i in range(n)], metadata={"site": site})


def calibrated(batch: np.ndarray, context: SampleContext) -> np.ndarray:
    """Class probabilities of a model that corrects each reading by its site's offset."""
    offset = np.where(context.metadata["site"].to_numpy() == "north", 2.0, 0.0)
    positive = 1.0 / (1.0 + np.exp(-4.0 * (batch[:, 0] - offset)))
    return np.column_stack([1.0 - positive, positive])


def accuracies(run: wince.Run) -> dict[str, float]:
    summary = run.summary().query("metric == 'accuracy'")
    return dict(zip(summary["scenario"], summary["value"], strict=True))


@pytest.mark.slow
def test_a_model_reads_each_samples_metadata(tmp_path: Path) -> None:
    data = sites_data()
    run = wince.run(calibrated, data, PLAN, store=tmp_path / "store")
    found = accuracies(run)
    assert found["baseline"] == 1.0  # without the metadata it could not be (north is shifted)
    blind = (data.x[:, 0] > 0).astype(int)
    assert float(np.mean(blind == data.labels)) < 0.9
    outcomes = run.outcomes()
    noisy = outcomes[outcomes["scenario"].str.contains("noise_sd=0.5")]
    # recompute the perturbed predictions independently: same noise, same site correction
    from wince.perturbations import Step, compose, sample_keys

    step = Step("tabular.gaussian_noise", 0.5)
    for trial in (0, 1):
        x = compose(
            data.x,
            [step],
            seed=run.plan.seed,
            trial=trial,
            keys=sample_keys(data.ids),
            context=data.context(),
        )
        expected = calibrated(x, data.sample_context(range(len(data)))).argmax(axis=1)
        rows = noisy[noisy["trial"] == trial].sort_values("sample_index")
        assert (
            rows["correct"].to_numpy().astype(bool).tolist() == (expected == data.labels).tolist()
        )


@pytest.mark.slow
def test_equal_inputs_of_two_samples_are_not_served_from_the_cache(tmp_path: Path) -> None:
    x = np.zeros((6, 2))  # every sample has the same inputs
    data = ArrayDataset(x, [0, 1, 0, 1, 0, 1], ids=["a0", "b1", "a2", "b3", "a4", "b5"])
    calls: list[tuple[str, ...]] = []

    def by_id(batch: np.ndarray, context: SampleContext) -> list[int]:
        calls.append(context.ids)
        return [int(i.startswith("b")) for i in context.ids]

    run = wince.run(by_id, data, PLAN, store=tmp_path / "store")
    assert accuracies(run)["baseline"] == 1.0
    assert all(len(ids) == len(set(ids)) for ids in calls)
    again = wince.run(by_id, data, {**PLAN, "name": "again"}, store=tmp_path / "store")
    assert accuracies(again)["baseline"] == 1.0


@pytest.mark.slow
def test_the_process_executor_gives_the_local_rows(tmp_path: Path) -> None:
    data = sites_data(60)
    local = wince.run(calibrated, data, PLAN, store=tmp_path / "a")
    pooled = wince.run(
        calibrated,
        data,
        {**PLAN, "batch_size": 16},
        store=tmp_path / "b",
        executor="process",
        workers=2,
    )
    key = ["scenario", "trial", "sample_id"]
    a = local.outcomes()[[*key, "correct"]].sort_values(key).reset_index(drop=True)
    b = pooled.outcomes()[[*key, "correct"]].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a.astype(str), b.astype(str))


@pytest.mark.slow
def test_analyses_that_evaluate_again_give_the_context(tmp_path: Path) -> None:
    data = sites_data(60)
    run = wince.run(calibrated, data, PLAN, store=tmp_path / "store")
    profile = run.analyze(model=calibrated, data=data, columns=True, breaking_points=True)
    columns = profile.extras["columns"].table
    assert columns["column"].tolist() == ["x0"]
    points = profile.extras["breaking_points"].items["tabular.gaussian_noise"].survival
    assert float(points["survival"].iloc[0]) == 1.0  # clean inputs: every prediction right


def test_csv_columns_that_are_not_features_are_metadata(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("reading,site,label\n1.5,north,1\n0.5,north,0\n0.5,south,1\n")
    data = read_csv(path, features=["reading"])
    assert data.metadata is not None
    assert data.metadata["site"].tolist() == ["north", "north", "south"]
    context = data.sample_context([2, 0])
    assert context.ids == ("2", "0")
    assert context.metadata["site"].tolist() == ["south", "north"]
    path.write_text("reading,site,label\n1.5,north,1\n0.5,south,0\n0.5,south,1\n")
    assert read_csv(path, features=["reading"]).fingerprint() != data.fingerprint()


def test_a_context_model_called_without_one_says_how() -> None:
    model = CallableAdapter(calibrated)
    assert model.wants_context
    with pytest.raises(ModelError, match=r"takes a context: call predict\(x, SampleContext"):
        model.predict(np.zeros((2, 1)))
    assert not CallableAdapter(lambda batch: batch[:, 0] > 0).wants_context


def test_metadata_must_have_one_row_per_sample() -> None:
    from wince.errors import DataError

    with pytest.raises(DataError, match="metadata has 2 rows for 3 samples"):
        ArrayDataset(np.zeros((3, 1)), metadata={"site": ["a", "b"]})


@pytest.mark.slow
def test_samples_of_several_sizes_get_their_own_ids_and_metadata(tmp_path: Path) -> None:
    # batches are cut into groups of one size: each group's context must be its samples'
    rng = np.random.default_rng(0)
    sizes = [8, 12, 8, 16, 12, 8]
    images = [rng.integers(0, 255, (s, s, 1), dtype=np.uint8) for s in sizes]
    labels = [i % 2 for i in range(len(sizes))]
    data = ArrayDataset(
        images,
        labels,
        ids=[f"img{i}" for i in range(len(sizes))],
        metadata={"label_on_file": labels},
    )

    def from_metadata(batch: np.ndarray, context: SampleContext) -> np.ndarray:
        assert len({image.shape for image in batch}) == 1
        assert all(len(i) == 4 for i in context.ids)
        return context.metadata["label_on_file"].to_numpy()

    plan = {"name": "sizes", "perturbations": [{"name": "image.gaussian_noise", "levels": [2]}]}
    run = wince.run(from_metadata, data, plan, store=tmp_path / "store")
    assert set(accuracies(run).values()) == {1.0}

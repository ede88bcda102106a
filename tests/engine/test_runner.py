from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pandas as pd
import pytest

import wince
from wince.errors import DataError, ModelError
from wince.models import CallableAdapter
from wince.store import open_store

IMAGE_PLAN = {
    "name": "engine-test",
    "perturbations": [
        {"name": "image.gaussian_noise", "severities": [0.5, 1.0]},
        {"name": "image.exposure", "severities": [0.5, 1.0]},
    ],
    "combinations": "pairwise",
    "repeats": 2,
    "seed": 7,
}


def brightness_model(x):
    """Class = which third of the brightness range the image mean falls in."""
    mean = x.reshape(len(x), -1).mean(axis=1) / 255.0
    logits = np.stack([-((mean - c) ** 2) * 200 for c in (0.2, 0.5, 0.8)], axis=1)
    return logits


def image_data(n=60):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, size=(n, 6, 6, 3), dtype=np.uint8)
    return wince.datasets.ArrayDataset(x, rng.integers(0, 3, n), modality="image")


def outcomes_for(tmp_path, name, **plan_changes):
    plan = {**IMAGE_PLAN, **plan_changes}
    run = wince.run(
        CallableAdapter(brightness_model, fingerprint="brightness"),
        image_data(),
        plan,
        store=str(tmp_path / name),
    )
    return run.outcomes()


def test_outcomes_do_not_depend_on_batch_size(tmp_path):
    small = outcomes_for(tmp_path, "a", batch_size=16)
    large = outcomes_for(tmp_path, "b", batch_size=256)
    assert len(small) == len(large) > 0
    pd.testing.assert_frame_equal(small, large)
    # the noise really is random per sample and trial: outcomes differ across trials
    noisy = small[small["scenario"] == "image.gaussian_noise(noise_sd_pct=8)"]
    assert not np.array_equal(
        noisy[noisy.trial == 0]["confidence"].to_numpy(),
        noisy[noisy.trial == 1]["confidence"].to_numpy(),
    )


def test_process_executor_gives_the_same_outcomes_as_local(tmp_path):
    plan = {**IMAGE_PLAN, "batch_size": 16}
    local = wince.run(
        CallableAdapter(brightness_model, fingerprint="b"),
        image_data(),
        plan,
        store=str(tmp_path / "local"),
    )
    process = wince.run(
        CallableAdapter(brightness_model, fingerprint="b"),
        image_data(),
        plan,
        store=str(tmp_path / "process"),
        executor="process",
        workers=2,
    )
    assert local.id == process.id
    pd.testing.assert_frame_equal(local.outcomes(), process.outcomes())
    assert process.lineage["executor"] == "process"


def test_distances_measured_beside_the_model_equal_those_measured_inline(tmp_path, monkeypatch):
    from wince.engine import runner

    inline = outcomes_for(tmp_path, "inline")
    threads = []
    measure = runner.UnitMeasures.start

    def start(self, name, perturbed):
        result = measure(self, name, perturbed)
        threads.append(self._thread)
        return result

    monkeypatch.setattr(runner, "BACKGROUND_MEASURE_SECONDS", 0.0)  # every measure is slow
    monkeypatch.setattr(runner.UnitMeasures, "start", start)
    beside = outcomes_for(tmp_path, "beside")
    assert any(t is not None for t in threads), "no measure ran on the second thread"
    assert all(t is None or t._shutdown for t in threads), "the measuring thread outlived its unit"
    pd.testing.assert_frame_equal(inline, beside)
    assert (beside.loc[beside["scenario"] != "baseline", "ssim"] < 1).any()


def test_a_unit_measures_its_clean_images_once_for_all_perturbations(tmp_path, monkeypatch):
    from wince.perturbations.image.base import CleanImages

    built = []
    init = CleanImages.__init__

    def counting_init(self, original):
        built.append(len(original))
        init(self, original)

    monkeypatch.setattr(CleanImages, "__init__", counting_init)
    outcomes = outcomes_for(tmp_path, "once", batch_size=16)  # 60 images: 4 units
    assert built == [16, 16, 16, 12]  # one per unit, whatever the number of perturbations
    assert outcomes["scenario"].nunique() == 8  # baseline, identity, 4 isolations, 2 pairs


def test_a_model_writing_into_its_input_does_not_change_measured_distances(tmp_path, monkeypatch):
    from wince.engine import runner

    def darkening_model(x):
        scores = brightness_model(x)
        x //= 2  # a careless model: writes into the batch it was given
        return scores

    def run(name):
        return wince.run(
            CallableAdapter(darkening_model, fingerprint="darkening"),
            image_data(),
            IMAGE_PLAN,
            store=str(tmp_path / name),
        ).outcomes()

    inline = run("inline")
    monkeypatch.setattr(runner, "BACKGROUND_MEASURE_SECONDS", 0.0)
    beside = run("beside")
    for column in ("distance", "psnr_db", "ssim"):
        np.testing.assert_array_equal(inline[column], beside[column])


def test_a_measure_failing_beside_the_model_fails_the_run(tmp_path, monkeypatch):
    from wince.engine import runner
    from wince.perturbations.image.base import CleanImages

    measure = CleanImages.distances

    def fails_beside_the_model(self, perturbed):
        if threading.current_thread().name.startswith("wince-measure"):
            raise RuntimeError("measure broke")
        return measure(self, perturbed)

    monkeypatch.setattr(runner, "BACKGROUND_MEASURE_SECONDS", 0.0)
    monkeypatch.setattr(CleanImages, "distances", fails_beside_the_model)
    with pytest.raises(RuntimeError, match="measure broke"):
        outcomes_for(tmp_path, "broken")


def test_rerunning_a_complete_run_adds_nothing(tmp_path):
    first = outcomes_for(tmp_path, "same")
    again = outcomes_for(tmp_path, "same")
    pd.testing.assert_frame_equal(first, again)
    assert len(open_store(str(tmp_path / "same")).list_runs()) == 1


def test_baseline_rows_have_no_deltas_and_flips_match_predictions(tmp_path):
    frame = outcomes_for(tmp_path, "c")
    base = frame[frame.scenario == "baseline"].set_index("sample_index")
    assert not base["flipped"].any()
    assert (base["confidence_delta"] == 0).all()
    other = frame[frame.scenario != "baseline"]
    expected = other["pred"].to_numpy() != base.loc[other["sample_index"], "pred"].to_numpy()
    assert np.array_equal(other["flipped"].to_numpy(), expected)


def test_nan_inputs_name_the_samples(tmp_path):
    x = np.zeros((5, 2))
    x[3, 1] = np.nan
    with pytest.raises(DataError, match="'3'"):
        wince.run(
            lambda b: (b[:, 0] > 0).astype(int),
            (x, np.zeros(5, int)),
            {"name": "nan", "perturbations": [{"name": "tabular.gaussian_noise"}]},
            store=str(tmp_path / "s"),
        )


def failing_after(limit):
    calls = {"n": 0}

    def model(x):
        calls["n"] += 1
        if calls["n"] > limit:
            raise RuntimeError("CUDA out of memory")
        return (x[:, 0] > 0).astype(int)

    return model


def test_model_failure_names_scenario_and_samples_and_keeps_completed_units(tmp_path):
    x = np.random.default_rng(0).normal(size=(40, 2))
    plan = {
        "name": "fails",
        "perturbations": [{"name": "tabular.gaussian_noise", "severities": [1.0]}],
        "repeats": 1,
        "batch_size": 10,
    }
    store = open_store(str(tmp_path / "s"))
    # three trials per unit (baseline, identity, noise): 2 units = 6 calls, then unit 3
    # fails on the noise trial
    model = CallableAdapter(failing_after(8), fingerprint="f")
    with pytest.raises(ModelError) as info:
        wince.run(model, (x, np.zeros(40, int)), plan, store=store)
    message = str(info.value)
    assert "tabular.gaussian_noise(noise_sd=0.5)" in message
    assert "'20'..'29'" in message
    assert "CUDA out of memory" in message
    (run_id,) = store.list_runs()["run_id"]
    assert store.run(run_id)["status"] == "failed"
    assert store.completed_units(run_id) == [(0, 10), (10, 20)]
    # resuming with a healthy model completes the remaining units only
    healthy = CallableAdapter(failing_after(10**9), fingerprint="f")
    run = wince.run(healthy, (x, np.zeros(40, int)), plan, store=store)
    assert run.record["status"] == "complete"
    assert store.completed_units(run_id) == [(0, 10), (10, 20), (20, 30), (30, 40)]
    assert len(run.outcomes()) == 120


SLOW_MODULE = """
import time
import numpy as np
import wince.datasets

def model():
    def predict(x):
        time.sleep(0.04)
        return np.stack([x[:, 0], -x[:, 0]], axis=1)
    from wince.models import CallableAdapter
    return CallableAdapter(predict, fingerprint="slow-v1")

def data():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(240, 3))
    return wince.datasets.ArrayDataset(x, (x[:, 0] < 0).astype(int))
"""

SLOW_PLAN = """
name: killed
model: {factory: "slowmodel:model"}
data: {factory: "slowmodel:data"}
perturbations:
  - {name: tabular.gaussian_noise, severities: [0.5, 1.0]}
repeats: 2
batch_size: 20
"""


def run_cli(tmp_path, store, *args):
    # the wince under test stays importable (PYTHONPATH may point at a source tree)
    path = [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wince.cli",
            "run",
            str(tmp_path / "plan.yaml"),
            "--store",
            str(store),
            "--no-progress",
            *args,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_sigkill_midway_then_resume_gives_exactly_the_uninterrupted_rows(tmp_path):
    (tmp_path / "slowmodel.py").write_text(textwrap.dedent(SLOW_MODULE))
    (tmp_path / "plan.yaml").write_text(SLOW_PLAN)
    killed_store = tmp_path / "killed"
    process = run_cli(tmp_path, killed_store)
    deadline = time.monotonic() + 60
    done = 0
    while time.monotonic() < deadline and done < 3:
        time.sleep(0.1)
        if (killed_store / "wince.db").exists():
            store = open_store(str(killed_store))
            runs = store.list_runs()
            done = len(store.completed_units(runs["run_id"][0])) if len(runs) else 0
            store.close()
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 3 <= done < 12, "the run should have been killed midway"
    resumed = run_cli(tmp_path, killed_store)
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read()
    clean = run_cli(tmp_path, tmp_path / "clean")
    assert clean.wait(timeout=120) == 0, clean.stderr.read()
    for p in (process, resumed, clean):
        p.stdout.close()
        p.stderr.close()
    a_store, b_store = open_store(str(killed_store)), open_store(str(tmp_path / "clean"))
    (run_id,) = a_store.list_runs()["run_id"]
    a, b = a_store.outcomes(run_id), b_store.outcomes(run_id)
    assert len(a) == 240 * (1 + 2 + 2 * 2)
    assert not a.duplicated(["scenario", "trial", "sample_index"]).any()
    pd.testing.assert_frame_equal(a, b)


def test_transitions_count_baseline_to_perturbed_classes(tmp_path):
    plan = {**IMAGE_PLAN, "perturbations": IMAGE_PLAN["perturbations"][1:], "combinations": "none"}
    run = wince.run(
        CallableAdapter(brightness_model, fingerprint="brightness"),
        image_data(),
        plan,
        store=str(tmp_path / "t"),
    )
    frame = run.outcomes()
    table = run.transitions()
    for scenario, rows in table.groupby("scenario"):
        flipped = frame[(frame.scenario == scenario) & frame.flipped]
        expected = flipped.groupby(["baseline_pred", "pred"]).size()
        got = rows.set_index(["baseline_pred", "pred"])["count"]
        assert got.sort_index().to_dict() == expected.sort_index().to_dict()
    # darkening moves images to darker classes only
    assert (table["pred"] < table["baseline_pred"]).all()
    assert table["count"].sum() > 0

"""Calibration recovers known perturbation magnitudes from data, and writes a loadable plan."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from rich.console import Console
from sklearn.datasets import load_sample_images
from typer.testing import CliRunner

from wince.cli import app
from wince.datasets.base import ArrayDataset
from wince.demo.models import breast_cancer_data
from wince.errors import DataError
from wince.perturbations import get
from wince.perturbations.base import DataContext, Modality, Rngs
from wince.plan import load_plan
from wince.realism.calibrate import calibrate, calibrate_table, plan_values, severe_quantiles
from wince.realism.calibrate_commands import EXIT_NOTHING, EXIT_OK, calibrate_command

SENTENCES = Path(__file__).parents[2] / "src" / "wince" / "demo" / "sentences.tsv"
RATE = 16_000


def rngs(n: int, seed: int = 0) -> Rngs:
    return Rngs.for_samples([str(i) for i in range(n)], seed=seed)


@pytest.fixture
def console() -> Console:
    return Console(file=io.StringIO(), width=200)


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    """70 crops of 96x96 px from scikit-learn's two sample photographs."""
    images = load_sample_images().images
    return np.stack(
        [
            image[r : r + 96, c : c + 96]
            for image in images
            for r in range(0, 300, 60)
            for c in range(0, 500, 80)
        ]
    )


def save_folder(folder: Path, images: np.ndarray, suffix: str, **options: int) -> Path:
    folder.mkdir(parents=True)
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{i:03d}{suffix}", **options)
    return folder


# images -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_one_ev_darker_images_calibrate_to_one_ev(crops):
    dark = get("image.exposure")().perturb(crops, -1.0, rngs(len(crops)))
    exposure = calibrate(crops, dark).get("exposure")
    assert exposure.estimate.value == pytest.approx(-1.0, abs=0.15)
    assert exposure.included
    assert all(v == pytest.approx(-1.0, abs=0.15) for v in exposure.values)


@pytest.mark.slow
def test_images_resaved_as_jpeg_at_quality_60_calibrate_to_60(crops, tmp_path, console):
    reference = save_folder(tmp_path / "reference", crops, ".png")
    production = save_folder(tmp_path / "production", crops, ".jpg", quality=60)
    out = tmp_path / "plan.yaml"
    code = calibrate_command(reference, production, out, console=console)
    assert code == EXIT_OK
    plan = load_plan(out)
    jpeg = next(p for p in plan.perturbations if p.name == "image.jpeg")
    assert jpeg.values == [60.0]
    text = out.read_text()
    assert "# jpeg_quality: image.jpeg jpeg_quality" in text
    assert "values: [60]" in text  # whole numbers for an integer magnitude


@pytest.mark.slow
def test_the_cli_writes_the_plan_of_darkened_images(crops, tmp_path):
    reference = save_folder(tmp_path / "reference", crops[:30], ".png")
    dark = get("image.exposure")().perturb(crops[:30], -1.0, rngs(30))
    production = save_folder(tmp_path / "production", dark, ".png")
    out = tmp_path / "plan.yaml"
    result = CliRunner().invoke(
        app,
        ["calibrate", "--reference", str(reference), "--production", str(production),
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    exposure = next(p for p in load_plan(out).perturbations if p.name == "image.exposure")
    assert all(v == pytest.approx(-1.0, abs=0.15) for v in exposure.values)


@pytest.mark.slow
def test_gaussian_blur_is_mapped_back_to_its_sigma(crops):
    blurred = get("image.gaussian_blur")().perturb(crops, 1.0, rngs(len(crops)))
    sharpness = calibrate(crops, blurred).get("sharpness")
    assert sharpness.estimate.value == pytest.approx(1.0, abs=0.2)


@pytest.mark.slow
def test_smaller_production_images_calibrate_to_their_resolution(crops):
    small = crops[:, ::2, ::2]
    resolution = calibrate(crops, small).get("resolution")
    assert resolution.values == (50.0,)


def test_self_calibrated_images_leave_out_what_needs_production(crops):
    result = calibrate(crops)
    assert not result.get("sharpness").included
    assert "needs --production" in result.get("sharpness").notes[0]
    assert not result.get("jpeg_quality").included  # arrays carry no quantisation tables


# text -------------------------------------------------------------------------------------
def bag_of_words(n: int, seed: int) -> list[str]:
    """Texts drawn from the words of the demo sentences, so two draws share a vocabulary."""
    lines = [
        line.split("\t", 1)[1]
        for line in SENTENCES.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    words = [w for line in lines for w in line.split()]
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(words, size=rng.integers(8, 20))) for _ in range(n)]


@pytest.mark.slow
def test_text_with_two_percent_typos_calibrates_to_two_percent():
    reference, fresh = bag_of_words(400, 1), bag_of_words(400, 2)
    typos = get("text.typos")().perturb(fresh, 0.02, rngs(len(fresh)))
    quantity = calibrate(reference, typos).get("typos")
    assert quantity.estimate.value == pytest.approx(0.02, abs=0.005)
    assert quantity.values[0] == pytest.approx(0.02, abs=0.005)
    clean = calibrate(reference, fresh).get("typos")
    assert not clean.included


def test_self_calibrated_text_leaves_typos_out_for_want_of_a_word_list():
    result = calibrate(bag_of_words(50, 1))
    assert not result.included
    assert "no English word list" in result.get("typos").notes[0]


@pytest.mark.slow
def test_removed_punctuation_is_calibrated_with_its_mode():
    # the marks' density varies between samples of texts: large samples keep it within 0.05
    reference, fresh = bag_of_words(2000, 1), bag_of_words(2000, 2)
    removed = get("text.punctuation")(mode="remove").perturb(fresh, 0.2, rngs(len(fresh)))
    punctuation = calibrate(reference, removed, n_boot=50).get("punctuation")
    assert punctuation.params == {"mode": "remove"}
    assert punctuation.estimate.value == pytest.approx(0.2, abs=0.05)


@pytest.mark.slow
def test_lower_cased_words_are_calibrated_with_their_style():
    reference, fresh = bag_of_words(400, 1), bag_of_words(400, 2)
    lowered = get("text.casing")(style="lower").perturb(fresh, 0.3, rngs(len(fresh)))
    casing = calibrate(reference, lowered).get("casing")
    assert casing.params == {"style": "lower"}
    assert casing.estimate.value == pytest.approx(0.3, abs=0.08)


# audio ------------------------------------------------------------------------------------
def bursts(n: int = 40, seed: int = 0) -> np.ndarray:
    """Tone bursts with pauses: half of each one-second clip is silent."""
    rng = np.random.default_rng(seed)
    t = np.arange(RATE) / RATE
    gate = (np.sin(2 * np.pi * 2 * t) > 0).astype(float)
    tones = [0.3 * np.sin(2 * np.pi * rng.uniform(200, 800) * t) * gate for _ in range(n)]
    return np.array(tones, dtype=np.float32)


def test_audio_at_20_db_snr_calibrates_to_20_db():
    clean = bursts()
    context = DataContext(Modality.AUDIO, sample_rate_hz=RATE)
    noisy = get("audio.additive_noise")().perturb(clean, 20.0, rngs(len(clean)), context)
    snr = calibrate(clean, noisy, modality="audio").get("snr")
    assert snr.estimate.value == pytest.approx(20.0, abs=2.0)
    assert snr.values[0] == pytest.approx(20.0, abs=2.0)


def test_a_low_pass_filter_is_calibrated_to_its_cutoff():
    rng = np.random.default_rng(0)
    gate = (np.arange(RATE) / RATE * 3) % 1 < 0.6
    noise = np.clip(0.15 * rng.standard_normal((80, RATE)) * gate, -1, 1).astype(np.float32)
    reference, fresh = noise[:40], noise[40:]
    context = DataContext(Modality.AUDIO, sample_rate_hz=RATE)
    filtered = get("audio.low_pass")().perturb(fresh, 3400.0, rngs(40), context)
    data = ArrayDataset(filtered, modality=Modality.AUDIO, sample_rate_hz=RATE)
    reference_data = ArrayDataset(reference, modality=Modality.AUDIO, sample_rate_hz=RATE)
    bandwidth = calibrate(reference_data, data).get("bandwidth")
    assert bandwidth.estimate.value == pytest.approx(3400.0, rel=0.1)
    assert (
        not calibrate(reference_data, ArrayDataset(fresh, modality="audio"))
        .get("bandwidth")
        .included
    )


def test_self_calibrated_audio_measures_its_own_loudness_spread_and_leaves_bandwidth_out():
    clips = bursts(20)
    clips[10:] *= 0.5  # half of the clips 6 dB quieter
    result = calibrate(clips, modality="audio", n_boot=20)
    assert [q.key for q in result.quantities] == ["snr", "loudness", "bandwidth"]
    loudness = result.get("loudness")
    assert loudness.estimate.details == {"interval": "middle 95% of the samples"}
    assert loudness.estimate.value == pytest.approx(-3.01, abs=0.05)  # each clip 3 dB off
    assert loudness.values == (-3.01,)  # every clip is 20 log10(2) / 2 dB from the median
    bandwidth = result.get("bandwidth")
    assert not bandwidth.included
    assert bandwidth.notes[0].startswith("needs --production: a clip's own spectrum")


# tabular ----------------------------------------------------------------------------------
def test_a_column_drifted_by_half_an_sd_calibrates_to_half_an_sd():
    data = breast_cancer_data()
    order = np.random.default_rng(0).permutation(len(data.x))
    half = len(order) // 2
    reference, fresh = data.x[order[:half]], data.x[order[half:]].copy()
    fresh[:, 3] += 0.5 * reference[:, 3].std(ddof=1)
    drift = calibrate_table(reference, fresh, feature_names=data.feature_names)[0]
    name = data.feature_names[3]
    assert drift.details[name]["value"] == pytest.approx(0.5, abs=0.1)
    assert drift.params == {"columns": [name]}
    assert drift.values == (pytest.approx(0.5, abs=0.1),)


def test_measurement_noise_comes_from_repeated_ids_and_missing_cells_are_counted():
    rng = np.random.default_rng(0)
    scale = np.array([1.0, 5.0, 10.0])
    truth = rng.normal(size=(200, 3)) * scale
    rows = np.repeat(truth, 3, axis=0) + rng.normal(size=(600, 3)) * scale * 0.2
    rows[rng.random(rows.shape) < 0.05] = np.nan
    ids = np.repeat(np.arange(200), 3)
    result = calibrate(rows, groups=ids)
    # within-id sd 0.2 of the truth's sd; the column sd is sqrt(1 + 0.2**2) of it
    assert result.get("noise").estimate.value == pytest.approx(0.2 / math.sqrt(1.04), abs=0.02)
    assert result.get("missing").estimate.value == pytest.approx(0.05, abs=0.01)
    assert "needs --production" in result.get("drift").notes[0]


def write_table(path: Path, x: np.ndarray, names: list[str], ids: np.ndarray | None) -> Path:
    frame = pd.DataFrame(x, columns=names)
    if ids is not None:
        frame.insert(0, "patient", ids)
    frame.to_csv(path, index=False)
    return path


def test_the_command_writes_a_plan_that_loads_with_evidence(tmp_path, console):
    rng = np.random.default_rng(1)
    names = ["age", "weight", "pressure"]
    truth = rng.normal(size=(150, 3)) * [10.0, 15.0, 20.0] + [50.0, 80.0, 120.0]
    reference = write_table(tmp_path / "reference.csv", truth, names, None)
    measured = np.repeat(truth, 2, axis=0) + rng.normal(size=(300, 3)) * [1.0, 1.5, 2.0]
    measured[:, 2] += 0.5 * truth[:, 2].std(ddof=1)
    production = write_table(
        tmp_path / "production.csv", measured, names, np.repeat(np.arange(150), 2)
    )
    template = tmp_path / "template.yaml"
    template.write_text(
        "name: t\nmodel: {pickle: model.joblib}\ndata: {csv: reference.csv}\n"
        "perturbations: [{name: tabular.gaussian_noise}]\n"
    )
    out = tmp_path / "out" / "plan.yaml"
    code = calibrate_command(
        reference, production, out, plan=template, id_column="patient", console=console
    )
    assert code == EXIT_OK
    plan = load_plan(out)
    assert plan.model is not None
    assert plan.model.pickle == str(tmp_path / "model.joblib")
    drift = next(p for p in plan.perturbations if p.name == "tabular.sensor_drift")
    assert drift.params == {"columns": ["pressure"]}
    assert drift.values is not None
    assert drift.values[0] == pytest.approx(0.5, abs=0.1)
    noise = next(p for p in plan.perturbations if p.name == "tabular.gaussian_noise")
    assert noise.values is not None
    assert noise.values[0] == pytest.approx(0.1, abs=0.03)
    text = out.read_text()
    assert "# drift: tabular.sensor_drift drift_sd" in text
    assert "# Left out of the plan:" in text  # missing values: none in either table


def test_identical_reference_and_production_write_nothing(tmp_path, console):
    x = np.random.default_rng(0).normal(size=(100, 2))
    table = write_table(tmp_path / "t.csv", x, ["a", "b"], None)
    out = tmp_path / "plan.yaml"
    assert calibrate_command(table, table, out, console=console) == EXIT_NOTHING
    assert not out.exists()


# values and errors ------------------------------------------------------------------------
def test_values_outside_the_hard_limits_are_clipped_with_a_note():
    magnitude = get("image.exposure").magnitude
    values, notes = plan_values((-8.0, -11.0, -12.5), magnitude)
    assert values == (-8.0, -10.0)  # -11 and -12.5 both clip to -10: deduplicated
    assert any("clipped to the hard limit -10" in n for n in notes)


def test_severe_quantiles_look_towards_the_severe_side():
    jpeg = get("image.jpeg").magnitude  # severe is low quality
    assert severe_quantiles(np.arange(1, 101), jpeg) == pytest.approx((50.5, 10.9, 1.99))


def test_a_missing_reference_names_the_option_and_path(tmp_path, console):
    with pytest.raises(DataError, match=r"--reference: no such file or folder .*nowhere\.csv"):
        calibrate_command(tmp_path / "nowhere.csv", None, tmp_path / "p.yaml", console=console)


def test_a_wrong_modality_is_named_with_a_fix(tmp_path, console):
    table = write_table(tmp_path / "t.csv", np.zeros((5, 2)), ["a", "b"], None)
    with pytest.raises(DataError, match=r"are tabular, expected image\. Pass --modality tabular"):
        calibrate_command(table, None, tmp_path / "p.yaml", modality="image", console=console)
    with pytest.raises(DataError, match="'pictures' is not a modality"):
        calibrate_command(table, None, tmp_path / "p.yaml", modality="pictures", console=console)


def test_mismatched_columns_are_named(tmp_path, console):
    x = np.random.default_rng(0).normal(size=(20, 2))
    reference = write_table(tmp_path / "r.csv", x, ["age", "weight"], None)
    production = write_table(tmp_path / "p.csv", x, ["age", "height"], None)
    with pytest.raises(DataError, match=r"missing \['weight'\], extra \['height'\]"):
        calibrate_command(reference, production, tmp_path / "plan.yaml", console=console)


def test_an_unknown_id_column_is_named_with_a_close_match(tmp_path, console):
    x = np.random.default_rng(0).normal(size=(20, 2))
    table = write_table(tmp_path / "r.csv", x, ["age", "weight"], np.arange(20))
    with pytest.raises(DataError, match=r"no id column 'patients'.*Did you mean 'patient'"):
        calibrate_command(table, None, tmp_path / "p.yaml", id_column="patients", console=console)

"""Inputs of several sizes: each size is evaluated as a batch of its own, outcomes per sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import wince
from wince.datasets import ArrayDataset
from wince.models import CallableAdapter
from wince.perturbations.base import RaggedBatch

IMAGE_SIZES = ((6, 6), (9, 5), (4, 11))
CLIP_SAMPLES = (800, 1300, 2100)
RATE_HZ = 8000
KEYS = ["scenario", "trial", "sample_id"]


def brightness_model(x):
    """Class = which third of the brightness range the image mean falls in (any image size)."""
    assert isinstance(x, np.ndarray), "the model must see ordinary batches"
    mean = x.reshape(len(x), -1).mean(axis=1) / 255.0
    return np.stack([-((mean - c) ** 2) * 20 for c in (0.2, 0.5, 0.8)], axis=1)


def loudness_model(x):
    """Class = whether the clip's RMS exceeds each of three levels (any clip length)."""
    assert isinstance(x, np.ndarray)
    assert x.ndim == 2
    level = np.sqrt(np.mean(np.square(x, dtype=np.float64), axis=1))
    return np.stack([-((level - c) ** 2) * 400 for c in (0.05, 0.2, 0.35)], axis=1)


def images(n_per_size=7):
    """Images of three sizes, interleaved so that every batch mixes sizes."""
    rng = np.random.default_rng(5)
    samples, ids, labels = [], [], []
    for i in range(n_per_size):
        for k, (h, w) in enumerate(IMAGE_SIZES):
            samples.append(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8))
            ids.append(f"{k}-{i}")
            labels.append(int(rng.integers(0, 3)))
    return samples, ids, labels


def clips(n_per_length=6):
    rng = np.random.default_rng(6)
    samples, ids, labels = [], [], []
    for i in range(n_per_length):
        for k, length in enumerate(CLIP_SAMPLES):
            t = np.arange(length) / RATE_HZ
            amplitude = rng.uniform(0.05, 0.5)
            samples.append((amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
            ids.append(f"{k}-{i}")
            labels.append(int(rng.integers(0, 3)))
    return samples, ids, labels


IMAGE_PLAN = {
    "name": "variable-size-images",
    "perturbations": [
        {"name": "image.gaussian_noise", "severities": [0.5, 1.0]},
        {"name": "image.exposure", "severities": [1.0]},
    ],
    "combinations": "pairwise",
    "repeats": 2,
    "seed": 11,
    "batch_size": 8,
}
AUDIO_PLAN = {
    "name": "variable-length-audio",
    "perturbations": [
        {"name": "audio.additive_noise", "values": [20.0, 5.0]},
        {"name": "audio.gain", "severities": [1.0]},
    ],
    "repeats": 2,
    "seed": 12,
    "batch_size": 5,
}


def _outcomes(model, samples, ids, labels, plan, store, **options):
    data = ArrayDataset(samples, labels, ids=ids, **options)
    run = wince.run(CallableAdapter(model, fingerprint=model.__name__), data, plan, store=store)
    frame = run.outcomes()
    frame["scenario"] = frame["scenario"].astype(str)
    return frame.drop(columns=["sample_index"]).sort_values(KEYS).reset_index(drop=True)


def _each_size_alone(model, samples, ids, labels, plan, tmp_path, **options):
    parts = []
    for shape in dict.fromkeys(s.shape for s in samples):
        chosen = [i for i, s in enumerate(samples) if s.shape == shape]
        parts.append(
            _outcomes(
                model,
                np.stack([samples[i] for i in chosen]),
                [ids[i] for i in chosen],
                [labels[i] for i in chosen],
                plan,
                str(tmp_path / f"alone-{'x'.join(map(str, shape))}"),
                **options,
            )
        )
    return pd.concat(parts).sort_values(KEYS).reset_index(drop=True)


def test_images_of_three_sizes_give_the_outcomes_of_each_size_alone(tmp_path):
    samples, ids, labels = images()
    mixed = _outcomes(brightness_model, samples, ids, labels, IMAGE_PLAN, str(tmp_path / "mixed"))
    alone = _each_size_alone(brightness_model, samples, ids, labels, IMAGE_PLAN, tmp_path)
    assert len(mixed) == len(alone) == 10 * len(samples)  # baseline + 9 perturbed trials
    pd.testing.assert_frame_equal(mixed, alone)
    # the perturbations really change the outcomes, so the comparison is not vacuous
    noisy = mixed[mixed["scenario"].str.startswith("image.gaussian_noise")]
    assert noisy["confidence_delta"].abs().max() > 0.01


def test_clips_of_three_lengths_give_the_outcomes_of_each_length_alone(tmp_path):
    samples, ids, labels = clips()
    options = {"modality": "audio", "sample_rate_hz": RATE_HZ}
    mixed = _outcomes(
        loudness_model, samples, ids, labels, AUDIO_PLAN, str(tmp_path / "mixed"), **options
    )
    alone = _each_size_alone(loudness_model, samples, ids, labels, AUDIO_PLAN, tmp_path, **options)
    assert len(mixed) == len(alone) > len(samples)
    pd.testing.assert_frame_equal(mixed, alone)
    assert mixed["snr_db"].notna().any()


def test_outcomes_of_variable_size_inputs_do_not_depend_on_batch_size(tmp_path):
    samples, ids, labels = images(4)
    runs = [
        _outcomes(
            brightness_model,
            samples,
            ids,
            labels,
            {**IMAGE_PLAN, "batch_size": size},
            str(tmp_path / str(size)),
        )
        for size in (1, 5, 64)
    ]
    pd.testing.assert_frame_equal(runs[0], runs[1])
    pd.testing.assert_frame_equal(runs[0], runs[2])


def test_the_outcome_rows_keep_sample_order(tmp_path):
    samples, ids, labels = images(3)
    data = ArrayDataset(samples, labels, ids=ids)
    run = wince.run(
        CallableAdapter(brightness_model, fingerprint="b"),
        data,
        IMAGE_PLAN,
        store=str(tmp_path / "s"),
    )
    frame = run.outcomes()
    baseline = frame[frame["scenario"].astype(str) == "baseline"]
    assert baseline["sample_index"].tolist() == list(range(len(samples)))
    assert baseline["sample_id"].tolist() == ids


def test_a_list_of_images_of_several_sizes_is_a_ragged_image_dataset():
    samples, ids, _ = images(2)
    data = ArrayDataset(samples, ids=ids)
    assert data.modality == "image"
    assert isinstance(data.x, RaggedBatch)
    batch = data.batch(0, 3)
    assert isinstance(batch, RaggedBatch)
    assert batch.shapes == [(6, 6, 3), (9, 5, 3), (4, 11, 3)]
    same = data.take([0, 3])
    assert isinstance(same, np.ndarray)
    assert same.shape == (2, 6, 6, 3)
    np.testing.assert_array_equal(same[1], samples[3])


def test_the_fingerprint_of_variable_size_data_includes_each_shape():
    a = [np.zeros((2, 3, 1), np.uint8), np.zeros((3, 2, 1), np.uint8)]
    b = [np.zeros((3, 2, 1), np.uint8), np.zeros((2, 3, 1), np.uint8)]
    assert ArrayDataset(a).fingerprint() != ArrayDataset(b).fingerprint()
    # same-shape samples given as a list are the same data as the stacked array
    same = [np.ones((2, 2, 3), np.uint8)] * 2
    assert ArrayDataset(same).fingerprint() == ArrayDataset(np.stack(same)).fingerprint()


def test_clips_of_several_lengths_must_be_named_audio():
    with pytest.raises(wince.errors.DataError, match="modality='audio'"):
        ArrayDataset([np.zeros(3, np.float32), np.zeros(4, np.float32)])


def test_a_probe_perturbs_and_predicts_each_size_as_a_batch_of_its_own():
    from wince.engine.probe import Probe
    from wince.perturbations.base import Step

    samples, ids, _labels = images(3)
    mixed = Probe(CallableAdapter(brightness_model), ArrayDataset(samples, ids=ids), seed=4)
    steps = [Step("image.gaussian_noise", 6.0)]
    perturbed = mixed.perturbed(range(len(samples)), steps)
    predicted = mixed.predict(range(len(samples)), steps)
    for k in range(len(IMAGE_SIZES)):
        chosen = list(range(k, len(samples), len(IMAGE_SIZES)))
        alone = Probe(
            CallableAdapter(brightness_model),
            ArrayDataset(np.stack([samples[i] for i in chosen]), ids=[ids[i] for i in chosen]),
            seed=4,
        )
        own = alone.perturbed(range(len(chosen)), steps)
        for j, i in enumerate(chosen):
            np.testing.assert_array_equal(perturbed[i], own[j])
            assert not np.array_equal(perturbed[i], samples[i])
        np.testing.assert_array_equal(
            predicted.scores[chosen], alone.predict(range(len(chosen)), steps).scores
        )


@pytest.mark.parametrize("modality", ["image", "audio"])
def test_the_store_profile_and_report_handle_inputs_of_several_sizes(tmp_path, modality):
    if modality == "image":
        samples, ids, labels = images(4)
        model, plan, options = brightness_model, IMAGE_PLAN, {}
    else:
        samples, ids, labels = clips(4)
        model, plan = loudness_model, AUDIO_PLAN
        options = {"modality": "audio", "sample_rate_hz": RATE_HZ}
    data = ArrayDataset(samples, labels, ids=ids, **options)
    run = wince.run(CallableAdapter(model, fingerprint="m"), data, plan, store=str(tmp_path))
    assert set(run.outcomes()["sample_id"]) == set(ids)
    profile = run.analyze(data=data, regions=True)
    assert profile is not None
    html = run.report(tmp_path / "report.html", data=data).read_text()
    # the worst cases show each sample at its own size: thumbnails are rendered
    assert "data:image/png;base64" in html
    assert "Worst cases are not shown" not in html


def test_perturbing_a_ragged_batch_equals_perturbing_each_sample_alone():
    from wince.perturbations import DataContext, Modality, Rngs, get

    samples, ids, _ = clips(2)
    context = DataContext(Modality.AUDIO, sample_rate_hz=RATE_HZ)
    noise = get("audio.additive_noise")()
    rngs = Rngs.for_samples(ids, seed=3, step="noise")
    together = noise.perturb(RaggedBatch(samples), 10.0, rngs, context)
    assert isinstance(together, RaggedBatch)
    for i, clip in enumerate(samples):
        alone = noise.perturb(clip[None], 10.0, rngs.take([i]), context)[0]
        np.testing.assert_array_equal(together[i], alone)
        assert together[i].shape == clip.shape
        assert not np.array_equal(together[i], clip)


def test_a_process_pool_gives_the_outcomes_of_a_local_run_for_several_sizes(tmp_path):
    samples, ids, labels = images(3)
    data = ArrayDataset(samples, labels, ids=ids)
    frames = []
    for executor in ("local", "process"):
        run = wince.run(
            CallableAdapter(brightness_model, fingerprint="b"),
            data,
            IMAGE_PLAN,
            store=str(tmp_path / executor),
            executor=executor,
            workers=2,
        )
        frames.append(run.outcomes())
    pd.testing.assert_frame_equal(frames[0], frames[1])

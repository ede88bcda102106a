"""What each perturbation declares about itself names things that exist, so nothing can drift.

A perturbation class declares its defence family, how reports word it (`phrase`), the monitor
estimator of its magnitude (`monitor_estimate`) and the calibration measurement of it
(`calibration`); the report, monitor and calibration tables are read off those declarations.
These checks fail when a declaration names a family without a defence, an estimator or a
measurement that does not exist, or when an estimator or measurement is left unclaimed.
"""

from __future__ import annotations

import importlib
import inspect

import numpy as np
import pytest

from wince.datasets.base import ArrayDataset
from wince.monitor import estimate
from wince.monitor.monitor import estimate_magnitudes
from wince.perturbations import Modality, registry
from wince.report.narrative import DEFENCES, FAMILIES, MONITORED

LIBRARY = {n: c for n, c in registry().items() if c.__module__.startswith("wince.")}
# ImageNet-C's corruptions are worded from their catalogue summary ("ImageNet-C brightness")
PRESETS = "wince.perturbations.presets."
CALIBRATION_MODULES = ("images", "text", "audio", "tables")


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_declared_family_and_phrase(name):
    cls = LIBRARY[name]
    if cls.family:
        assert cls.family.split(".")[0] == cls.modality.value, f"{name}: family of another modality"
        assert cls.family in DEFENCES, f"{name}: family {cls.family!r} has no defence"
    if cls.__module__.startswith(PRESETS):
        return
    assert cls.phrase is not None, f"{name}: declare its phrase (`Perturbation.phrase`)"
    for value in (cls.magnitude.mild, cls.magnitude.severe):
        effect = cls.phrase.effect(value)
        assert effect
        assert effect == effect.strip()
        assert "NaN" not in effect
        if cls.phrase.context is not None:
            assert isinstance(cls.phrase.context(value), str)


def test_every_defence_family_has_members():
    assert set(FAMILIES) == set(DEFENCES)
    assert FAMILIES["image.blur"][:2] == ("image.defocus_blur", "image.gaussian_blur")


def test_monitor_estimators_are_the_ones_perturbations_name():
    named = {c.monitor_estimate: n for n, c in LIBRARY.items() if c.monitor_estimate is not None}
    assert set(named) == set(estimate.LIVE_INPUTS), "an estimator no perturbation names, or v.v."
    for function in named:
        assert inspect.isfunction(getattr(estimate, function, None)), function
        assert f'"{named[function]}"' in inspect.getsource(getattr(estimate, function))
    assert MONITORED["image.jpeg"] == "live JPEG files"
    assert MONITORED["audio.gain"] == "live clips"


def _live_data(modality: Modality, rng: np.random.Generator) -> ArrayDataset:
    if modality == Modality.IMAGE:
        return ArrayDataset(rng.integers(0, 256, (12, 16, 16, 3), dtype=np.uint8))
    if modality == Modality.TEXT:
        words = ["the", "cat", "sat", "on", "a", "mat", "and", "slept"]
        texts = [" ".join(rng.choice(words, 8)) for _ in range(12)]
        return ArrayDataset(texts, modality="text")
    if modality == Modality.AUDIO:
        clips = 0.1 * rng.standard_normal((6, 4096))
        return ArrayDataset(clips, modality="audio", sample_rate_hz=16000)
    return ArrayDataset(rng.standard_normal((30, 4)), modality="tabular")


@pytest.mark.parametrize(
    "modality",
    [
        pytest.param(Modality.IMAGE, marks=pytest.mark.slow),
        Modality.TEXT,
        Modality.AUDIO,
        "tabular",
    ],
)
def test_the_monitor_estimates_what_the_classes_declare(modality):
    modality = Modality(modality)
    data = _live_data(modality, np.random.default_rng(0))
    found, _ = estimate_magnitudes(data, data)
    declared = {
        n for n, c in LIBRARY.items() if c.monitor_estimate is not None and c.modality == modality
    }
    assert {e.perturbation for e in found} - {"image.sharpness"} == declared


def test_calibration_measurements_are_the_ones_perturbations_name():
    claimed = {c.calibration: n for n, c in LIBRARY.items() if c.calibration is not None}
    measurements = set()
    for module_name in CALIBRATION_MODULES:
        module = importlib.import_module(f"wince.realism.calibration.{module_name}")
        measurements |= {f"{module_name}.{fn.__name__}" for fn in module.MEASUREMENTS}
    assert set(claimed) == measurements, "a measurement no perturbation names, or v.v."
    for path, name in claimed.items():
        module_name, function = path.split(".")
        source = inspect.getsource(
            getattr(importlib.import_module(f"wince.realism.calibration.{module_name}"), function)
        )
        assert f'"{name}"' in source, f"{path} measures another perturbation than {name}"
    assert claimed["images.sharpness"] == "image.gaussian_blur"


def test_the_calibration_overview_lists_exactly_the_calibrated_perturbations():
    import wince.realism.calibration as calibration

    table = [line for line in (calibration.__doc__ or "").splitlines() if line.startswith("| ")]
    listed = {line.split("|")[3].strip().strip("`") for line in table[1:]}
    assert listed == {n for n, c in LIBRARY.items() if c.calibration is not None}

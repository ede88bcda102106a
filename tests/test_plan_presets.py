"""A `{preset: <name>}` plan entry stands for a published set of perturbations and levels."""

from __future__ import annotations

import pytest

from wince.engine.scenarios import expand
from wince.errors import PlanError
from wince.plan import parse_plan, resolve_sweep

# Hendrycks & Dietterich 2019, Figure 1, in the published order
CORRUPTIONS = [
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
    "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
    "elastic_transform", "pixelate", "jpeg_compression",
]  # fmt: skip


def test_imagenet_c_is_fifteen_corruptions_at_the_five_published_levels() -> None:
    plan = parse_plan({"name": "c", "perturbations": [{"preset": "imagenet-c"}]})
    assert [p.name for p in plan.perturbations] == [f"image.imagenet_c_{c}" for c in CORRUPTIONS]
    for spec in plan.perturbations:
        assert [point.value for point in resolve_sweep(spec)] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert len([s for s in expand(plan) if s.steps]) == 15 * 5


def test_a_preset_mixes_with_other_entries_and_takes_its_own_levels() -> None:
    plan = parse_plan(
        {
            "name": "c",
            "perturbations": [
                {"name": "image.exposure", "levels": [2]},
                {"preset": "imagenet-c", "levels": [3]},
            ],
        }
    )
    assert plan.perturbations[0].name == "image.exposure"
    assert len(plan.perturbations) == 16
    assert all(p.levels == [3] for p in plan.perturbations[1:])


def test_an_unknown_preset_names_the_known_ones() -> None:
    with pytest.raises(PlanError, match="imagenet-c") as raised:
        parse_plan({"name": "c", "perturbations": [{"preset": "imagenet-p"}]})
    assert "perturbations" in str(raised.value)


def test_a_preset_entry_refuses_fields_it_cannot_apply() -> None:
    with pytest.raises(PlanError, match="params"):
        parse_plan({"name": "c", "perturbations": [{"preset": "imagenet-c", "params": {}}]})

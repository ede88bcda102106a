"""Recommendations name the call or code change that applies them, and that code works."""

from __future__ import annotations

import html
from string import Template
from typing import Any

import numpy as np
import pytest
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import wince
from wince.api import Run
from wince.datasets import ArrayDataset
from wince.demo.models import digits_classifier, digits_data, flatten_pixels
from wince.governance.policy import MaxFlipRate, NoRegression, parse_policy
from wince.monitor.policy import parse_monitor_policy
from wince.perturbations import get, registry
from wince.perturbations.base import Rngs
from wince.report import Report, build_report
from wince.report.narrative import (
    DEFENCES,
    FAMILIES,
    FAMILY_OF,
    MODALITY_DEFENCES,
    VALIDATION,
    Defence,
    Finding,
    augmentation_cap,
    augmentation_code,
    defence,
    gate_code,
    monitoring_code,
)

IMAGE_FAMILIES = sorted(f for f in FAMILIES if f.startswith("image."))


def code_of(item: Defence, name: str = "image.contrast") -> str:
    """A defence's code as a recommendation carries it."""
    return Template(item.code).safe_substitute(name=name, value="1", run="abc123")


def is_yaml(code: str) -> bool:
    first = code.split("\n", 1)[0]
    return first.startswith("# ") and ".yaml" in first


def scene() -> np.ndarray:
    """A 48x48 colour image: smooth gradients and a flat square with sharp edges."""
    yy, xx = np.mgrid[0:48, 0:48]
    image = np.stack([40 + 3 * xx, 60 + 2 * yy, 120 + xx + yy], axis=-1)
    image[12:36, 12:36] = (200, 180, 60)
    return np.clip(image, 0, 255).astype(np.uint8)


def perturbed(name: str, image: np.ndarray) -> np.ndarray:
    """`image` under `name` at the severe end of its realistic range."""
    perturbation = get(name)()
    rngs = Rngs.for_samples(["scene"], seed=0, step=f"{name}#0")
    return np.asarray(perturbation.perturb(image[None], perturbation.magnitude.severe, rngs)[0])


def run_code(code: str, **names: Any) -> dict[str, Any]:
    namespace: dict[str, Any] = dict(names)
    exec(compile(code, "<recommendation>", "exec"), namespace)
    return namespace


def image_names(image: np.ndarray) -> dict[str, Any]:
    """The names image defences' code refers to, bound to small real values."""
    train_images = np.stack([scene(), scene()[::-1], scene()[:, ::-1]])
    model = make_pipeline(FunctionTransformer(flatten_pixels), LogisticRegression(max_iter=50))
    model.fit(train_images, [0, 1, 1])
    rejected: list[Any] = []
    return {
        "image": image,
        "images": np.stack([image, scene()]) if image.shape == scene().shape else image[None],
        "train_images": train_images,
        "reject": rejected.append,
        "rejected": rejected,
        "model": model,
        "threshold": 0.6,
        "camera_matrix": np.array([[50.0, 0, 24], [0, 50.0, 24], [0, 0, 1]]),
        "dist_coeffs": np.array([-0.1, 0.0, 0.0, 0.0, 0.0]),
    }


def mean_error(image: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(image.astype(np.float64) - reference.astype(np.float64)).mean())


def test_every_image_perturbation_of_the_library_has_a_family_defence():
    images = sorted(name for name, cls in registry().items() if str(cls.modality) == "image")
    missing = [name for name in images if name not in FAMILY_OF]
    assert not missing, f"add these to narrative.FAMILIES (and a defence if new): {missing}"


def test_families_name_only_registered_perturbations_each_once():
    members = [name for names in FAMILIES.values() for name in names]
    assert sorted(set(members) - set(registry())) == []
    assert len(members) == len(set(members))
    assert set(FAMILIES) == set(DEFENCES)


def test_a_perturbation_outside_every_family_gets_its_modality_defence():
    assert defence("image.gaussian_blur", "image") is DEFENCES["image.blur"]
    assert defence("image.not_yet_written", "image") is MODALITY_DEFENCES["image"]
    assert defence("graph.edge_drop", "graph") is VALIDATION


@pytest.mark.parametrize(
    ("family", "name", "output"),
    [
        ("image.contrast", "image.contrast", "stretched"),
        ("image.contrast", "image.haze", "stretched"),
        ("image.exposure", "image.exposure", "normalised"),
        ("image.noise", "image.gaussian_noise", "denoised"),
        ("image.impulse", "image.imagenet_c_impulse_noise", "cleaned"),
        ("image.colour", "image.white_balance", "balanced"),
        ("image.compression", "image.jpeg", "deblocked"),
    ],
)
@pytest.mark.filterwarnings("ignore::wince.errors.ResolutionWarning")  # ImageNet-C, small scene
def test_image_defence_code_undoes_part_of_the_damage(family, name, output):
    clean = scene()
    damaged = perturbed(name, clean)
    namespace = run_code(code_of(DEFENCES[family], name), **image_names(damaged))
    repaired = namespace[output]
    assert repaired.shape[:2] == clean.shape[:2]
    assert mean_error(repaired, clean) < mean_error(damaged, clean)


def test_blur_defence_rejects_a_blurred_image_and_keeps_a_sharp_one():
    blurred = perturbed("image.gaussian_blur", scene())
    namespace = run_code(code_of(DEFENCES["image.blur"]), **image_names(blurred))
    assert namespace["keep"].tolist() == [False, True]  # images = [blurred, sharp]


def test_resolution_defence_rejects_an_image_smaller_than_the_model_input():
    names = image_names(scene()[::2, ::2])
    run_code(code_of(DEFENCES["image.resolution"]), **names)
    assert len(names["rejected"]) == 1


@pytest.mark.parametrize("family", IMAGE_FAMILIES)
def test_every_image_defence_code_runs_on_a_colour_image(family):
    code = code_of(DEFENCES[family])
    assert code.strip()
    run_code(code, **image_names(scene()))


def test_text_normalisation_removes_zero_width_characters_and_curly_quotes():
    code = code_of(DEFENCES["text.unicode"], "text.zero_width")
    text = "don\u2019t\u200b   say \u201cmaybe\u201d"
    assert run_code(code, text=text)["text"] == 'don\'t say "maybe"'


@pytest.mark.parametrize(
    ("item", "names"),
    [
        (DEFENCES["audio.noise"], {"clip": np.sin(np.linspace(0, 60, 800))}),
        (DEFENCES["audio.level"], {"clip": 0.5 * np.sin(np.linspace(0, 60, 800))}),
        (DEFENCES["tabular.noise"], {"x_train": np.eye(5) + 1, "x": np.full((2, 5), 9.0)}),
        (MODALITY_DEFENCES["timeseries"], {"x": np.ones((2, 40, 3)), "length": 20}),
    ],
    ids=["audio.noise", "audio.level", "tabular.noise", "timeseries"],
)
def test_non_image_defence_code_runs(item, names):
    run_code(code_of(item), **names)


def test_all_defence_code_is_python_or_a_yaml_policy():
    for item in [*DEFENCES.values(), *MODALITY_DEFENCES.values(), VALIDATION]:
        code = code_of(item)
        if is_yaml(code):
            parse_monitor_policy(yaml.safe_load(code))
        else:
            compile(code, "<recommendation>", "exec")


def test_augmentation_code_trains_a_pipeline_with_draws_up_to_the_cap():
    data = digits_data()
    assert data.labels is not None
    images, labels = data.x[:60], data.labels[:60]
    code = augmentation_code("image.contrast", -50.0, "abc123")
    assert 'wince.augment(["image.contrast"], up_to={"image.contrast": -50}, seed=0)' in code
    steps = [FunctionTransformer(flatten_pixels), LogisticRegression(max_iter=100)]
    namespace = run_code(code, steps=steps, x_train=images, y_train=labels)
    values = [d.value for d in namespace["augmenter"].draws(range(200))]
    assert min(values) >= -50.0
    assert max(values) <= 0.0
    assert namespace["model"].predict(images).shape == (60,)


def test_augmentation_code_without_a_cap_draws_over_the_realistic_range():
    code = augmentation_code("image.jpeg", None, "abc123")
    assert "up_to" not in code.split("augmenter =")[1].split("\n")[0]
    compile(code, "<recommendation>", "exec")


def test_augmentation_cap_rounds_whole_numbers_and_refuses_values_that_do_not_perturb():
    assert augmentation_cap("image.jpeg", 37.4) == 37.0
    assert augmentation_cap("image.jpeg", 100.0) is None  # off: no re-encode
    assert augmentation_cap("image.exposure", 1.0) is None  # the other side of off
    assert augmentation_cap("image.exposure", -11.0) is None  # beyond the hard limits
    assert augmentation_cap("image.exposure", float("inf")) is None
    assert augmentation_cap("image.no_such_thing", 1.0) is None


@pytest.mark.parametrize(
    ("name", "value", "side"),
    [
        ("image.exposure", -2.34, "min"),
        ("image.jpeg", 40.0, "min"),
        ("image.gaussian_noise", 5.0, "max"),
    ],
)
def test_monitor_policy_alerts_on_the_perturbing_side_of_the_breaking_magnitude(name, value, side):
    code = monitoring_code(name, value, "abc123")
    assert "wince monitor --reference abc123" in code
    limit = parse_monitor_policy(yaml.safe_load(code)).magnitudes[name]
    assert getattr(limit, side) == pytest.approx(value)
    assert getattr(limit, "max" if side == "min" else "min") is None


def test_gate_policy_snippet_is_a_valid_policy_against_the_run():
    finding = Finding(
        kind="fragile",
        perturbation="image.contrast",
        scenario="image.contrast(contrast_pct=-80)",
        severity=1.0,
        value=-80.0,
        unit="%",
        metric="flip_rate",
        estimate=0.44,
        low=0.4126,
        high=0.47,
        realism=0.5,
        score=0.22,
        sentence="Contrast changes 44% of predictions.",
    )
    policy = parse_policy(yaml.safe_load(gate_code(finding, "abc123")))
    flip, regression = policy.rules
    assert isinstance(flip, MaxFlipRate)
    assert isinstance(regression, NoRegression)
    assert flip.max == pytest.approx(0.413)
    assert flip.where.scenario == [finding.scenario]
    assert regression.baseline == "abc123"


# end to end: a small digits run, analysed with breaking points, reported ----------------------
@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The demo's digits model on 150 test images under contrast and exposure."""
    model, full = digits_classifier(), digits_data()
    assert full.labels is not None
    data = ArrayDataset(full.x[:150], full.labels[:150], modality="image")
    plan = {
        "name": "narrative-code",
        "perturbations": [
            {"name": "image.contrast", "levels": [3, 5]},
            {"name": "image.exposure", "levels": [5]},
        ],
        "repeats": 1,
        "analysis": {"bootstrap": 200},
    }
    run = wince.run(model, data, plan, store=str(tmp_path_factory.mktemp("narrative")))
    run.analyze(breaking_points=True, regions=False, model=model, data=data)
    return run


@pytest.fixture(scope="module")
def small_report(small_run: Run) -> Report:
    return build_report(small_run.store, small_run.id)


def test_every_recommendation_carries_its_code(small_run, small_report):
    found = small_report.narrative
    assert [f.perturbation for f in found.risks][:1] == ["image.contrast"]
    assert all(r.code.strip() for r in found.recommendations)
    assert all("code" in r.to_dict() for r in found.recommendations)
    kinds = [r.kind for r in found.recommendations]
    assert kinds[:2] == ["augmentation", "normalisation"]
    assert "monitoring" in kinds  # exposure is estimable from live images
    assert kinds.count("gate") == 1
    first = found.recommendations[0]
    assert 'wince.augment(["image.contrast"], up_to={"image.contrast": ' in first.code
    assert small_run.id in first.code


def test_markdown_and_html_reports_show_each_recommendation_code(small_report):
    markdown = small_report.markdown()
    page = html.unescape(small_report.html())
    for recommendation in small_report.narrative.recommendations:
        indented = "\n".join(f"   {line}".rstrip() for line in recommendation.code.split("\n"))
        assert indented in markdown
        assert recommendation.code in page
    assert markdown.count("<details><summary>code</summary>") == len(
        small_report.narrative.recommendations
    )
    assert "```yaml" in markdown
    assert "```python" in markdown


def test_calibration_check_code_reads_the_run_from_the_default_store(
    small_run, small_report, monkeypatch
):
    (check,) = [r for r in small_report.narrative.recommendations if r.kind == "calibration"]
    assert f'wince.open(run="{small_run.id}")' in check.code
    monkeypatch.setenv("WINCE_STORE", str(small_run.store.root))
    ece = run_code(check.code)["ece"]
    assert len(ece) > 0
    assert set(ece.columns) == {"scenario", "value", "low", "high"}

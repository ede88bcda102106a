"""A `Plan` is valid however it is built: the models' validators refuse what `wince plan
validate` refuses, with the same words, and accept every plan the project ships."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from require import require_module
from wince.cli import app
from wince.errors import PlanError
from wince.plan import DataSpec, ModelSpec, PerturbationSpec, Plan, parse_plan

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
JPEG = {"name": "image.jpeg"}

# id -> (the plan's fields beyond its name, the field path and words naming its problem)
REFUSED: dict[str, tuple[dict[str, Any], str, str]] = {
    "unknown-perturbation": (
        {"perturbations": [{"name": "image.jpge"}]},
        "perturbations[0]",
        "unknown perturbation 'image.jpge'",
    ),
    "severity-above-one": (
        {"perturbations": [{**JPEG, "severities": [7]}]},
        "perturbations[0]",
        "a severity must be a number in [0, 1]; got 7",
    ),
    "empty-model": (
        {"model": {}, "perturbations": [JPEG]},
        "model",
        "give exactly one source of factory, pickle, onnx, torchscript, url, transformers; "
        "got none",
    ),
    "two-data-sources": (
        {"data": {"npz": "a.npz", "csv": "b.csv"}, "perturbations": [JPEG]},
        "data",
        "got npz, csv",
    ),
    "pipeline-without-transformers": (
        {"model": {"factory": "m:f", "pipeline": "text-classification"}, "perturbations": [JPEG]},
        "model.pipeline",
        "applies to a model.transformers folder",
    ),
    "threshold-without-score": (
        {"model": {"factory": "m:f", "threshold": 0.5}, "perturbations": [JPEG]},
        "model",
        "a threshold applies to output 'score' only",
    ),
    "unknown-parameter": (
        {"perturbations": [{"name": "text.casing", "params": {"styel": "upper"}}]},
        "perturbations[0]",
        "unknown option 'styel' — did you mean 'style'?",
    ),
    "unknown-level": (
        {"perturbations": [{**JPEG, "levels": [7]}]},
        "perturbations[0]",
        "levels are 1-5; got 7",
    ),
    "value-beyond-hard-limits": (
        {"perturbations": [{**JPEG, "values": [150]}]},
        "perturbations[0]",
        "jpeg_quality must be a whole number of libjpeg quality in [1, 100]; got 150",
    ),
    "two-sweeps": (
        {"perturbations": [{**JPEG, "levels": [1], "values": [70]}]},
        "perturbations[0]",
        "give one of severities, levels or values; got ['levels', 'values']",
    ),
    "empty-sweep": (
        {"perturbations": [{**JPEG, "levels": []}]},
        "perturbations[0]",
        "the sweep is empty",
    ),
    "combination-of-an-unknown-entry": (
        {
            "perturbations": [JPEG, {"name": "image.exposure"}],
            "combinations": [["image.jpeg", "image.blur"]],
        },
        "combinations[0]",
        "['image.blur'] is not",
    ),
    "repeated-entry": (
        {"perturbations": [JPEG, JPEG]},
        "perturbations[1]",
        "repeats perturbations[0]",
    ),
    "clashing-labels": (
        {"perturbations": [{**JPEG, "label": "x"}, {"name": "image.exposure", "label": "x"}]},
        "perturbations[1]",
        "the name 'x' is already that of perturbations[0]",
    ),
    "distribution-of-no-entry": (
        {
            "perturbations": [JPEG],
            "analysis": {"global_sensitivity": {"distributions": {"image.blur": {}}}},
        },
        "analysis.global_sensitivity.distributions.image.blur",
        "'image.blur' is not a perturbation of the plan",
    ),
    "unknown-tolerance-metric": (
        {"perturbations": [JPEG], "analysis": {"tolerance": {"flip_rat": 0.02}}},
        "analysis.tolerance.flip_rat",
        "did you mean 'flip_rate'?",
    ),
    "metric-listed-twice": (
        {"perturbations": [JPEG], "metrics": ["flip_rate", "accuracy", "flip_rate"]},
        "metrics[2]",
        "'flip_rate' is listed twice",
    ),
}


@pytest.mark.parametrize(("fields", "path", "words"), REFUSED.values(), ids=REFUSED)
def test_model_validate_refuses_what_plan_validate_refuses(
    fields: dict[str, Any], path: str, words: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = {"name": "x", **fields}
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["plan", "validate", "plan.yaml"])
    assert result.exit_code == 2, result.output
    assert f"plan.yaml {path}:" in result.output

    with pytest.raises(PlanError) as parsed:
        parse_plan(raw, source="p.yaml")
    (problem,) = parsed.value.problems
    assert problem.startswith(f"p.yaml {path}: ")
    assert words in problem
    with pytest.raises(ValidationError) as validated:
        Plan.model_validate(raw)
    # the same text, without the source and field path that parse_plan puts in front
    assert problem.removeprefix(f"p.yaml {path}: ") in str(validated.value)


def test_building_a_plan_or_a_section_in_python_validates_it_too() -> None:
    with pytest.raises(ValidationError, match="unknown perturbation 'jpg'"):
        Plan(name="x", perturbations=[PerturbationSpec(name="image.jpeg"), {"name": "jpg"}])
    with pytest.raises(ValidationError, match="unknown perturbation 'jpg'"):
        PerturbationSpec(name="jpg")
    with pytest.raises(ValidationError, match=r"give exactly one source .* got none"):
        ModelSpec()
    with pytest.raises(ValidationError, match=r"give exactly one source .* got none"):
        DataSpec(label="y")
    assert ModelSpec(pickle="m.joblib").source() == ("pickle", "m.joblib")


def test_one_validation_error_lists_every_problem_of_every_section() -> None:
    raw = {
        "name": "x",
        "model": {},
        "perturbations": [{"name": "jpg"}, {**JPEG, "severities": [7]}],
    }
    with pytest.raises(ValidationError) as info:
        Plan.model_validate(raw)
    assert [tuple(e["loc"]) for e in info.value.errors()] == [
        ("model",),
        ("perturbations", 0),
        ("perturbations", 1),
    ]


def test_plan_wide_problems_are_listed_beside_those_of_other_sections() -> None:
    raw = {
        "name": "x",
        "model": {},
        "repeats": 0,
        "perturbations": [JPEG],
        "combinations": [["image.jpeg", "image.blur"]],
    }
    with pytest.raises(PlanError) as info:
        parse_plan(raw, source="p.yaml")
    fields = [problem.split(" ")[1].rstrip(":") for problem in info.value.problems]
    assert fields == ["repeats", "model", "combinations[0]"]


def test_numpy_numbers_in_a_plan_built_in_python_are_plain_numbers() -> None:
    plan = Plan.model_validate(
        {"name": "x", "perturbations": [{**JPEG, "levels": list(np.arange(1, 4))}]}
    )
    assert plan.perturbations[0].levels == [1, 2, 3]
    assert all(type(level) is int for level in plan.perturbations[0].levels)


def test_a_metric_registered_elsewhere_is_refused_only_when_the_plan_is_loaded() -> None:
    """A stored run naming a metric registered in Python stays readable where it is not."""
    raw = {"name": "x", "perturbations": [JPEG], "metrics": ["flip_rate", "doubled_flip"]}
    assert Plan.model_validate(raw).metrics == ["flip_rate", "doubled_flip"]
    with pytest.raises(PlanError, match="metrics: unknown metric 'doubled_flip'"):
        parse_plan(raw)


def shipped_plan_files() -> list[Path]:
    demo = sorted((ROOT / "src" / "wince" / "demo" / "plans").glob("*.yaml"))
    return [*demo, EXAMPLES / "ci" / "plan.yaml"]


@pytest.mark.parametrize("path", shipped_plan_files(), ids=lambda p: p.name)
def test_model_validate_accepts_every_shipped_plan_file(path: Path) -> None:
    plan = Plan.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert plan.perturbations


# example -> (module, wince extra) its imports need beyond the runtime dependencies
EXAMPLE_NEEDS = {
    "torch_cnn.py": ("torch", "torch"),
    "transformers_text.py": ("transformers", "huggingface"),
}


def example_plan_functions() -> list[Any]:
    """The examples with a `plan()` function, those needing torch marked `torch`."""
    paths = sorted(p for p in EXAMPLES.glob("*.py") if "\ndef plan(" in p.read_text("utf-8"))
    torch = pytest.mark.torch
    return [pytest.param(p, marks=torch) if p.name in EXAMPLE_NEEDS else p for p in paths]


@pytest.mark.parametrize("path", example_plan_functions(), ids=lambda p: p.stem)
@pytest.mark.parametrize("quick", [True, False])
def test_model_validate_accepts_every_example_plan(
    path: Path, quick: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if path.name in EXAMPLE_NEEDS:
        require_module(*EXAMPLE_NEEDS[path.name])
    # as when run as a script: the example's folder is importable
    monkeypatch.setattr(sys, "path", [str(EXAMPLES), *sys.path])
    name = f"wince_plan_example_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # dataclasses look modules up by name
    spec.loader.exec_module(module)
    arguments = {"quick": quick}
    if "csv" in inspect.signature(module.plan).parameters:
        arguments["csv"] = tmp_path / "data.csv"
    plan = Plan.model_validate(module.plan(**arguments))
    assert plan.perturbations

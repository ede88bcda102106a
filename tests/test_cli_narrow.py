"""Listings at 80 columns, piped as in CI logs, print every name whole (issue #21).

Each command runs in a fresh interpreter with COLUMNS=80 and its output piped. A name counts as
whole when one line holds it; lines may pass 80 columns only to hold a name longer than that
(alone, or followed by the colon of a gate's reason).
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest

from wince.perturbations import registry

PLAN = """\
name: narrow-terminal
model: {factory: "wince.demo.models:digits_classifier"}
data: {factory: "wince.demo.models:digits_data", limit: 40}
perturbations:
  - {name: image.exposure, values: [-0.6, 0.6]}
  - {name: image.imagenet_c_elastic_transform, levels: [1, 3]}
  - {name: image.jpeg, levels: [1, 5]}
combinations: pairwise
repeats: 1
"""


def wince(*args, columns=80):
    env = {**os.environ, "COLUMNS": str(columns)}
    result = subprocess.run(
        [sys.executable, "-m", "wince", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    return result


def assert_whole(output, names, columns=80):
    lines = output.splitlines()
    for name in names:
        assert any(name in line for line in lines), f"{name!r} is not whole in:\n{output}"
    for line in lines:
        # a name longer than the width stands on its own line (a reason's colon after it)
        alone = line.strip().removesuffix(":")
        assert len(line) <= columns or any(alone == name for name in names), line
    assert "…" not in output


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("narrow")
    plan = folder / "plan.yaml"
    plan.write_text(PLAN)
    store = folder / "store"
    ran = wince("run", plan, "--store", store, "--json")
    assert ran.returncode == 0, ran.stderr
    analyzed = wince("analyze", "latest", "--store", store, "--json")
    assert analyzed.returncode == 0, analyzed.stderr
    return store


def library():
    """The perturbations wince ships (not those other tests registered in this process)."""
    return {n: c for n, c in registry().items() if c.__module__.startswith("wince.")}


def test_perturbations_prints_every_name_whole_at_80_columns():
    listed = wince("perturbations")
    assert listed.returncode == 0, listed.stderr
    assert_whole(listed.stdout, list(library()))
    parameters = [cls.magnitude.name for cls in library().values()]
    assert_whole(listed.stdout, parameters)


def test_perturbations_of_one_modality_fit_a_table_without_cutting_a_name():
    listed = wince("perturbations", "--modality", "text")
    names = [name for name in library() if name.startswith("text.")]
    assert_whole(listed.stdout, names)
    assert "┃ name" in listed.stdout  # still a table: the wide columns were dropped
    assert "effect" not in listed.stdout


def stress_flags(listed: str, fmt: str) -> dict[str, str]:
    """Each listed perturbation's `stress` cell, from a CSV or TSV listing."""
    dialect = "excel" if fmt == "csv" else "excel-tab"
    return {
        row["name"]: row["stress"] for row in csv.DictReader(io.StringIO(listed), dialect=dialect)
    }


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_perturbations_mark_the_stress_tests_in_csv_and_tsv(fmt):
    listed = wince("perturbations", "--modality", "image", "--format", fmt)
    assert listed.returncode == 0, listed.stderr
    images = {n: c for n, c in library().items() if n.startswith("image.")}
    expected = {name: "yes" if cls.stress else "no" for name, cls in images.items()}
    assert stress_flags(listed.stdout, fmt) == expected
    assert set(expected.values()) == {"yes", "no"}  # the library has both kinds


def test_perturbations_mark_the_stress_tests_in_json_and_in_a_table():
    listed = json.loads(wince("perturbations", "--json").stdout)
    assert {d["name"]: d["stress"] for d in listed} == {
        name: cls.stress for name, cls in library().items()
    }
    table = wince("perturbations", "--modality", "text", "--wide").stdout
    header = next(line for line in table.splitlines() if "┃ name" in line)
    realistic = [cell.strip() for cell in header.split("┃")].index("realistic")
    ranges = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.split("│")]
        if len(cells) > realistic and cells[1] in library():
            ranges[cells[1]] = cells[realistic]
    texts = {n: c for n, c in library().items() if n.startswith("text.")}
    assert set(ranges) == set(texts)
    for name, cls in texts.items():
        low, high = cls.magnitude.realistic
        marker = " (stress test)" if cls.stress else ""
        assert ranges[name] == f"{low:g} .. {high:g}{marker}"


def test_perturbations_of_one_modality_keep_the_stress_marker_at_80_columns():
    table = wince("perturbations", "--modality", "text").stdout
    assert "┃ name" in table
    stressed = sum(cls.stress for name, cls in library().items() if name.startswith("text."))
    assert stressed > 0
    assert table.count("(stress") == stressed


def test_realistic_leaves_the_stress_tests_out():
    listed = wince("perturbations", "--realistic", "--format", "csv")
    assert listed.returncode == 0, listed.stderr
    flags = stress_flags(listed.stdout, "csv")
    assert set(flags) == {name for name, cls in library().items() if not cls.stress}
    assert set(flags.values()) == {"no"}


def test_show_prints_every_scenario_name_whole_at_80_columns(store):
    rows = json.loads(wince("show", "latest", "--store", store, "--json").stdout)["rows"]
    scenarios = {row["scenario"] for row in rows}
    assert any(len(name) > 80 for name in scenarios)  # pairs of long names
    shown = wince("show", "latest", "--store", store)
    assert shown.returncode == 0, shown.stderr
    assert_whole(shown.stdout, scenarios)


def test_gate_prints_every_subject_whole_at_80_columns(store, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - {check: max_flip_rate, max: 0.01}\n")
    checks = json.loads(
        wince("gate", "latest", "--policy", policy, "--store", store, "--json").stdout
    )["checks"]
    gated = wince("gate", "latest", "--policy", policy, "--store", store)
    assert gated.returncode == 1, gated.stderr
    assert_whole(gated.stdout, {check["subject"] for check in checks})
    assert gated.stdout.count("FAIL") == len(checks)


def test_analyze_prints_tolerances_fragile_scenarios_and_breaking_points_at_80_columns(store):
    analyzed = wince("analyze", "latest", "--store", store, "--breaking-points", "--no-regions")
    assert analyzed.returncode == 0, analyzed.stderr
    listed = wince("analyze", "latest", "--store", store, "--no-regions", "--json")
    fragile = [row["scenario"] for row in json.loads(listed.stdout)["fragile"]][:10]
    assert_whole(analyzed.stdout, ["flip_rate", "image.jpeg", "image.exposure", *fragile])
    tolerances = [line for line in analyzed.stdout.splitlines() if "flip_rate" in line]
    assert "default" in tolerances[0]  # the plan sets none
    assert "breaking points (median over samples, 95% interval)" in analyzed.stdout
    shown = wince("analyze", "latest", "--store", store, "--breaking-points", "--json")
    records = {r["entry"]: r for r in json.loads(shown.stdout)["breaking_points"]}
    assert set(records) == {"image.exposure", "image.imagenet_c_elastic_transform", "image.jpeg"}
    assert records["image.jpeg"]["unit"] == "libjpeg quality"
    assert records["image.jpeg"]["samples"] == 40


def test_runs_prints_ids_and_names_whole_and_wide_prints_every_column(store):
    listed = wince("runs", "--store", store, columns=40)
    run = json.loads(wince("runs", "--store", store, "--json").stdout)[0]
    assert_whole(listed.stdout, [run["run_id"], run["name"]], columns=40)
    wide = wince("runs", "--store", store, "--wide", columns=40)
    assert "created_at" in wide.stdout
    assert run["created_at"][:19] in wide.stdout


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_listings_print_csv_and_tsv(store, fmt):
    separator = "," if fmt == "csv" else "\t"
    listed = wince("perturbations", "--modality", "audio", "--format", fmt)
    header, *rows = listed.stdout.splitlines()
    assert header.split(separator)[:3] == ["name", "v", "parameter"]
    assert len(rows) == sum(name.startswith("audio.") for name in registry())
    shown = wince("show", "latest", "--store", store, "--metric", "flip_rate", "--format", fmt)
    header, *rows = shown.stdout.splitlines()
    assert header.split(separator)[:4] == ["scenario", "kind", "severity", "metric"]
    assert {row.split(separator)[3] for row in rows} == {"flip_rate"}


def test_format_json_is_the_json_option_and_an_unknown_format_is_an_error(store):
    by_format = wince("runs", "--store", store, "--format", "json").stdout
    assert json.loads(by_format) == json.loads(wince("runs", "--store", store, "--json").stdout)
    wrong = wince("runs", "--store", store, "--format", "tvs")
    assert wrong.returncode == 2
    assert "did you mean 'tsv'" in wrong.stderr

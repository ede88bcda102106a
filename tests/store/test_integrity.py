"""A damaged or misplaced outcome segment is named with its fix, and `wince run` repairs it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from wince.cli import app
from wince.store import open_store

PLAN = """\
name: integrity
model: {factory: "wince.demo.models:digits_classifier"}
data: {factory: "wince.demo.models:digits_data", limit: 40}
perturbations:
  - {name: image.jpeg, levels: [5]}
repeats: 1
batch_size: 10
"""
DAMAGED = 1  # the second unit: samples 10-19


def wince(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    escaped = result.exception if not isinstance(result.exception, SystemExit) else None
    assert escaped is None, f"wince {args} raised {escaped!r}"
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, pd.DataFrame]:
    """A clean run of 4 units in a store folder: (folder, run id, outcomes)."""
    folder = tmp_path_factory.mktemp("clean")
    (folder / "plan.yaml").write_text(PLAN)
    code, output = wince("run", folder / "plan.yaml", "--store", folder / "store")
    assert code == 0, output
    store = open_store(folder / "store")
    run_id = store.resolve("latest")
    outcomes = store.outcomes(run_id)
    store.close()
    return folder, run_id, outcomes


def truncate(segment: Path, other: Path) -> None:
    segment.write_bytes(segment.read_bytes()[: segment.stat().st_size // 2])


def flip_footer_bit(segment: Path, other: Path) -> None:
    content = bytearray(segment.read_bytes())
    content[-7] ^= 0x01  # the footer's length, before the closing magic bytes
    segment.write_bytes(bytes(content))


def empty(segment: Path, other: Path) -> None:
    segment.write_bytes(b"")


def swap(segment: Path, other: Path) -> None:
    shutil.copyfile(other, segment)  # a valid segment, of another unit


def damaged_copy(clean: tuple[Path, str, pd.DataFrame], tmp_path: Path, damage: Callable) -> Path:
    folder, run_id, _ = clean
    shutil.copytree(folder, tmp_path, dirs_exist_ok=True)
    segments = sorted((tmp_path / "store" / "segments" / run_id).glob("*.parquet"))
    assert len(segments) == 4
    damage(segments[DAMAGED], segments[DAMAGED + 1])
    return tmp_path / "store"


@pytest.mark.slow
@pytest.mark.parametrize("damage", [truncate, flip_footer_bit, empty, swap])
def test_a_damaged_segment_is_named_by_every_reader_and_repaired_by_run(clean, tmp_path, damage):
    _, run_id, outcomes = clean
    store = damaged_copy(clean, tmp_path, damage)
    for command in (
        ["show", "latest"],
        ["analyze", "latest"],
        ["export", "latest", "--parquet", tmp_path / "out"],
        ["report", "latest", "--out", tmp_path / "report.html"],
    ):
        code, output = wince(*command, "--store", store)
        assert code == 2, (command, output)
        said = " ".join(output.split())
        assert f"run {run_id}" in said, (command, output)
        assert "samples 10-19" in said, (command, output)
        assert "wince run PLAN" in said
    assert not (tmp_path / "out").exists()
    code, output = wince("verify", "latest", "--store", store)
    assert code == 1, output
    assert "samples 10-19" in " ".join(output.split())

    code, output = wince("run", tmp_path / "plan.yaml", "--store", store)
    assert code == 0, output
    assert "reused" not in output  # the damaged unit was evaluated again
    repaired = open_store(store)
    pd.testing.assert_frame_equal(repaired.outcomes(run_id), outcomes)
    assert repaired.run(run_id)["status"] == "complete"
    assert repaired.run(run_id)["lineage"]["repaired_units"][0]["start"] == 10
    repaired.close()
    code, output = wince("verify", "latest", "--store", store, "--fraction", "1")
    assert code == 0, output


@pytest.mark.slow
def test_a_changed_data_page_is_found_by_its_checksum_and_repaired(clean, tmp_path):
    _, run_id, outcomes = clean

    def flip_middle_bit(segment: Path, other: Path) -> None:
        content = bytearray(segment.read_bytes())
        content[len(content) // 2] ^= 0x10  # inside the data: the footer still reads
        segment.write_bytes(bytes(content))

    store = damaged_copy(clean, tmp_path, flip_middle_bit)
    opened = open_store(store)
    assert opened.damaged_units(run_id) == []  # the cheap check reads only the footer
    (unit,) = opened.damaged_units(run_id, full=True)
    assert (unit.start, unit.stop) == (10, 20)
    assert "checksum" in unit.problem
    opened.close()
    code, output = wince("verify", "latest", "--store", store)
    assert code == 1
    assert "samples 10-19" in " ".join(output.split())
    assert "checksum" in output
    code, output = wince("run", tmp_path / "plan.yaml", "--store", store)
    assert code == 0, output
    repaired = open_store(store)
    pd.testing.assert_frame_equal(repaired.outcomes(run_id), outcomes)
    assert repaired.damaged_units(run_id, full=True) == []
    repaired.close()


@pytest.mark.slow
def test_a_clean_resume_reuses_the_run_untouched(clean, tmp_path):
    _, run_id, _ = clean
    store = damaged_copy(clean, tmp_path, lambda segment, other: None)
    code, output = wince("run", tmp_path / "plan.yaml", "--store", store)
    assert code == 0
    assert "reused" in output
    assert "repaired_units" not in open_store(store).run(run_id)["lineage"]

"""The CLI's last line of defence: one paragraph per error, --debug, escaped terminal output and
files written whole or not at all (#20 parts 4 and 8). Bad inputs are in tests/corpus/cli.yaml.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from wince.cli import app, escape_controls
from wince.errors import WinceError
from wince.files import write_file

TINY_PLAN = """\
name: tiny
model: {factory: "wince.demo.models:digits_classifier"}
data: {factory: "wince.demo.models:digits_data", limit: 20}
perturbations: [{name: image.jpeg, levels: [1]}]
"""


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_control_characters_are_shown_as_escapes_and_text_is_kept() -> None:
    text = "a\x1b[2Jb\x9b31m\x07\x00\x7f\r\tc\nd é"
    assert escape_controls(text) == "a\\x1b[2Jb\\x9b31m\\x07\\x00\\x7f\\x0d\tc\nd é"


def test_invisible_characters_that_disguise_text_are_shown_as_escapes() -> None:
    text = "invoice\u202egnp.exe \u2066x\u2069 a\u200bb\u200f \u2028\u2029\ufeff é\u00a0"
    assert escape_controls(text) == (
        "invoice\\u202egnp.exe \\u2066x\\u2069 a\\u200bb\\u200f \\u2028\\u2029\\ufeff é\u00a0"
    )


DISGUISED_PLAN = TINY_PLAN.replace("name: tiny", 'name: "\\u202egnp\\u200b\\u2066x\\ufeff"')


def test_runs_and_show_escape_direction_overrides_and_json_stays_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WINCE_STORE", os.fspath(tmp_path / "store"))
    (tmp_path / "plan.yaml").write_text(DISGUISED_PLAN, encoding="utf-8")
    assert invoke("run", "plan.yaml").exit_code == 0
    listed = invoke("runs")
    shown = invoke("show", "latest")
    for result in (listed, shown):
        assert result.exit_code == 0, result.output
        assert "\\u202egnp" in result.output
        assert not set("\u202e\u200b\u2066\ufeff") & set(result.output)
    assert "\\u202egnp\\u200b\\u2066x\\ufeff" in shown.output
    as_json = invoke("runs", "--json")
    assert as_json.output.isascii()
    assert json.loads(as_json.output)[0]["name"] == "\u202egnp\u200b\u2066x\ufeff"


@pytest.fixture
def plan_failing_with(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Make `wince plan validate` fail with a given exception (as an unforeseen bug would)."""
    monkeypatch.chdir(tmp_path)

    def install(error: BaseException) -> None:
        def load_plan(path: object, **options: object) -> None:
            raise error

        monkeypatch.setattr("wince.plan.load_plan", load_plan)

    return install


def test_an_unforeseen_exception_is_one_paragraph_with_exit_1(plan_failing_with: Any) -> None:
    plan_failing_with(TypeError("unsupported operand"))
    result = invoke("plan", "validate", "plan.yaml")
    assert result.exit_code == 1
    assert "internal error: TypeError: unsupported operand" in result.output
    assert "--debug" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_an_unforeseen_os_error_is_an_input_error_with_exit_2(plan_failing_with: Any) -> None:
    plan_failing_with(IsADirectoryError(errno.EISDIR, "Is a directory", "plans"))
    result = invoke("plan", "validate", "plan.yaml")
    assert result.exit_code == 2
    assert "IsADirectoryError" in result.output
    assert "plans" in result.output
    assert "internal error" not in result.output


def test_sys_exit_in_code_wince_runs_is_reported(plan_failing_with: Any) -> None:
    plan_failing_with(SystemExit(4))
    result = invoke("plan", "validate", "plan.yaml")
    assert result.exit_code == 1
    assert "sys.exit(4)" in result.output


def test_debug_shows_the_traceback(plan_failing_with: Any) -> None:
    plan_failing_with(TypeError("unsupported operand"))
    result = invoke("--debug", "plan", "validate", "plan.yaml")
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.output
    assert "in load_plan" in result.output
    assert result.output.rstrip().endswith("report it with that traceback.")


def test_an_interrupted_write_leaves_the_earlier_file_and_no_debris(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    assert write_file(target, "first report", what="--out") == len("first report")

    def half_then_full_disk(path: Path) -> None:
        path.write_text("second re", encoding="utf-8")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(WinceError, match="No space left on device") as raised:
        write_file(target, half_then_full_disk, what="--out")
    assert str(target) in str(raised.value)
    assert target.read_text(encoding="utf-8") == "first report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_a_device_is_written_in_place_not_replaced(tmp_path: Path) -> None:
    assert write_file(Path("/dev/null"), b"discarded", what="--out") == 0
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_report_on_a_full_disk_keeps_the_earlier_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WINCE_STORE", os.fspath(tmp_path / "store"))
    (tmp_path / "plan.yaml").write_text(TINY_PLAN, encoding="utf-8")
    assert invoke("run", "plan.yaml").exit_code == 0
    first = invoke("report", "latest", "--out", "out/report.html", "--format", "json")
    assert first.exit_code == 0, first.output
    earlier = (tmp_path / "out" / "report.html").read_bytes()
    assert len(earlier) > 1000

    original_write_text = Path.write_text

    def full_disk(self: Path, data: str, *args: Any, **kwargs: Any) -> int:
        original_write_text(self, data[: len(data) // 2], *args, **kwargs)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_text", full_disk)
    result = invoke("report", "latest", "--out", "out/report.html")
    assert result.exit_code == 2
    assert "No space left on device" in result.output
    assert "out/report.html" in result.output
    assert (tmp_path / "out" / "report.html").read_bytes() == earlier
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.html"]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs mounted for the test (needs root, as in CI), unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "wince-test-disk", os.fspath(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        reason = (
            f"a real full disk needs a tmpfs mounted at {disk}, and mount failed "
            f"({mounted.stderr.strip() or mounted.returncode}); run the tests as root"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI is set: {reason}.")
        pytest.skip(reason)
    try:
        yield disk
    finally:
        subprocess.run(["umount", os.fspath(disk)], check=True)


def fill(disk: Path) -> None:
    """Take every free block of `disk` with one file, so that the next write hits ENOSPC."""
    usage = os.statvfs(disk)
    with (disk / "filler").open("wb") as filler:
        os.posix_fallocate(filler.fileno(), 0, usage.f_bavail * usage.f_frsize)
    assert os.statvfs(disk).f_bavail == 0


def test_report_on_a_real_full_disk_keeps_the_earlier_report(
    small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WINCE_STORE", os.fspath(tmp_path / "store"))
    (tmp_path / "plan.yaml").write_text(TINY_PLAN, encoding="utf-8")
    assert invoke("run", "plan.yaml").exit_code == 0
    report = small_disk / "report.html"
    first = invoke("report", "latest", "--out", os.fspath(report))
    assert first.exit_code == 0, first.output
    earlier = report.read_bytes()
    assert b"<html" in earlier
    fill(small_disk)

    result = invoke("report", "latest", "--out", os.fspath(report))

    assert result.exit_code == 2, result.output
    assert f"cannot write {report} (No space left on device)" in result.output
    assert report.read_bytes() == earlier
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "report.html"]


def wince_process(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """`wince ARGS` in a fresh interpreter (the installed entry point's module)."""
    command = [sys.executable, "-m", "wince", *args]
    return subprocess.run(command, text=True, check=False, **kwargs)


def test_output_closed_by_its_reader_ends_wince_quietly_as_a_pipe_would(tmp_path: Path) -> None:
    """`wince show | head`: the reader closing the pipe is no error of a model's."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before wince writes a byte
    try:
        result = wince_process("perturbations", stdout=write_end, stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    assert result.returncode == 141
    assert result.stderr == ""


def test_warnings_print_as_one_line_without_wince_s_source(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "name: far\nperturbations:\n  - {name: image.rotation, values: [5, 40]}\n",
        encoding="utf-8",
    )
    result = wince_process("plan", "validate", str(plan), capture_output=True)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines
    assert all(line.startswith("warning: RealismWarning: ") for line in lines)
    assert "40" in lines[0]
    assert "image.rotation" in lines[0]
    assert ".py:" not in result.stderr

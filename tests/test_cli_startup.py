"""`wince --help` and `wince --version` start without the heavy libraries (issue #21).

Start-up time itself is measured in benchmarks/startup.py; here, which modules get imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from wince.version import wince_version

HEAVY_MODULES = {
    "cv2",
    "duckdb",
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "sklearn",
    "sqlalchemy",
    "typer.rich_utils",
    "wince.api",
    "wince.plan",
    "wince.realism.calibrate",
    "wince.realism.calibration",
    "wince.store",
}


def imported_by_cli(*args: str) -> tuple[str, list[str]]:
    """The output of `wince ARGS` run in a fresh interpreter, and the heavy modules it imported."""
    script = textwrap.dedent(
        f"""
        import contextlib, io, json, sys
        sys.argv = ["wince", *{list(args)!r}]
        from wince.cli import main
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed), contextlib.suppress(SystemExit):
            main()
        heavy = {sorted(HEAVY_MODULES)!r}
        print(json.dumps([printed.getvalue(), sorted(m for m in heavy if m in sys.modules)]))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    printed, heavy = json.loads(result.stdout)
    return printed, heavy


@pytest.mark.parametrize("args", [("--help",), ("--version",), ("plan", "--help")])
def test_help_and_version_import_no_heavy_module(args):
    printed, heavy = imported_by_cli(*args)
    assert heavy == []
    assert printed.strip()


def test_version_prints_the_installed_version():
    printed, _ = imported_by_cli("--version")
    assert printed.strip() == f"wince {wince_version()}"


def test_help_lists_the_commands_and_the_version_option():
    printed, _ = imported_by_cli("--help")
    for command in ("perturbations", "run", "show", "gate", "analyze", "plan"):
        assert f"  {command} " in printed
    assert "--version" in printed


def test_the_package_imports_its_public_names_on_first_use():
    script = (
        "import sys, wince; before = 'pandas' in sys.modules; "
        "run = wince.Run; print(before, run.__module__, 'Run' in dir(wince))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.split() == ["False", "wince.api", "True"]
    import wince

    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        _ = wince.not_a_name


def test_subpackages_are_attributes_of_the_package_as_the_guide_writes_them():
    script = (
        "import sys, wince; light = 'pandas' not in sys.modules; "
        "dataset = wince.datasets.ArrayDataset; adapter = wince.models.CallableAdapter; "
        "print(light, dataset.__name__, adapter.__name__, 'pytest' in sys.modules, "
        "'realism' in dir(wince))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.split() == ["True", "ArrayDataset", "CallableAdapter", "False", "True"]

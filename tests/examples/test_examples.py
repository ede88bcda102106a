"""Every example in `examples/` runs offline at reduced size (`main(quick=True)`).

An example is a script with `main(quick: bool)`; this test imports it from its file and runs
it with the network disabled, in a temporary working directory. Examples with assertions of
their own are tested by their own file and listed in `TESTED_ELSEWHERE`, never skipped here.
"""

from __future__ import annotations

import importlib.util
import inspect
import socket
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from require import require_module

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TESTS = Path(__file__).resolve().parent

# example file -> the test file that runs it (with checks specific to what it shows)
TESTED_ELSEWHERE = {
    "harden_audio.py": "test_harden_examples.py",
    "harden_digits.py": "test_harden_digits.py",
    "harden_digits_tta.py": "test_harden_examples.py",
    "harden_tabular.py": "test_harden_examples.py",
    "harden_text.py": "test_harden_examples.py",
    "ocr_robustness.py": "test_robustness_examples.py",
    "speech_robustness.py": "test_robustness_examples.py",
    "detection_robustness.py": "test_robustness_examples.py",
}
# example file -> (module, wince extra) it needs beyond the runtime dependencies
NEEDS = {
    "torch_cnn.py": (("torch", "torch"),),
    "transformers_text.py": (("transformers", "huggingface"),),
}
TORCH_EXTRAS = {"torch", "huggingface"}  # the extras that install torch


def example_files() -> list[Path]:
    """The example scripts; `_name.py` files are helpers the examples share."""
    return sorted(
        p
        for p in EXAMPLES.glob("*.py")
        if p.name not in TESTED_ELSEWHERE and not p.name.startswith("_")
    )


def needs_torch(path: Path) -> bool:
    return any(extra in TORCH_EXTRAS for _, extra in NEEDS.get(path.name, ()))


def example_params() -> list[Any]:
    """The example scripts as test parameters; those needing torch are marked `torch`."""
    return [
        pytest.param(
            path,
            id=path.stem,
            marks=[pytest.mark.torch] if needs_torch(path) else [],
        )
        for path in example_files()
    ]


def load(path: Path) -> ModuleType:
    for module_name, extra in NEEDS.get(path.name, ()):
        require_module(module_name, extra)  # skips the example, or fails under CI
    if str(EXAMPLES) not in sys.path:  # as when run as a script: its folder is importable
        sys.path.insert(0, str(EXAMPLES))
    name = f"wince_example_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def refuse_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any attempt to open a network connection fail, until `monkeypatch` undoes it."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("examples must run offline; this one tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any attempt to open a network connection."""
    refuse_connections(monkeypatch)


def test_examples_tested_elsewhere_have_their_own_test_file():
    for example, test_file in TESTED_ELSEWHERE.items():
        assert (EXAMPLES / example).is_file(), f"examples/{example} no longer exists"
        assert (TESTS / test_file).is_file(), f"examples/{example} needs {test_file}"


def test_examples_exist():
    assert example_files(), "no examples found"


def test_examples_needing_an_extra_exist():
    assert set(NEEDS) <= {p.name for p in example_files()}


@pytest.mark.parametrize("path", example_params())
def test_every_example_has_a_quick_main(path):
    module = load(path)
    main = getattr(module, "main", None)
    assert callable(main), f"{path.name} has no main()"
    assert "quick" in inspect.signature(main).parameters, f"{path.name}: main(quick=...)"
    assert (module.__doc__ or "").strip(), f"{path.name} has no docstring saying what it shows"


@pytest.mark.parametrize("path", example_params())
@pytest.mark.usefixtures("offline")
@pytest.mark.slow
def test_example_runs_offline_at_reduced_size(path, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main = load(path).main
    kwargs = (
        {"out_dir": tmp_path / "out"} if "out_dir" in inspect.signature(main).parameters else {}
    )

    result = main(quick=True, **kwargs)

    printed = capsys.readouterr().out
    assert "report:" in printed, f"{path.name} prints no headline findings and report"
    report = Path(result["report"])
    assert report.is_file()
    assert report.stat().st_size > 10_000
    assert not result["verdicts"].empty

r"""The bad-input corpus: every case exits with its code and says what is wrong, never a traceback.

Each `*.yaml` file here is a list of cases:

    - id: unknown-perturbation            # unique across the corpus
      files: {plan.yaml: "name: x ..."}   # written into a fresh folder first (optional);
                                          # a value is text, {hex: "..."} for bytes, or
                                          # {text: "[", times: 5000} for a repeated text
      setup: [[run, plan.yaml]]           # commands run first, each must exit 0 (optional)
      args: [plan, validate, plan.yaml]   # the `wince` command line, run in that folder
      exit: 2                             # expected exit code
      says: ["perturbations[0]", "did you mean"]   # words the output must hold (any case)
      never: ["\e"]                       # text the output must not hold (optional)

The command runs in-process (typer's test runner), so a case costs milliseconds; an exception
that escapes the CLI fails its case with the traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from wince.cli import app

HERE = Path(__file__).parent


def load_cases() -> list[dict[str, Any]]:
    cases = [
        {**case, "source": path.name}
        for path in sorted(HERE.glob("*.yaml"))
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))
    ]
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids)), "corpus ids must be unique"
    return cases


def content(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if "hex" in value:
        return bytes.fromhex(value["hex"])
    return (value["text"] * value["times"]).encode()


CASES = load_cases()


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (case.get("files") or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content(value))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WINCE_STORE", os.fspath(tmp_path / "store"))
    for command in case.get("setup") or []:
        prepared = CliRunner().invoke(app, [str(a) for a in command])
        assert prepared.exit_code == 0, f"{case['id']}: setup {command}: {prepared.output}"
    result = CliRunner().invoke(app, [str(a) for a in case["args"]])
    escaped = result.exception if not isinstance(result.exception, SystemExit) else None
    assert escaped is None, f"{case['source']}:{case['id']} raised {escaped!r}"
    output = result.output.lower()
    assert "traceback (most recent call last)" not in output
    assert result.exit_code == case["exit"], result.output
    for words in case["says"]:
        assert words.lower() in output, f"{case['id']}: {words!r} not in {result.output!r}"
    for words in case.get("never") or []:
        assert words.lower() not in output, f"{case['id']}: {words!r} in {result.output!r}"

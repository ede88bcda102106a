"""The README's Python example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def test_the_readme_python_example_runs_as_written(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert blocks, "the README has no Python example"
    monkeypatch.chdir(tmp_path)  # its store (.wince) goes here
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    verdicts = namespace["profile"].verdicts.scenarios
    assert set(verdicts["verdict"]) <= {"fragile", "robust", "inconclusive"}
    assert len(verdicts) == 6  # three levels of each of the two perturbations
    assert (tmp_path / ".wince").is_dir()

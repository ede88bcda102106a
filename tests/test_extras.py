"""Without its optional extras, wince runs and says which extra a feature needs (issue #24).

The report's Altair and vl-convert (`wince[report]`) and the demo's vaderSentiment
(`wince[demo]`) are not core dependencies. Each test runs a fresh interpreter in which those
packages cannot be imported, as on a machine where only `pip install wince` ran.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

BLOCK_EXTRAS = """
import sys
for name in ("altair", "vl_convert", "vaderSentiment"):
    sys.modules[name] = None  # `import name` raises ImportError, as when not installed
"""

PLAN = """
name: no-extras
model: {factory: "wince.demo.models:digits_classifier"}
data: {factory: "wince.demo.models:digits_data", limit: 40}
perturbations:
  - {name: image.gaussian_noise, levels: [1, 3]}
seed: 0
"""


def run_without_extras(body: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `body` in a fresh interpreter that cannot import the extras' packages."""
    script = BLOCK_EXTRAS + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=600
    )


def test_a_run_works_and_the_report_names_the_report_extra(tmp_path):
    (tmp_path / "plan.yaml").write_text(PLAN)
    result = run_without_extras(
        """
        import sys
        from typer.testing import CliRunner
        from wince.cli import app

        runner = CliRunner()
        ran = runner.invoke(app, ["run", "plan.yaml", "--no-progress"])
        print("RUN", ran.exit_code)
        reported = runner.invoke(app, ["report", "latest"])
        print("REPORT", reported.exit_code)
        print(reported.output)
        print("ALTAIR", sys.modules.get("altair"))
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "RUN 0" in result.stdout
    assert "REPORT 2" in result.stdout  # a usage error: fixable by the user
    assert "altair is not installed, and the HTML report needs it" in result.stdout
    assert "pip install 'wince[report]'" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_the_demo_text_model_names_the_demo_extra(tmp_path):
    result = run_without_extras(
        """
        from wince.demo.models import sentiment_classifier
        from wince.extras import MissingExtraError

        try:
            sentiment_classifier()
        except MissingExtraError as error:
            print("ERROR", error)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "ERROR vaderSentiment is not installed, and the demo's sentiment model needs it" in (
        result.stdout
    )
    assert "pip install 'wince[demo]'" in result.stdout

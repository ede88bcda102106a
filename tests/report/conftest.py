"""Runs shared by the report tests: the digits demo, breast cancer (smaller budget), and text."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_support import ARTIFACTS, PARITY_CLASSES, parity, text_data

from wince.api import Run, analyze
from wince.demo.run import plan_path
from wince.errors import PrecisionWarning
from wince.models.base import CallableAdapter
from wince.plan import load_plan
from wince.report import Report, build_report
from wince.store.store import Store


def _smaller(name: str, *, limit: int | None) -> object:
    """A bundled demo plan with a smaller bootstrap and global-sensitivity budget."""
    plan = load_plan(plan_path(name))
    analysis = plan.analysis.model_copy(
        update={
            "bootstrap": 200,
            "global_sensitivity": plan.analysis.global_sensitivity.model_copy(
                update={"n_base": 16, "samples": 60}
            ),
        }
    )
    update: dict[str, object] = {"analysis": analysis}
    if limit is not None and plan.data is not None:
        update["data"] = plan.data.model_copy(update={"limit": limit})
    return plan.model_copy(update=update)


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return Store(root=tmp_path_factory.mktemp("report-store"))


@pytest.fixture(scope="session")
def digits_run(store: Store) -> Run:
    """The digits demo run exactly as `make demo` makes it, analysed as the demo does."""
    run = analyze(plan=load_plan(plan_path("digits.yaml")), store=store)
    with pytest.warns(PrecisionWarning, match="less precise than asked"):  # its quick design
        run.profile(breaking_points=True, global_sensitivity=True)
    return run


@pytest.fixture(scope="session")
def cancer_run(store: Store) -> Run:
    """The breast-cancer demo plan (tabular), analysed with breaking points."""
    run = analyze(plan=_smaller("breast_cancer.yaml", limit=None), store=store)
    run.profile(breaking_points=True)
    return run


@pytest.fixture(scope="session")
def text_run(store: Store) -> Run:
    """A text model whose inputs carry a script tag; typos flip about half its predictions."""
    plan = {
        "name": "xss-text",
        "perturbations": [{"name": "text.typos", "severities": [0.5, 1.0]}],
        "repeats": 2,
        "analysis": {"bootstrap": 200},
    }
    model = CallableAdapter(parity, fingerprint="parity", classes=PARITY_CLASSES)
    return analyze(model, text_data(), plan, store=store)


@pytest.fixture(scope="session")
def digits_report(digits_run: Run) -> Report:
    """The digits run's report, assembled once."""
    return build_report(digits_run.store, digits_run.id)


@pytest.fixture(scope="session")
def digits_html(digits_report: Report) -> Path:
    """The digits report written to the test artefacts folder."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / "demo-digits-report.html"
    target.write_text(digits_report.html(), encoding="utf-8")
    return target


@pytest.fixture(scope="session")
def text_html(text_run: Run) -> Path:
    """The text report, with its inputs passed in (the plan has no data section)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / "xss-text-report.html"
    report = build_report(text_run.store, text_run.id, data=text_data())
    target.write_text(report.html(), encoding="utf-8")
    return target

"""Runs shared by the report tests: the digits demo, breast cancer (smaller budget), and text."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from report_support import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    DEMO_SHORT_NAMES,
    HARDENED_DEMOS,
    PARITY_CLASSES,
    parity,
    text_data,
)

import wince
from require import require_module, require_service
from wince.api import Run
from wince.demo.run import PLANS, plan_path
from wince.errors import PrecisionWarning
from wince.models.base import CallableAdapter
from wince.plan import Plan, load_plan
from wince.report import Report, build_report
from wince.store.store import Store


def _smaller(name: str, *, limit: int | None) -> Plan:
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
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's Chromium through Playwright, offline (skips without it, but under CI)."""
    require_service(
        "Chromium", None if CHROMIUM.exists() else f"no {CHROMIUM} (apt-get install -y chromium)"
    )
    sync_playwright = require_module("playwright.sync_api", "dev").sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1100, "height": 900},
        )  # fmt: skip
        yield context
        context.close()


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return Store(root=tmp_path_factory.mktemp("report-store"))


@pytest.fixture(scope="session")
def digits_run(store: Store) -> Run:
    """The digits demo run exactly as `make demo` makes it, analysed as the demo does."""
    run = wince.run(plan=load_plan(plan_path("digits.yaml")), store=store)
    with pytest.warns(PrecisionWarning, match="less precise than asked"):  # its quick design
        run.analyze(breaking_points=True, global_sensitivity=True)
    return run


@pytest.fixture(scope="session")
def cancer_run(store: Store) -> Run:
    """The breast-cancer demo plan (tabular), analysed with breaking points."""
    run = wince.run(plan=_smaller("breast_cancer.yaml", limit=None), store=store)
    run.analyze(breaking_points=True)
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
    return wince.run(model, text_data(), plan, store=store)


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


@pytest.fixture(scope="session")
def demo_htmls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every bundled demo plan on 60 samples, two repeats, analysed as `wince demo` does.

    Keys are short names (digits, tabular, text, audio); values the written HTML reports.
    The text and tabular runs are hardened first (`HARDENED_DEMOS`).
    """
    store = Store(root=tmp_path_factory.mktemp("demo-store"))
    folder = tmp_path_factory.mktemp("demo-reports")
    written = {}
    for name in PLANS:
        plan = _smaller(name, limit=60)
        run = wince.run(plan=plan.model_copy(update={"repeats": 2}), store=store)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PrecisionWarning)  # the small design is imprecise
            run.analyze(
                breaking_points=True,
                global_sensitivity=len(plan.perturbations) > 1,
            )
        short = DEMO_SHORT_NAMES[name]
        if short in HARDENED_DEMOS:
            run.harden(HARDENED_DEMOS[short])  # the report gets its measured defences section
        target = folder / f"{short}.html"
        target.write_text(build_report(store, run.id).html(), encoding="utf-8")
        written[short] = target
    return written

"""The HTML report in a real browser (Debian's Chromium through Playwright).

On a developer machine without Chromium or Playwright these tests skip; under CI (`CI` set to
anything; .ci/run installs Chromium) a missing browser fails them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from report_support import ARTIFACTS, SECTIONS, XSS


class Page:
    """A page that records console errors, page errors, dialogs and every request."""

    def __init__(self, context: Any) -> None:
        self.page = context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", self._dialog)
        self.page.route("**/*", self._route)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _route(self, route: Any) -> None:
        url = route.request.url
        self.requests.append(url)
        if url.startswith("file://"):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def open(self, path: Path) -> Any:
        self.page.goto(path.as_uri())
        self.page.wait_for_function(
            "document.querySelectorAll('.vega').length > 0 && "
            "[...document.querySelectorAll('.vega')].every(e => e.dataset.rendered === 'true')",
            timeout=20_000,
        )
        return self.page


def test_demo_report_renders_offline_with_every_section_and_tooltips(browser, digits_html):
    size = digits_html.stat().st_size
    print(f"\ndemo-digits HTML report: {size / 1e6:.2f} MB")
    assert size <= 3_000_000
    recorder = Page(browser)
    page = recorder.open(digits_html)
    for section in SECTIONS:
        locator = page.locator(f"#{section}")
        assert locator.is_visible(), section
        assert locator.inner_text().strip(), section
    assert page.locator(".vega svg").count() == 7
    assert page.locator(".case img").count() >= 9

    cell = page.locator("#fig-heatmap .vega svg [role=graphics-symbol]").first
    cell.scroll_into_view_if_needed()
    box = cell.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=3)
    tooltip = page.locator("#vg-tooltip-element.visible")
    tooltip.wait_for(state="visible", timeout=5_000)
    assert "estimate" in tooltip.inner_text()

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo-digits-report.png"), full_page=True)
    assert recorder.errors == []
    assert recorder.blocked == []
    assert recorder.requests == [digits_html.as_uri()]
    page.close()


def test_script_in_sample_text_shows_as_text_and_never_runs(browser, text_html):
    recorder = Page(browser)
    page = recorder.open(text_html)
    originals = page.locator(".case .original")
    assert originals.count() >= 1
    assert XSS in originals.first.inner_text()
    assert page.locator("main script").count() == 0
    page.wait_for_timeout(200)
    assert recorder.dialogs == []
    assert recorder.errors == []
    page.close()

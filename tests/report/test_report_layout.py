"""Every demo report laid out in a real browser: nothing overflows, legends match their lines.

Each bundled demo (digits, breast-cancer table, sentiment text, DTMF audio), built small, is
opened at a wide (1400 px) and a narrow (800 px) window; each section is screenshotted to the
test artefacts (build/test-artifacts/report/layout/) and measured in the page's DOM. Figures
are SVG, so their legend swatches and lines are read as drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from report_support import ARTIFACTS, HARDENED_DEMOS

WIDTHS = (1400, 800)
DEMOS = ("digits", "tabular", "text", "audio")

# Every table, figure, image and text block whose right edge passes its card's or section's
# content edge, and every card, section and figure wider inside than its box (scrollWidth).
OVERFLOWS = """() => {
  const problems = [];
  const name = e => e.tagName.toLowerCase() + (e.className && e.className.baseVal === undefined
    ? "." + String(e.className).split(" ").join(".") : "") + (e.id ? "#" + e.id : "");
  for (const box of document.querySelectorAll("main section, main .case, main .vega")) {
    if (box.scrollWidth > box.clientWidth + 1) {
      problems.push(`${name(box)} scrolls: ${box.scrollWidth} > ${box.clientWidth} px`);
    }
  }
  const items = "main table, main .vega svg, main img, main pre, main .text-diff, main audio";
  for (const item of document.querySelectorAll(items)) {
    const box = item.parentElement.closest(".case, section");
    const style = getComputedStyle(box);
    const edge = box.getBoundingClientRect().right - parseFloat(style.paddingRight)
      - parseFloat(style.borderRightWidth);
    const right = item.getBoundingClientRect().right;
    if (right > edge + 1) {
      problems.push(`${name(item)} in ${name(box)} ends at ${right} > ${edge} px`);
    }
  }
  if (document.documentElement.scrollWidth > window.innerWidth) {
    problems.push(`page scrolls sideways: ${document.documentElement.scrollWidth} px`);
  }
  return problems;
}"""

# Per figure: its legend swatches and its lines, as drawn (colour, dash, opacity).
LEGENDS = """() => [...document.querySelectorAll(".vega")].map(figure => {
  const look = p => ({
    stroke: p.getAttribute("stroke"),
    fill: p.getAttribute("fill"),
    dash: p.getAttribute("stroke-dasharray") || "1,0",
    opacity: Number(p.getAttribute("opacity") ?? 1)
      * Number(p.getAttribute("stroke-opacity") ?? p.getAttribute("fill-opacity") ?? 1),
  });
  return {
    key: figure.dataset.key,
    swatches: [...figure.querySelectorAll(".role-legend-symbol path")].map(look),
    lines: [...figure.querySelectorAll(".mark-line.role-mark path")].map(look),
    bars: [...figure.querySelectorAll(".mark-rect.role-mark path")].map(look),
  };
})"""


def _open(context: Any, path: Path, width: int) -> Any:
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(path.as_uri())
    page.wait_for_function(
        "[...document.querySelectorAll('.vega')].every(e => e.dataset.rendered === 'true')",
        timeout=30_000,
    )
    return page


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("demo", DEMOS)
def test_no_table_or_figure_overflows_its_card(browser, demo_htmls, demo, width):
    page = _open(browser, demo_htmls[demo], width)
    folder = ARTIFACTS / "layout"
    folder.mkdir(parents=True, exist_ok=True)
    sections = page.evaluate("[...document.querySelectorAll('main > section')].map(e => e.id)")
    assert {"summary", "fig-curves", "verdicts"} <= set(sections)
    assert ("hardening" in sections) == (demo in HARDENED_DEMOS)
    for section in sections:
        shot = folder / f"{demo}_{width}_{section.removeprefix('fig-')}.png"
        page.locator(f"#{section}").screenshot(path=str(shot))
    assert page.evaluate(OVERFLOWS) == []
    page.close()


@pytest.mark.parametrize("demo", DEMOS)
def test_legend_swatches_are_drawn_as_their_lines(browser, demo_htmls, demo):
    page = _open(browser, demo_htmls[demo], WIDTHS[0])
    figures = page.evaluate(LEGENDS)
    page.close()
    with_legend = [f for f in figures if f["swatches"]]
    assert with_legend, "no figure with a legend"
    for figure in with_legend:
        if figure["lines"]:
            drawn = {(line["stroke"], line["dash"]) for line in figure["lines"]}
            shown = {(s["stroke"], s["dash"]) for s in figure["swatches"]}
            # every line has its swatch, every swatch is a line: same colour, same dash
            assert shown == drawn, figure["key"]
            # no two entries alike (a facet repeats its lines in every panel)
            assert len(shown) == len(figure["swatches"]), figure["key"]
        else:  # bars: a swatch is a bar's fill
            drawn = {bar["fill"] for bar in figure["bars"]}
            assert {s["fill"] for s in figure["swatches"]} <= drawn, figure["key"]
        # as solid as the mark, not the pale tint of an interval band
        assert all(s["opacity"] == 1 for s in figure["swatches"]), figure["key"]

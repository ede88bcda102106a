"""The API reference documents what a notebook uses: the profile's parts, plots and `open`."""

from __future__ import annotations

from wince import docs


def test_api_reference_documents_the_profile_its_parts_and_plots() -> None:
    text = docs.api_reference()
    for name in (
        "wince.open",
        "wince.analysis.Profile",
        "wince.analysis.Curves",
        "wince.analysis.Verdicts",
        "wince.analysis.Interactions",
        "wince.plots.ProfilePlots",
    ):
        assert f"\n### `{name}`\n" in text
    assert "- `.plot` (property): The report's figures of this profile as Altair charts" in text
    assert "- `.fragile` (property): The fragile tests (rows of `tests`)" in text
    assert "- `.breaking_points() -> alt.TopLevelMixin`: Breaking points:" in text

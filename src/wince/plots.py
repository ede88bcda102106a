"""Charts of a sensitivity profile, for notebooks: the report's own figures as Altair charts.

`profile.plot.curves()`, `.heatmap()`, `.interactions()` and `.breaking_points()` build the
Vega-Lite specification the HTML report embeds (`wince.report.figures`), from the profile in
memory, and return it as an Altair chart: a notebook shows it with the report's metric
selector, tooltips and colour-blind-safe palette; `chart.save("curves.svg")` writes it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

import pandas as pd

from wince.errors import MissingAnalysisError
from wince.extras import missing_extra
from wince.report import figures
from wince.report.data import ReportData

try:
    import altair as alt
except ImportError as error:
    raise missing_extra("altair", "plotting a profile") from error

if TYPE_CHECKING:
    from wince.analysis.profile import Profile

__all__ = ["ProfilePlots"]


class ProfilePlots:
    """The figures of one profile (`Profile.plot`); each method returns an Altair chart.

    Args:
        profile: the analysed run.
    """

    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    @functools.cached_property
    def _data(self) -> ReportData:
        """The profile as the report's figures read it (analyses as their stored payloads)."""
        profile = self.profile
        return ReportData(
            run_id=profile.run_id,
            record=profile.record,
            scenarios=pd.DataFrame(),
            analyses=profile.payloads(),
        )

    def _chart(
        self, build: Callable[[ReportData], figures.Figure | None], missing: str
    ) -> alt.TopLevelMixin:
        figure = build(self._data)
        if figure is None:
            raise MissingAnalysisError(f"run {self.profile.run_id}: {missing}")
        return cast(alt.TopLevelMixin, alt.Chart.from_dict(figure.spec))

    def curves(self) -> alt.TopLevelMixin:
        """Sensitivity curves: each metric against severity, one line per plan entry.

        Severity 0 is off, 1 the severe end of the realistic range; 95% interval bands and a
        metric selector.

        Raises:
            MissingAnalysisError: the run has no curves (the model refused every
                perturbation).
        """
        return self._chart(figures.sensitivity_curves, _NO_CURVES)

    def heatmap(self) -> alt.TopLevelMixin:
        """Heat map: plan entry x severity, each cell the selected metric.

        Cells are coloured by their harm against the unperturbed baseline, the physical
        magnitude and the 95% interval in the tooltip.

        Raises:
            MissingAnalysisError: the run has no curves (the model refused every
                perturbation).
        """
        return self._chart(figures.heatmap, _NO_CURVES)

    def interactions(self) -> alt.TopLevelMixin:
        """Interactions: each combination's extra harm over what its parts predict.

        Pair x severity; the expectation is independence for flips, additivity otherwise;
        S marks significantly more harm (synergistic), A less (antagonistic).

        Raises:
            MissingAnalysisError: the plan combines no perturbations.
        """
        return self._chart(
            figures.interaction_heatmap,
            "the plan combines no perturbations, so there are no interactions. Set the plan's "
            "`combinations` (e.g. pairwise) and run it again.",
        )

    def breaking_points(self) -> alt.TopLevelMixin:
        """Breaking points: the share of samples not yet broken against severity.

        Per plan entry, with 95% bands; a sample is unbroken while its prediction is
        unchanged (or the searched metric is within its tolerance).

        Raises:
            MissingAnalysisError: breaking points were not computed for this profile.
        """
        return self._chart(
            figures.survival,
            "breaking points were not computed. Compute them with "
            "run.analyze(breaking_points=True) (or `wince analyze --breaking-points`).",
        )


_NO_CURVES = (
    "there are no sensitivity curves: the model refused the inputs of every perturbation "
    "(see run.rejected)."
)

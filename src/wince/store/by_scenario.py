"""A run's outcomes one scenario at a time: what summaries, analyses, gates and reports read.

One frame of every outcome costs memory in proportion to the run (3.6 GB for 2.2 million
outcomes). `from_store` reads a run whose outcomes fit in `WHOLE_RUN` bytes at once (one query,
as fast as it gets); a larger one a scenario at a time: DuckDB reads one scenario's rows
(`position = k`, straight from the Parquet segments) when it is first needed, and the
baseline plus the scenarios read last, up to `BUDGET` bytes, stay in memory (analyses
compare every scenario with the baseline, and an interaction revisits its isolations; a
summary reads each scenario once and keeps none).
Memory is then bounded by the budget and the largest scenario, whatever the run's size.

Read a scenario at a time, a perturbed scenario's frame leaves out `sample_id` (a string per
outcome); the baseline's, one row per sample, holds it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from wince.engine.scenarios import BASELINE

if TYPE_CHECKING:
    from wince.store.store import Store

# Bytes of perturbed scenarios' outcomes kept in memory once read (the baseline besides), for
# analyses that revisit scenarios; a summary, which reads each once, keeps none (`keep=0`).
BUDGET = 64 * 2**20
# Bytes of outcomes (8 per value) up to which a run is read at once: reads cost about four
# times their result while DuckDB converts it.
WHOLE_RUN = 32 * 2**20
# Columns a perturbed scenario's frame read on its own leaves out (see the module docstring).
BASELINE_ONLY = ("sample_id",)


class ScenarioOutcomes:
    """A run's outcomes by scenario, read on demand.

    Attributes:
        names: the scenarios with outcomes, in plan order.
        columns: the outcome columns (those of the baseline's frame).
        samples: sorted indices of the samples with outcomes.
    """

    def __init__(
        self,
        names: tuple[str, ...],
        columns: frozenset[str],
        samples: npt.NDArray[np.int64],
        load: Callable[[str], pd.DataFrame],
        *,
        budget: int | None = None,
    ) -> None:
        """Outcomes of `names`, each frame from `load(name)`; None: all kept once read."""
        self.names = names
        self.columns = columns
        self.samples = samples
        self._load = load
        self._budget = budget
        self._kept: OrderedDict[str, pd.DataFrame] = OrderedDict()

    @classmethod
    def from_frame(cls, outcomes: pd.DataFrame) -> ScenarioOutcomes:
        """Outcomes already in memory (one row per sample, trial and scenario)."""
        names = outcomes["scenario"].astype(str)
        outcomes = with_derived_columns(outcomes.assign(scenario=names.astype("category")))
        groups = dict(iter(outcomes.groupby("scenario", sort=False, observed=True)))
        return cls(
            names=tuple(groups),
            columns=frozenset(outcomes.columns),
            samples=np.sort(outcomes["sample_index"].unique()).astype(np.int64),
            load=groups.__getitem__,
        )

    @classmethod
    def from_store(cls, store: Store, run_id: str, *, keep: int | None = None) -> ScenarioOutcomes:
        """A stored run's outcomes: at once if they fit in `WHOLE_RUN`, else by scenario.

        `keep`: bytes of perturbed scenarios kept in memory once read (default `BUDGET`); 0
        for one pass over the scenarios (a summary), which then keeps none.

        Raises:
            StoreError: no outcomes yet, or a registered segment is missing or damaged.
        """
        columns = store.outcome_columns(run_id)
        rows = int(store.outcome_values(run_id, "count(*)")[0])
        if rows * len(columns) * 8 <= WHOLE_RUN:
            return cls.from_frame(store.outcomes(run_id))
        scenarios = store.scenarios(run_id)
        positions = dict(zip(scenarios["scenario"], scenarios["position"].astype(int), strict=True))
        present = set(store.outcome_values(run_id, "DISTINCT position").tolist())
        names = tuple(name for name, k in positions.items() if k in present)

        def load(name: str) -> pd.DataFrame:
            wanted = [c for c in columns if name == BASELINE or c not in BASELINE_ONLY]
            frame = store.outcomes(run_id, where=f"position = {positions[name]}", columns=wanted)
            # one category, not a string per outcome
            scenario = pd.Categorical.from_codes(np.zeros(len(frame), np.int8), [name])
            return with_derived_columns(frame.assign(scenario=scenario))

        return cls(
            names=names,
            columns=frozenset([*columns, *derived_columns(columns)]),
            samples=np.sort(store.outcome_values(run_id, "DISTINCT sample_index")).astype(np.int64),
            load=load,
            budget=BUDGET if keep is None else keep,
        )

    def __contains__(self, scenario: object) -> bool:
        return scenario in self.names

    def frame(self, scenario: str) -> pd.DataFrame:
        """The outcomes of one scenario, ordered by trial and sample index.

        Raises:
            KeyError: the run holds no outcomes of `scenario`.
        """
        if scenario not in self.names:
            raise KeyError(scenario)
        if scenario in self._kept:
            self._kept.move_to_end(scenario)
            return self._kept[scenario]
        frame = self._load(scenario)
        self._kept[scenario] = frame
        if self._budget is not None:
            self._forget_beyond(self._budget)
        return frame

    def _forget_beyond(self, budget: int) -> None:
        """Drop the perturbed frames read longest ago until the rest fit in `budget` bytes."""
        sizes = {
            name: int(frame.memory_usage(index=True).sum())
            for name, frame in self._kept.items()
            if name != BASELINE
        }
        total = sum(sizes.values())
        for name, size in list(sizes.items())[:-1]:  # the scenario just read stays
            if total <= budget:
                break
            del self._kept[name]
            total -= size

    def __iter__(self) -> Iterator[tuple[str, pd.DataFrame]]:
        """(scenario, frame) in plan order."""
        for name in self.names:
            yield name, self.frame(name)


def derived_columns(columns: list[str] | frozenset[str]) -> list[str]:
    """The columns `with_derived_columns` adds to outcomes with these columns."""
    return ["abs_value_delta"] if "value_delta" in columns else []


def with_derived_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Outcomes with the columns analyses derive from stored ones (`abs_value_delta`)."""
    if "value_delta" in frame.columns:
        frame["abs_value_delta"] = frame["value_delta"].abs()
    return frame

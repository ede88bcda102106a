"""Expand a plan into scenarios and trials: baseline, isolation sweeps, combinations, seeds."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from wince import perturbations
from wince.perturbations.base import Step
from wince.plan import Plan, SweepPoint, resolve_sweep

ScenarioKind = Literal["baseline", "identity", "isolation", "combination"]
BASELINE = "baseline"
IDENTITY = "identity"


@dataclass(frozen=True)
class Scenario:
    """One perturbation, or an ordered combination, at fixed magnitudes (baseline: none).

    Attributes:
        steps: the perturbations applied in order, with physical values.
        severities: the severity of each step, in [0, 1] (may exceed 1 for physical values
            beyond the realistic range).
        kind: baseline, identity (the unperturbed input predicted again, once per repeat,
            to measure the model's own nondeterminism: the noise floor), isolation or
            combination.
        entries: the plan entry of each step, by its name (`Plan.labels`): a plan may list
            one perturbation several times with different parameters.
    """

    steps: tuple[Step, ...]
    severities: tuple[float, ...]
    kind: ScenarioKind
    entries: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Stable readable id, e.g. `image.jpeg(jpeg_quality=70)+image.exposure(exposure_ev=-1)`."""
        if self.kind == "identity":
            return IDENTITY
        return "+".join(step.key() for step in self.steps) or BASELINE

    @property
    def stochastic(self) -> bool:
        """Whether any step draws random numbers (then it gets one trial per repeat)."""
        return any(perturbations.get(step.name).stochastic for step in self.steps)

    @property
    def severity(self) -> float:
        """The scenario's severity: that of its strongest step (0 for the baseline)."""
        return max(self.severities, default=0.0)


@dataclass(frozen=True)
class Trial:
    """A scenario under one seed index."""

    scenario: Scenario
    index: int


def _step(name: str, point: SweepPoint, params: dict[str, object]) -> Step:
    return Step(name, point.value, tuple(sorted(params.items())))


def expand(plan: Plan) -> list[Scenario]:
    """All scenarios of a plan in a stable order: baseline, identity, isolation, combinations.

    Sweep points at a perturbation's off value are the baseline and are not repeated.
    Pairwise and explicit combinations pair the i-th sweep points of their perturbations
    (matched severities when the sweeps are given alike), up to the shortest sweep; factorial
    combinations take every pair of sweep points (a small grid per pair, for interaction
    plots of A at each level of B). Sweeps and combinations are per plan entry (by its name in
    `Plan.labels`), so a perturbation listed twice with different parameters gets both sweeps.
    """
    specs = dict(zip(plan.labels(), plan.perturbations, strict=True))
    sweeps = {
        label: [(p, spec.params) for p in resolve_sweep(spec)] for label, spec in specs.items()
    }
    scenarios = [Scenario((), (), "baseline")]
    if plan.noise_floor:
        scenarios.append(Scenario((), (), "identity"))
    for label, points in sweeps.items():
        name = specs[label].name
        off = perturbations.get(name).magnitude.off
        scenarios += [
            Scenario((_step(name, p, params),), (p.severity,), "isolation", (label,))
            for p, params in points
            if p.value != off
        ]
    groups: list[list[str]]
    if isinstance(plan.combinations, list):
        groups = plan.combinations
    elif plan.combinations == "none":
        groups = []
    else:
        groups = [list(pair) for pair in itertools.combinations(sweeps, 2)]
    for group in groups:
        sweep_lists = [sweeps[name] for name in group]
        grid: Iterable[tuple[tuple[SweepPoint, dict[str, Any]], ...]] = (
            itertools.product(*sweep_lists)
            if plan.combinations == "factorial"
            else zip(*sweep_lists, strict=False)
        )
        for matched in grid:
            steps = tuple(
                _step(specs[label].name, p, params)
                for label, (p, params) in zip(group, matched, strict=True)
            )
            if all(s.value == perturbations.get(s.name).magnitude.off for s in steps):
                continue
            severities = tuple(p.severity for p, _ in matched)
            scenarios.append(Scenario(steps, severities, "combination", tuple(group)))
    unique: dict[str, Scenario] = {}
    for scenario in scenarios:
        unique.setdefault(scenario.key, scenario)
    return list(unique.values())


def trial_count(scenario: Scenario, repeats: int) -> int:
    """`repeats` for stochastic scenarios and the identity scenario, else 1."""
    return repeats if scenario.stochastic or scenario.kind == "identity" else 1


def trials(scenarios: list[Scenario], repeats: int) -> list[Trial]:
    """Every scenario under each of its seed indices (see `trial_count`)."""
    return [
        Trial(scenario, index)
        for scenario in scenarios
        for index in range(trial_count(scenario, repeats))
    ]

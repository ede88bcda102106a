"""Gate policies: the rules a run must pass before it ships, loaded from YAML.

A policy is a list of rules. Each rule has a `check` and selects what it applies to with
`where` (all given selectors must hold; a list means any of its items):

```yaml
name: release
rules:
  - check: max_flip_rate            # flip rate of each matched scenario <= max
    max: 0.05
    bound: upper                    # default: the 95% interval's upper bound must be <= max
    where:
      scenario: "image.jpeg(*)"     # fnmatch on scenario keys
      perturbation: "image.*"       # fnmatch on perturbation names (every step must match)
      kind: [isolation]             # isolation and/or combination (default both)
      min_severity: 0.2             # scenario severity >= 0.2
      max_severity: 0.6             # scenario severity <= 0.6
  - check: max_accuracy_drop        # baseline accuracy minus scenario accuracy <= max
    max: 0.03
  - check: min_median_breaking_point
    min: 0.4                        # in severity; or min_value in the magnitude's units
    where: {perturbation: "image.*"}
  - check: no_regression            # no metric worse than a baseline run by its margin
    baseline: 3f2a9c                # run id, unique prefix or 'latest'
    margin: 0.01                    # optional: accuracy must also be non-inferior
  - check: max_fragile              # count of stored fragile verdicts <= max
    max: 0
```

**Bounds.** Threshold rules compare an end of the 95% interval, never the point estimate.
`bound` names which end. The default is the strict (conservative) one: a `max` rule fails
when the interval's *upper* bound exceeds the maximum (the data do not show the metric is
below it); `bound: lower` is lenient and fails only when the *lower* bound exceeds it (the
data show the metric is above it). A `min` rule (breaking points) defaults to the *lower*
bound, failing when the lower bound is below the minimum; `bound: upper` fails only when
even the upper bound is below it.

A rule that matches no scenario (or perturbation) of the run is an error (exit code 2), so a
typo in a pattern cannot pass silently. Scenario patterns are matched with `fnmatch`
(case-sensitive) against the whole scenario key, so `*` can span the `+` between the steps of
a combination: `image.jpeg(*)` also matches combinations that start with JPEG. Add
`kind: [isolation]` to exclude them.
"""

from __future__ import annotations

import difflib
import fnmatch
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from wince.errors import PolicyError, typo_of
from wince.plan import read_yaml

Bound = Literal["upper", "lower"]
Kind = Literal["baseline", "isolation", "combination"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class Where(_Spec):
    """Which scenarios (or perturbations) a rule applies to; every given selector must hold.

    Attributes:
        scenario: fnmatch patterns on scenario keys; a scenario matches if any pattern does.
        perturbation: fnmatch patterns on perturbation names; a scenario matches if every
            one of its steps matches some pattern.
        kind: scenario kinds; default isolation and combination (no_regression: the
            baseline too).
        min_severity: smallest scenario severity included, in [0, 1] (a combination's
            severity is that of its strongest step).
        max_severity: largest scenario severity included.
    """

    scenario: list[str] | None = None
    perturbation: list[str] | None = None
    kind: list[Kind] | None = None
    min_severity: float | None = Field(None, ge=0)
    max_severity: float | None = Field(None, ge=0)

    @field_validator("scenario", "perturbation", "kind", mode="before")
    @classmethod
    def _single_to_list(cls, v: Any) -> Any:
        return _as_list(v)

    def matches(
        self,
        scenario: str,
        *,
        kind: str,
        severity: float,
        steps: list[str],
        kinds: tuple[str, ...],
    ) -> bool:
        """Whether a scenario is selected.

        Args:
            scenario: the scenario key.
            kind: its kind (baseline, isolation, combination).
            severity: its severity in [0, 1] (a combination's strongest step).
            steps: the perturbation name of each of its steps.
            kinds: the kinds the rule selects when `where.kind` is not given.
        """
        if kind not in (self.kind if self.kind is not None else kinds):
            return False
        if self.scenario is not None and not any(
            fnmatch.fnmatchcase(scenario, p) for p in self.scenario
        ):
            return False
        if self.perturbation is not None and not (
            steps and all(self.matches_perturbation(name) for name in steps)
        ):
            return False
        if self.min_severity is not None and severity < self.min_severity:
            return False
        return not (self.max_severity is not None and severity > self.max_severity)

    def matches_perturbation(self, name: str) -> bool:
        """Whether a perturbation name matches the `perturbation` patterns (or there are none)."""
        return self.perturbation is None or any(
            fnmatch.fnmatchcase(name, p) for p in self.perturbation
        )


class _Rule(_Spec):
    name: str | None = Field(None, description="shown in tables and JUnit; default generated")
    where: Where = Field(default_factory=Where)

    def label(self, index: int) -> str:
        """The rule's name, or `rules[i] <check>`."""
        return self.name or f"rules[{index}] {getattr(self, 'check', 'rule')}"


class MaxFlipRate(_Rule):
    """The flip rate (share of predictions that change) of each matched scenario <= `max`."""

    check: Literal["max_flip_rate"]
    max: float = Field(ge=0, le=1, description="fraction of predictions, in [0, 1]")
    bound: Bound = "upper"


class MaxAccuracyDrop(_Rule):
    """Baseline accuracy minus each matched scenario's accuracy <= `max` (a fraction)."""

    check: Literal["max_accuracy_drop"]
    max: float = Field(ge=-1, le=1, description="accuracy points as a fraction, in [-1, 1]")
    bound: Bound = "upper"


class MaxChange(_Rule):
    """The harmful change of a metric against the baseline, per matched scenario, <= `max`.

    Any per-sample metric of the run: a built-in one (`cer`, `objects_lost`, `mean_iou`,
    ...) or the plan's own, in its own unit; a rise of a lower-is-better metric and a fall of
    a higher-is-better one are harm. For the flip rate this is `max_flip_rate`, for accuracy
    `max_accuracy_drop`.
    """

    check: Literal["max_change"]
    metric: str = Field(min_length=1)
    max: float = Field(description="in the metric's unit")
    bound: Bound = "upper"


class MinMedianBreakingPoint(_Rule):
    """The median breaking point of each matched perturbation >= `min` (severity) or `min_value`.

    Reads the stored breaking-points analysis (`wince analyze RUN --breaking-points`). A
    median that is infinite (most samples never change within the searched range) passes.
    """

    check: Literal["min_median_breaking_point"]
    min: float | None = Field(None, ge=0, le=1, description="severity in [0, 1]")
    min_value: float | None = Field(None, description="in the perturbation's physical units")
    bound: Bound = "lower"


class NoRegression(_Rule):
    """No matched scenario is worse than under a baseline run on any metric (see compare).

    Worse means significantly worse (Holm-corrected) by at least the metric's practical
    margin (`Metric.margin`: 0.01 for accuracy and flip rate, 0.02 for confidence), so a
    retrain that moves confidence by a fraction of a point passes.

    Attributes:
        baseline: the run to compare against (id, unique prefix or 'latest').
        margin: accuracy's margin, a fraction; when given, accuracy must also be
            non-inferior: the upper bound of (baseline accuracy - run accuracy) below it.
        intersection: compare the scenarios both runs hold (else differing scenario sets
            are an error).
        alpha: family-wise error rate of the Holm-corrected tests.
    """

    check: Literal["no_regression"]
    baseline: str = Field(min_length=1)
    margin: float | None = Field(None, gt=0, lt=1)
    intersection: bool = False
    alpha: float = Field(0.05, gt=0, lt=1)


class MaxFragile(_Rule):
    """At most `max` matched scenarios have the stored verdict fragile (`wince analyze`).

    With `metric`, counts scenarios fragile on that metric (e.g. flip_rate) only.
    """

    check: Literal["max_fragile"]
    max: int = Field(ge=0)
    metric: str | None = None


Rule = Annotated[
    MaxFlipRate | MaxAccuracyDrop | MaxChange | MinMedianBreakingPoint | NoRegression | MaxFragile,
    Field(discriminator="check"),
]
RULES: dict[str, type[_Rule]] = {
    "max_flip_rate": MaxFlipRate,
    "max_accuracy_drop": MaxAccuracyDrop,
    "max_change": MaxChange,
    "min_median_breaking_point": MinMedianBreakingPoint,
    "no_regression": NoRegression,
    "max_fragile": MaxFragile,
}


class Policy(_Spec):
    """A gate policy: named rules a run must pass.

    Examples:
        >>> policy = parse_policy({"rules": [{"check": "max_flip_rate", "max": 0.05}]})
        >>> policy.rules[0].bound
        'upper'
    """

    name: str = Field("policy", min_length=1)
    description: str = ""
    rules: list[Rule] = Field(min_length=1)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, str) and part in RULES:
            continue  # the discriminator's tag, not a field
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _owner(loc: tuple[int | str, ...], raw: Any) -> type[BaseModel] | None:
    """The model class that holds the last field of `loc` (for unknown-field hints)."""
    current: type[BaseModel] | None = Policy
    for i, part in enumerate(loc[:-1]):
        if isinstance(part, int) or current is None:
            continue
        if part == "rules":
            tag = _tag_at(raw, loc[i + 1]) if i + 1 < len(loc) else None
            current = RULES.get(tag) if tag else None
        elif part == "where":
            current = Where
        elif part in RULES:
            current = RULES[part]
        else:
            return None
    return current


def _tag_at(raw: Any, index: int | str) -> str | None:
    try:
        tag = raw["rules"][index]["check"]
    except (KeyError, IndexError, TypeError):
        return None
    return tag if isinstance(tag, str) else None


def _pydantic_problems(error: ValidationError, raw: Any) -> list[str]:
    problems = []
    for item in error.errors():
        loc = tuple(item["loc"])
        where = _path(loc) or "policy"
        if item["type"] == "extra_forbidden":
            owner = _owner(loc, raw)
            hint = ""
            if owner is not None:
                close = difflib.get_close_matches(str(loc[-1]), list(owner.model_fields), n=1)
                hint = (
                    f" — did you mean {close[0]!r}?"
                    if close
                    else f"; the known fields are {', '.join(owner.model_fields)}."
                )
            problems.append(f"{where}: unknown field{hint}")
        elif item["type"] == "union_tag_invalid":
            tag = str(item.get("input", {}).get("check") if isinstance(item["input"], dict) else "")
            close = difflib.get_close_matches(tag, list(RULES), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"choose one of {', '.join(RULES)}."
            problems.append(f"{where}.check: unknown check {tag!r}; {hint}")
        elif item["type"] == "union_tag_not_found":
            problems.append(f"{where}: a rule needs `check:`, one of {', '.join(RULES)}.")
        else:
            problems.append(f"{where}: {item['msg']} (got {item.get('input')!r})")
    return problems


def _semantic_problems(policy: Policy) -> list[str]:
    from wince.metrics import BUILT_IN_METRICS, metric_name_problems

    problems = []
    for i, rule in enumerate(policy.rules):
        where = f"rules[{i}]"
        w = rule.where
        if (
            w.min_severity is not None
            and w.max_severity is not None
            and w.min_severity > w.max_severity
        ):
            problems.append(
                f"{where}.where: min_severity {w.min_severity:g} is above max_severity "
                f"{w.max_severity:g}; no scenario can match. Swap them."
            )
        if isinstance(rule, MinMedianBreakingPoint):
            if (rule.min is None) == (rule.min_value is None):
                problems.append(
                    f"{where}: give exactly one of min (a severity in [0, 1]) or min_value "
                    "(in the perturbation's units), e.g. min: 0.4."
                )
            extra = [
                f
                for f in ("scenario", "kind", "min_severity", "max_severity")
                if getattr(w, f) is not None
            ]
            if extra:
                problems.append(
                    f"{where}.where: breaking points are per perturbation; only `perturbation` "
                    f"selects them, not {', '.join(extra)}."
                )
        metric = getattr(rule, "metric", None)
        if metric is not None and metric not in BUILT_IN_METRICS:
            # a plan's own metric is known only with the run; a name close to a built-in
            # one is a typo
            close = typo_of(metric, BUILT_IN_METRICS)
            if close or metric_name_problems(metric):
                hint = (
                    f"did you mean {close!r}?"
                    if close
                    else f"known: {', '.join(BUILT_IN_METRICS)}, or a metric of the plan's own."
                )
                problems.append(f"{where}.metric: unknown metric {metric!r}; {hint}")
    names = [rule.label(i) for i, rule in enumerate(policy.rules)]
    problems += [
        f"rules: the name {name!r} is used twice; give each rule its own name."
        for name in sorted({n for n in names if names.count(n) > 1})
    ]
    return problems


def parse_policy(raw: Any, *, source: str = "policy") -> Policy:
    """Validate a policy from a mapping, collecting every problem.

    Args:
        raw: the parsed YAML (a mapping with `rules`).
        source: where it came from, prefixed to each problem (the file name).

    Raises:
        PolicyError: listing each problem as `<source> <field path>: <what and how to fix>`.
    """
    if not isinstance(raw, dict):
        raise PolicyError(
            f"{source}: a policy is a mapping with `rules:` (a list of checks); got "
            f"{type(raw).__name__}."
        )
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as error:
        problems = [f"{source} {p}" for p in _pydantic_problems(error, raw)]
        raise PolicyError("\n".join(problems), problems=problems) from None
    problems = [f"{source} {p}" for p in _semantic_problems(policy)]
    if problems:
        raise PolicyError("\n".join(problems), problems=problems)
    return policy


def load_policy(path: str | Path) -> Policy:
    """Load and validate a YAML policy file (safe loading only).

    Raises:
        PolicyError: missing file, YAML syntax error (with line number) or invalid content.
    """
    path = Path(path)
    raw = read_yaml(path, what="policy", error=PolicyError)
    policy = parse_policy(raw, source=str(path))
    if "name" not in raw:
        policy = policy.model_copy(update={"name": path.stem})
    return policy


def as_policy(policy: Policy | dict[str, Any] | str | Path) -> Policy:
    """A `Policy` from a Policy, a mapping or a YAML file path."""
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, dict):
        return parse_policy(policy)
    return load_policy(policy)

"""Monitor policies: when live data should raise an alert, loaded from YAML.

A monitor policy is its own file, or the `monitor:` section of a gate policy file:

```yaml
monitor:
  name: production
  max_psi: 0.2                      # predicted-class (or value) distribution, live vs reference
  max_js: 0.1                       # Jensen-Shannon divergence in bits (0-1), same distributions
  max_confidence_psi: 0.25          # top-class confidence distribution (classification)
  max_predicted_flip_rate: 0.05     # read off the run's curves at the estimated magnitudes
  max_predicted_accuracy_drop: 0.03
  max_predicted_change:             # any other per-sample metric of the run (built-in or the
    cer: 0.01                       # plan's own): its predicted harmful change, in its unit
  bound: estimate                   # which end of a predicted interval is compared: estimate,
                                    # upper (strict) or lower (lenient)
  max_drift_sd: 0.5                 # |mean shift| of any tabular column, in reference sds
  magnitudes:                       # limits on estimated magnitudes, in their physical units
    image.exposure: {min: -0.5, max: 0.5}
    image.jpeg: {min: 60}
  min_samples: 20                   # fewer live samples: estimates are stored, no alert fires
```

Every field is optional; a missing limit is not checked. Without a policy file the defaults
below apply. The names under `max_predicted_change` are checked against the run's metrics when
it is monitored (`check_change_limits`).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from wince.errors import PolicyError
from wince.plan import read_yaml


class MagnitudeLimit(BaseModel):
    """Allowed range of an estimated magnitude, in its physical unit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float | None = None
    max: float | None = None


class MonitorPolicy(BaseModel):
    """Alert thresholds of `wince monitor`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "default"
    max_psi: float | None = Field(0.2, ge=0, description="population stability index")
    max_js: float | None = Field(0.1, ge=0, le=1, description="Jensen-Shannon divergence, bits")
    max_confidence_psi: float | None = Field(0.25, ge=0)
    max_predicted_flip_rate: float | None = Field(0.05, ge=0, le=1)
    max_predicted_accuracy_drop: float | None = Field(0.03, ge=-1, le=1)
    bound: Literal["estimate", "upper", "lower"] = "estimate"
    max_drift_sd: float | None = Field(None, ge=0)
    magnitudes: dict[str, MagnitudeLimit] = Field(default_factory=dict)
    max_predicted_change: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict,
        description="metric name -> largest predicted harmful change, in the metric's unit",
    )
    min_samples: int = Field(20, ge=1)

    @field_validator("max_predicted_change")
    @classmethod
    def _not_the_own_fields(cls, limits: dict[str, float]) -> dict[str, float]:
        own_field = {
            "flip_rate": "max_predicted_flip_rate",
            "accuracy": "max_predicted_accuracy_drop",
            "accuracy_drop": "max_predicted_accuracy_drop",
        }
        for name in limits:
            if name in own_field:
                raise ValueError(f"{name} has its own limit: set {own_field[name]} instead")
        return limits


def check_change_limits(policy: MonitorPolicy, measured: Collection[str], run: str) -> None:
    """Check that every metric `max_predicted_change` names is one the run measures.

    Args:
        policy: the monitor policy.
        measured: the run's per-sample metrics with curves (built-in and the plan's own).
        run: how errors name the run.

    Raises:
        PolicyError: a name the run does not measure, with the closest names it does.
    """
    problems = []
    for name in policy.max_predicted_change:
        if name in measured:
            continue
        close = difflib.get_close_matches(name, list(measured), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        problems.append(
            f"max_predicted_change.{name}: run {run} has no curve of {name!r}; {hint}its "
            f"metrics are {', '.join(sorted(measured))}."
        )
    if problems:
        raise PolicyError("\n".join(problems), problems=problems)


def parse_monitor_policy(raw: Any, *, source: str = "policy") -> MonitorPolicy:
    """Validate a monitor policy from a mapping (its own, or a file's `monitor:` section).

    Raises:
        PolicyError: listing each problem with its field path.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise PolicyError(f"{source}: a monitor policy is a mapping of thresholds.")
    if "monitor" in raw:
        raw = raw["monitor"] or {}
        if not isinstance(raw, dict):
            raise PolicyError(f"{source} monitor: a mapping of thresholds.")
    try:
        return MonitorPolicy.model_validate(raw)
    except ValidationError as error:
        problems = [
            f"{source} {'.'.join(str(p) for p in item['loc'])}: {item['msg']}"
            f" (got {item.get('input')!r})"
            for item in error.errors()
        ]
        raise PolicyError("\n".join(problems), problems=problems) from None


def load_monitor_policy(path: str | Path | None) -> MonitorPolicy:
    """Load a monitor policy file (safe YAML); None gives the defaults.

    Raises:
        PolicyError: unreadable file, YAML syntax error or invalid content.
    """
    if path is None:
        return MonitorPolicy()
    path = Path(path)
    raw = read_yaml(path, what="policy", error=PolicyError)
    return parse_monitor_policy(raw, source=str(path))

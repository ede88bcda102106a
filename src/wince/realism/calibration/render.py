"""The calibrated plan as YAML text, with the evidence for each value in comments."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wince.errors import DataError
from wince.perturbations.base import Modality

if TYPE_CHECKING:
    from wince.realism.calibration.quantities import Calibration, Quantity


def _fmt(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.4g}"


def _yaml_scalar(value: Any) -> str:
    import yaml

    text: str = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return text.removesuffix("\n...").strip()


def _comment(text: str, indent: str) -> list[str]:
    """`text` as comment lines, wrapped at 100 characters."""
    import textwrap

    return [
        f"{indent}# {line}"
        for line in textwrap.wrap(text, width=96 - len(indent), break_on_hyphens=False)
    ]


def _evidence(q: Quantity, indent: str) -> list[str]:
    m = q.magnitude
    e = q.estimate
    lines = [f"{q.key}: {q.perturbation} {m.name} in {m.unit}"]
    if e.estimable and math.isfinite(e.value):
        interval = (
            f" ({e.details.get('interval', '95% interval')} {_fmt(e.low)} .. {_fmt(e.high)})"
            if math.isfinite(e.low)
            else ""
        )
        lines.append(f"estimate {_fmt(e.value)}{interval}; {q.n}")
    else:
        lines.append(q.n)
    if q.method:
        lines.append(f"method: {q.method}")
    if q.quantiles:
        shown = ", ".join(
            f"{label} {_fmt(v)}"
            for label, v in zip(("p50", "p90", "p99"), q.quantiles, strict=False)
        )
        lines.append(f"observed {shown} ({q.spread})")
    if q.perturbation == "tabular.sensor_drift" and q.details:
        lines.append(
            "per column: "
            + ", ".join(
                f"{k} {v['value']:+.3g} ({v['low']:+.3g}..{v['high']:+.3g})"
                for k, v in q.details.items()
            )
        )
    lines += list(q.notes)
    out: list[str] = []
    for line in lines:
        out += _comment(line, indent)
    return out


def render_plan(
    calibration: Calibration,
    *,
    name: str = "calibrated",
    model: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> str:
    """The plan text of a calibration (see `Calibration.to_yaml`).

    Raises:
        DataError: no quantity made it into the plan.
    """
    import yaml

    included = calibration.included
    if not included:
        raise DataError(
            "calibrate: none of the measured magnitudes shows in the data ("
            + "; ".join(
                f"{q.key}: {q.notes[0] if q.notes else 'off'}" for q in calibration.quantities
            )
            + "), so there is no plan to write. Give --production data that differ from the "
            "reference, or more samples."
        )
    lines = [
        "# wince plan calibrated from real data by `wince calibrate`.",
        f"# reference: {calibration.reference} ({calibration.n_reference} "
        f"{calibration.modality.value} samples)",
        "# production: "
        + (
            f"{calibration.production} ({calibration.n_production} samples)"
            if calibration.production
            else "none (the reference calibrated against its own variation)"
        ),
        "# Each perturbation's values are the observed p50, p90 and p99 of its magnitude",
        "# (towards the severe side), clipped to the hard limits, rounded and deduplicated;",
        "# values indistinguishable from off are dropped. Evidence above each entry.",
        f"name: {_yaml_scalar(name)}",
    ]
    if model:
        lines.append(yaml.safe_dump({"model": model}, sort_keys=False).rstrip())
    else:
        lines += [
            "# model:          # the model to test; one source, e.g.",
            "#   pickle: model.joblib",
        ]
    if data:
        lines.append(yaml.safe_dump({"data": data}, sort_keys=False).rstrip())
    else:
        lines += [
            "# data:           # the data to perturb; one source, e.g. the reference:",
            f"#   {_data_hint(calibration)}",
        ]
    lines.append("perturbations:")
    for q in included:
        lines += _evidence(q, "  ")
        lines.append(f"  - name: {q.perturbation}")
        shown = [int(v) if q.magnitude.integer else v for v in q.values]
        lines.append(f"    values: {_yaml_scalar(shown)}")
        if q.params:
            lines.append(f"    params: {_yaml_scalar(q.params)}")
    left_out = [q for q in calibration.quantities if not q.included]
    if left_out:
        lines.append("# Left out of the plan:")
        for q in left_out:
            lines += _comment(f"{q.perturbation} ({q.key}): {'; '.join(q.notes) or 'off'}", "")
    return "\n".join(lines) + "\n"


def _data_hint(calibration: Calibration) -> str:
    kind = {
        Modality.IMAGE: "images",
        Modality.AUDIO: "wav",
        Modality.TEXT: "text",
        Modality.TABULAR: "csv",
    }.get(calibration.modality, "npz")
    source = Path(calibration.reference)
    suffix = source.suffix.lower().lstrip(".")
    if suffix in ("npz", "csv", "parquet", "jsonl"):
        kind = suffix
    elif suffix == "txt":
        kind = "text"
    return f"{kind}: {calibration.reference}"

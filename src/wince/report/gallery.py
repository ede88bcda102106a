"""Worst cases: the samples a perturbation changed most, shown before and after.

Perturbed inputs are regenerated exactly from the data and the run's seed through
`Probe.perturbed` (the same per-sample random streams the run used); the model is never
called. Images become small PNG thumbnails with a difference view, text gets its edits
marked, tabular rows their changed cells, audio a player and a spectrogram.
"""

from __future__ import annotations

import base64
import io
import wave
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from PIL import Image

from wince.datasets.base import Dataset
from wince.engine.probe import Probe
from wince.errors import ModelError
from wince.metrics import Metric
from wince.models.base import Predictions, Task
from wince.outputs import Detections
from wince.outputs.text import diff_segments
from wince.perturbations.base import Step
from wince.report.data import ReportData, finite_number
from wince.report.narrative import metric_value
from wince.store.store import Store

THUMBNAIL_PX = 112  # longest side of an image thumbnail
AUDIO_SECONDS = 3.0  # audio clips are cut to this length
TABLE_CELLS = 6  # changed cells shown per tabular row


class _NoModel:
    """Stands in for the model: a report regenerates inputs and never predicts."""

    task = Task.CLASSIFICATION
    classes: tuple[Any, ...] | None = None

    def predict(self, x: Any) -> Predictions:
        raise ModelError("a report never evaluates the model; it reads outcomes from the store.")

    def fingerprint(self) -> str:
        return "none"

    def close(self) -> None:
        return None


@dataclass(frozen=True)
class Case:
    """One worst case.

    Attributes:
        scenario: the scenario; perturbation: its (first) perturbation.
        sample_id: the sample's stable id; label: its true label (or None).
        baseline_pred, perturbed_pred: predictions (class or value) before and after.
        baseline_confidence, perturbed_confidence: top-class probabilities (classification).
        modality: image, text, tabular, audio or timeseries.
        images: data URIs of "before", "after", "difference" (images, spectrograms).
        audio: data URIs of "before" and "after" WAV clips.
        text: (kind, text) segments: "same", "removed", "added".
        original: the unperturbed text (text only).
        cells: tabular cells: feature, before, after, change (in column standard deviations).
        note: extra caption (difference amplification, cells not shown).
        metric: for structured outputs, what `baseline_pred` and `perturbed_pred` measure
            (the headline metric's description); they hold its formatted values.
        outputs: structured outputs as text, each (caption, segments as `text`): texts with
            their edits against the reference marked, label sets with those switched.
        drawings: data URIs of outputs drawn on their images (boxes, mask overlays), by
            caption.
    """

    scenario: str
    perturbation: str
    sample_id: str
    label: Any
    baseline_pred: Any
    perturbed_pred: Any
    baseline_confidence: float | None
    perturbed_confidence: float | None
    modality: str
    images: dict[str, str] = field(default_factory=dict)
    audio: dict[str, str] = field(default_factory=dict)
    text: list[tuple[str, str]] = field(default_factory=list)
    original: str = ""
    cells: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    metric: str = ""
    outputs: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    drawings: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (without the embedded media)."""
        media = ("images", "audio", "drawings")
        out = {k: v for k, v in self.__dict__.items() if k not in media}
        out["text"] = [list(s) for s in self.text]
        out["outputs"] = [
            {"caption": caption, "segments": [list(s) for s in segments]}
            for caption, segments in self.outputs
        ]
        return out


def _png_uri(pixels: npt.NDArray[np.uint8]) -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def to_uint8(image: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """An image (h, w, c) in uint8 or float [0, 1] as uint8, grey images as (h, w)."""
    pixels = np.asarray(image)
    if pixels.dtype != np.uint8:
        pixels = np.rint(np.clip(pixels.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    return pixels


def thumbnail(image: npt.NDArray[Any], *, size: int = THUMBNAIL_PX) -> npt.NDArray[np.uint8]:
    """A display-sized copy: small images upscaled by whole pixels, large ones shrunk."""
    pixels = to_uint8(image)
    height, width = pixels.shape[:2]
    longest = max(height, width, 1)
    if longest < size:
        factor = max(size // longest, 1)
        return np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)
    picture = Image.fromarray(pixels)
    picture.thumbnail((size, size), Image.Resampling.LANCZOS)
    return np.asarray(picture, dtype=np.uint8)


def image_views(before: npt.NDArray[Any], after: npt.NDArray[Any]) -> tuple[dict[str, str], str]:
    """Before, after and amplified-difference thumbnails (white = unchanged, dark = changed)."""
    a = to_uint8(before).astype(np.float64)
    b = to_uint8(after).astype(np.float64)
    diff = np.abs(a - b)
    if diff.ndim == 3:
        diff = diff[..., :3].mean(axis=2)
    peak = float(diff.max())
    gain = 255.0 / peak if peak > 0 else 1.0
    shade = (255.0 - np.clip(diff * gain, 0, 255)).astype(np.uint8)
    views = {
        "before": _png_uri(thumbnail(before)),
        "after": _png_uri(thumbnail(after)),
        "difference": _png_uri(thumbnail(shade)),
    }
    note = f"difference amplified {gain:.1f}x" if peak > 0 else "no pixel changed"
    return views, note


def text_segments(before: str, after: str) -> list[tuple[str, str]]:
    """Character edits from `before` to `after` as ("same" | "removed" | "added", text).

    One minimal alignment (`wince.outputs.text.diff_segments`): a substitution is its removed
    text followed by its added text.
    """
    segments: list[tuple[str, str]] = []
    for tag, removed, added in diff_segments(before, after):
        if tag == "equal":
            segments.append(("same", removed))
            continue
        if removed:
            segments.append(("removed", removed))
        if added:
            segments.append(("added", added))
    return segments


def table_cells(
    before: npt.NDArray[Any],
    after: npt.NDArray[Any],
    *,
    names: Sequence[str],
    column_sd: npt.NDArray[np.float64] | None,
    limit: int = TABLE_CELLS,
) -> tuple[list[dict[str, Any]], str]:
    """The most changed cells of a row, largest change (in column sds) first."""
    a = np.asarray(before, dtype=np.float64)
    b = np.asarray(after, dtype=np.float64)
    sd = np.ones_like(a) if column_sd is None else np.where(column_sd > 0, column_sd, 1.0)
    change = np.abs(b - a) / sd
    went_missing = np.isnan(a) != np.isnan(b)
    change[went_missing] = np.inf  # a value lost (or found) is the largest change of all
    changed = np.flatnonzero((change > 0) & ~(np.isnan(a) & np.isnan(b)))
    order = changed[np.argsort(-change[changed], kind="stable")][:limit]
    cells = [
        {
            "feature": str(names[i]),
            "before": finite_number(a[i]),
            "after": finite_number(b[i]),
            "change": finite_number(change[i]),
        }
        for i in order
    ]
    return cells, f"{len(changed)} of {len(a)} cells changed; the {len(cells)} largest shown"


def wav_uri(signal: npt.NDArray[Any], sample_rate_hz: int) -> str:
    """A mono clip (float in [-1, 1]) as a 16-bit WAV data URI, cut to a few seconds."""
    clip = np.asarray(signal, dtype=np.float64).reshape(-1)[: int(AUDIO_SECONDS * sample_rate_hz)]
    pcm = np.rint(np.clip(clip, -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate_hz)
        out.writeframes(pcm.tobytes())
    return "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def spectrogram(signal: npt.NDArray[Any], sample_rate_hz: int) -> npt.NDArray[np.uint8]:
    """A log-power spectrogram as a grey image (dark = loud), low frequencies at the bottom."""
    from scipy.signal import spectrogram as compute

    clip = np.asarray(signal, dtype=np.float64).reshape(-1)[: int(AUDIO_SECONDS * sample_rate_hz)]
    _, _, power = compute(clip, fs=sample_rate_hz, nperseg=min(256, len(clip)))
    level = 10 * np.log10(power + 1e-12)
    level = np.clip((level - (level.max() - 80.0)) / 80.0, 0.0, 1.0)
    shade: npt.NDArray[np.uint8] = (255 - np.rint(level[::-1] * 255)).astype(np.uint8)
    return shade


def audio_views(
    before: npt.NDArray[Any], after: npt.NDArray[Any], sample_rate_hz: int
) -> tuple[dict[str, str], dict[str, str]]:
    """Players and spectrogram thumbnails of a clip before and after."""
    images = {
        "before": _png_uri(thumbnail(spectrogram(before, sample_rate_hz), size=160)),
        "after": _png_uri(thumbnail(spectrogram(after, sample_rate_hz), size=160)),
    }
    players = {
        "before": wav_uri(before, sample_rate_hz),
        "after": wav_uri(after, sample_rate_hz),
    }
    return images, players


def pick_samples(
    outcomes: pd.DataFrame,
    scenario: str,
    *,
    per_scenario: int,
    classification: bool,
    metric: Metric | None = None,
) -> pd.DataFrame:
    """The rows of a scenario's first trial that changed most.

    Structured outputs (`metric` given): the largest harm of that metric against the same
    sample's clean value (`baseline_metric`). Classification: flipped predictions, most
    confident baseline first (the most surprising changes), then the largest confidence drops.
    Regression: the largest absolute changes.
    """
    baseline = outcomes[outcomes["scenario"] == "baseline"].set_index("sample_index")
    rows = outcomes[(outcomes["scenario"] == scenario) & (outcomes["trial"] == 0)].copy()
    if rows.empty:
        return rows
    if metric is not None:
        rows["baseline_metric"] = rows["sample_index"].map(baseline[metric.column])
        rows["_harm"] = metric.harm_sign * (rows[metric.column] - rows["baseline_metric"])
        rows = rows.sort_values("_harm", ascending=False, kind="stable")
        rows = rows[rows["_harm"] > 0]
    elif classification:
        rows["baseline_confidence"] = rows["sample_index"].map(baseline["confidence"])
        rows["_flipped"] = rows["flipped"].astype(bool)
        rows["_drop"] = -rows["confidence_delta"].astype(float)
        rows = rows.sort_values(
            ["_flipped", "baseline_confidence", "_drop"], ascending=[False, False, False]
        )
        rows = rows[rows["_flipped"] | (rows["_drop"] > 0)]
    else:
        rows["baseline_value"] = rows["sample_index"].map(baseline["value"])
        rows = rows.assign(_size=rows["value_delta"].abs()).sort_values("_size", ascending=False)
        rows = rows[rows["_size"] > 0]
    return rows.head(per_scenario)


def worst_cases(
    store: Store,
    data: ReportData,
    dataset: Dataset | None,
    scenarios: Sequence[str],
    *,
    per_scenario: int = 3,
) -> list[Case]:
    """The most changed samples of each scenario, with inputs regenerated from the seed.

    Structured outputs are shown from the store (texts with their edits, label sets, boxes and
    masks drawn on the regenerated images); without the data, drawings go on blank canvases
    and inputs are not shown.

    Args:
        store: the store holding the run's outcomes.
        data: the run as the report reads it.
        dataset: the run's data (its fingerprint must match the run's); None: not available.
        scenarios: scenarios to show, most important first.
        per_scenario: cases per scenario.
    """
    from wince.report.breakdowns import scenario_outcomes

    if not scenarios:
        return []
    classification = data.task == "classification"
    metric = data.metrics[data.primary_metric] if data.structured else None
    outcomes = scenario_outcomes(store, data, scenarios)
    clean_rows = outcomes[outcomes["scenario"] == "baseline"].set_index("sample_index")
    probe = (
        None if dataset is None else Probe(_NoModel(), dataset, seed=int(data.plan.get("seed", 0)))
    )
    cases: list[Case] = []
    for scenario in scenarios:
        steps = [
            Step(s["name"], float(s["value"]), tuple(sorted((s.get("params") or {}).items())))
            for s in data.steps(scenario)
        ]
        rows = pick_samples(
            outcomes,
            scenario,
            per_scenario=per_scenario,
            classification=classification,
            metric=metric,
        )
        if rows.empty or not steps:
            continue
        indices = rows["sample_index"].to_numpy(dtype=np.intp)
        inputs = None
        if probe is not None:
            inputs = (probe.inputs(indices), probe.perturbed(indices, steps, trial=0))
        for k, row in enumerate(rows.to_dict("records")):
            case: dict[str, Any] = {
                "scenario": scenario,
                "perturbation": steps[0].name,
                "sample_id": str(row["sample_id"]),
                "label": data.class_name(row.get("label")) if classification else row.get("label"),
                "modality": data.modality,
                "baseline_confidence": None,
                "perturbed_confidence": None,
            }
            if metric is not None:
                case.update(
                    label=None,  # the ground truth is among the outputs shown
                    metric=metric.description,
                    baseline_pred=metric_value(float(row["baseline_metric"]), metric),
                    perturbed_pred=metric_value(float(row[metric.column]), metric),
                )
            elif classification:
                case.update(
                    baseline_pred=data.class_name(row["baseline_pred"]),
                    perturbed_pred=data.class_name(row["pred"]),
                    baseline_confidence=finite_number(row.get("baseline_confidence")),
                    perturbed_confidence=finite_number(row.get("confidence")),
                )
            else:
                case.update(
                    baseline_pred=finite_number(row.get("baseline_value")),
                    perturbed_pred=finite_number(row.get("value")),
                )
            images = None if inputs is None else (inputs[0][k], inputs[1][k])
            if metric is not None:
                clean_output = clean_rows.loc[row["sample_index"], "output"]
                case.update(output_views(data, clean_output, row, images))
            if images is not None and data.task not in DRAWN_ON_INPUTS:
                case.update(input_views(data.modality, *images, dataset))
            cases.append(Case(**case))
    return cases


# tasks whose worst cases draw their outputs on the input images instead of showing them bare
DRAWN_ON_INPUTS = ("detection", "segmentation")


def input_views(modality: str, clean: Any, perturbed: Any, dataset: Any) -> dict[str, Any]:
    """The `Case` fields that show one input before and after its perturbation."""
    context = dataset.context()
    if modality == "image":
        images, note = image_views(clean, perturbed)
        return {"images": images, "note": note}
    if modality == "text":
        return {"text": text_segments(clean, perturbed), "original": clean}
    if modality == "tabular":
        names = list(context.feature_names or []) or [
            f"column {i}" for i in range(np.shape(clean)[0])
        ]
        cells, note = table_cells(clean, perturbed, names=names, column_sd=context.column_sd)
        return {"cells": cells, "note": note}
    if modality == "audio":
        rate = int(context.sample_rate_hz or 16000)
        images, audio = audio_views(clean, perturbed, rate)
        return {"images": images, "audio": audio}
    return {}


DRAWING_PX = 224  # longest side of an output drawn on its image
CANVAS_MARGIN_PX = 8  # around the boxes of a blank canvas (detection without the data)


def output_views(
    data: ReportData,
    clean_output: Any,
    row: dict[str, Any],
    images: tuple[Any, Any] | None,
) -> dict[str, Any]:
    """The `Case` fields that show a structured output on clean and perturbed inputs.

    Args:
        data: the run.
        clean_output: the sample's stored baseline output.
        row: the perturbed outcome row (`output`, and `truth` with ground truth).
        images: the clean and perturbed input images, or None (drawn on blank canvases).
    """
    from wince.report.breakdowns import plain_outputs

    task = data.task

    def plain(value: Any) -> Any:
        return plain_outputs(pd.Series([value]), task)[0]

    clean, perturbed = plain(clean_output), plain(row["output"])
    truth = plain(row["truth"]) if row.get("truth") is not None else None
    if task == "text":
        if truth is None:
            edits = text_segments(clean, perturbed)
            return {
                "outputs": [
                    ("clean output", [("same", clean)]),
                    ("perturbed output (edits against the clean output)", edits),
                ]
            }
        return {
            "outputs": [
                ("reference", [("same", truth)]),
                ("clean output (edits against the reference)", text_segments(truth, clean)),
                ("perturbed output (edits against the reference)", text_segments(truth, perturbed)),
            ]
        }
    if task == "multilabel":
        switched = _label_segments(data, clean, perturbed)
        return {"outputs": [("labels (switched off: struck through, on: underlined)", switched)]}
    if task == "detection":
        return _detection_views(data, clean, perturbed, truth, images)
    if task == "segmentation":
        return _segmentation_views(clean, perturbed, images)
    return {}


def _label_segments(
    data: ReportData, clean: npt.NDArray[np.bool_], perturbed: npt.NDArray[np.bool_]
) -> list[tuple[str, str]]:
    """The labels on in either output, as kept ("same"), switched off or switched on."""
    kinds = {(True, True): "same", (True, False): "removed", (False, True): "added"}
    return [
        (kinds[(bool(before), bool(after))], f"{data.class_name(j)} ")
        for j, (before, after) in enumerate(zip(clean, perturbed, strict=True))
        if before or after
    ]


def _detection_views(
    data: ReportData,
    clean: Detections,
    perturbed: Detections,
    truth: Detections | None,
    images: tuple[Any, Any] | None,
) -> dict[str, Any]:
    from wince.outputs.detection import draw_detections

    if images is None:
        every = [d.boxes for d in (clean, perturbed, truth) if d is not None]
        corner = np.concatenate(every).max(axis=0, initial=0.0)[2:] if every else np.zeros(2)
        width, height = (int(np.ceil(v)) + CANVAS_MARGIN_PX for v in corner)
        canvas = np.full((height, width, 3), 255, np.uint8)
        where = "on a blank canvas (the run's data was not available)"
    else:
        canvas, where = images[1], "on the perturbed image"
    classes = np.concatenate([clean.classes, perturbed.classes])
    names = [str(data.class_name(c)) for c in range(int(classes.max(initial=0)) + 1)]
    drawn = draw_detections(canvas, clean, perturbed, class_names=names)
    lost = len(clean) - len(perturbed)
    fewer = f"; {lost} object{'s' * (lost > 1)} fewer" if lost > 0 else ""
    return {
        "drawings": {"boxes": _png_uri(thumbnail(drawn, size=DRAWING_PX))},
        "note": (
            f"Boxes {where}: blue found on the clean image ({len(clean)}), orange on the "
            f"perturbed one ({len(perturbed)}); dashed: an object lost (blue) or gained "
            f"(orange){fewer}."
        ),
    }


def _segmentation_views(
    clean: npt.NDArray[np.int64], perturbed: npt.NDArray[np.int64], images: tuple[Any, Any] | None
) -> dict[str, Any]:
    from wince.outputs.segmentation import changed_pixels_overlay, overlay_mask

    if images is None:
        blank = np.full((*clean.shape, 3), 128, np.uint8)
        images, where = (blank, blank), " on a grey canvas (the run's data was not available)"
    else:
        where = ""
    views = {
        "clean output": overlay_mask(images[0], clean),
        "perturbed output": overlay_mask(images[1], perturbed),
        "changed pixels": changed_pixels_overlay(images[1], clean, perturbed),
    }
    share = float(np.mean(clean != perturbed))
    return {
        "drawings": {k: _png_uri(thumbnail(v, size=DRAWING_PX)) for k, v in views.items()},
        "note": f"Class maps{where}; {share:.1%} of pixels changed class (magenta).",
    }

"""Error modes of structured outputs, per scenario: the report's tables beyond one metric.

What went wrong, in each output's own terms: text edits (substitutions, deletions,
insertions) and the most frequent confusions; multi-label flip rates per label; detection mAP
and average precision per class; segmentation IoU per class; embeddings' nearest-neighbour
rank. Everything comes from the outputs (and the ground truth each trial saw) in the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from wince.outputs import DETECTIONS_TYPE, MASK_FILL, from_arrow
from wince.report.data import ReportData
from wince.store.store import Store

TOP_ROWS = 10  # rows per scenario of the per-label, per-class and confusion tables
BASELINE = "baseline"


@dataclass(frozen=True)
class Breakdown:
    """One table of error modes.

    Attributes:
        key: stable identifier (element id in HTML, key in JSON).
        title: heading.
        caption: how to read it, with its units.
        table: one row per scenario (and class, label or confusion), headers as columns.
        percent_columns: columns holding shares in [0, 1], shown as percentages.
    """

    key: str
    title: str
    caption: str
    table: pd.DataFrame
    percent_columns: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: title, caption and the rows as records."""
        from wince.report.figures import records

        return {
            "key": self.key,
            "title": self.title,
            "caption": self.caption,
            "rows": records(self.table),
        }


def plain_outputs(column: pd.Series[Any], task: str) -> npt.NDArray[Any]:
    """A stored `output` or `truth` column in its plain form (`wince.outputs`).

    Text: an object array of str; detection: of `Detections`; segmentation: of (h, w) int64
    maps; multi-label: an (n, k) bool array; embedding: an (n, d) float64 array.
    """
    values = column.tolist()
    if task in ("multilabel", "embedding"):
        dtype = bool if task == "multilabel" else np.float64
        rows = [np.asarray(v, dtype=dtype) for v in values]
        return np.stack(rows) if rows else np.zeros((0, 0), dtype)
    if task == "detection":
        return from_arrow(pa.array(values, DETECTIONS_TYPE))
    return from_arrow(pa.array(values))  # text: a string column; masks: a struct of their bytes


def scenario_outcomes(store: Store, data: ReportData, scenarios: Sequence[str]) -> pd.DataFrame:
    """The outcomes of the baseline and `scenarios`, scenario names as str."""
    wanted = list(dict.fromkeys([BASELINE, *scenarios]))
    outcomes = store.outcomes(data.run_id, where=f"scenario IN ({_sql_text(wanted)})")
    outcomes["scenario"] = outcomes["scenario"].astype(str)
    return outcomes


def _sql_text(values: Sequence[str]) -> str:
    """Strings as a SQL list: 'a', 'b''s'."""
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def clean_outputs(outcomes: pd.DataFrame, frame: pd.DataFrame, task: str) -> npt.NDArray[Any]:
    """The baseline outputs of the samples of `frame`'s rows, in its row order."""
    baseline = outcomes[outcomes["scenario"] == BASELINE].set_index("sample_index")["output"]
    return plain_outputs(baseline.reindex(frame["sample_index"].to_numpy()), task)


def breakdowns(store: Store, data: ReportData, scenarios: Sequence[str]) -> list[Breakdown]:
    """The error-mode tables of a structured run for the baseline and `scenarios`.

    Args:
        store: the store holding the run's outcomes.
        data: the run as the report reads it.
        scenarios: perturbed scenarios to break down (the findings' headline scenarios).

    Returns:
        The tables of the run's output kind; none for classifiers and regressors.
    """
    build = _BY_TASK.get(data.task)
    if build is None:
        return []
    outcomes = scenario_outcomes(store, data, scenarios)
    order = [s for s in dict.fromkeys([BASELINE, *scenarios]) if s in set(outcomes["scenario"])]
    return build(outcomes, order, data)


def _groups(outcomes: pd.DataFrame, order: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    return [(s, outcomes[outcomes["scenario"] == s]) for s in order]


def _text(outcomes: pd.DataFrame, order: Sequence[str], data: ReportData) -> list[Breakdown]:
    from wince.outputs.text import confusions, edit_counts

    against_truth = "truth" in outcomes.columns
    reference_name = "reference texts" if against_truth else "outputs on the clean inputs"
    edits, confused = [], []
    for scenario, frame in _groups(outcomes, order):
        if not against_truth and scenario == BASELINE:
            continue  # the clean outputs against themselves: no edit
        hypotheses = list(plain_outputs(frame["output"], "text"))
        references = list(
            plain_outputs(frame["truth"], "text")
            if against_truth
            else clean_outputs(outcomes, frame, "text")
        )
        counts = edit_counts(hypotheses, references)
        edits.append(
            {
                "scenario": scenario,
                "outputs": len(hypotheses),
                "substitutions": int(counts["substitutions"].sum()),
                "deletions": int(counts["deletions"].sum()),
                "insertions": int(counts["insertions"].sum()),
                "reference characters": sum(len(r) for r in references),
            }
        )
        top = confusions(hypotheses, references, top=TOP_ROWS)
        confused.append(top.assign(scenario=scenario)[["scenario", *top.columns]])
    return [
        Breakdown(
            "text_edits",
            "Text errors by kind",
            f"Character edits that turn the {reference_name} into the outputs, summed over "
            "every sample and trial of a scenario: a substitution replaces a character, a "
            "deletion drops one, an insertion adds one.",
            pd.DataFrame(edits),
        ),
        Breakdown(
            "text_confusions",
            "Most frequent character confusions",
            f"The {TOP_ROWS} most frequent edits of each scenario against the {reference_name}: "
            "'reference' is the character expected, 'hypothesis' the one the model wrote (empty: "
            "none; ␣: a space).",
            pd.concat(confused, ignore_index=True) if confused else pd.DataFrame(),
        ),
    ]


def _multilabel(outcomes: pd.DataFrame, order: Sequence[str], data: ReportData) -> list[Breakdown]:
    from wince.outputs.multilabel import per_label_flip_rate

    rows = []
    for scenario, frame in _groups(outcomes, order):
        if scenario == BASELINE:
            continue
        rates = per_label_flip_rate(
            clean_outputs(outcomes, frame, "multilabel"),
            plain_outputs(frame["output"], "multilabel"),
        )
        rows += [
            {"scenario": scenario, "label": data.class_name(int(j)), "flip rate": rates[j]}
            for j in np.argsort(-rates, kind="stable")[:TOP_ROWS]
        ]
    return [
        Breakdown(
            "label_flips",
            "Label flips by label",
            f"Share of samples (over every trial) whose label was switched on or off against "
            f"the clean output; the {TOP_ROWS} most flipped labels of each scenario.",
            pd.DataFrame(rows),
            percent_columns=("flip rate",),
        )
    ]


def _detection(outcomes: pd.DataFrame, order: Sequence[str], data: ReportData) -> list[Breakdown]:
    if "truth" not in outcomes.columns:
        return []
    from wince.metrics import detection_map
    from wince.outputs.detection import per_class_average_precision

    maps = detection_map(outcomes).pivot(index="scenario", columns="metric", values="value")
    summary = [
        {"scenario": s, "mAP@0.5": maps.loc[s, "map_50"], "mAP@[.5:.95]": maps.loc[s, "map_50_95"]}
        for s in order
    ]
    per_class = []
    clean: dict[int, float] = {}
    for scenario, frame in _groups(outcomes, order):
        found = per_class_average_precision(
            list(plain_outputs(frame["output"], "detection")),
            list(plain_outputs(frame["truth"], "detection")),
        )
        clean = found if scenario == BASELINE else clean
        for cls, value in found.items():
            per_class.append(
                {
                    "scenario": scenario,
                    "class": data.class_name(cls),
                    "AP@0.5": value,
                    "AP@0.5 clean": clean.get(cls, np.nan),
                }
            )
    return [
        Breakdown(
            "detection_map",
            "Mean average precision by scenario",
            "COCO mean average precision of the detections against the ground truth each image "
            "had (moved with the pixels by geometric perturbations), at IoU 0.5 and averaged "
            "over IoU 0.5 to 0.95; 1 is perfect.",
            pd.DataFrame(summary),
        ),
        Breakdown(
            "detection_class_ap",
            "Average precision by class",
            "COCO average precision at IoU 0.5 of each class with ground truth, under each "
            "scenario and on the clean images; 1 is perfect.",
            pd.DataFrame(per_class),
        ),
    ]


def _segmentation(
    outcomes: pd.DataFrame, order: Sequence[str], data: ReportData
) -> list[Breakdown]:
    if "truth" not in outcomes.columns:
        return []
    from wince.outputs.segmentation import per_class_iou

    rows = []
    clean: dict[int, float] = {}
    for scenario, frame in _groups(outcomes, order):
        found = per_class_iou(
            list(plain_outputs(frame["output"], "segmentation")),
            list(plain_outputs(frame["truth"], "segmentation")),
            ignore_index=MASK_FILL,
        )
        clean = found if scenario == BASELINE else clean
        rows += [
            {
                "scenario": scenario,
                "class": data.class_name(cls),
                "IoU": value,
                "IoU clean": clean.get(cls, np.nan),
            }
            for cls, value in found.items()
        ]
    return [
        Breakdown(
            "segmentation_class_iou",
            "Intersection over union by class",
            "Each class's pixels predicted and true in common over those in either, summed over "
            "every image and trial of a scenario (pixels without ground truth left out); 1 is "
            "perfect.",
            pd.DataFrame(rows),
        )
    ]


def _embedding(outcomes: pd.DataFrame, order: Sequence[str], data: ReportData) -> list[Breakdown]:
    from wince.outputs.embeddings import neighbour_rank

    baseline = outcomes[outcomes["scenario"] == BASELINE].sort_values("sample_index")
    clean = plain_outputs(baseline["output"], "embedding")
    position = pd.Series(np.arange(len(baseline)), index=baseline["sample_index"].to_numpy())
    rows = []
    for scenario, frame in _groups(outcomes, order):
        if scenario == BASELINE:
            continue
        ranks = []
        for _, trial in frame.groupby("trial", sort=True):
            perturbed = clean.copy()  # samples the trial lacks keep their clean vector
            rows_of = position[trial["sample_index"].to_numpy()].to_numpy()
            perturbed[rows_of] = plain_outputs(trial["output"], "embedding")
            ranks.append(neighbour_rank(perturbed, clean)[rows_of])
        found = np.concatenate(ranks)
        rows.append(
            {
                "scenario": scenario,
                "samples": len(clean),
                "mean rank": float(found.mean()),
                "no longer nearest": float(np.mean(found > 0)),
            }
        )
    return [
        Breakdown(
            "embedding_neighbour_rank",
            "Nearest-neighbour rank",
            "For each perturbed embedding, how many other samples' clean embeddings are nearer "
            "to it (cosine distance) than its own clean one, over all samples of a trial: 0 "
            "means it still finds itself first. 'no longer nearest' is the share of samples "
            "(and trials) with a rank above 0.",
            pd.DataFrame(rows),
            percent_columns=("no longer nearest",),
        )
    ]


_BY_TASK = {
    "text": _text,
    "multilabel": _multilabel,
    "detection": _detection,
    "segmentation": _segmentation,
    "embedding": _embedding,
}

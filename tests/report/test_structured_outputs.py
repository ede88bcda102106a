"""Reports of structured outputs speak each output's language.

Small runs (a text recogniser that confuses u with v, an oracle detector and segmenter of
drawn rectangles that lose everything when the image gets too dark, a text run with a metric of
its own) are reported, and what the report says is checked against computations made here:
error rates and edit counts by jiwer, recall and mAP from `Run.summary()`, average precision
and IoU known by construction or counted by hand, box and overlay pixels where the stored
outputs put them.
"""

from __future__ import annotations

import base64
import io
import re
import sys
import textwrap

import jiwer
import numpy as np
import pytest
from PIL import Image

import structured_runs
import wince
from structured_runs import find_objects, scene, segment, squash_vowels
from wince.datasets import ArrayDataset
from wince.models import CallableAdapter
from wince.outputs.detection import CLEAN_COLOUR, LINE_PX
from wince.outputs.segmentation import CHANGED_COLOUR
from wince.report import build_report
from wince.report.narrative import percent

# the shared sentences and two more with u's in the middle of words
SENTENCES = [
    *structured_runs.SENTENCES,
    "our unusual tour ends at noon",
    "build it, run it, trust it",
]
TEXTS = SENTENCES * 3


TEXT_PLAN = {
    "name": "ocr-like",
    "perturbations": [{"name": "text.typos", "severities": [0.5, 1.0]}],
    "repeats": 2,
    "analysis": {"bootstrap": 200},
}


@pytest.fixture(scope="module")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> wince.Run:
    model = CallableAdapter(squash_vowels, task="text", fingerprint="squash-vowels")
    data = ArrayDataset(TEXTS, labels=TEXTS)
    store = tmp_path_factory.mktemp("text") / "store"
    return wince.run(model, data, TEXT_PLAN, store=store, cache=False)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def text_report(text_run: wince.Run) -> wince.report.Report:
    return build_report(text_run.store, text_run.id)


def prose(report: wince.report.Report) -> list[str]:
    """Every sentence the report writes (the resolved plan it quotes left out)."""
    found = report.narrative
    html = re.sub(r"<pre>.*?</pre>", "", report.html(), flags=re.S)
    sentences = [found.headline, *found.notes, *(f.sentence for f in found.risks)]
    sentences += [f.sentence for f in [*found.robust, *found.inconclusive]]
    sentences += [r.text for r in found.recommendations]
    return [*sentences, report.markdown(), html, report.gallery_note]


def test_text_headline_states_the_character_error_rate_clean_and_perturbed(text_run, text_report):
    top = text_report.narrative.risks[0]
    outcomes = text_run.outcomes()
    clean_cer = np.mean([jiwer.cer(t, squash_vowels([t])[0]) for t in TEXTS])
    rows = outcomes[outcomes["scenario"] == top.scenario]
    perturbed_cer = np.mean([jiwer.cer(r.truth, r.output) for r in rows.itertuples()])
    headline = text_report.narrative.headline
    assert top.metric == "cer"
    assert headline == top.sentence
    assert "character error rate" in headline
    assert f"from {percent(clean_cer)} on clean inputs to {percent(perturbed_cer)} (" in headline
    assert top.low <= perturbed_cer <= top.high
    assert top.baseline == pytest.approx(clean_cer)


def test_text_report_never_speaks_of_flips_or_accuracy(text_report):
    for text in prose(text_report):
        assert not re.search("flip|accuracy|accurate", text, flags=re.I), text


def test_text_worst_case_marks_the_edits_of_the_perturbed_output(text_run, text_report):
    outcomes = text_run.outcomes()
    case = text_report.cases[0]
    row = outcomes[
        (outcomes["scenario"] == case.scenario)
        & (outcomes["trial"] == 0)
        & (outcomes["sample_id"] == case.sample_id)
    ].iloc[0]
    captions = [caption for caption, _ in case.outputs]
    assert captions[0] == "reference"
    segments = case.outputs[2][1]
    assert "".join(t for k, t in segments if k != "added") == row.truth
    assert "".join(t for k, t in segments if k != "removed") == row.output
    distance = jiwer.process_characters(row.truth, row.output)
    edits = distance.substitutions + distance.deletions + distance.insertions
    marked = sum(len(t) for k, t in segments if k != "same")
    assert edits <= marked <= 2 * edits
    assert case.perturbed_pred == percent(jiwer.cer(row.truth, row.output))
    html = text_report.html()
    for kind, text in segments:
        tag = {"removed": "del", "added": "ins"}.get(kind)
        if tag:
            assert f"<{tag}>{text}</{tag}>" in html


def test_text_error_modes_count_the_edits_jiwer_counts(text_run, text_report):
    outcomes = text_run.outcomes()
    tables = {b.key: b.table for b in text_report.breakdowns}
    for row in tables["text_edits"].itertuples():
        frame = outcomes[outcomes["scenario"] == row.scenario]
        expected = jiwer.process_characters(list(frame["truth"]), list(frame["output"]))
        assert (row.substitutions, row.deletions, row.insertions) == (
            expected.substitutions,
            expected.deletions,
            expected.insertions,
        )
    confusions = tables["text_confusions"]
    clean = confusions[confusions["scenario"] == "baseline"].iloc[0]
    assert (clean["operation"], clean["reference"], clean["hypothesis"]) == (
        "substitution",
        "u",
        "v",
    )
    assert clean["count"] == sum(t.count("u") for t in TEXTS)
    rows = text_report.to_dict()["breakdowns"][0]["rows"]
    assert rows == tables["text_edits"].to_dict("records")


# -- detection and segmentation of drawn rectangles ---------------------------------------


SCENES = [scene(i) for i in range(12)]
# -0.9 EV keeps the rectangles above the models' 0.5 threshold (2^-0.9 = 0.54); -3 EV (0.125)
# puts every one below it: every object is lost
DARK_PLAN = {
    "name": "darkness",
    "perturbations": [{"name": "image.exposure", "severities": [0.3, 1.0]}],
    "analysis": {"bootstrap": 200},
}
DARK = "image.exposure(exposure_ev=-3)"


def image_data(task: str) -> ArrayDataset:
    labels = [s[1] for s in SCENES] if task == "detection" else [s[2] for s in SCENES]
    return ArrayDataset(np.stack([s[0] for s in SCENES]), labels=labels, modality="image")


@pytest.fixture(scope="module")
def detection_run(tmp_path_factory: pytest.TempPathFactory) -> wince.Run:
    model = CallableAdapter(find_objects, task="detection", fingerprint="oracle-detector")
    store = tmp_path_factory.mktemp("detection") / "store"
    return wince.run(model, image_data("detection"), DARK_PLAN, store=store, cache=False)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def segmentation_run(tmp_path_factory: pytest.TempPathFactory) -> wince.Run:
    model = CallableAdapter(segment, task="segmentation", fingerprint="oracle-segmenter")
    store = tmp_path_factory.mktemp("segmentation") / "store"
    return wince.run(model, image_data("segmentation"), DARK_PLAN, store=store, cache=False)  # type: ignore[arg-type]


def pixels(uri: str) -> np.ndarray:
    payload = uri.split(",", 1)[1]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(payload))).convert("RGB"))


def test_detection_headline_states_the_recall_from_the_summary(detection_run):
    report = build_report(detection_run.store, detection_run.id, data=image_data("detection"))
    summary = detection_run.summary()
    recall = summary[summary["metric"] == "recall"].set_index("scenario")["value"]
    top = report.narrative.risks[0]
    assert top.scenario == DARK
    assert recall[DARK] == 0.0  # every rectangle is too dark to find
    assert (
        f"the share of the true objects found falls from {percent(recall['baseline'])} on "
        f"clean inputs to {percent(recall[DARK])} (" in report.narrative.headline
    )


def test_detection_worst_case_draws_the_lost_boxes_where_they_were(detection_run):
    report = build_report(detection_run.store, detection_run.id, data=image_data("detection"))
    case = report.cases[0]
    assert case.scenario == DARK
    drawn = pixels(case.drawings["boxes"])
    factor = drawn.shape[0] // 64
    blue = np.all(drawn == CLEAN_COLOUR, axis=2)
    truth = SCENES[int(case.sample_id)][1]  # the oracle found exactly these on the clean image
    for x0, y0, x1, y1 in (truth.boxes * factor).astype(int):
        band = LINE_PX * factor
        assert blue[y0 : y0 + band, x0:x1].any()  # top edge
        assert blue[y1 - band : y1, x0:x1].any()  # bottom edge
        assert blue[y0:y1, x0 : x0 + band].any()  # left edge
        assert blue[y0:y1, x1 - band : x1].any()  # right edge
        assert not blue[y0 + band + 1 : y1 - band - 1, x0 + band + 1 : x1 - band - 1].any()
    assert "2 objects fewer" in case.note


def test_detection_worst_case_without_the_data_draws_on_a_blank_canvas(detection_run):
    report = build_report(detection_run.store, detection_run.id)
    case = report.cases[0]
    drawn = pixels(case.drawings["boxes"])
    assert "blank canvas" in case.note
    assert np.all(drawn == CLEAN_COLOUR, axis=2).any()
    assert "Inputs are not shown" in report.gallery_note


def test_detection_tables_hold_the_map_and_per_class_ap(detection_run):
    report = build_report(detection_run.store, detection_run.id)
    summary = detection_run.summary()
    maps = summary[summary["metric"] == "map_50"].set_index("scenario")["value"]
    tables = {b.key: b.table for b in report.breakdowns}
    shown = tables["detection_map"].set_index("scenario")["mAP@0.5"]
    assert shown.to_dict() == pytest.approx(maps[shown.index].to_dict())
    per_class = tables["detection_class_ap"].set_index(["scenario", "class"])["AP@0.5"]
    # by construction: the oracle finds every object with its exact box, unless it is too dark
    assert set(tables["detection_map"]["scenario"]) == {"baseline", DARK}  # the headline level
    for cls in (0, 1):
        assert per_class[("baseline", cls)] == pytest.approx(1.0)
        assert per_class[(DARK, cls)] == pytest.approx(0.0)


def test_segmentation_tables_hold_the_iou_of_each_class_counted_by_hand(segmentation_run):
    report = build_report(segmentation_run.store, segmentation_run.id)
    outcomes = segmentation_run.outcomes()
    table = {b.key: b.table for b in report.breakdowns}["segmentation_class_iou"]
    shown = table.set_index(["scenario", "class"])["IoU"]
    for scenario in ("baseline", DARK):
        rows = outcomes[outcomes["scenario"] == scenario]
        masks = [
            (np.frombuffer(r.output["classes"], "<i8"), np.frombuffer(r.truth["classes"], "<i8"))
            for r in rows.itertuples()
        ]
        for cls in (0, 1, 2):
            inter = sum(np.sum((p == cls) & (t == cls)) for p, t in masks)
            union = sum(np.sum((p == cls) | (t == cls)) for p, t in masks)
            assert shown[(scenario, cls)] == pytest.approx(inter / union)
    assert shown[(DARK, 1)] == 0.0  # the dark rectangles are all read as background


def test_segmentation_worst_case_tints_the_pixels_whose_class_changed(segmentation_run):
    report = build_report(segmentation_run.store, segmentation_run.id)
    case = report.cases[0]
    changed = pixels(case.drawings["changed pixels"])
    factor = changed.shape[0] // 64
    grey_tinted = np.rint(0.5 * 128 + 0.5 * np.array(CHANGED_COLOUR))
    tinted = np.all(changed[::factor, ::factor] == grey_tinted, axis=2)
    # on the dark level every rectangle's pixels turn to background: exactly the drawn mask
    assert np.array_equal(tinted, SCENES[int(case.sample_id)][2] > 0)
    assert "mean intersection over union" in report.narrative.headline


# -- a metric of one's own -------------------------------------------------------------------

OWN_MODULE = """
import numpy as np


def length_change(clean, perturbed, labels, context):
    return np.abs([len(a) - len(b) for a, b in zip(clean.outputs, perturbed.outputs)])
"""


def test_a_metric_of_ones_own_is_reported_in_its_unit(tmp_path, monkeypatch):
    (tmp_path / "own_text_metrics.py").write_text(textwrap.dedent(OWN_MODULE))
    # not syspath_prepend, which imports pkg_resources (another test may leave it broken)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    plan = {
        **TEXT_PLAN,
        "metrics": [
            {
                "name": "length_change",
                "function": "own_text_metrics:length_change",
                "better": "lower",
                "unit": "characters",
                "description": "change of the output's length",
                "tolerance": 0.5,
            }
        ],
    }
    model = CallableAdapter(squash_vowels, task="text", fingerprint="squash-vowels")
    run = wince.run(model, ArrayDataset(TEXTS, labels=TEXTS), plan, store=tmp_path / "s")  # type: ignore[arg-type]
    outcomes = run.outcomes()
    clean = outcomes[outcomes["scenario"] == "baseline"].set_index("sample_index")["output"]
    perturbed = outcomes[outcomes["scenario"].str.startswith("text.typos")]
    change = perturbed.assign(
        by_hand=[abs(len(r.output) - len(clean[r.sample_index])) for r in perturbed.itertuples()]
    )
    worst = change.groupby("scenario")["by_hand"].mean().max()
    report = build_report(run.store, run.id)
    note = next(n for n in report.narrative.notes if "length_change" in n)
    assert note.startswith("Change of the output's length (your metric length_change, lower")
    assert f"0 characters on clean inputs, at worst {worst:.3g} characters (" in note
    assert note.replace("_", "\\_") in report.markdown()


# -- multi-label and embedding outputs -------------------------------------------------------

ROWS = np.random.default_rng(7).uniform(0, 1, (40, 3))
NOISY_PLAN = {
    "name": "noisy-rows",
    "perturbations": [{"name": "tabular.gaussian_noise", "severities": [1.0]}],
    "repeats": 2,
    "analysis": {"bootstrap": 200},
}


def tag(rows: np.ndarray) -> np.ndarray:
    """A multi-label 'model': label j applies where feature j exceeds 0.5."""
    return rows > 0.5


def embed(rows: np.ndarray) -> np.ndarray:
    """An embedding 'model': a fixed linear map of the features."""
    return rows @ np.array([[1.0, 0.2, -0.5, 0.3], [0.1, 1.0, 0.4, -0.2], [-0.3, 0.2, 1.0, 0.6]])


def analysed(tmp_path, function, task: str, **data: object) -> tuple[wince.Run, object]:
    model = CallableAdapter(function, task=task, fingerprint=task)
    run = wince.run(model, ArrayDataset(ROWS, **data), NOISY_PLAN, store=tmp_path / "s")  # type: ignore[arg-type]
    return run, build_report(run.store, run.id)


def by_scenario(outcomes, scenario: str) -> tuple[np.ndarray, np.ndarray]:
    """The perturbed outputs of a scenario and the clean ones of the same samples, by hand."""
    rows = outcomes[outcomes["scenario"] == scenario]
    clean = outcomes[outcomes["scenario"] == "baseline"].set_index("sample_index")["output"]
    perturbed = np.array([list(v) for v in rows["output"]])
    return perturbed, np.array([list(clean[i]) for i in rows["sample_index"]])


def test_multilabel_flip_rate_of_each_label_counted_by_hand(tmp_path):
    run, report = analysed(tmp_path, tag, "multilabel", labels=tag(ROWS))
    table = {b.key: b.table for b in report.breakdowns}["label_flips"]
    (finding,) = [*report.narrative.risks, *report.narrative.robust, *report.narrative.inconclusive]
    scenario = finding.scenario
    perturbed, clean = by_scenario(run.outcomes(), scenario)
    shown = table[table["scenario"] == scenario].set_index("label")["flip rate"]
    for label in range(3):
        assert shown[label] == pytest.approx(np.mean(perturbed[:, label] != clean[:, label]))
    assert finding.metric == "hamming_loss"  # against the labels: the run has them
    assert "the share of the labels that are wrong" in finding.sentence


def test_embedding_nearest_neighbour_rank_counted_by_hand(tmp_path):
    run, report = analysed(tmp_path, embed, "embedding")
    table = {b.key: b.table for b in report.breakdowns}["embedding_neighbour_rank"]
    outcomes = run.outcomes()
    clean_rows = outcomes[outcomes["scenario"] == "baseline"].sort_values("sample_index")
    clean = np.array([list(v) for v in clean_rows["output"]])
    unit = clean / np.linalg.norm(clean, axis=1, keepdims=True)
    for row in table.to_dict("records"):
        frame = outcomes[outcomes["scenario"] == row["scenario"]]
        ranks = []
        for r in frame.itertuples():
            vector = np.asarray(r.output) / np.linalg.norm(r.output)
            distance = 1 - unit @ vector
            own = distance[r.sample_index]
            ranks.append(sum(d < own - 1e-9 for j, d in enumerate(distance) if j != r.sample_index))
        assert row["mean rank"] == pytest.approx(np.mean(ranks))
        assert row["no longer nearest"] == pytest.approx(np.mean(np.array(ranks) > 0))


def test_text_worst_case_with_the_data_also_shows_the_perturbed_input(text_run):
    report = build_report(text_run.store, text_run.id, data=ArrayDataset(TEXTS, labels=TEXTS))
    case = report.cases[0]
    assert case.original == TEXTS[int(case.sample_id)]  # the clean input, regenerated
    assert any(kind != "same" for kind, _ in case.text)  # the typos the input got
    assert "Inputs are regenerated" in report.gallery_note
    assert case.outputs[0][0] == "reference"

"""Try defences on a stored run: rerun its scenarios behind each, measure what each buys and costs.

Each defence is fitted on the run's clean data (its baseline inputs), wraps the run's model
(`Defence.wrap`), and the run's plan is run again with it: the same scenarios, seeds and
samples, so every perturbed input is the one the undefended model saw (perturbations draw
from streams of the plan seed, scenario, trial and sample id, never of the model). The
defended run is stored as a run of its own, its lineage recording the defence (name,
version, options, fitted state) and the run it hardens, so `compare`, `gate` and `lock` read
it like any run. Then, per defence:

- **exposure reduction** per finding (each fragile (scenario, metric) of the run's verdicts):
  the per-sample effect beyond the noise floor (`wince.analysis.significance.sample_effects`:
  flip frequency, accuracy drop, ...) of the undefended model minus the defended one's, with
  a 95% paired bootstrap interval over samples (the same weights for every defence and
  finding) and a one-sided p-value that the reduction is above 0, corrected across the
  findings with the run's correction (Holm unless its analysis says otherwise);
- **clean accuracy change**: defended minus undefended on the clean baseline, with its
  paired interval and McNemar p-value (`wince.governance.compare.paired_test`); the defence
  is **non-inferior** when the interval's lower bound is above -margin (as `wince compare`
  decides it);
- **latency cost**: seconds per sample of the defended model over the undefended one's,
  each timed on inputs no model has seen (`timing_batches`), so a model that memoises its
  answers computes them for both;
- **memory cost**: the peak memory one prediction of `LATENCY_SAMPLES` unseen inputs
  allocates, per sample, of the defended model minus the undefended one's
  (`peak_bytes_per_sample`). It is traced with `tracemalloc`, so it counts what Python and
  numpy allocate, not the pools native libraries keep of their own (a torch or ONNX
  runtime's arena, a GPU's memory);
- **refused scenarios answered**: the scenarios whose inputs the undefended model refused
  (NaN it cannot take, say) that the defended model answers;
- **rejected traffic** of an abstaining defence (`wince.defences.abstain`: it answers as the
  model does and rejects some inputs): the share of clean inputs it rejects, out of sample
  (`clean_reject_share`: fitted on one seeded random half, counted on the other, and back),
  and of each finding's perturbed inputs (`rejected_inputs`, on the run's inputs
  regenerated with its seeds). Its exposure is measured on the inputs it
  accepts, against the undefended model's on all inputs: what a user of its answers meets;
- a defence that **fails** (a wince error at any of these stages) is listed with the stage
  and the error, and the others are measured all the same;
- the run's stored result is **merged**: each defence keeps its latest result, and the
  defences of earlier hardens not tried again stay in the ranking (`merge_stored`);
- a **net ranking**: defences that *qualify* (at least one significant reduction or one
  refused scenario answered, non-inferior clean accuracy, and at most `REJECT_CAP` of clean
  traffic rejected) first, then by mean reduction over the findings, then by latency ratio.
"""

from __future__ import annotations

import copy
import json
import math
import time
import tracemalloc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import yaml
from rich.console import Console
from rich.table import Table

from wince import perturbations
from wince.analysis.data import RunData, load_run_data
from wince.analysis.settings import AnalysisSettings, run_settings
from wince.analysis.significance import sample_effects, verdicts
from wince.analysis.stats import (
    adjust,
    bootstrap_means_each,
    normal_pvalue,
    percentile_interval,
)
from wince.datasets.base import Dataset
from wince.defences.abstain import AbstainingDefence
from wince.defences.base import (
    CleanData,
    Defence,
    FragilePerturbation,
    applicable,
    clean_data,
    create,
)
from wince.engine.scenarios import BASELINE
from wince.errors import ModelError, ParameterError, WinceError
from wince.metrics import Resampling, bootstrap_weights
from wince.models.base import ModelAdapter
from wince.perturbations.base import Batch, Modality, Rngs, Step
from wince.store.store import Store, strict_json

if TYPE_CHECKING:
    from wince.engine.probe import Probe

DEFAULT_MARGIN = 0.01  # one point of clean accuracy
# The largest share of clean traffic a qualifying defence may reject: rejecting everything
# would remove every exposure, and a fifth of traffic deferred is already a product decision.
REJECT_CAP = 0.2
LATENCY_SAMPLES = 128  # samples per timed call
LATENCY_REPEATS = 3  # timed calls per model, each on inputs of its own; the fastest counts
# The timed inputs: clean samples under a perturbation at full severity that no defence
# undoes, so that none is an input a model has answered before (normalised text, clipped
# values); timing a memoising model on what it has seen would time its memory.
TIMING_PERTURBATIONS = {
    Modality.IMAGE: "image.gaussian_noise",
    Modality.TABULAR: "tabular.gaussian_noise",
    Modality.TEXT: "text.typos",
    Modality.AUDIO: "audio.additive_noise",
    Modality.TIMESERIES: "timeseries.jitter",
}
# The bootstrap weights' stream: separate from those of the run's own intervals.
_RESAMPLING_STREAM = (0xDEF,)
# The random split of the clean data into halves (`clean_halves`): a stream of its own too.
_CLEAN_SPLIT_STREAM = (0xDEF, 1)

EXPOSURE_COLUMNS = (
    "defence",
    "scenario",
    "metric",
    "before",
    "after",
    "rejected",
    "reduction",
    "low",
    "high",
    "p_value",
    "p_adjusted",
    "significant",
    "n_samples",
)
# the columns of `EXPOSURE_COLUMNS`, `DEFENCE_COLUMNS` and `FAILED_COLUMNS` holding numbers
_NUMERIC_COLUMNS = frozenset(
    {
        *("before", "after", "rejected", "reduction", "low", "high", "p_value", "p_adjusted"),
        *("n_samples", "rank", "version", "significant_findings", "answered_refused"),
        *("mean_reduction", "clean_change", "clean_low", "clean_high", "clean_p"),
        *("latency_ratio", "seconds_per_sample", "extra_bytes_per_sample", "bytes_per_sample"),
        *("clean_rejected", "perturbed_rejected"),
    }
)
# a defence that failed: the stage it failed at ("fit", "rerun", "exposure", "latency timing",
# "memory") and the error's message
FAILED_COLUMNS = ("defence", "version", "stage", "message")
DEFENCE_COLUMNS = (
    "rank",
    "defence",
    "version",
    "run_id",
    "options",
    "significant_findings",
    "answered_refused",
    "mean_reduction",
    "clean_change",
    "clean_low",
    "clean_high",
    "clean_p",
    "non_inferior",
    "latency_ratio",
    "seconds_per_sample",
    "extra_bytes_per_sample",
    "bytes_per_sample",
    "abstains",
    "clean_rejected",
    "perturbed_rejected",
    "qualifies",
)


@dataclass(frozen=True)
class Hardening:
    """What each defence bought and cost on a run.

    Attributes:
        run_id: the hardened (undefended) run.
        margin: the clean-accuracy non-inferiority margin, a fraction (0.01 = 1 point).
        alpha: the significance level (the run's analysis settings).
        correction: the multiple-comparison correction across findings ("holm" or "bh").
        findings: the run's fragile tests: `scenario`, `metric`, `effect`.
        refused: the scenarios whose inputs the undefended model refused.
        exposure: one row per defence and finding: `defence`, `scenario`, `metric`,
            `before` and `after` (mean effect of the undefended model over all inputs and of
            the defended one over the inputs it accepts), `rejected` (the share of the
            scenario's inputs the defence rejects; 0 for a defence that never abstains),
            `reduction` (before - after), `low`, `high` (its 95% paired bootstrap interval),
            `p_value`, `p_adjusted` (one-sided, reduction > 0), `significant`, `n_samples`
            (samples with an accepted, answered input). A finding whose inputs the defence
            all rejects (`rejected` 1) has `after` 0 over every sample: each input is
            deferred to a fallback, so no answer is wrong there (`exposure_reduction`).
        defences: one row per defence, best first: `rank`, `defence`, `version`, `run_id`
            (the defended run), `significant_findings`, `answered_refused` (how many of
            `refused` the defended model answers), `mean_reduction` (over findings),
            `clean_change` (clean accuracy, defended - undefended; NaN without labels),
            `clean_low`, `clean_high`, `clean_p` (McNemar), `non_inferior` (None without
            labels), `latency_ratio` (defended over undefended seconds per sample),
            `seconds_per_sample` (defended), `extra_bytes_per_sample` (the defended
            model's peak memory per sample minus the undefended one's, bytes; negative
            when it allocates less), `bytes_per_sample` (defended; `peak_bytes_per_sample`),
            `abstains` (an `AbstainingDefence`), `clean_rejected` (share of clean inputs
            rejected, out of sample; NaN below two samples), `perturbed_rejected` (mean over
            the findings of their `rejected`), `qualifies`.
        reject_cap: the largest `clean_rejected` of a qualifying defence (`REJECT_CAP`).
        failed: one row per defence that failed, not in `defences` or `exposure`:
            `defence`, `version`, `stage` (where it failed: "fit", "rerun", "exposure",
            "latency timing" or "memory"), `message` (the error's).
        notes: what became of the run's stored harden result: defences kept from it (those
            not tried again; `merge_stored`), or that it was replaced.
    """

    run_id: str
    margin: float
    alpha: float
    correction: str
    findings: pd.DataFrame
    refused: tuple[str, ...]
    exposure: pd.DataFrame
    defences: pd.DataFrame
    reject_cap: float = REJECT_CAP
    failed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FAILED_COLUMNS))
    notes: tuple[str, ...] = ()

    def to_payload(self) -> dict[str, Any]:
        """JSON-able form (non-finite numbers as None)."""
        return dict(
            strict_json(
                {
                    "run_id": self.run_id,
                    "margin": self.margin,
                    "alpha": self.alpha,
                    "correction": self.correction,
                    "reject_cap": self.reject_cap,
                    "findings": self.findings.to_dict(orient="records"),
                    "refused": list(self.refused),
                    "defences": self.defences.to_dict(orient="records"),
                    "exposure": self.exposure.to_dict(orient="records"),
                    "failed": self.failed.to_dict(orient="records"),
                    "notes": list(self.notes),
                }
            )
        )


def timing_batches(dataset: Dataset, seed: int, timed_model: int) -> list[Batch]:
    """`LATENCY_REPEATS` batches of inputs no model has seen, different for each timed model.

    Each is the first `LATENCY_SAMPLES` clean samples under `TIMING_PERTURBATIONS`' noise of
    the data's modality at severity 1, drawn from streams of the seed, `timed_model` (0 for
    the undefended model, i for the i-th defence) and the batch's index.
    """
    return [unseen_batch(dataset, seed, timed_model, repeat) for repeat in range(LATENCY_REPEATS)]


def memory_batch(dataset: Dataset, seed: int, timed_model: int) -> Batch:
    """A batch like those of `timing_batches`, of a stream of its own: not timed before."""
    return unseen_batch(dataset, seed, timed_model, LATENCY_REPEATS)


def unseen_batch(dataset: Dataset, seed: int, timed_model: int, index: int) -> Batch:
    """The first `LATENCY_SAMPLES` clean samples under full timing noise, stream `index`."""
    x = dataset.batch(0, min(len(dataset), LATENCY_SAMPLES))
    noise = perturbations.create(TIMING_PERTURBATIONS[dataset.modality], {})
    keys = np.arange(len(x), dtype=np.uint64)
    return noise.perturb(
        x,
        noise.at_severity(1.0),
        Rngs(seed, f"latency:{timed_model}", index, keys),
        dataset.context(),
    )


def seconds_per_sample(model: ModelAdapter, batches: Sequence[Batch]) -> float:
    """The fastest prediction of one of `batches` (each predicted once), in s per sample."""
    fastest = math.inf
    for x in batches:
        started = time.perf_counter()
        model.predict(x)
        fastest = min(fastest, (time.perf_counter() - started) / max(len(x), 1))
    return fastest


def peak_bytes_per_sample(model: ModelAdapter, x: Batch) -> float:
    """The peak memory one prediction of `x` allocates, in bytes per sample.

    Traced with `tracemalloc` from the call's start: the Python objects and numpy arrays the
    prediction allocates (freed or not), not the pools native libraries keep of their own.
    Tracing already running (started by the caller) is left running.
    """
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        model.predict(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not tracing:
            tracemalloc.stop()
    return (peak - before) / max(len(x), 1)


def cell_effects(data: RunData, scenario: str, metric: str) -> npt.NDArray[np.float64]:
    """(n_samples, n_trials) effect of each perturbed input; NaN where there is no outcome.

    The per-trial form of `sample_effects` (whose per-sample effect is the mean over trials):
    each trial's harmful change against the baseline, beyond the sample's noise floor.
    """
    effect, _ = sample_effects(data, scenario, metric)
    known = data.metrics[metric]
    values = data.matrix(scenario, known.column)
    deviation = values - data.per_sample(scenario, known.column)[:, None]
    cells: npt.NDArray[np.float64] = effect[:, None] + known.harm_sign * deviation
    return cells


def _mean(cells: npt.NDArray[np.float64]) -> float:
    """The mean of the finite cells; NaN when there is none."""
    present = np.isfinite(cells)
    return float(np.mean(cells[present])) if present.any() else math.nan


def exposure_reduction(
    before: RunData,
    after: RunData,
    findings: pd.DataFrame,
    resample: Resampling,
    accepted: Mapping[str, npt.NDArray[np.bool_]] | None = None,
) -> list[dict[str, Any]]:
    """Per finding: the undefended and defended mean effects, reduction, interval, p-value.

    `before` is the undefended model's mean effect over all perturbed inputs, `after` the
    defended model's over the inputs it accepts (`accepted`: per scenario, an (n_samples,
    n_trials) mask, as `rejected_inputs` negates it; None: every input). The reduction's
    bootstrap replicates reweight both means with the same sample weights (paired). The
    p-value is one-sided (reduction above 0) and not yet adjusted. A scenario whose inputs the
    defended model refused holds NaN and p = 1. A scenario whose inputs an abstaining defence
    all rejects is fully covered: each is deferred to a fallback, so its answers hold no wrong
    one there; `after` is 0 exposure (over every sample), and the reduction is `before` with
    the interval and p-value of the undefended model's effect.
    """
    effects = []
    for finding in findings.itertuples():
        effect_before = cell_effects(before, finding.scenario, finding.metric)
        effect_after = np.full_like(effect_before, np.nan)
        if after.has(finding.scenario):
            effect_after = cell_effects(after, finding.scenario, finding.metric)
        answered = np.ones(effect_before.shape, dtype=bool)
        if accepted is not None:
            answered = accepted[finding.scenario]
        effect_after = np.where(answered, effect_after, np.nan)
        if not answered.any():
            # every input deferred to the fallback: a user of the answers meets none wrong
            effect_after = np.where(np.isfinite(effect_before), 0.0, np.nan)
        effects.append((finding, effect_before, effect_after, answered))
    if not effects:
        return []
    # every finding's replicates from one pass over the resampling weights
    means = bootstrap_means_each([m for _, b, a, _ in effects for m in (b, a)], resample)
    replicates = means[:, 0::2] - means[:, 1::2]
    rows = []
    for (finding, effect_before, effect_after, answered), column in zip(
        effects, replicates.T, strict=True
    ):
        low, high = percentile_interval(column)
        estimate = _mean(effect_before) - _mean(effect_after)
        p_value = normal_pvalue(estimate, column)
        rows.append(
            {
                "scenario": finding.scenario,
                "metric": finding.metric,
                "before": _mean(effect_before),
                "after": _mean(effect_after),
                "rejected": float(1 - np.mean(answered)),
                "reduction": estimate,
                "low": low,
                "high": high,
                "p_value": 1.0 if math.isnan(p_value) else p_value,
                "n_samples": int(np.isfinite(effect_after).any(axis=1).sum()),
            }
        )
    return rows


def fragile_magnitudes(run: RunData, findings: pd.DataFrame) -> list[FragilePerturbation]:
    """Each perturbation (with its options) of the findings' scenarios, at its largest magnitude.

    One entry per perturbation and options as the scenarios' steps give them
    (`tabular.unit_confusion` on `columns: [proline]` and on `columns: [magnesium]` are two),
    in the order the findings first name them. Magnitudes are in the perturbation's physical
    unit; one beyond the realistic range is replaced by the range's severe end, so that
    aiming a defence at it stays realistic.
    """
    strongest: dict[str, tuple[float, FragilePerturbation]] = {}  # name+options -> severity
    for scenario in dict.fromkeys(findings["scenario"]):
        for step in run.steps(scenario):
            name, params = str(step["name"]), dict(step.get("params") or {})
            severity, value = float(step["severity"]), float(step["value"])
            if severity > 1:
                severity, value = 1.0, perturbations.get(name).magnitude.severe
            key = json.dumps([name, params], sort_keys=True, default=str)
            if key not in strongest or severity > strongest[key][0]:
                strongest[key] = (severity, FragilePerturbation(name, params, value))
    return [fragile for _, fragile in strongest.values()]


def rejected_inputs(
    defence: AbstainingDefence,
    model: ModelAdapter,
    probe: Probe,
    data: RunData,
    scenarios: Sequence[str],
) -> dict[str, npt.NDArray[np.bool_]]:
    """Per scenario, (n_samples, n_trials): True where the defence rejects the perturbed input.

    The inputs are the run's, made again with its seeds (`Probe.perturbed`), in the rows and
    trial columns of `RunData.matrix`.
    """
    masks = {}
    for scenario in dict.fromkeys(scenarios):
        steps = [
            Step(step["name"], step["value"], tuple(sorted((step.get("params") or {}).items())))
            for step in data.steps(scenario)
        ]
        trials = np.sort(data.frame(scenario)["trial"].unique())
        masks[scenario] = np.stack(
            [
                defence.rejects(model, probe.perturbed(data.samples, steps, trial=int(trial)))
                for trial in trials
            ],
            axis=1,
        )
    return masks


def clean_halves(n_samples: int, seed: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Sample positions split at random into two halves (sorted; the first the smaller).

    Drawn from a stream of `seed` (the run's plan seed) of its own, so the split is the same
    on every harden of the run. At random rather than by even and odd positions: data stored
    in a pattern (labels alternating, classes in blocks of two) would put a class or a kind of
    input in one half only.
    """
    shuffled = np.random.default_rng([seed, *_CLEAN_SPLIT_STREAM]).permutation(n_samples)
    half = n_samples // 2
    return np.sort(shuffled[:half]), np.sort(shuffled[half:])


def clean_reject_share(
    defence: AbstainingDefence,
    model: ModelAdapter,
    dataset: Dataset,
    clean: CleanData,
    seed: int,
) -> float:
    """The share of clean inputs the defence rejects, out of sample; NaN below two samples.

    Fitted on one half of the samples (`clean_halves`: a random split seeded with `seed`, the
    run's plan seed) and counted on the other, then the other way round (a copy of the
    defence each time): a range or quantile fitted on the very inputs it is counted on would
    understate it (a range validator would reject none).
    """
    if len(dataset) < 2:
        return math.nan
    halves = clean_halves(len(dataset), seed)
    rejected = 0
    for fitted_on, counted_on in (halves, halves[::-1]):
        fold = copy.deepcopy(defence)
        labels = None if clean.labels is None else clean.labels[fitted_on]
        fold.fit(model, CleanData(dataset.take(list(fitted_on)), labels, clean.context))
        rejected += int(fold.rejects(model, dataset.take(list(counted_on))).sum())
    return rejected / len(dataset)


def parse_defence(text: str) -> tuple[str, dict[str, Any]]:
    """A defence and its options from `NAME` or `NAME:OPTION=VALUE[,OPTION=VALUE...]`.

    Values are read as YAML scalars: `model.tta:severity=0.1,copies=2` gives
    ("model.tta", {"severity": 0.1, "copies": 2}).

    Raises:
        ParameterError: an option not written OPTION=VALUE, or one given twice.
    """
    name, _, written = text.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in written.split(","))):
        option, equals, value = item.partition("=")
        if not equals or not option.strip() or not value.strip():
            raise ParameterError(
                f"--defence {text}: write each option as OPTION=VALUE after the name and a "
                f"colon, separated by commas (e.g. model.tta:severity=0.1,copies=2); got {item!r}."
            )
        if option.strip() in options:
            raise ParameterError(f"--defence {text}: option {option.strip()!r} is given twice.")
        options[option.strip()] = yaml.safe_load(value.strip())
    return name.strip(), options


def _seeded(parsed: tuple[str, dict[str, Any]], seed: int) -> tuple[str, dict[str, Any]]:
    """The defence's options with the run's seed, unless they set one."""
    name, options = parsed
    return name, {"seed": seed} | options


def resolve_defences(
    names: Sequence[str | Defence] | None, task: str, modality: str, *, seed: int
) -> list[Defence]:
    """The defences to try: those named (or given), else every one tried by default.

    The default (`applicable`) leaves out those tried only when named (`Defence.by_default`:
    abstaining defences, retraining, ensembles, per-batch recalibration). A name may carry
    options (`parse_defence`:
    `model.tta:severity=0.1`); a defence without a `seed` option is seeded with `seed` (the
    run's plan seed).

    Raises:
        ParameterError: an unknown name, a defence named twice, one that does not apply to
            the model's task or the data's modality, or none applies.
    """
    chosen = list(names) if names else applicable(task, modality)
    if not chosen:
        raise ParameterError(
            f"no defence of wince's library applies to a {task} model on {modality} data; "
            "there is nothing to try."
        )
    defences = [
        d if isinstance(d, Defence) else create(*_seeded(parse_defence(d), seed)) for d in chosen
    ]
    seen = [d.name for d in defences]
    repeated = sorted({n for n in seen if seen.count(n) > 1})
    if repeated:
        raise ParameterError(
            f"defence {repeated[0]} is given twice; name each defence once, and harden the "
            "run again to try it with other options."
        )
    for defence in defences:
        if not defence.applicable(task, modality):
            raise ParameterError(
                f"defence {defence.name} does not apply to a {task} model on {modality} data; "
                f"those that do: {', '.join(applicable(task, modality)) or 'none'}."
            )
    return defences


@dataclass(frozen=True)
class _Undefended:
    """What every defence of one harden is measured against: the run, its model and costs.

    `seconds` and `bytes` are the undefended model's time and peak memory per sample.
    """

    store: Store
    run_id: str
    probe: Probe
    before: RunData
    settings: AnalysisSettings
    findings: pd.DataFrame
    refused: tuple[str, ...]
    clean: CleanData
    resample: Resampling
    seconds: float
    bytes: float
    margin: float
    progress: bool
    cache: bool


class _DefenceFailedError(Exception):
    """A defence failed at `stage` ("fit", "rerun", ...) with the wince error `error`."""

    def __init__(self, stage: str, error: WinceError) -> None:
        super().__init__(stage)
        self.stage = stage
        self.error = error


def _measure(
    run: _Undefended,
    defence: Defence,
    fragile: Sequence[FragilePerturbation],
    timed_model: int,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One defence's exposure rows and its ranking row (before ranking).

    Raises:
        _DefenceFailedError: a wince error, with the stage it happened at.
    """
    from wince.engine.cache import cache_for
    from wince.engine.executors import make_executor
    from wince.engine.runner import execute_run

    adapter, dataset, seed = run.probe.adapter, run.probe.dataset, run.before.plan.seed
    stage = "fit"
    try:
        defence.aim(fragile)
        defence.fit(adapter, run.clean)
        defended = defence.wrap(adapter)
        stage = "rerun"
        execution = execute_run(
            run.before.plan,
            defended,
            dataset,
            run.store,
            executor=make_executor("local"),
            progress=run.progress,
            cache=cache_for(run.cache and not defence.batch_dependent, run.store),
            progress_title=defence.name,
        )
        lineage = {"defence": defence.describe(), "hardens": run.run_id}
        run.store.update_lineage(execution.run_id, lineage)
        after = load_run_data(run.store, execution.run_id)
        stage = "exposure"
        rows, clean_rejected = _exposure_rows(run, defence, after)
        benefit_and_cost = _benefit_and_cost(run.before, after, rows, run.resample, run.margin)
        stage = "latency timing"
        defended_seconds = seconds_per_sample(defended, timing_batches(dataset, seed, timed_model))
        stage = "memory"
        defended_bytes = peak_bytes_per_sample(defended, memory_batch(dataset, seed, timed_model))
    except WinceError as error:
        raise _DefenceFailedError(stage, error) from error
    summary = {
        "defence": defence.name,
        "version": defence.version,
        "run_id": execution.run_id,
        "options": defence.options(),
        "answered_refused": sum(after.has(scenario) for scenario in run.refused),
        "latency_ratio": defended_seconds / run.seconds if run.seconds > 0 else math.nan,
        "seconds_per_sample": defended_seconds,
        "extra_bytes_per_sample": defended_bytes - run.bytes,
        "bytes_per_sample": defended_bytes,
        "abstains": isinstance(defence, AbstainingDefence),
        "clean_rejected": clean_rejected,
        "perturbed_rejected": float(np.mean([r["rejected"] for r in rows])) if rows else 0.0,
    }
    return rows, summary | benefit_and_cost


def _exposure_rows(
    run: _Undefended, defence: Defence, after: RunData
) -> tuple[list[dict[str, Any]], float]:
    """The defence's exposure reduction per finding (corrected) and its clean rejected share.

    An abstaining defence is measured on the inputs it accepts; any other rejects none.
    """
    accepted, clean_rejected = None, 0.0
    if isinstance(defence, AbstainingDefence):
        adapter, dataset = run.probe.adapter, run.probe.dataset
        rejected = rejected_inputs(
            defence, adapter, run.probe, run.before, run.findings["scenario"]
        )
        accepted = {scenario: ~mask for scenario, mask in rejected.items()}
        clean_rejected = clean_reject_share(
            defence, adapter, dataset, run.clean, run.before.plan.seed
        )
    rows = exposure_reduction(run.before, after, run.findings, run.resample, accepted)
    if rows:
        adjusted = adjust([r["p_value"] for r in rows], run.settings.correction)
        for row, p in zip(rows, adjusted, strict=True):
            row |= {
                "defence": defence.name,
                "p_adjusted": float(p),
                "significant": bool(p < run.settings.alpha and row["reduction"] > 0),
            }
    return rows, clean_rejected


def _hardenable(store: Store, run_ref: str, margin: float) -> str:
    """The id of the run to harden, checked with the margin.

    Raises:
        ParameterError: a margin outside (0, 1), or the run is itself a defended run.
    """
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not 0 < margin < 1:
        raise ParameterError(
            f"margin must be a fraction in (0, 1) (0.01 is one point of accuracy); got {margin!r}."
        )
    run_id = store.resolve(run_ref)
    hardens = store.run(run_id)["lineage"].get("hardens")
    if hardens is not None:
        raise ParameterError(
            f"run {run_id} is itself a defended run of run {hardens}: harden run {hardens} "
            "with every defence to try (repeat --defence)."
        )
    return run_id


def harden_run(
    store: Store,
    run_id: str,
    defences: Sequence[str | Defence] | None = None,
    *,
    model: Any = None,
    data: Any = None,
    margin: float = DEFAULT_MARGIN,
    progress: bool = False,
    cache: bool = True,
) -> Hardening:
    """Rerun a stored run's scenarios behind each defence and measure each against the run.

    Args:
        store: the store holding the run; the defended runs are stored there too.
        run_id: the run to harden (an id, unique prefix or "latest").
        defences: defence names, with options or not (`parse_defence`), or `Defence`
            objects; default every defence applicable to the model's task and the data's
            modality (`wince.defences.applicable`) but the abstaining ones.
        model: the run's model; default its plan's model section (its fingerprint must be
            the run's).
        data: the run's data; default its plan's data section (its fingerprint must be the
            run's). The defences are fitted on it.
        margin: the clean-accuracy non-inferiority margin, a fraction in (0, 1).
        progress: show a progress bar per defended run.
        cache: reuse the store's cached predictions of a defended model (True) or not;
            never for a defence whose answers depend on the batch (`Defence.batch_dependent`).

    A defence that fails (a wince error while fitting, rerunning, measuring its exposure,
    timing or tracing it) is recorded in `Hardening.failed` with the stage, and the others
    are measured all the same.

    Raises:
        ParameterError: an unknown or inapplicable defence, or a margin outside (0, 1).
        ModelError, DataError: no model or data given and the plan has none, or they are
            not the run's.
        ModelError: every defence failed (the message names each, its stage and error).
    """
    from wince.engine.probe import probe_for_run

    run_id = _hardenable(store, run_id, margin)
    probe = probe_for_run(store, run_id, model=model, data=data, cache=False)
    before = load_run_data(store, run_id)
    settings = run_settings(before)
    tests = verdicts(before, settings).fragile
    findings = (
        tests[["scenario", "metric", "effect"]].reset_index(drop=True)
        if len(tests)
        else pd.DataFrame(columns=["scenario", "metric", "effect"])
    )
    chosen = resolve_defences(
        defences, before.task, str(probe.dataset.modality), seed=before.plan.seed
    )
    seed = before.plan.seed
    context = _Undefended(
        store=store,
        run_id=run_id,
        probe=probe,
        before=before,
        settings=settings,
        findings=findings,
        refused=tuple(before.rejected["scenario"]) if len(before.rejected) else (),
        clean=clean_data(probe.adapter, probe.dataset),
        resample=bootstrap_weights(
            len(before.samples), settings.bootstrap, seed, _RESAMPLING_STREAM
        ),
        seconds=seconds_per_sample(probe.adapter, timing_batches(probe.dataset, seed, 0)),
        bytes=peak_bytes_per_sample(probe.adapter, memory_batch(probe.dataset, seed, 0)),
        margin=float(margin),
        progress=progress,
        cache=cache,
    )
    fragile = fragile_magnitudes(before, findings)
    exposure: list[dict[str, Any]] = []
    summaries: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for timed_model, defence in enumerate(chosen, start=1):
        # one defence failing (a defended model refusing the timing noise, say) is recorded
        # with the stage it failed at; the others are measured all the same
        try:
            rows, summary = _measure(context, defence, fragile, timed_model)
        except _DefenceFailedError as failure:
            failed.append(
                {
                    "defence": defence.name,
                    "version": defence.version,
                    "stage": failure.stage,
                    "message": str(failure.error),
                }
            )
            continue
        exposure += rows
        summaries.append(summary)
    if not summaries:
        raise ModelError(
            f"every defence tried on run {run_id} failed: "
            + "; ".join(failure_text(f) for f in failed)
            + ". Fix or leave out these defences (--defence names the ones to try)."
        )
    hardening = Hardening(
        run_id=run_id,
        margin=float(margin),
        alpha=settings.alpha,
        correction=settings.correction,
        findings=findings,
        refused=context.refused,
        exposure=pd.DataFrame(exposure, columns=list(EXPOSURE_COLUMNS)),
        defences=rank(pd.DataFrame(summaries)),
        failed=pd.DataFrame(failed, columns=list(FAILED_COLUMNS)),
    )
    hardening = merge_stored(hardening, store.load_analysis(run_id, "harden"))
    store.save_analysis(run_id, "harden", hardening.to_payload())
    return hardening


def _stored_frame(records: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    """Stored rows as a table: numbers stored as null (NaN) read back as NaN."""
    frame = pd.DataFrame(list(records), columns=list(columns))
    for column in columns:
        if column in _NUMERIC_COLUMNS:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def merge_stored(hardening: Hardening, stored: Mapping[str, Any] | None) -> Hardening:
    """The new result with the defences of the stored one not tried again, ranked together.

    Each defence keeps its latest result: a stored row (ranking, exposure, failure) is kept
    only for a defence not tried now, and the combined ranking is ranked again (`rank`).
    A stored result measured against other findings or at another margin, or written by an
    older wince (without every column), is replaced instead, and a note says so.
    """
    if stored is None:
        return hardening
    earlier = [str(d["defence"]) for d in stored.get("defences") or []]
    stored_findings = [(f["scenario"], f["metric"]) for f in stored.get("findings") or []]
    findings = list(zip(hardening.findings["scenario"], hardening.findings["metric"], strict=True))
    complete = all(set(DEFENCE_COLUMNS) <= set(d) for d in stored.get("defences") or [])
    if stored_findings != findings or stored.get("margin") != hardening.margin or not complete:
        reason = (
            "written by an older wince"
            if not complete
            else "measured against other findings or at another margin"
        )
        note = (
            f"replaced the stored harden result of {', '.join(earlier) or 'no defence'}: it was "
            f"{reason}, so it cannot be ranked with this one."
        )
        return replace(hardening, notes=(*hardening.notes, note))
    tried = set(hardening.defences["defence"]) | set(hardening.failed["defence"])
    kept = [name for name in earlier if name not in tried]
    defences = _stored_frame(stored.get("defences") or [], DEFENCE_COLUMNS)
    exposure = _stored_frame(stored.get("exposure") or [], EXPOSURE_COLUMNS)
    failed = _stored_frame(stored.get("failed") or [], FAILED_COLUMNS)
    ranked = rank(
        pd.concat([hardening.defences, defences[defences["defence"].isin(kept)]], ignore_index=True)
    )
    order = {name: position for position, name in enumerate(ranked["defence"])}
    combined = pd.concat(
        [hardening.exposure, exposure[exposure["defence"].isin(kept)]], ignore_index=True
    )
    combined = combined.sort_values(
        "defence", key=lambda names: names.map(order), kind="stable", ignore_index=True
    )
    notes = hardening.notes
    if kept:
        notes = (*notes, f"kept from an earlier harden of this run: {', '.join(kept)}.")
    return replace(
        hardening,
        defences=ranked,
        exposure=combined,
        failed=pd.concat(
            [hardening.failed, failed[~failed["defence"].isin(tried)]], ignore_index=True
        ),
        notes=notes,
    )


def failure_text(failure: Mapping[str, Any]) -> str:
    """A failed defence in words: "tabular.units failed during latency timing: <message>"."""
    return f"{failure['defence']} failed during {failure['stage']}: {failure['message']}"


def _benefit_and_cost(
    before: RunData,
    after: RunData,
    rows: list[dict[str, Any]],
    resample: Resampling,
    margin: float,
) -> dict[str, Any]:
    """A defended run's significant findings, mean reduction and clean-accuracy change.

    The clean change is tested as `wince compare` tests it (`paired_test`: paired interval,
    McNemar p); NaN and None without accuracy (no labels, or a regressor).
    """
    from wince.governance.compare import paired_test

    reductions = [r["reduction"] for r in rows if math.isfinite(r["reduction"])]
    measures: dict[str, Any] = {
        "significant_findings": sum(r["significant"] for r in rows),
        "mean_reduction": float(np.mean(reductions)) if reductions else math.nan,
    }
    if "accuracy" not in before.metrics:
        nan = math.nan
        return measures | {
            "clean_change": nan,
            "clean_low": nan,
            "clean_high": nan,
            "clean_p": nan,
            "non_inferior": None,
        }
    clean = paired_test(before, after, scenario=BASELINE, metric="accuracy", resample=resample)
    return measures | {
        "clean_change": clean["difference"],
        "clean_low": clean["low"],
        "clean_high": clean["high"],
        "clean_p": clean["p_value"],
        "non_inferior": bool(clean["low"] > -margin),
    }


def rank(table: pd.DataFrame) -> pd.DataFrame:
    """Defences best first, with `qualifies` and `rank` added (columns `DEFENCE_COLUMNS`).

    A defence qualifies with at least one significant reduction or refused scenario
    answered, non-inferior clean accuracy, and at most `REJECT_CAP` of clean traffic
    rejected. Qualifying ones come first, then by mean reduction, then by latency ratio.
    """
    benefit = (table["significant_findings"] > 0) | (table["answered_refused"] > 0)
    within_cap = table["clean_rejected"] <= REJECT_CAP  # NaN (unmeasured) is not within
    table = table.assign(
        qualifies=benefit & (table["non_inferior"] == True) & within_cap  # noqa: E712
    )
    ordered = table.assign(
        _reduction=table["mean_reduction"].fillna(-math.inf),
        _latency=table["latency_ratio"].fillna(math.inf),
    ).sort_values(
        ["qualifies", "_reduction", "_latency"], ascending=[False, False, True], kind="stable"
    )
    ordered = ordered.drop(columns=["_reduction", "_latency"]).reset_index(drop=True)
    ordered["rank"] = np.arange(1, len(ordered) + 1)
    # Python bools and None (no labels), not numpy bools: `is True` and JSON read naturally
    ordered["non_inferior"] = pd.Series(
        [None if v is None else bool(v) for v in ordered["non_inferior"]], dtype=object
    )
    return ordered[list(DEFENCE_COLUMNS)]


def _share(value: float) -> str:
    """A share in points: 0.123 -> "12.3 pt"."""
    return "n/a" if not math.isfinite(value) else f"{100 * value:+.1f} pt"


def _percent(value: float) -> str:
    """A share as a percentage: 0.123 -> "12.3%"."""
    return "n/a" if not math.isfinite(value) else f"{100 * value:.1f}%"


def rejected_text(clean: float, perturbed: float, cap: float) -> str:
    """An abstaining defence's rejected traffic: "4.0% / 31.2%", flagged over the cap."""
    text = f"{_percent(clean)} / {_percent(perturbed)}"
    if not clean <= cap:
        return f"{text} (over the {100 * cap:g}% cap)"
    return text


def qualification_text(row: Any, hardening: Hardening) -> str:
    """Why a ranking row does not qualify, or that it qualifies only by answering refusals.

    Each criterion it fails, in words: "model.ensemble does not qualify: clean accuracy not
    shown non-inferior (lower bound -4.4 pt < -1 pt margin)". Empty for a defence that
    qualifies by a significant reduction. The table may drop the columns these come from in
    a narrow terminal; this line stays.
    """
    refused = len(hardening.refused)
    if row.qualifies:
        if row.significant_findings > 0:
            return ""
        return (
            f"{row.defence} qualifies only by answering {row.answered_refused} of the {refused} "
            "scenario(s) the model refused; it reduced no finding significantly."
        )
    failed = []
    if row.significant_findings == 0 and row.answered_refused == 0:
        failed.append(
            "no finding reduced significantly"
            + (" and no refused scenario answered" if refused else "")
        )
    if row.non_inferior is None:
        failed.append("clean accuracy not measured (no labels)")
    elif not row.non_inferior:
        failed.append(
            f"clean accuracy not shown non-inferior (lower bound {_share(row.clean_low)} < "
            f"-{100 * hardening.margin:g} pt margin)"
        )
    if not math.isfinite(row.clean_rejected):
        failed.append("its clean rejection is not measured (fewer than two samples)")
    elif row.clean_rejected > hardening.reject_cap:
        failed.append(
            f"rejects {_percent(row.clean_rejected)} of clean traffic, over the "
            f"{100 * hardening.reject_cap:g}% cap"
        )
    return f"{row.defence} does not qualify: {'; '.join(failed)}."


def latency_text(ratio: float, seconds: float) -> str:
    """The latency ratio and the defended time per sample: "1.02× (12.3 µs)".

    The time tells whether the ratio matters: at microseconds per sample a ratio is mostly
    timing noise.
    """
    from wince.report.measured import duration

    shown = f"{ratio:.2f}×" if math.isfinite(ratio) else "n/a"
    return f"{shown} ({duration(seconds)})"


def after_text(after: str, rejected: float) -> str:
    """A finding's exposure after the defence, "(all rejected)" when it rejects every input."""
    return f"{after} (all rejected)" if rejected >= 1 else after


def abstaining(hardening: Hardening) -> bool:
    """Whether any defence tried abstains (then the tables show the rejected traffic)."""
    return bool(hardening.defences["abstains"].any())


def defences_table(hardening: Hardening) -> Table:
    """One row per defence, best first: reductions, clean accuracy, latency, memory, verdict.

    Latency is the ratio to the undefended model with the defended time per sample
    (`latency_text`). With an abstaining defence, a `rejected clean / perturbed` column: the
    share of clean traffic it rejects (out of sample) and of the findings' perturbed inputs
    (their mean).
    """
    from wince.report.measured import byte_size

    table = Table(
        title=f"Defences of run {hardening.run_id}: exposure reduction over "
        f"{len(hardening.findings)} finding(s), clean accuracy at margin "
        f"{100 * hardening.margin:g} pt, latency, extra peak memory per sample"
    )
    for header in ("rank", "defence", "run", "significant", "mean reduction"):
        table.add_column(header, justify="right" if header != "defence" else "left")
    if hardening.refused:
        table.add_column("refused answered", justify="right")
    table.add_column("clean accuracy Δ [95%]", justify="right")
    table.add_column("non-inferior")
    table.add_column("latency × (per sample)", justify="right")
    table.add_column("memory +", justify="right")
    if abstaining(hardening):
        table.add_column("rejected clean / perturbed", justify="right")
    table.add_column("qualifies")
    for row in hardening.defences.itertuples():
        interval = (
            f"{_share(row.clean_change)} [{_share(row.clean_low)}, {_share(row.clean_high)}]"
            if math.isfinite(row.clean_change)
            else "n/a (no accuracy)"
        )
        answered = [f"{row.answered_refused}/{len(hardening.refused)}"] if hardening.refused else []
        rejected = (
            [rejected_text(row.clean_rejected, row.perturbed_rejected, hardening.reject_cap)]
            if abstaining(hardening)
            else []
        )
        table.add_row(
            str(row.rank),
            f"{row.defence} v{row.version}",
            str(row.run_id),
            f"{row.significant_findings}/{len(hardening.findings)}",
            _share(row.mean_reduction),
            *answered,
            interval,
            {True: "yes", False: "no", None: "n/a"}[row.non_inferior],
            latency_text(row.latency_ratio, row.seconds_per_sample),
            byte_size(row.extra_bytes_per_sample, signed=True),
            *rejected,
            "[green]yes[/]" if row.qualifies else "no",
        )
    return table


def exposure_table(hardening: Hardening) -> Table:
    """One row per defence and finding: effect before and after, reduction, adjusted p.

    With an abstaining defence, `after` is over the inputs it accepts ("(all rejected)": 0,
    none answered), and a `rejected` column gives the share of the scenario's inputs it
    rejects.
    """
    table = Table(
        title=f"Exposure per finding: effect before and after, reduction with 95% paired "
        f"interval, {hardening.correction}-adjusted one-sided p"
    )
    for header in ("defence", "scenario", "metric"):
        table.add_column(header, overflow="fold")
    shown = ("before", "after", *(("rejected",) if abstaining(hardening) else ()))
    for header in (*shown, "reduction [95%]", "p"):
        table.add_column(header, justify="right")
    for row in hardening.exposure.itertuples():
        table.add_row(
            row.defence,
            row.scenario,
            row.metric,
            _share(row.before),
            after_text(_share(row.after), row.rejected),
            *([_percent(row.rejected)] if abstaining(hardening) else []),
            f"{_share(row.reduction)} [{_share(row.low)}, {_share(row.high)}]",
            f"{row.p_adjusted:.1e}" + (" *" if row.significant else ""),
        )
    return table


def harden_command(
    run_ref: str,
    *,
    defences: Sequence[str] | None,
    margin: float,
    store: str | None,
    json_output: bool,
    progress: bool,
    console: Console,
    markdown: Path | None = None,
) -> None:
    """`wince harden`: try defences on a run; print the ranking and exposure tables, or JSON.

    With `markdown`, the ranking and exposure per finding are also written there as Markdown
    for a pull request (`wince.report.markdown.hardening_summary`).

    Raises:
        ParameterError: an unknown or inapplicable defence, or a bad margin.
        ModelError, DataError: the run's plan has no model or data section, or they changed.
        ModelError: every defence failed.
    """
    from wince.store import open_store

    opened = open_store(store)
    hardening = harden_run(
        opened, run_ref, defences, margin=margin, progress=progress and not json_output
    )
    if markdown is not None:
        from wince.files import write_file
        from wince.report.data import load_report_data
        from wince.report.markdown import hardening_summary

        summary = hardening_summary(load_report_data(opened, hardening.run_id))
        write_file(markdown, summary, what="--markdown")
    if json_output:
        console.print_json(json.dumps(hardening.to_payload()))
    else:
        print_hardening(hardening, console)
        if markdown is not None:
            console.print(f"Markdown summary for a pull request: {markdown}")


def print_hardening(hardening: Hardening, console: Console) -> None:
    """The ranking and why each does not qualify, failures, qualifying exposure, the best.

    Under the ranking, a line per defence that does not qualify (`qualification_text`) and
    per defence that failed. Defence and scenario names are printed whole at any width
    (`wince.terminal.print_table`); the exposure rows of defences that do not qualify are in
    `--json` only.
    """
    from wince.terminal import print_table

    if hardening.findings.empty:
        console.print(
            f"Run {hardening.run_id} has no fragile finding, so no exposure to reduce; the "
            "table shows each defence's clean-accuracy, latency and memory cost only."
        )
    print_table(
        console,
        defences_table(hardening),
        whole=("defence",),
        optional=("run", "non-inferior", *(("refused answered",) if hardening.refused else ())),
    )
    for row in hardening.defences.itertuples():
        verdict = qualification_text(row, hardening)
        if verdict:
            console.print(verdict, markup=False, highlight=False)
    for failure in hardening.failed.to_dict(orient="records"):
        console.print(failure_text(failure), markup=False, highlight=False)
    for note in hardening.notes:
        console.print(f"Note: {note}", markup=False, highlight=False)
    best = hardening.defences[hardening.defences["qualifies"]]
    qualifying = hardening.exposure[hardening.exposure["defence"].isin(set(best["defence"]))]
    if not qualifying.empty:
        shown = replace(hardening, exposure=qualifying)
        print_table(
            console, exposure_table(shown), whole=("defence", "scenario"), optional=("metric",)
        )
    if best.empty:
        console.print(
            "No defence qualifies: none both reduced a finding's exposure significantly (or "
            "answered a scenario the model refused) and kept clean accuracy non-inferior at "
            f"{100 * hardening.margin:g} pt"
            + (
                f", rejecting at most {100 * hardening.reject_cap:g}% of clean traffic"
                if abstaining(hardening)
                else ""
            )
            + ". `--json` holds every defence's exposure."
        )
    else:
        console.print(
            f"Best: {best['defence'].iloc[0]} (run {best['run_id'].iloc[0]}); compare it "
            f"with `wince compare {hardening.run_id} {best['run_id'].iloc[0]}`. The exposure "
            "of the defences that do not qualify is in `--json`."
        )

"""The Python entry points: `run` a plan on a model and data, `open` a stored run, and `Run`.

The verbs are the CLI's: `wince.run` is `wince run` (a run: perturb, predict, store), and
`Run.analyze` is `wince analyze` (a stored run's sensitivity `Profile`). The names before them,
`wince.analyze` and `Run.profile`, still work until wince 0.7 but warn (`DeprecationWarning`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from wince.datasets.base import Dataset
from wince.datasets.loading import as_dataset, load_dataset
from wince.deprecation import deprecated
from wince.engine.cache import PredictionCache, cache_for
from wince.engine.executors import make_executor
from wince.engine.runner import execute_run
from wince.errors import PlanError, StoreError
from wince.metrics import error_transitions, summarize_run
from wince.models import as_model
from wince.models.base import ModelAdapter
from wince.models.loading import PlanModelLoader, load_model
from wince.plan import Plan, as_plan
from wince.store.by_scenario import ScenarioOutcomes
from wince.store.store import DEFAULT_ROOT, Store, open_store

if TYPE_CHECKING:
    from wince.analysis.profile import Profile
    from wince.defences.base import Defence
    from wince.defences.harden import Hardening


class Run:
    """A stored run: its lineage, outcomes and summary, read from the store.

    Args:
        store: the store holding the run.
        run_id: the run's id.
    """

    def __init__(
        self, store: Store, run_id: str, *, reused: bool = False, recomputed: int = 0
    ) -> None:
        self.store = store
        self.id = run_id
        #: True when `run` returned this stored run as it was, without running again.
        self.reused = reused
        #: How many units of the stored run `run` found damaged and evaluated again.
        self.recomputed = recomputed

    def __repr__(self) -> str:
        return f"Run({self.id!r}, store={self.store.url!r})"

    def _repr_html_(self) -> str:
        from wince.analysis.significance import Verdicts
        from wince.notebook import FRAGILE_COLUMNS, counts_text, html_card, html_table, html_text

        record = self.record
        facts = [
            ("run", self.id),
            ("plan", record["name"]),
            ("status", record["status"]),
            ("task", record["task"]),
            ("samples", record["n_samples"]),
            ("scenarios", len(self.scenarios())),
            ("refused by the model", len(self.rejected)),
        ]
        stored = self.store.load_analysis(self.id, "verdicts")
        if stored is None:
            findings = html_text("Not analysed yet: run.analyze() computes the verdicts.")
        else:
            verdicts = Verdicts(pd.DataFrame(stored["tests"]), pd.DataFrame(stored["scenarios"]))
            facts.append(("verdicts", counts_text(verdicts.counts)))
            findings = html_table(verdicts.fragile, columns=FRAGILE_COLUMNS)
        return html_card("wince run", facts, [("Fragile, largest effect first", findings)])

    @property
    def record(self) -> dict[str, Any]:
        """The catalog row: name, status, fingerprints, lineage."""
        return self.store.run(self.id)

    @property
    def lineage(self) -> dict[str, Any]:
        """Plan, fingerprints, library and perturbation versions, seeds, host, timings."""
        return dict(self.record["lineage"])

    @property
    def plan(self) -> Plan:
        """The plan as resolved when the run started."""
        return Plan.model_validate(self.lineage["plan"])

    def scenarios(self) -> pd.DataFrame:
        """Scenarios in plan order with kind, steps, severity and trial count.

        The scenarios the model refused (`rejected`) are left out, as their outcomes are.
        """
        return self.store.scenarios(self.id)

    @property
    def rejected(self) -> dict[str, str]:
        """The scenarios whose inputs the model refused: scenario key -> its error's first line.

        A model that raises on a perturbed scenario's inputs (NaN it cannot take, a shape it
        refuses) does not stop the run: the scenario is recorded as rejected, and has no
        outcomes. `store.rejections(run.id)` adds how many units and samples were refused.
        Empty when the model took every input.
        """
        table = self.store.rejections(self.id)
        return dict(zip(table["scenario"], table["error"], strict=True))

    def outcomes(self) -> pd.DataFrame:
        """One row per sample and trial: predictions, deltas against the baseline, distance."""
        return self.store.outcomes(self.id)

    def summary(self, *, n_boot: int | None = None) -> pd.DataFrame:
        """Scenario x metric table with 95% bootstrap intervals over samples."""
        task = self.store.run(self.id)["task"]
        outcomes = ScenarioOutcomes.from_store(self.store, self.id, keep=0)
        table = summarize_run(outcomes, self.plan, task, n_boot=n_boot)
        kinds = self.scenarios()[["scenario", "kind", "severity"]]
        return kinds.merge(table, on="scenario", how="right")

    def transitions(self) -> pd.DataFrame:
        """Error-mode transitions: counts of baseline class -> perturbed class per scenario.

        Class indices follow the model's classes (`record["lineage"]`); classification only.
        """
        frames = [
            error_transitions(frame).assign(scenario=scenario)
            for scenario, frame in ScenarioOutcomes.from_store(self.store, self.id, keep=0)
            if scenario not in ("baseline", "identity")
        ]
        columns = ["scenario", "baseline_pred", "pred", "count"]
        if not frames:
            return pd.DataFrame(columns=columns)
        return pd.concat(frames, ignore_index=True)[columns]

    def report(
        self,
        out: str | Path | None = None,
        *,
        fmt: str = "html",
        figures: str | Path | None = None,
        data: Any = None,
    ) -> Path:
        """Write the run's report (html, markdown or json) from the store; returns its path.

        `data` is the run's data for the worst cases when the plan has no data section.
        """
        from wince.report import write_report

        return write_report(self.store, self.id, out=out, fmt=fmt, figures=figures, data=data)

    def analyze(self, **options: Any) -> Profile:
        """Compute and store the run's sensitivity profile (see `wince.analysis.analyze_run`).

        What `wince analyze` does from the command line.

        Options: model, data, regions, breaking_points, breaking_metric (the metric whose
        crossing of its tolerance breaks a sample, e.g. "cer"), global_sensitivity, columns,
        gradients, progress; and the analysis settings: by default those of the plan the run
        was last run with, or `plan`'s analysis section, with `tolerance` ({metric: value}),
        `alpha` and `correction` overriding them for this analysis.
        """
        from wince.analysis.profile import analyze_run

        return analyze_run(self.store, self.id, **options)

    def profile(self, **options: Any) -> Profile:
        """Deprecated alias of `analyze` (removed in wince 0.7), which it calls and warns."""
        deprecated("Run.profile", "Run.analyze")
        return self.analyze(**options)

    def harden(
        self,
        defences: list[str | Defence] | None = None,
        *,
        model: Any = None,
        data: Any = None,
        margin: float = 0.01,
        progress: bool = False,
    ) -> Hardening:
        """Rerun this run's scenarios behind each defence; measure what each buys and costs.

        Each defended run is stored (its lineage names the defence and its version) and
        paired sample by sample with this one: exposure reduction per finding, clean
        accuracy change with non-inferiority at `margin` (a fraction: 0.01 is one point),
        latency per sample, and a ranking (see `wince.defences.harden`).

        Args:
            defences: defence names or `wince.defences.Defence` objects; default every
                defence applicable to the model and the data (`wince.defences.applicable`).
            model: the run's model; default its plan's model section.
            data: the run's data (the defences are fitted on it); default its plan's.
            margin: the clean-accuracy non-inferiority margin, in (0, 1).
            progress: show a progress bar per defended run.
        """
        from wince.defences.harden import harden_run

        return harden_run(
            self.store,
            self.id,
            defences,
            model=model,
            data=data,
            margin=margin,
            progress=progress,
        )


def run(
    model: Any = None,
    data: Any = None,
    plan: Plan | dict[str, Any] | str | Path | None = None,
    *,
    store: Store | str | Path | None = None,
    executor: str = "local",
    workers: int | None = None,
    ray_address: str | None = None,
    num_gpus: float | None = None,
    progress: bool = False,
    cache: bool | str | Path | PredictionCache = True,
    fresh: bool = False,
) -> Run:
    """Run a plan on a model and data; return the stored run (resuming an unfinished one).

    What `wince run` does from the command line; `Run.analyze` then computes its profile.

    A complete stored run of the same plan, data, model and environment is returned as it is
    (`Run.reused`); one made under other package versions is refused (`StaleRunError`).
    Perturbed inputs the model raises on do not stop the run: those scenarios are recorded
    as rejected (`Run.rejected`), and a model that fails on the clean inputs raises.

    Args:
        model: a fitted scikit-learn estimator, torch module, ONNX session, callable or
            adapter; default: the plan's model section.
        data: a `Dataset`, an (x, y) tuple, an array or a list of str; default: the plan's
            data section.
        plan: a `Plan`, a mapping, or a YAML file path.
        store: a `Store` or a store URL/folder; default `.wince` in the working directory.
        executor: "local" (in-process), "process" (a pool of worker processes) or "ray" (one
            model actor per worker on a Ray cluster; `pip install 'wince[ray]'`).
        workers: worker processes or Ray actors (default: CPU count).
        ray_address: the Ray cluster for the ray executor ("auto", "ray://host:10001");
            default: a local Ray started with this machine's CPUs.
        num_gpus: GPUs per Ray actor (fractions share a GPU).
        progress: show a progress bar.
        cache: reuse predictions already made for identical inputs by the same model
            (fingerprint): True keeps them in memory and in `<store root>/cache`; a folder
            path puts the disk tier there (share it between stores); a `PredictionCache`
            is used as is; False calls the model for every prediction.
        fresh: run again even when a stored run of the same plan, data, model and
            environment exists (or one under other package versions), calling the model
            for every prediction (the prediction cache is not read).

    Raises:
        PlanError: no plan, or neither a model nor a plan model section (same for data).
        StaleRunError: a stored run of this plan, data and model was made under other
            package versions (and `fresh` is False).
        ModelError: the model failed on the clean inputs, or an HTTP endpoint did not answer
            its probe.

    Examples:
        >>> import numpy as np, tempfile
        >>> x = np.random.default_rng(0).normal(size=(40, 3))
        >>> done = run(lambda b: (b[:, 0] > 0).astype(int), (x, (x[:, 0] > 0).astype(int)),
        ...            {"name": "doc", "perturbations": [{"name": "tabular.gaussian_noise"}]},
        ...            store=tempfile.mkdtemp())
        >>> summary = done.summary()
        >>> float(summary.query("scenario == 'baseline' and metric == 'accuracy'")["value"].iloc[0])
        1.0
    """
    if plan is None:
        raise PlanError("wince.run needs a plan: a Plan, a mapping or a YAML file path.")
    resolved = as_plan(plan)
    loading = time.perf_counter()
    adapter: ModelAdapter
    if model is not None:
        adapter = as_model(model)
    elif resolved.model is not None:
        adapter = load_model(resolved.model)
    else:
        raise PlanError(f"{resolved.name}: no model given and the plan has no model section.")
    dataset: Dataset
    if data is not None:
        dataset = as_dataset(data)
    elif resolved.data is not None:
        dataset = load_dataset(resolved.data)
    else:
        raise PlanError(f"{resolved.name}: no data given and the plan has no data section.")
    loading_s = time.perf_counter() - loading
    target = store if isinstance(store, Store) else open_store(store)
    loader = PlanModelLoader(resolved.model) if model is None and resolved.model else None
    execution = execute_run(
        resolved,
        adapter,
        dataset,
        target,
        executor=make_executor(
            executor,
            workers=workers,
            load_model=loader,
            ray_address=ray_address,
            num_gpus=num_gpus,
        ),
        progress=progress,
        cache=cache_for(cache, target),
        fresh=fresh,
        loading_s=loading_s,
    )
    return Run(target, execution.run_id, reused=execution.reused, recomputed=execution.recomputed)


def analyze(*args: Any, **kwargs: Any) -> Run:
    """Deprecated alias of `run` (removed in wince 0.7), which it calls and warns."""
    deprecated("wince.analyze", "wince.run")
    return run(*args, **kwargs)


def open(store: Store | str | Path | None = None, run: str = "latest") -> Run:
    """A stored run, to read, summarise, analyse or report on (in a notebook, for instance).

    Args:
        store: a `Store`, a store folder or a catalog URL; default `$WINCE_STORE`, else the
            folder `.wince` in the working directory (where `wince run` writes).
        run: a run id, a unique prefix of one, or "latest" (the newest undefended run).

    Raises:
        StoreError: the store folder does not exist or holds no store; the store has no such
            run or no run at all; or the prefix names several runs.

    Examples:
        >>> import numpy as np, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> x = np.random.default_rng(0).normal(size=(20, 3))
        >>> done = run(lambda b: (b[:, 0] > 0).astype(int), (x, (x[:, 0] > 0).astype(int)),
        ...            {"name": "doc", "perturbations": [{"name": "tabular.gaussian_noise"}]},
        ...            store=folder)
        >>> open(folder).id == done.id
        True
    """
    if isinstance(store, Store):
        target = store
    else:
        location = os.fspath(store) if store else os.environ.get("WINCE_STORE") or DEFAULT_ROOT
        if "://" not in location and not (Path(location) / "wince.db").is_file():
            what = "does not exist" if not Path(location).exists() else "holds no wince store"
            raise StoreError(
                f"the store folder {location} {what}. Give wince.open the folder `wince run` "
                "wrote to (its --store, default .wince in the working directory), a catalog "
                "URL, or set $WINCE_STORE."
            )
        target = open_store(location)
    return Run(target, target.resolve(run))

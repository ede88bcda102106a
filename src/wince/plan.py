"""The plan: what to perturb, how much, on which model and data — loaded from YAML.

A plan names the model and data (or they are passed in Python), the perturbations with
their sweeps (severities in [0, 1], levels 1-5 or physical values), the combinations, the
number of repeats (seeds) and the batch size. A perturbation entry `{preset: imagenet-c}`
stands for a published set of perturbations and levels (`wince.perturbations.presets`).
Validation collects every problem with its field path and a hint, so one `wince plan
validate` shows them all. The checks live in the models' validators, so a `Plan` is valid
however it is built (`parse_plan`, `Plan.model_validate`, `Plan(...)`); loading adds only
the checks that depend on where and in which process the plan is read (files, metrics
registered in Python).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from wince import perturbations
from wince.errors import ParameterError, PlanError, RealismWarning, WinceError
from wince.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS
from wince.perturbations.base import LEVELS
from wince.secrets import ENV_PREFIX, REDACTED, looks_secret, redact_url

METRICS = CLASSIFICATION_METRICS + REGRESSION_METRICS


class _Spec(BaseModel):
    """A plan section: unknown fields refused, and no type conversion (strict).

    So `repeats: true` or `seed: "3"` is an error rather than 1 or 3; an integer is still a
    valid number.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


PLAN_PROBLEMS = "plan_problems"
"""The pydantic error type of the problems a plan section's validator finds (`_refuse`)."""


_Problem = tuple[str, str]
"""A validator's finding: the field path below the section it validates ("" for the section
itself, or when the text starts with its own path) and what is wrong and how to fix it."""


def _refuse(problems: list[_Problem]) -> None:
    """Raise every problem a validator found, as one pydantic error of type `PLAN_PROBLEMS`.

    Pydantic's error location names the section; `_pydantic_problems` lists the problems one
    by one with their full field path.
    """
    if problems:
        text = "\n".join(f"{field}: {what}" if field else what for field, what in problems)
        raise PydanticCustomError(PLAN_PROBLEMS, "{text}", {"text": text, "problems": problems})


def _import_user_modules(data: Any) -> Any:
    """Import the modules a plan's `imports` names (before its perturbations are checked).

    Raises:
        PydanticCustomError: a module cannot be imported (each named with its error).
    """
    from wince.modules import import_user_module

    names = data.get("imports") if isinstance(data, dict) else None
    if not isinstance(names, list):
        return data
    problems: list[_Problem] = []
    for index, name in enumerate(names):
        if not isinstance(name, str) or not name:
            continue  # the field's own type check reports it
        try:
            import_user_module(name)
        except ImportError as error:
            problems.append(
                (
                    f"imports[{index}]",
                    f"cannot import module {name!r} ({error}). Run wince from the folder that "
                    "holds it, or add that folder to PYTHONPATH.",
                )
            )
    _refuse(problems)
    return data


def _source_problems(spec: BaseModel, sources: tuple[str, ...]) -> list[_Problem]:
    """A problem unless the model or data section `spec` gives exactly one of `sources`."""
    given = [k for k in sources if getattr(spec, k) is not None]
    if len(given) == 1:
        return []
    return [
        ("", f"give exactly one source of {', '.join(sources)}; got {', '.join(given) or 'none'}.")
    ]


class ModelSpec(_Spec):
    """How to load the model: exactly one of the source fields.

    Unpickling runs code: `pickle` loads only the file the plan names; use it for files you
    trust. A plan runs code too: `model.factory`, `data.factory` and a perturbation's
    `paraphraser` option import the module they name and call it, with your permissions, so
    run only plans you trust (review a plan from elsewhere as you would a script).

    A `url` endpoint receives the inputs and the `headers`. Give its credentials as headers
    read from the environment (`headers: {Authorization: env:MY_TOKEN}`): the plan, the store
    and the reports then hold only the variable's name. Credentials in the URL itself work
    but are replaced by `***` wherever wince stores or shows the URL, so a stored run can be
    re-run (`wince verify`) only with the headers form. Redirects are refused.
    """

    factory: str | None = Field(None, description="Python factory 'module:function'")
    pickle: str | None = Field(None, description="joblib or pickle file of a fitted estimator")
    onnx: str | None = None
    torchscript: str | None = None
    url: str | None = Field(
        None,
        description="HTTP JSON endpoint; stored and shown with `user:password@` and "
        "secret-looking query values (`api_key`, `token`, `sig`, ...) replaced by `***`",
    )
    headers: dict[str, str] | None = Field(
        None,
        description="request headers of `model.url`; a value `env:NAME` is read from the "
        "environment at run time, and a credential (`Authorization`, `Cookie`, `X-API-Key`, "
        "...) must be given that way",
    )
    transformers: str | None = Field(
        None,
        description="folder of a Hugging Face transformers classifier saved with "
        "save_pretrained, with its tokenizer or processor (extra `huggingface`; nothing is "
        "downloaded)",
    )
    pipeline: (
        Literal["text-classification", "image-classification", "audio-classification"] | None
    ) = Field(
        None,
        description="the transformers model's task; default: read from the preprocessor "
        "its folder holds",
    )
    task: (
        Literal[
            "classification",
            "regression",
            "text",
            "multilabel",
            "detection",
            "segmentation",
            "embedding",
        ]
        | None
    ) = Field(
        None,
        description="what the model answers; default: inferred for scikit-learn models, "
        "the adapter's own, else classification. Text, multilabel, detection, segmentation "
        "and embedding models answer with structured outputs (guide: Beyond class labels)",
    )
    classes: list[Any] | None = None
    max_batch: int | None = Field(None, ge=1, description="default: the adapter's own")
    timeout_s: float = Field(30.0, gt=0)
    retries: int = Field(3, ge=0, le=10)
    output: Literal["probabilities", "logits", "score", "labels"] | None = Field(
        None, description="what a classifier's output means; default: detected once"
    )
    threshold: float | None = Field(None, description="class-1 threshold of output 'score'")
    device: str | None = Field(
        None,
        description="where a torch or transformers model runs: 'cpu' (default), 'cuda:0', 'mps'",
    )
    providers: list[str] | None = Field(
        None,
        description="ONNX Runtime execution providers, in order of preference "
        "(default ['CPUExecutionProvider'])",
    )
    version: str | None = Field(
        None,
        description="declared version of a url or callable model, its identity instead of a "
        "probe (url) or its hashed state (callable)",
    )

    @field_validator("task", mode="before")
    @classmethod
    def _pipeline_task_is_not_a_task(cls, v: Any) -> Any:
        if v in ("text-classification", "image-classification", "audio-classification"):
            raise ValueError(
                f"{v!r} is a transformers pipeline task: give it as model.pipeline (model.task "
                "is 'classification' or 'regression')"
            )
        return v

    @field_validator("headers")
    @classmethod
    def _credentials_from_the_environment(cls, v: dict[str, str] | None) -> Any:
        literal = [
            name
            for name, value in (v or {}).items()
            if looks_secret(name) and not value.startswith(ENV_PREFIX)
        ]
        if literal:
            raise ValueError(
                f"header {literal[0]!r} carries a credential, and a plan is stored and shared: "
                f"give the name of the environment variable that holds it, as "
                f"{{{literal[0]}: env:MY_TOKEN}}, and set MY_TOKEN before running wince"
            )
        return v

    @field_serializer("url")
    def _url_without_credentials(self, url: str | None) -> str | None:
        """The stored, digested and reported form of the URL: credentials never leave."""
        return None if url is None else redact_url(url)

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        """One source, and options that apply to it."""
        from wince.models.base import check_output

        problems = _source_problems(self, SOURCES_MODEL)
        if self.pipeline is not None and self.transformers is None:
            problems.append(
                (
                    "pipeline",
                    "applies to a model.transformers folder; remove it, or give the folder as "
                    "model.transformers.",
                )
            )
        if self.transformers is not None and self.output is not None:
            problems.append(
                (
                    "output",
                    "a transformers classifier gives class probabilities (softmax of its "
                    "logits); remove model.output and model.threshold.",
                )
            )
        try:
            check_output(self.output, self.threshold, "model")
        except ParameterError as error:
            problems.append(("", str(error).removeprefix("model: ")))
        _refuse(problems)
        return self

    def source(self) -> tuple[str, str]:
        """The (kind, target) pair of the one source given."""
        given = [(k, v) for k in SOURCES_MODEL if (v := getattr(self, k)) is not None]
        return given[0]


SOURCES_MODEL = ("factory", "pickle", "onnx", "torchscript", "url", "transformers")
SOURCES_DATA = ("factory", "npz", "csv", "parquet", "images", "text", "jsonl", "wav")


class DataSpec(_Spec):
    """Where the data comes from: exactly one of the source fields."""

    factory: str | None = None
    npz: str | None = None
    csv: str | None = None
    parquet: str | None = None
    images: str | None = Field(
        None,
        description="folder of images, labels from subfolders; each image at its own size "
        "(batches group images by size)",
    )
    text: str | None = Field(None, description="text file, one sample per line")
    jsonl: str | None = None
    wav: str | None = Field(
        None,
        description="folder of WAV files, labels from subfolders; each clip at its own "
        "length unless data.pad",
    )
    label: str | None = Field(None, description="label column, field or npz key")
    id: str | None = Field(None, description="sample id column or field")
    inputs: str | None = Field(None, description="npz key of the inputs or JSONL text field")
    features: list[str] | None = None
    categorical: list[str] | None = Field(
        None,
        description="CSV/Parquet columns of numbers to read as categories (text columns are "
        "categorical anyway)",
    )
    limit: int | None = Field(None, ge=1, description="use the first N samples only")
    pad: bool | None = Field(
        None,
        description="WAV folders: zero-pad every clip to the longest, for a model that needs "
        "one length; default: each clip keeps its own length (batches group clips by length)",
    )
    modality: Literal["image", "text", "audio", "tabular", "timeseries"] | None = Field(
        None,
        description="what the inputs are, when their shape does not say: (n, h, w) arrays "
        "are time series unless this says image (grayscale)",
    )

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        _refuse(_source_problems(self, SOURCES_DATA))
        return self

    def source(self) -> tuple[str, str]:
        """The (kind, target) pair of the one source given."""
        given = [(k, v) for k in SOURCES_DATA if (v := getattr(self, k)) is not None]
        return given[0]


class PerturbationSpec(_Spec):
    """One perturbation and its sweep: severities, levels or physical values (one of them).

    A plan may list one perturbation several times with different `params` (once per
    column, or `text.casing` with `style: lower` and again with `style: upper`); each entry
    is then named by its parameters (`text.casing[style=upper]`) or by its `label`.
    """

    name: str
    label: str | None = Field(
        None,
        min_length=1,
        description="name of this entry in reports and combinations; default: the "
        "perturbation's name, with its parameters when the plan lists it more than once",
    )
    severities: list[float] | None = None
    levels: list[int] | None = None
    values: list[float] | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("severities", "values", "levels", mode="before")
    @classmethod
    def _single_to_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, int | float) and not isinstance(v, bool) else v

    @model_validator(mode="after")
    def _known_with_a_valid_sweep(self) -> PerturbationSpec:
        _refuse([("", problem) for problem in _entry_problems(self)])
        return self


class DistributionSpec(_Spec):
    """How a perturbation's magnitude varies in the global-sensitivity design (physical units).

    Default: uniform over the magnitude's realistic range. "normal" is truncated to
    [low, high].
    """

    kind: Literal["uniform", "normal"] = "uniform"
    low: float | None = None
    high: float | None = None
    mean: float | None = None
    sd: float | None = None


class GlobalSensitivitySpec(_Spec):
    """Design of the variance-based (Sobol) or screening (Morris) analysis."""

    method: Literal["sobol", "morris"] = "sobol"
    n_base: int | Literal["auto"] = Field(
        "auto",
        description="Sobol base samples: auto (doubled from 64 until target_half_width is met "
        "or time_budget_s would be exceeded) or a power of 2; the design has "
        "n_base x (2 x perturbations + 2) points",
    )
    target_half_width: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="Sobol precision asked for: the widest 95% interval half-width of the "
        "total indices; a result short of it carries a warning naming the n_base that would do",
    )
    time_budget_s: float | None = Field(
        3600,
        gt=0,
        description="Sobol: seconds the design may take (null: no limit); the design stops "
        "before a doubling that would exceed it",
    )
    samples: int = Field(200, ge=1, description="data samples evaluated per design point")
    second_order: bool = True
    trajectories: int = Field(20, ge=2, description="Morris trajectories")
    metric: str | None = Field(
        None,
        description="the per-sample metric whose harmful change the design measures (cer, "
        "objects_lost, or the plan's own); default the flip rate of a classifier, the mean "
        "change of a regressor, a structured output's headline metric",
    )
    distributions: dict[str, DistributionSpec] = Field(
        default_factory=dict, description="per perturbation name; default uniform"
    )

    @field_validator("n_base")
    @classmethod
    def _n_base_is_a_power_of_2(cls, v: int | str) -> int | str:
        if isinstance(v, int) and (v < 2 or v & (v - 1)):
            raise ValueError(
                f"n_base is 'auto' or a power of 2 >= 2 (the Sobol' sequence is balanced only "
                f"then); got {v}. Try auto, or {max(2, 1 << round(math.log2(max(v, 1))))}"
            )
        return v


class MetricSpec(_Spec):
    """A metric of your own (see `wince.metrics.declare_metric`).

    `function` names `fn(clean, perturbed, labels, context)`, which returns one finite
    number per sample of a batch: `clean` and `perturbed` are the `Predictions` of the same
    samples on the clean and the perturbed inputs, `labels` the dataset's labels (None
    without), `context` the samples' ids and metadata. Its mean over samples and trials gets
    intervals, verdicts against `tolerance`, curves, breaking points, interactions, global
    sensitivity, gates, comparisons and the report, in `unit`.
    """

    name: str = Field(description="lower case letters, digits and underscores")
    function: str = Field(description="'module:function' computing one value per sample")
    better: Literal["lower", "higher"]
    tolerance: float | None = Field(
        None, ge=0, description="largest harmful change of its mean that is still robust"
    )
    unit: str = Field("value", description="its unit; 'share' for fractions in [0, 1]")
    description: str | None = Field(None, description="what one sample's value means")
    proportion: bool = Field(False, description="its values are 0 or 1")

    @field_validator("name")
    @classmethod
    def _check_name(cls, v: str) -> str:
        from wince.metrics import metric_name_problems

        problems = metric_name_problems(v)
        if problems:
            raise ValueError(problems[0])
        return v


class AnalysisSpec(_Spec):
    """How strict the verdicts are: tolerances and the significance level."""

    tolerance: dict[str, float] = Field(
        default_factory=dict,
        description="largest harmful change of a metric's mean that still counts as robust, "
        "per per-sample metric (flip_rate, accuracy, confidence_change, "
        "true_class_prob_change, mean_abs_change, mae, those of structured outputs in the "
        "metric reference, e.g. cer, and the plan's own); metrics with a default tolerance "
        "(the metric reference: flip_rate 0.02, accuracy 0.01, ...) are tested with it when "
        "not named, so naming one keeps the others' defaults; regression runs without "
        "mean_abs_change get 0.1 x the standard deviation of the baseline predictions",
    )
    alpha: float = Field(0.05, gt=0, lt=1)
    correction: Literal["holm", "bh"] = "holm"
    bootstrap: int = Field(1000, ge=100)
    global_sensitivity: GlobalSensitivitySpec = Field(default_factory=GlobalSensitivitySpec)


class Plan(_Spec):
    """A perturbation analysis plan.

    Examples:
        >>> plan = Plan.model_validate({
        ...     "name": "demo", "perturbations": [{"name": "image.jpeg", "levels": [1, 3, 5]}]})
        >>> [round(p.value) for p in resolve_sweep(plan.perturbations[0])]
        [84, 52, 20]
    """

    name: str = Field(min_length=1)
    description: str = ""
    imports: list[str] = Field(
        default_factory=list,
        description="modules of your own imported before the plan is checked, so the "
        "perturbations and metrics they `register` can be named (e.g. `mypkg.perturbations`); "
        "found on the search path, then in the working directory",
    )
    model: ModelSpec | None = None
    data: DataSpec | None = None
    perturbations: list[PerturbationSpec] = Field(min_length=1)
    combinations: Literal["none", "pairwise", "factorial"] | list[list[str]] = Field(
        "none",
        description="none; pairwise (each pair at matched sweep points); factorial (each "
        "pair at every combination of sweep points); or explicit lists of perturbations",
    )
    repeats: int = Field(3, ge=1, le=1000, description="seeds per stochastic scenario")
    noise_floor: bool = Field(
        True,
        description="predict the unperturbed input again once per repeat, to measure the "
        "model's own nondeterminism",
    )
    seed: int = Field(0, ge=0)
    batch_size: int = Field(256, ge=1)
    store_scores: bool = Field(
        False,
        description="keep every class probability per outcome (large); confidence, the "
        "true-class probability and their changes are always kept",
    )
    metrics: list[str | MetricSpec] = Field(
        default_factory=lambda: list[str | MetricSpec](METRICS),
        description="the classification and regression metrics to summarise, by name, and "
        "metrics of your own: {name, function: 'module:function', better: lower|higher, "
        "tolerance, unit} (or the name of one registered in Python); the metrics of a "
        "structured output (text, detection, ...) are always measured",
    )
    analysis: AnalysisSpec = Field(default_factory=AnalysisSpec)

    @model_validator(mode="before")
    @classmethod
    def _plain_numbers(cls, data: Any) -> Any:
        return _import_user_modules(_plain(data))

    @field_validator("perturbations", mode="before")
    @classmethod
    def _expand_presets(cls, v: Any) -> Any:
        """Replace each `{preset: <name>}` entry by the preset's perturbations, in place."""
        return expanded_entries(v) if isinstance(v, list) else v

    @model_validator(mode="after")
    def _consistent(self) -> Plan:
        """Checks across sections: entry names, combinations, distributions, tolerances."""
        _refuse([("", problem) for problem in _plan_wide_problems(self)])
        return self

    def digest(self) -> str:
        """Hash of the plan's content (sorted JSON), for lineage."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def labels(self) -> list[str]:
        """The name of each perturbation entry, in plan order (see `entry_labels`)."""
        return entry_labels(self.perturbations)

    def entry(self, label: str) -> PerturbationSpec:
        """The perturbation entry named `label`.

        Raises:
            KeyError: no entry has that label.
        """
        return dict(zip(self.labels(), self.perturbations, strict=True))[label]


def _param_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(_param_text(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def entry_label(spec: PerturbationSpec, *, repeated: bool) -> str:
    """The name of one perturbation entry.

    Its `label` if given; else the perturbation's name, followed by its parameters when the
    plan lists the perturbation more than once (`text.casing[style=upper]`).

    Examples:
        >>> spec = PerturbationSpec(name="text.casing", params={"style": "upper"})
        >>> entry_label(spec, repeated=True)
        'text.casing[style=upper]'
        >>> entry_label(spec, repeated=False)
        'text.casing'
    """
    if spec.label is not None:
        return spec.label
    if not repeated or not spec.params:
        return spec.name
    params = ";".join(f"{k}={_param_text(v)}" for k, v in sorted(spec.params.items()))
    return f"{spec.name}[{params}]"


def entry_labels(specs: list[PerturbationSpec]) -> list[str]:
    """The name of each entry of a plan's perturbation list (see `entry_label`)."""
    names = [s.name for s in specs]
    return [entry_label(s, repeated=names.count(s.name) > 1) for s in specs]


def expanded_entries(entries: list[Any]) -> list[Any]:
    """A plan's perturbation entries with each `{preset: <name>}` replaced by its entries."""
    expanded: list[Any] = []
    for item in entries:
        if isinstance(item, dict) and "preset" in item:
            expanded += expand_preset(item)
        else:
            expanded.append(item)
    return expanded


def expand_preset(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The perturbation entries of a `{preset: <name>}` plan entry.

    The entry may also give `levels` or `severities` (replacing the preset's own sweep) and
    nothing else.

    Raises:
        ValueError: an unknown preset or field (pydantic reports it with the entry's path).
    """
    from wince.perturbations.presets import preset

    extra = sorted(set(entry) - {"preset", "levels", "severities"})
    if extra:
        raise ValueError(
            f"a preset entry takes preset and optionally levels or severities; got {extra}"
        )
    try:
        entries = preset(entry["preset"])
    except ParameterError as error:
        raise ValueError(str(error)) from None
    sweep: dict[str, Any] = {k: entry[k] for k in ("levels", "severities") if k in entry}
    if sweep:
        entries = [{"name": e["name"], **sweep} for e in entries]
    return entries


@dataclass(frozen=True)
class SweepPoint:
    """One magnitude of a perturbation: physical value and the severity it corresponds to."""

    value: float
    severity: float


def resolve_sweep(spec: PerturbationSpec) -> list[SweepPoint]:
    """Physical values and severities of a perturbation's sweep (levels 1-5 by default).

    Raises:
        ParameterError: unknown perturbation, severity outside [0, 1], unknown level, or a
            value outside the hard limits.
    """
    cls = perturbations.get(spec.name)
    magnitude = cls.magnitude
    if spec.values is not None:
        return [
            SweepPoint(v, magnitude.severity_of(v))
            for v in (magnitude.validate(v, spec.name) for v in spec.values)
        ]
    if spec.levels is not None:
        unknown = [level for level in spec.levels if level not in LEVELS]
        if unknown:
            raise ParameterError(f"{spec.name}: levels are 1-5; got {unknown[0]!r}.")
        severities = [LEVELS[level] for level in spec.levels]
    else:
        severities = spec.severities if spec.severities is not None else list(LEVELS.values())
        beyond = [s for s in severities if not 0.0 <= s <= 1.0]
        if beyond:  # `value_at` extends past 1; a plan names such magnitudes by value
            raise ParameterError(
                f"{spec.name}: a severity must be a number in [0, 1]; got {beyond[0]!r}. To "
                f"sweep beyond the realistic range give values in {magnitude.unit}, e.g. "
                f"values: [{magnitude.value_at(min(2.0, magnitude.max_severity)):g}]."
            )
    return [SweepPoint(magnitude.value_at(s), float(s)) for s in severities]


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _hint_for_extra(loc: tuple[int | str, ...], model: type[BaseModel]) -> str:
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if hasattr(current, "model_fields") else None
        annotation = getattr(field, "annotation", None)
        args = getattr(annotation, "__args__", ()) or (annotation,)
        current = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if current is None:
            return ""
    if current is None or not hasattr(current, "model_fields"):
        return ""
    close = difflib.get_close_matches(str(loc[-1]), list(current.model_fields), n=1)
    if close:
        return f" — did you mean {close[0]!r}?"
    return f"; the known fields are {', '.join(current.model_fields)}."


def _pydantic_problems(error: ValidationError) -> list[str]:
    """Each problem of `error` with its field path, schema errors first.

    The schema errors come in field order, then the problems the sections' validators found
    (names, ranges, consistency).
    """
    problems = []
    for item in sorted(error.errors(), key=lambda item: item["type"] == PLAN_PROBLEMS):
        loc = tuple(item["loc"])
        where = _path(loc) or "plan"
        if item["type"] == PLAN_PROBLEMS:
            for field, what in item["ctx"]["problems"]:
                path = ".".join(part for part in (_path(loc), field) if part)
                problems.append(f"{path}: {what}" if path else what)
        elif item["type"] == "extra_forbidden":
            problems.append(f"{where}: unknown field{_hint_for_extra(loc, Plan)}")
        elif loc == ("perturbations",) and item["type"] == "too_short":
            problems.append(
                "perturbations: the plan names no perturbation; list at least one, e.g. "
                "`- {name: image.jpeg, levels: [1, 3, 5]}` (`wince perturbations` lists them)."
            )
        elif isinstance(item.get("input"), bool) and item["type"] in ("int_type", "float_type"):
            problems.append(
                f"{where}: a number is expected, not {str(item['input']).lower()}; write the "
                "number itself (YAML reads true, false, yes, no and on as booleans)."
            )
        else:
            shown = _without_credentials(item.get("input"), loc)
            problems.append(f"{where}: {item['msg']} (got {shown!r})")
    return problems


def _without_credentials(value: Any, loc: tuple[Any, ...]) -> Any:
    """A plan value at `loc` as a message may show it: URLs redacted, header values hidden."""
    if "headers" in loc[:-1]:
        return REDACTED  # one header's value
    if loc[-1:] == ("headers",) and isinstance(value, dict):
        return {k: v if str(v).startswith(ENV_PREFIX) else REDACTED for k, v in value.items()}
    if loc[-1:] == ("url",) and isinstance(value, str):
        return redact_url(value)
    if isinstance(value, dict):
        return {k: _without_credentials(v, (*loc, k)) for k, v in value.items()}
    return value


def _plan_wide_problems(plan: Plan) -> list[str]:
    """The problems of a plan whose sections are each valid, each starting with its path."""
    problems = _repeated_entry_problems(plan)
    labels = plan.labels()
    if isinstance(plan.combinations, list):
        for i, combo in enumerate(plan.combinations):
            missing = [n for n in combo if n not in labels]
            if missing or len(combo) < 2:
                problems.append(
                    f"combinations[{i}]: a combination lists two or more perturbation entries "
                    f"of the plan, by name or label; {missing or combo} is not. Plan "
                    f"perturbations: {labels}."
                )
    problems += _distribution_problems(plan)
    problems += _tolerance_problems(plan)
    problems += _repeated_metric_problems(plan)
    return problems


def _entry_problems(spec: PerturbationSpec) -> list[str]:
    """The problems of one perturbation entry: its name, parameters and sweep."""
    given = [k for k in ("severities", "levels", "values") if getattr(spec, k) is not None]
    if len(given) > 1:
        return [f"give one of severities, levels or values; got {given}."]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RealismWarning)
            points = resolve_sweep(spec)
            perturbations.create(spec.name, spec.params)
    except (ParameterError, TypeError) as error:
        return [str(error)]
    if not points:
        return ["the sweep is empty; give at least one magnitude."]
    return []


def _loading_problems(
    raw: dict[str, Any], *, base_dir: Path | None, check_files: bool
) -> list[str]:
    """The problems that depend on where and in which process a plan is read.

    Metric names registered in Python (`wince.metrics.register_metric`) are known only in
    the process that registered them, while a stored run naming one stays readable anywhere;
    and (`check_files`) the model and data files, relative paths read from `base_dir`.
    """
    metrics = raw.get("metrics")
    problems = _unknown_metric_problems(metrics) if isinstance(metrics, list) else []
    if check_files:
        for section in ("model", "data"):
            spec = raw.get(section)
            if isinstance(spec, dict):
                problems += _missing_files(section, spec, base_dir)
    return problems


def _repeated_metric_problems(plan: Plan) -> list[str]:
    problems = []
    seen: set[str] = set()
    for i, m in enumerate(plan.metrics):
        name = m if isinstance(m, str) else m.name
        if name in seen:
            problems.append(f"metrics[{i}]: {name!r} is listed twice; list each metric once.")
        seen.add(name)
    return problems


def _unknown_metric_problems(metrics: list[Any]) -> list[str]:
    """A problem for each metric name in `metrics` neither built in nor registered."""
    from wince.metrics import BUILT_IN_METRICS, registered_metric

    known = [*METRICS, *(n for n in BUILT_IN_METRICS if n not in METRICS)]
    problems = []
    for m in metrics:
        if isinstance(m, str) and m not in known and registered_metric(m) is None:
            close = difflib.get_close_matches(m, known, n=1)
            hint = (
                f" — did you mean {close[0]!r}?"
                if close
                else f" Known: {', '.join(known)}, or a metric registered in Python "
                "(wince.metrics.register_metric), or your own: {name, function, better}."
            )
            problems.append(f"metrics: unknown metric {m!r}{hint}")
    return problems


def _repeated_entry_problems(plan: Plan) -> list[str]:
    """True duplicates (same perturbation, same parameters) and clashing entry names."""
    problems = []
    first_of: dict[str, int] = {}
    duplicates = set()
    for i, spec in enumerate(plan.perturbations):
        identity = json.dumps([spec.name, spec.params], sort_keys=True, default=str)
        if identity in first_of:
            problems.append(
                f"perturbations[{i}]: repeats perturbations[{first_of[identity]}] ({spec.name} "
                f"with the same parameters {spec.params}); a perturbation is listed again only "
                "with different parameters. Merge their sweeps into one entry."
            )
            duplicates.add(i)
        else:
            first_of[identity] = i
    seen: dict[str, int] = {}
    for i, label in enumerate(plan.labels()):
        if label in seen and i not in duplicates:
            problems.append(
                f"perturbations[{i}]: the name {label!r} is already that of "
                f"perturbations[{seen[label]}]; give each entry its own `label`."
            )
        seen.setdefault(label, i)
    return problems


def _tolerance_problems(plan: Plan) -> list[str]:
    from wince.analysis.settings import tolerance_problems

    own = [m if isinstance(m, str) else m.name for m in plan.metrics]
    return tolerance_problems(plan.analysis.tolerance, where="analysis.tolerance", own=own)


def _distribution_problems(plan: Plan) -> list[str]:
    from wince.analysis.global_sensitivity import Factor

    problems = []
    names = [spec.name for spec in plan.perturbations]
    declared = plan.analysis.global_sensitivity.distributions
    for name, spec in declared.items():
        where = f"analysis.global_sensitivity.distributions.{name}"
        if name not in names:
            problems.append(f"{where}: {name!r} is not a perturbation of the plan ({names}).")
            continue
        values = {k: v for k, v in spec.model_dump().items() if v is not None}
        try:
            Factor.from_declaration(name, values)
        except ParameterError as error:
            problems.append(f"{where}: {error}")
    return problems


def parse_plan(
    raw: Any, *, source: str = "plan", base_dir: Path | None = None, check_files: bool = False
) -> Plan:
    """Validate a plan from a mapping, collecting every problem in one pass.

    Schema errors, unknown perturbations, bad parameters or sweeps (all found by the
    models' validators), unknown metric names and (`check_files`) the model and data files
    that do not exist are all listed together. Relative file paths in the model and data
    sections are resolved against `base_dir`.

    Raises:
        PlanError: listing each problem as `<source> <field path>: <what and how to fix>`.
    """
    if not isinstance(raw, dict):
        raise PlanError(f"{source}: a plan is a mapping of fields (name, perturbations, ...).")
    try:
        plan: Plan | None = Plan.model_validate(raw)
        found = []
    except ValidationError as error:
        plan = None
        found = _pydantic_problems(error) + _plan_wide_problems_beside(raw, error)
    found += _loading_problems(raw, base_dir=base_dir, check_files=check_files)
    problems = [f"{source} {p}" for p in found]
    if plan is None or problems:
        raise PlanError("\n".join(problems), problems=problems)
    return plan if base_dir is None else _resolve_paths(plan, base_dir)


PLAN_WIDE_INPUTS = ("perturbations", "combinations", "metrics", "analysis")
"""The sections the plan's own validator reads (`_plan_wide_problems`)."""


def _plan_wide_problems_beside(raw: dict[str, Any], error: ValidationError) -> list[str]:
    """The plan's own problems (across sections), though other sections have problems too.

    Pydantic runs the plan's own validator only once every section is valid. So that one
    pass lists every problem, a plan whose faulty sections are all ones that validator does
    not read is validated again without them, and the plan's own problems are kept.
    """
    faulty = {item["loc"][0] for item in error.errors() if item["loc"]}
    if not faulty or not faulty.isdisjoint(PLAN_WIDE_INPUTS):
        return []
    try:
        Plan.model_validate({k: v for k, v in raw.items() if k not in faulty})
    except ValidationError as rest:
        own = [item for item in rest.errors() if item["type"] == PLAN_PROBLEMS and not item["loc"]]
        return [problem for item in own for _, problem in item["ctx"]["problems"]]
    return []


def _plain(raw: Any) -> Any:
    """NumPy scalars in a plan built in Python as the plain numbers they hold.

    Plan sections are strict (`repeats: true` is no number), and a NumPy integer is no
    Python `int` to pydantic's strict mode, while `levels: list(np.arange(1, 6))` is a
    natural way to write a sweep.
    """
    if isinstance(raw, dict):
        return {key: _plain(value) for key, value in raw.items()}
    if isinstance(raw, list | tuple):
        return [_plain(value) for value in raw]
    if isinstance(raw, np.generic) and not isinstance(raw, np.bool_):
        return raw.item()
    return raw


MODEL_FILES = ("pickle", "onnx", "torchscript", "transformers")
"""The fields of the model section that name a file or folder."""


FILE_FIELDS = {"model": MODEL_FILES, "data": tuple(f for f in SOURCES_DATA if f != "factory")}
"""The fields of the model and data sections that name a file or folder."""


def _missing_files(section: str, spec: dict[str, Any], base_dir: Path | None) -> list[str]:
    """One problem for each file or folder the raw model or data section names that is absent."""
    problems = []
    for name in FILE_FIELDS[section]:
        value = spec.get(name)
        if not isinstance(value, str) or "://" in value:
            continue
        path = value if base_dir is None else _read_from(base_dir, value)
        if not Path(path).exists():
            problems.append(
                f"{section}.{name}: {path} does not exist; fix the path (a relative one "
                "is read from the plan's folder)"
            )
    return problems


def _read_from(base_dir: Path, path: str) -> str:
    """`path` as an absolute path, a relative one read from `base_dir`."""
    return path if Path(path).is_absolute() else str((base_dir / path).resolve())


def _resolved(spec: ModelSpec | DataSpec, base_dir: Path) -> ModelSpec | DataSpec:
    """The model or data section `spec` with its relative file paths read from `base_dir`."""
    section = "model" if isinstance(spec, ModelSpec) else "data"
    changed = {
        f: _read_from(base_dir, v)
        for f in FILE_FIELDS[section]
        if (v := getattr(spec, f)) is not None
    }
    return spec.model_copy(update=changed) if changed else spec


def _resolve_paths(plan: Plan, base_dir: Path) -> Plan:
    updates = {
        section: _resolved(spec, base_dir)
        for section in ("model", "data")
        if (spec := getattr(plan, section)) is not None
    }
    return plan.model_copy(update=updates)


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe loading that refuses a key given twice in one mapping.

    Plain YAML keeps the last one silently, so `repeats: 5` followed further down by
    `repeats: 1` would run once.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, list | dict):
                continue  # unhashable; SafeLoader refuses it with its own message
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} appears twice in one mapping (lines {seen[key]} and {line}); "
                    "keep one of them",
                    key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


MAX_YAML_NESTING = 100
"""Deepest nesting of lists and mappings a plan, policy or lock file may have (a real one
has under 10); deeper files would exhaust the YAML parser's recursion."""


def _check_nesting(text: str, *, path: Path, what: str, error: type[WinceError]) -> None:
    """Refuse YAML nested deeper than `MAX_YAML_NESTING`, read as a flat event stream."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_NESTING:
                mark = event.start_mark
                where = f" line {mark.line + 1}" if mark else ""
                raise error(
                    f"{path}{where}: the {what} nests lists or "
                    f"mappings more than {MAX_YAML_NESTING} levels deep; flatten it."
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


MAX_YAML_VALUES = 100_000
"""Most values (scalars, lists and mappings) a plan, policy or lock file may expand to, an
alias counting as a copy of what it names: a real one has under 1,000, while aliases of
aliases ("billion laughs") expand to billions and would hang validation."""


def _check_expansion(root: yaml.Node, *, path: Path, what: str, error: type[WinceError]) -> None:
    """Refuse a YAML document whose aliases expand it beyond `MAX_YAML_VALUES`, or forever.

    Counts each node once, depth first (no recursion), so the check costs the file's size.
    """
    sizes: dict[int, int] = {}
    ancestors: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_counted = stack.pop()
        children = _children(node)
        if children_counted:
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
            ancestors.discard(id(node))
            continue
        if id(node) in sizes:
            continue
        if id(node) in ancestors:
            raise error(
                f"{path} line {node.start_mark.line + 1}: an alias (*name) refers to the list "
                f"or mapping it is part of, so the {what} would be infinite; remove that alias."
            )
        ancestors.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)
    if sizes[id(root)] > MAX_YAML_VALUES:
        raise error(
            f"{path}: through its aliases (*name) the {what} expands to {sizes[id(root)]:,} "
            f"values, more than {MAX_YAML_VALUES:,} (a real {what} has under 1,000); write "
            "the values out instead of aliasing aliases."
        )


def _children(node: yaml.Node) -> list[yaml.Node]:
    """The nodes a YAML list or mapping node holds (keys and values); none for a scalar."""
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def read_yaml(path: str | Path, *, what: str, error: type[WinceError] = PlanError) -> Any:
    """Parse a YAML file with safe loading, for plans, policies and lock files.

    A key given twice in one mapping is an error (plain YAML keeps the last one silently), and
    so are nesting deeper than `MAX_YAML_NESTING` and aliases expanding the document beyond
    `MAX_YAML_VALUES` values (or forever).

    Args:
        path: the file.
        what: what the file is, for messages ("plan", "policy", "lock").
        error: the exception raised on failure.

    Raises:
        error: unreadable file, a YAML syntax error, a duplicate key (with line and column),
            too deep a nesting or too large an expansion.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as problem:
        raise error(f"{path}: cannot read the {what} file ({problem.strerror}).") from None
    except UnicodeDecodeError as problem:
        raise error(
            f"{path}: the {what} file is not UTF-8 text (byte {problem.start} is "
            f"{problem.object[problem.start : problem.start + 1]!r}); save it as UTF-8."
        ) from None
    try:
        _check_nesting(text, path=path, what=what, error=error)
        loader = _UniqueKeyLoader(text)  # a SafeLoader
        try:
            root = loader.get_single_node()
            if root is None:
                return None
            _check_expansion(root, path=path, what=what, error=error)
            return loader.construct_document(root)
        finally:
            loader.dispose()
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(problem, "problem", None) or str(problem)
        if "'\\t'" in reason:
            reason += " (YAML indents with spaces only: replace the tabs by spaces)"
        raise error(f"{path}{where}: YAML syntax error: {reason}.") from None


def load_plan(path: str | Path, *, check_files: bool = False) -> Plan:
    """Load and validate a YAML plan file (safe loading only), every problem in one pass.

    `check_files`: also list the model and data files the plan names that do not exist.

    Raises:
        PlanError: missing file, YAML syntax error (with line number) or invalid content.
    """
    path = Path(path)
    raw = read_yaml(path, what="plan")
    plan = parse_plan(raw, source=str(path), base_dir=path.parent, check_files=check_files)
    warn_beyond_realistic(plan, source=str(path))
    return plan


def warn_beyond_realistic(plan: Plan, *, source: str = "plan") -> None:
    """Warn (`RealismWarning`) of each value of the plan beyond its realistic range.

    Once per (perturbation, value) in a process (`Magnitude.warn_unrealistic`): the message
    names the plan file, the entry, the value and the range, in the magnitude's unit. Reports
    flag every finding at such a value (`wince run` and `wince plan validate` load plans
    through `load_plan`, so both print it).
    """
    for label, spec in zip(plan.labels(), plan.perturbations, strict=True):
        magnitude = perturbations.get(spec.name).magnitude
        where = f"{source} perturbation {label}"
        for value in spec.values or []:
            magnitude.warn_unrealistic(value, spec.name, where=where, stacklevel=3)


def as_plan(plan: Plan | dict[str, Any] | str | Path) -> Plan:
    """A `Plan` from a Plan, a mapping or a YAML file path."""
    if isinstance(plan, Plan):
        return plan
    if isinstance(plan, dict):
        return parse_plan(plan)
    return load_plan(plan)

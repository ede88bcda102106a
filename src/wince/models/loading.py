"""Build a model adapter from a plan's model section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wince.errors import ModelError, PlanError, WinceError
from wince.models import HttpAdapter, OnnxAdapter, TorchAdapter, TransformersAdapter, as_model
from wince.models.base import CallableAdapter, ModelAdapter, Task
from wince.modules import import_user_module
from wince.plan import ModelSpec


def import_object(target: str, where: str) -> Any:
    """The object named by 'module:attribute' (attribute may be dotted).

    Modules are looked up on the search path, then in the working directory.

    Raises:
        PlanError: malformed target, module not importable, or attribute missing.
    """
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise PlanError(f"{where}: expected 'module:function'; got {target!r}.")
    try:
        obj: Any = import_user_module(module_name)
    except ImportError as error:
        raise PlanError(
            f"{where}: cannot import module {module_name!r} ({error}). Run wince from the "
            "folder that holds it, or add that folder to PYTHONPATH."
        ) from None
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise PlanError(f"{where}: module {module_name!r} has no {attribute!r}.")
        obj = getattr(obj, part)
    return obj


def call_factory(target: str, where: str, error: type[WinceError] = ModelError) -> Any:
    """Import the 'module:function' a plan names and call it without arguments.

    This runs the user's code, so whatever it raises (or a `sys.exit` in it) is reported as
    the factory's failure, naming it, instead of ending wince with a traceback or silently.

    Raises:
        PlanError: malformed target, module not importable, attribute missing or not callable.
        error: importing the module or calling the factory raised or exited.
    """
    try:
        factory = import_object(target, where)
        if not callable(factory):
            raise PlanError(
                f"{where}: {target!r} is not a function (it is of type "
                f"{type(factory).__name__}); name a function that takes no arguments and "
                "returns what it builds."
            )
        return factory()
    except WinceError:
        raise
    except (Exception, SystemExit) as problem:
        what = (
            f"called sys.exit({problem.code!r})"
            if isinstance(problem, SystemExit)
            else f"raised {type(problem).__name__}: {problem}"
        )
        raise error(
            f"{where} {target!r} {what}. Fix the factory (call it yourself in Python to see "
            "its traceback, or rerun with --debug)."
        ) from problem


def load_model(spec: ModelSpec) -> ModelAdapter:
    """Load the model a plan names and wrap it in its adapter.

    Pickle and joblib files run code when loaded: only the path the plan names is loaded.

    Raises:
        PlanError: the source cannot be found or imported.
        ModelError: the factory raised, the file cannot be loaded, or the loaded object is
            not a usable model.
    """
    kind, target = spec.source()
    _check_options_apply(spec, kind)
    task = Task(spec.task) if spec.task else None
    output, threshold = spec.output, spec.threshold
    if kind == "factory":
        model = _adapted(
            call_factory(target, "model.factory"),
            f"model.factory {target!r}",
            task=task,
            output=output,
            threshold=threshold,
            device=spec.device,
        )
    elif kind == "transformers":
        if not Path(target).is_dir():
            raise PlanError(
                f"model.transformers: no folder at {target}; wince never downloads models. "
                "Save the model and its tokenizer or processor with save_pretrained(folder) "
                "(or download them yourself) and name that folder."
            )
        model = TransformersAdapter.from_pretrained(
            target, pipeline=spec.pipeline, device=spec.device or "cpu"
        )
    elif kind == "url":
        model = HttpAdapter(
            target,
            task=task or Task.CLASSIFICATION,
            classes=spec.classes,
            timeout_s=spec.timeout_s,
            retries=spec.retries,
            headers=spec.headers,
            version=spec.version,
            output=output,
            threshold=threshold,
        )
    else:
        model = _model_file(spec, kind, Path(target), task)
    _apply_declared_identity(model, spec)
    return model


def _check_options_apply(spec: ModelSpec, kind: str) -> None:
    """Refuse a device, execution providers or headers for a model kind that ignores them.

    Raises:
        PlanError: naming the option to remove.
    """
    if spec.device is not None and kind in ("url", "onnx", "pickle"):
        raise PlanError(
            "model.device applies to torch models (a factory's nn.Module or transformers "
            "pipeline, model.torchscript, model.transformers); "
            f"a model.{kind} runs where its own library puts it. Remove model.device."
        )
    if spec.providers is not None and kind != "onnx":
        raise PlanError(
            f"model.providers applies to model.onnx; a model.{kind} does not use ONNX Runtime "
            "execution providers. Remove model.providers."
        )
    if spec.headers is not None and kind != "url":
        raise PlanError(
            f"model.headers applies to model.url; a model.{kind} sends no requests. "
            "Remove model.headers."
        )


def _model_file(spec: ModelSpec, kind: str, path: Path, task: Task | None) -> ModelAdapter:
    """The model of a pickle (or joblib), ONNX or TorchScript file.

    Raises:
        PlanError: no file at `path`.
        ModelError: the pickle cannot be loaded or holds no usable model.
    """
    if not path.is_file():
        raise PlanError(f"model.{kind}: no file at {path}; check the path.")
    output, threshold = spec.output, spec.threshold
    if kind == "pickle":
        import joblib

        try:
            loaded = joblib.load(path)
        except Exception as error:  # unpickling runs arbitrary code: any error is possible
            raise ModelError(
                f"model.pickle: cannot unpickle {path}: {_unpickle_reason(path, error)}"
            ) from None
        return _adapted(
            loaded, f"model.pickle {path}", task=task, output=output, threshold=threshold
        )
    if kind == "onnx":
        return OnnxAdapter.from_path(
            path,
            task=task or Task.CLASSIFICATION,
            output=output,
            threshold=threshold,
            providers=spec.providers or ("CPUExecutionProvider",),
        )
    return TorchAdapter.from_torchscript(
        path,
        task=task or Task.CLASSIFICATION,
        output=output,
        threshold=threshold,
        device=spec.device or "cpu",
    )


def _apply_declared_identity(model: ModelAdapter, spec: ModelSpec) -> None:
    """Give the model the plan's declared version, batch limit and classes, in place.

    The classes are set only when the model does not name its own.
    """
    if spec.version is not None and isinstance(model, CallableAdapter):
        model.version = spec.version  # the declared identity, instead of the hashed state
    if spec.max_batch is not None:
        model.max_batch = spec.max_batch  # type: ignore[attr-defined]
    if spec.classes is not None and getattr(model, "classes", None) is None:
        model.classes = tuple(spec.classes)


def _adapted(built: Any, source: str, **options: Any) -> ModelAdapter:
    """`as_model(built, **options)`; a refusal names the factory or file `source` it came from.

    Raises:
        ModelError: `built` is None or not a usable model.
    """
    if built is None:
        raise ModelError(
            f"{source} gave None, not a model; a factory must return the model it builds "
            "(`return model`), and a pickle must hold the fitted model."
        )
    try:
        return as_model(built, **options)
    except ModelError as error:
        raise ModelError(f"{source}: {error}") from None


def _unpickle_reason(path: Path, error: Exception) -> str:
    """Why a pickle or joblib file did not load, in words (a bare EOFError says nothing)."""
    if path.stat().st_size == 0:
        return "the file is empty; save the model again with joblib.dump(model, path)."
    if isinstance(error, (ImportError, AttributeError)):
        return (
            f"{error}. The pickle refers to code that is not installed here; install the "
            "packages (and versions) it was saved with."
        )
    return (
        f"it is not a pickle or joblib file, or it is truncated or damaged "
        f"({type(error).__name__}: {error or 'no detail'}); save the model again with "
        "joblib.dump(model, path)."
    )


class PlanModelLoader:
    """Picklable loader of a plan's model, for worker processes."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    def __call__(self) -> ModelAdapter:
        """Load the model (called once in each worker process)."""
        return load_model(self.spec)

"""The environment a run was made in: the versions of the packages that shape its outputs.

Two runs of one plan on one model and data give the same outcomes only under the same
versions of the packages that compute them: the numerical libraries the perturbations call
(an OpenCV or SciPy release may move outputs; see docs/reproducibility.md) and the model's
runtime (scikit-learn for an estimator, torch for a module, onnxruntime for an ONNX
session). Only the packages that matter for the run count: the perturbations of its data's
modality and its model's runtime, so installing torch does not make a scikit-learn run stale.

The environment is recorded in a run's lineage (`environment`), keys the prediction cache
(`cache_identity`), and decides whether a stored run may be reused: the engine refuses one
made under other versions (`StaleRunError`, naming each change, e.g.
"opencv-python-headless 4.14.0 → 5.1.0").
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Any

#: Packages the perturbations of each modality compute with (distribution names).
PERTURBATION_PACKAGES: dict[str, tuple[str, ...]] = {
    "image": ("numpy", "scipy", "opencv-python-headless", "pillow", "stringzilla"),
    "text": ("numpy", "rapidfuzz"),
    "audio": ("numpy", "scipy", "lameenc", "miniaudio"),
    "tabular": ("numpy",),
    "timeseries": ("numpy",),
}
#: Model runtimes by adapter class name, for adapters that do not say (`runtime_packages`).
ADAPTER_PACKAGES: dict[str, tuple[str, ...]] = {
    "SklearnAdapter": ("scikit-learn",),
    "TorchAdapter": ("torch",),
    "OnnxAdapter": ("onnxruntime",),
    "HttpAdapter": (),
}
# Modules whose versions are already accounted for (wince itself is part of a run's id).
_IGNORED_MODULES = frozenset({"wince", "builtins", "__main__"})


def installed_version(package: str) -> str | None:
    """The installed version of a distribution, or None when it is not installed."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def _distributions() -> Mapping[str, list[str]]:
    return metadata.packages_distributions()


def module_packages(modules: Iterable[str]) -> tuple[str, ...]:
    """The distributions that provide top-level modules ("sklearn" -> "scikit-learn")."""
    found: set[str] = set()
    for module in modules:
        if module in _IGNORED_MODULES:
            continue
        found.update(_distributions().get(module, ()))
    return tuple(sorted(found))


def model_packages(model: Any) -> tuple[str, ...]:
    """The packages whose versions shape a model's outputs (its runtime)."""
    stated = getattr(model, "runtime_packages", None)
    if callable(stated):
        return tuple(stated())
    modules = getattr(model, "runtime_modules", None)
    if callable(modules):
        return module_packages(modules())
    name = next((k.__name__ for k in type(model).__mro__ if k.__name__ in ADAPTER_PACKAGES), None)
    if name is not None:  # a wince adapter, or a subclass of one
        packages = set(ADAPTER_PACKAGES[name])
        estimator = getattr(model, "estimator", None)
        if estimator is not None:  # e.g. an XGBoost model behind the scikit-learn API
            packages.update(module_packages([type(estimator).__module__.split(".")[0]]))
        return tuple(sorted(packages))
    return module_packages([type(model).__module__.split(".")[0]])


def environment(modality: str, model: Any) -> dict[str, str | None]:
    """Package -> installed version (None: not installed) for a run's modality and model."""
    names = set(PERTURBATION_PACKAGES.get(str(modality), ("numpy",)))
    names.update(model_packages(model))
    return {name: installed_version(name) for name in sorted(names)}


def environment_digest(env: Mapping[str, str | None]) -> str:
    """Hex SHA-256 (16 digits) of an environment."""
    text = json.dumps(sorted(env.items()), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_identity(fingerprint: str, env: Mapping[str, str | None]) -> str:
    """The prediction cache's key of a model under an environment."""
    return hashlib.sha256(f"{fingerprint}|{environment_digest(env)}".encode()).hexdigest()[:16]


def changes(old: Mapping[str, str | None], new: Mapping[str, str | None]) -> list[str]:
    """One line per package whose version differs ("scipy 1.16.0 → 1.17.1"), sorted.

    Packages only one side names are compared with "not recorded".
    """
    lines = []
    for name in sorted(set(old) | set(new)):
        before = old.get(name, "not recorded") if name in old else "not recorded"
        after = new.get(name, "not recorded") if name in new else "not recorded"
        if before != after:
            lines.append(f"{name} {before or 'not installed'} → {after or 'not installed'}")
    return lines

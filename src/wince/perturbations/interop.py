"""Albumentations and torchvision transforms as wince image perturbations.

Neither library is a dependency: each is imported when a transform is wrapped, and a missing
one raises `ImportError` naming the package to install. A wrapped transform keeps wince's
contract: it runs image by image on the colour channels (the alpha of RGBA images is kept),
each image seeded from its own generator `rngs[i]`, so the output of a sample does not depend
on the batch it is in or its order; shape and dtype are kept, and `off` is the identity.

Strength. A transform built for one strength has no physical parameter wince could sweep, so by
default it gets the magnitude `applied` (0 = off, 1 = the transform as configured; severities
below 0.5 round to 0). To sweep a strength, pass `build`, a function from a physical value to
a transform, with the `Magnitude` that declares that value (name with unit, off, realistic
range, limits); `build` is called once per batch. The seed is drawn before and apart from the
value, so a sweep reuses the same random draws for a sample (common random numbers) as long
as the transform draws the same numbers at every strength.

The factories return a class, like the registered ones; `register(cls)` adds it to the
registry so that plans can name it. Its `__module__` is that of the wrapped transform (or of
`build`), not wince's: it is a user perturbation, not one of the library's.

Examples:
    >>> import albumentations as A
    >>> import numpy as np
    >>> from wince.perturbations import Magnitude, Rngs
    >>> from wince.perturbations.interop import from_albumentations
    >>> Noise = from_albumentations(
    ...     build=lambda sd: A.GaussNoise(std_range=(sd / 100, sd / 100), p=1.0),
    ...     magnitude=Magnitude("noise_sd_pct", unit="% of full scale", off=0.0, mild=1.0,
    ...                         severe=8.0, limits=(0.0, 100.0)),
    ... )
    >>> Noise.name
    'image.albumentations_gauss_noise'
    >>> x = np.full((2, 8, 8, 3), 128, dtype=np.uint8)
    >>> out = Noise().perturb(x, 4.0, Rngs.for_samples(["a", "b"]))
    >>> out.shape, out.dtype, bool((out != x).any())
    ((2, 8, 8, 3), dtype('uint8'), True)
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from wince.errors import DataError, ParameterError
from wince.perturbations.base import Batch, DataContext, Magnitude, Rngs
from wince.perturbations.image.base import ImagePerturbation, colour_channels

APPLIED = Magnitude(
    "applied",
    unit="0 = off, 1 = on",
    off=0.0,
    mild=1.0,
    severe=1.0,
    limits=(0.0, 1.0),
    integer=True,
)

SEED_RANGE = 2**32  # per-sample seeds are drawn in [0, 2**32): both libraries accept them

Image = npt.NDArray[Any]
Runner = Callable[[Any, Image, int], Any]


def _require(module: str, fix: str) -> ModuleType:
    """Import `module`, or raise `ImportError` saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"wrapping {module} transforms needs {module}: {fix}") from error


def _snake(text: str) -> str:
    """`GaussNoise` -> `gauss_noise`; anything but letters and digits becomes `_`."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
    return re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_")


def _run_albumentations(transform: Any, image: Image, seed: int) -> Any:
    """One image through an albumentations 2.x transform seeded with `seed`."""
    transform.set_random_seed(seed)
    return transform(image=image)["image"]


def _run_torchvision(transform: Any, image: Image, seed: int) -> Any:
    """One HWC image through a CHW-tensor transform under a seeded, then restored, torch RNG."""
    torch = _require("torch", "pip install 'wince[torch]'")
    tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        result = transform(tensor)
    if isinstance(result, torch.Tensor) and result.ndim == 3:
        return result.detach().cpu().numpy().transpose(1, 2, 0)
    return result  # not a CHW tensor: the shape check of `WrappedTransform.apply` reports it


@dataclass(frozen=True)
class WrappedSpec:
    """What a wrapped perturbation runs: a fixed `transform`, or `build(value)` per batch."""

    library: str
    run: Runner
    check: Callable[[object], None]
    transform: Any = None
    build: Callable[[float], Any] | None = None


class WrappedTransform(ImagePerturbation):
    """Base of wrapped third-party transforms; made by `from_albumentations`/`from_torchvision`."""

    spec: ClassVar[WrappedSpec]

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Run the transform (built for `value`) on each image's colour channels, seeded per sample.

        Raises:
            DataError: the transform changed an image's shape or dtype.
        """
        spec = self.spec
        transform = spec.transform if spec.build is None else spec.build(value)
        spec.check(transform)
        out = x.copy()
        n, h, w = x.shape[:3]
        c = colour_channels(x)
        for i in range(n):
            seed = int(rngs[i].integers(SEED_RANGE))
            result = np.asarray(spec.run(transform, np.ascontiguousarray(x[i, :, :, :c]), seed))
            if result.shape != (h, w, c) or result.dtype != x.dtype:
                raise DataError(
                    f"{self.name}: the {spec.library} transform turned sample {i} of shape "
                    f"{(h, w, c)} and dtype {x.dtype} into shape {result.shape} and dtype "
                    f"{result.dtype}; wrapped transforms must keep both (no resizing or "
                    "dtype conversion)."
                )
            out[i, :, :, :c] = result
        if x.dtype == np.float32:
            np.clip(out, 0.0, 1.0, out=out)
        return out


def _wrap(
    spec: WrappedSpec,
    *,
    magnitude: Magnitude | None,
    name: str | None,
    stochastic: bool,
    version: int,
) -> type[WrappedTransform]:
    """A `WrappedTransform` subclass for `spec`, checking the arguments of the factories."""
    owner = f"from_{spec.library}"
    if (spec.transform is None) == (spec.build is None):
        raise ParameterError(
            f"{owner}: pass either a transform (fixed strength) or build= with magnitude= "
            "(a strength to sweep), not both or neither."
        )
    if (spec.build is None) != (magnitude is None):
        raise ParameterError(
            f"{owner}: build= and magnitude= go together: magnitude declares the value (unit, "
            "off, realistic range, limits) that build turns into a transform."
        )
    if spec.build is None:
        example, source = spec.transform, spec.transform
    else:
        assert magnitude is not None
        example, source = spec.build(magnitude.severe), spec.build
    spec.check(example)
    label = _snake(type(example).__name__)
    name = f"image.{spec.library}_{label}" if name is None else name
    if not re.fullmatch(r"image\.[a-z][a-z0-9_]*", name):
        raise ParameterError(
            f"{owner}: name must look like 'image.<snake_case>'; got {name!r}. "
            f"Try 'image.{spec.library}_{label or 'transform'}'."
        )
    strength = (
        "Applied as configured (applied=1) or not at all (applied=0)."
        if magnitude is None
        else f"Built for each value of {magnitude.name} ({magnitude.unit})."
    )
    doc = f"{type(example).__name__} from {spec.library}, run image by image.\n\n{strength}\n"
    attributes = {
        "__doc__": doc,
        "__module__": getattr(source, "__module__", None) or __name__,
        "name": name,
        "version": version,
        "stochastic": stochastic,
        "magnitude": APPLIED if magnitude is None else magnitude,
        "spec": spec,
    }
    class_name = "".join(part.title() for part in name.split(".")[1].split("_"))
    return type(class_name, (WrappedTransform,), attributes)


def from_albumentations(
    transform: Any = None,
    *,
    build: Callable[[float], Any] | None = None,
    magnitude: Magnitude | None = None,
    name: str | None = None,
    stochastic: bool = True,
    version: int = 1,
) -> type[WrappedTransform]:
    """An albumentations 2.x transform (or `Compose`) as a wince image perturbation class.

    Each image gets the seed `rngs[i].integers(2**32)` through `transform.set_random_seed`.
    The transform's own `p` is honoured (set `p=1.0` to apply it to every image).

    Args:
        transform: a transform at a fixed strength; the class gets the magnitude `applied`
            (0 or 1). Pass this or `build`.
        build: a function from a physical value to a transform, called once per batch.
        magnitude: the declaration of `build`'s value (required with `build`).
        name: registry name, `image.<snake_case>`; default `image.albumentations_<class>`.
        stochastic: whether the transform draws random numbers (False for fixed effects).
        version: bump when the transform's configuration, and so its output, changes.

    Raises:
        ImportError: albumentations is not installed.
        ParameterError: a wrong combination of arguments, a bad name, or not a transform.
    """
    albumentations = _require("albumentations", "pip install albumentations")
    kinds = (albumentations.BasicTransform, albumentations.BaseCompose)

    def check(candidate: object) -> None:
        if not isinstance(candidate, kinds):
            raise ParameterError(
                f"from_albumentations: expected an albumentations transform or Compose; got "
                f"{type(candidate).__name__}. Try A.GaussNoise(p=1.0)."
            )

    spec = WrappedSpec("albumentations", _run_albumentations, check, transform, build)
    return _wrap(spec, magnitude=magnitude, name=name, stochastic=stochastic, version=version)


def from_torchvision(
    transform: Any = None,
    *,
    build: Callable[[float], Any] | None = None,
    magnitude: Magnitude | None = None,
    name: str | None = None,
    stochastic: bool = True,
    version: int = 1,
) -> type[WrappedTransform]:
    """A torchvision transform (any callable on a CHW tensor) as a wince image perturbation class.

    Images go in as (channels, height, width) tensors of the batch's dtype (uint8 0-255 or
    float32 0-1, as torchvision's v2 transforms expect) and must come back so. torchvision
    draws from torch's global generator: each image runs under `torch.random.fork_rng` with
    the CPU generator seeded from `rngs[i].integers(2**32)`, and the global state is restored
    afterwards. Transforms that draw from Python's `random` module (v1 `RandomChoice`,
    `RandomOrder`) are not seeded and so not reproducible; use their v2 versions.

    Args:
        transform: a transform at a fixed strength; the class gets the magnitude `applied`
            (0 or 1). Pass this or `build`.
        build: a function from a physical value to a transform, called once per batch.
        magnitude: the declaration of `build`'s value (required with `build`).
        name: registry name, `image.<snake_case>`; default `image.torchvision_<class>`.
        stochastic: whether the transform draws random numbers (False for fixed effects).
        version: bump when the transform's configuration, and so its output, changes.

    Raises:
        ImportError: torch is not installed.
        ParameterError: a wrong combination of arguments, a bad name, or not callable.
    """
    _require("torch", "pip install 'wince[torch]'")

    def check(candidate: object) -> None:
        if not callable(candidate):
            raise ParameterError(
                f"from_torchvision: expected a transform (a callable on a CHW tensor); got "
                f"{type(candidate).__name__}. Try torchvision.transforms.v2.ColorJitter(0.4)."
            )

    spec = WrappedSpec("torchvision", _run_torchvision, check, transform, build)
    return _wrap(spec, magnitude=magnitude, name=name, stochastic=stochastic, version=version)

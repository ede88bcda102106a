"""Checks for your own perturbations and model adapters: wince's contract suite as an API.

`check_perturbation(MyPerturbation)` runs every check the built-in perturbations pass
(determinism, batch invariance, identity at severity 0, a monotone effect, validation, ...)
and raises `AssertionError` naming the check and what differed, like scikit-learn's
`check_estimator`. `parametrize_with_checks` turns the same checks into pytest cases;
`check_adapter` checks a model adapter and `check_defence` a defence. The example batches
per modality (`image_examples`, ...) are the fixture the checks perturb; pass `examples=` to
check on your own domain's data.

Not imported by `import wince`: `import wince.testing`. pytest is needed only by
`parametrize_with_checks`.
"""

from wince.testing.adapters import check_adapter
from wince.testing.defences import DEFENCE_CHECK_NAMES, check_defence
from wince.testing.examples import (
    Example,
    audio_examples,
    examples_for,
    image_examples,
    tabular_examples,
    text_examples,
    timeseries_examples,
)
from wince.testing.perturbations import (
    CHECK_NAMES,
    check_perturbation,
    parametrize_with_checks,
    perturbation_checks,
)

__all__ = [
    "CHECK_NAMES",
    "DEFENCE_CHECK_NAMES",
    "Example",
    "audio_examples",
    "check_adapter",
    "check_defence",
    "check_perturbation",
    "examples_for",
    "image_examples",
    "parametrize_with_checks",
    "perturbation_checks",
    "tabular_examples",
    "text_examples",
    "timeseries_examples",
]

"""Models for the benchmarks (importable by worker processes)."""

from __future__ import annotations

from typing import Any

from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from wince.demo.models import _digits_split, flatten_pixels


def forest() -> Any:
    """A 300-tree random forest on the digits training half (single-threaded)."""
    x_train, _, y_train, _ = _digits_split()
    model = make_pipeline(
        FunctionTransformer(flatten_pixels),
        RandomForestClassifier(n_estimators=300, random_state=0, n_jobs=1),
    )
    return model.fit(x_train, y_train)

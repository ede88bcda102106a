"""What the notebook tests share: a small classifier, its data and the stored run's parts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import wince
from wince.analysis.profile import Profile
from wince.datasets import ArrayDataset
from wince.models import CallableAdapter

PLAN_NAME = "<script>alert('plan')</script> & co"


def threshold_model(x: np.ndarray) -> np.ndarray:
    """Class 1 when the first two columns add up above 0."""
    return (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)


@dataclass(frozen=True)
class NotebookRun:
    folder: Path
    run: wince.Run
    profile: Profile
    data: ArrayDataset
    model: CallableAdapter

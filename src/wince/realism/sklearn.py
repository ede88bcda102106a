"""The scikit-learn form of an augmenter: a transformer that augments the training data only.

Kept apart from `wince.realism.augment` so that importing wince does not import scikit-learn.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from wince.realism.augment import Augmenter


class AugmentTransformer(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Augments X in `fit_transform` and passes it through unchanged in `transform`.

    A `Pipeline` calls `fit_transform` on each step while fitting and `transform` while
    predicting or scoring, so the model downstream trains on augmented samples and is
    evaluated on the inputs as given. Rows are neither added nor reordered, so `y` still
    matches. Row i is augmented as the sample with id i (its position), the default of the
    numpy and torch forms, so the three forms give the same augmented data for one seed.
    Calling `fit` and then `transform` separately augments nothing: use `fit_transform`.

    X is a batch of the augmenter's modality (images (n, h, w, c), tabular (n, features), a
    list of str for text ...); a pandas DataFrame is augmented through its values and comes
    back with the same index and columns. The transformer is stateless and clone-able; its
    parameters are the augmenter and the epoch.

    Args:
        augmenter: the augmenter (from `wince.realism.augment`).
        epoch: which epoch's draws to use, a non-negative integer; set a new one (e.g. with
            `set_params`) to refit on fresh augmentations.

    Examples:
        >>> import numpy as np
        >>> from wince.realism import augment
        >>> t = AugmentTransformer(augment("image.gaussian_noise", seed=0))
        >>> x = np.full((2, 4, 4, 1), 0.5, dtype=np.float32)
        >>> bool(np.array_equal(t.fit_transform(x), x)), bool(np.array_equal(t.transform(x), x))
        (False, True)
    """

    def __init__(self, augmenter: Augmenter, *, epoch: int = 0) -> None:
        self.augmenter = augmenter
        self.epoch = epoch

    def fit(self, x: Any, y: Any = None) -> AugmentTransformer:
        """Nothing to learn; returns self."""
        return self

    def fit_transform(self, x: Any, y: Any = None, **fit_params: Any) -> Any:
        """The augmented X (same rows, shape and dtype); y is not changed."""
        if hasattr(x, "iloc") and hasattr(x, "to_numpy"):  # a pandas DataFrame
            import pandas as pd

            values = self.augmenter(x.to_numpy(), epoch=self.epoch)
            return pd.DataFrame(values, index=x.index, columns=x.columns)
        if not isinstance(x, list):
            x = np.asarray(x)
        return self.augmenter(x, epoch=self.epoch)

    def transform(self, x: Any) -> Any:
        """X unchanged: augmentation is for training only."""
        return x

    def __sklearn_is_fitted__(self) -> bool:
        """Stateless: always ready to transform."""
        return True

"""The calibration pipeline: gather the samples, measure them by modality, collect the result.

`calibrate` reads the reference and production data into one batch each, checks that they
are of one modality and one sample size, hands them to the modality's calibration (`images`,
`text`, `audio`, `tables`) and collects its quantities into a `Calibration`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wince.errors import DataError
from wince.perturbations.base import Modality
from wince.realism.calibration.audio import calibrate_audio_data
from wince.realism.calibration.base import CalibrationData, ModalityCalibration
from wince.realism.calibration.images import calibrate_image_data
from wince.realism.calibration.quantities import Calibration
from wince.realism.calibration.tables import calibrate_table_data
from wince.realism.calibration.text import calibrate_text_data

BY_MODALITY: dict[Modality, ModalityCalibration] = {
    Modality.IMAGE: calibrate_image_data,
    Modality.TEXT: calibrate_text_data,
    Modality.AUDIO: calibrate_audio_data,
    Modality.TABULAR: calibrate_table_data,
}


def calibrate(
    reference: Any,
    production: Any | None = None,
    *,
    modality: Modality | str | None = None,
    groups: Sequence[Any] | None = None,
    n_boot: int = 200,
    seed: int = 0,
) -> Calibration:
    """Estimate the perturbation magnitudes that real data shows.

    Args:
        reference: a `wince.datasets.Dataset` (or batch: image array, list of str, audio or
            tabular array) of reference inputs — what the model was trained and tested on.
        production: the same for production inputs, or None to calibrate the reference
            against itself (`wince.realism.calibration` says which quantities need production).
        modality: expected modality; default the reference's (arrays of shape (n, samples)
            read as tabular: pass "audio" for clips).
        groups: tabular: one id per row of the production table (of the reference without
            production); rows sharing an id are repeated measurements of one thing, whose
            spread is the measurement noise.
        n_boot: bootstrap replicates for intervals.
        seed: bootstrap seed.

    Returns:
        The `Calibration`, whose `to_yaml()` is the plan.

    Raises:
        DataError: the data are not of the expected modality, the reference and production
            modalities differ, or the modality has no calibration.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> reference = rng.normal(size=(500, 2))
        >>> production = reference + [0.5 * reference[:, 0].std(ddof=1), 0.0]
        >>> result = calibrate(reference, production)
        >>> quantity = result.get("drift")
        >>> quantity.params, quantity.values
        ({'columns': ['0']}, (0.5,))
    """
    data = gather(reference, production, modality=modality, groups=groups)
    expected = data.reference.modality
    by_modality = BY_MODALITY.get(expected)
    if by_modality is None:
        raise DataError(
            f"calibrate: no calibration for {expected.value} data yet; images, text, audio and "
            "tabular data are supported."
        )
    quantities = by_modality(data, n_boot=n_boot, seed=seed)
    return Calibration(
        modality=expected,
        reference=str(getattr(data.reference, "name", "reference")),
        production=None
        if data.production is None
        else str(getattr(data.production, "name", "production")),
        n_reference=len(data.reference),
        n_production=0 if data.production is None else len(data.production),
        quantities=tuple(quantities),
    )


def gather(
    reference: Any,
    production: Any | None,
    *,
    modality: Modality | str | None,
    groups: Sequence[Any] | None,
) -> CalibrationData:
    """The reference and production datasets of the expected modality, their samples read.

    Raises:
        DataError: data that cannot be read as a dataset, of another modality than expected
            (the reference's by default), or samples of several sizes.
    """
    from wince.datasets.base import ArrayDataset, Dataset, require_one_size

    def as_dataset(data: Any, which: str) -> Dataset:
        if isinstance(data, Dataset):
            return data
        try:
            return ArrayDataset(data, modality=modality, name=which)
        except (ValueError, TypeError) as error:
            raise DataError(f"calibrate: cannot use the {which} data: {error}") from None

    ref_data = as_dataset(reference, "reference")
    prod_data = None if production is None else as_dataset(production, "production")
    expected = Modality(modality) if modality is not None else ref_data.modality
    for which, dataset in (("reference", ref_data), ("production", prod_data)):
        if dataset is not None and dataset.modality != expected:
            raise DataError(
                f"calibrate: the {which} data ({getattr(dataset, 'name', which)}) are "
                f"{dataset.modality.value}, expected {expected.value}. Pass --modality "
                f"{dataset.modality.value}, or point --{which} at {expected.value} data."
            )
    ref_x = ref_data.batch(0, len(ref_data))
    prod_x = None if prod_data is None else prod_data.batch(0, len(prod_data))
    for which, x in (("reference", ref_x), ("production", prod_x)):
        require_one_size(x, where="calibrate", which=which, purpose="calibration compares")
    return CalibrationData(ref_data, prod_data, ref_x, prod_x, groups)

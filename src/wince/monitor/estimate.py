"""Estimators of known perturbation magnitudes from a batch of live inputs.

Each estimator is a pure function of reference inputs (what the run measured) and live inputs
(what production sees) and returns an `Estimate` in the physical unit of the matching
perturbation's magnitude, so it can be read off the run's sensitivity curves. Each perturbation
whose magnitude has an estimator names it (`Perturbation.monitor_estimate`;
`LIVE_INPUTS` lists them and what they read); `tabular_drift_sd` (column sd per column) and
`sharpness_ratio` match no perturbation's unit.

Intervals come from a bootstrap over live (and reference) samples, so they reflect how many
samples the live batch holds, not the estimator's model error.

Per-sample measurements behind the pooled estimates are public too, for
`wince.realism.calibrate` (which takes quantiles of them): `image_luminance`,
`image_luminance_sd`, `image_noise_sd`, `laplacian_variance`, `jpeg_file_qualities`,
`clip_level_dbfs`, `clip_snr_db` and `typo_rate_replicates`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from wince.errors import DataError
from wince.perturbations.image import from_float, linear_to_srgb, srgb_to_linear

FloatArray = npt.NDArray[np.float64]

# Rec. 709 / sRGB luminance weights of linear R, G, B
LUMA = np.array([0.2126, 0.7152, 0.0722])
_LEVELS = np.arange(256, dtype=np.float64) / 255.0
_LINEAR = srgb_to_linear(_LEVELS)
_TOKEN = re.compile(r"[^\W_]+")
EV_RANGE = (-10.0, 10.0)


@dataclass(frozen=True)
class Estimate:
    """A perturbation magnitude estimated from live inputs.

    Attributes:
        perturbation: registry name of the matching perturbation (`image.exposure`), or a
            descriptive key for quantities without one (`tabular.drift`).
        value: the estimate in `unit`; NaN when not estimable.
        low: lower end of the 95% bootstrap interval (same unit).
        high: upper end of the 95% bootstrap interval (same unit).
        unit: physical unit of `value`.
        estimable: False when the live inputs do not carry the information (e.g. JPEG quality
            of arrays that were never JPEG files).
        note: how the value was obtained, or why it is not estimable.
        details: extra per-column or per-channel figures (JSON-able).
    """

    perturbation: str
    value: float
    low: float
    high: float
    unit: str
    estimable: bool = True
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "perturbation": self.perturbation,
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "unit": self.unit,
            "estimable": self.estimable,
            "note": self.note,
            "details": self.details,
        }


def not_estimable(perturbation: str, unit: str, why: str) -> Estimate:
    """An `Estimate` that says why the magnitude cannot be estimated."""
    nan = float("nan")
    return Estimate(perturbation, nan, nan, nan, unit, estimable=False, note=why)


def _interval(reps: Sequence[float]) -> tuple[float, float]:
    values = np.asarray(reps, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def _boot_indices(n: int, n_boot: int, rng: np.random.Generator) -> npt.NDArray[np.intp]:
    return rng.integers(0, n, size=(n_boot, n))


def _two_sample_interval(
    reference: Any,
    live: Any,
    statistic: Callable[[Any, Any], float],
    *,
    n_boot: int,
    seed: int,
) -> tuple[float, float]:
    """95% interval of `statistic(reference, live)`, resampling both samples independently."""
    rng = np.random.default_rng(seed)
    pairs = zip(
        _boot_indices(len(reference), n_boot, rng),
        _boot_indices(len(live), n_boot, rng),
        strict=True,
    )
    return _interval([statistic(reference[a], live[b]) for a, b in pairs])


# images -----------------------------------------------------------------------------------
def _as_uint8(images: Any, where: str) -> npt.NDArray[np.uint8]:
    x = np.asarray(images)
    if x.ndim != 4:
        raise DataError(f"{where}: image batches have shape (n, h, w, c); got {x.shape}.")
    if len(x) == 0:
        raise DataError(f"{where}: the image batch is empty.")
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind != "f":
        raise DataError(f"{where}: images are uint8 or float in [0, 1]; got {x.dtype}.")
    out: npt.NDArray[np.uint8] = from_float(x.astype(np.float32), np.dtype(np.uint8))  # type: ignore[assignment]
    return out


def _level_histograms(x: npt.NDArray[np.uint8]) -> FloatArray:
    """Per-image, per-colour-channel histograms of the 256 levels: (n, c, 256) fractions."""
    c = 3 if x.shape[3] == 4 else x.shape[3]
    n = len(x)
    flat = x[..., :c].reshape(n, -1, c)
    offsets = (np.arange(n)[:, None] * c + np.arange(c)[None, :]) * 256
    codes = flat.astype(np.int64) + offsets[:, None, :]
    counts = np.bincount(codes.ravel(), minlength=n * c * 256).reshape(n, c, 256)
    hist: FloatArray = counts / flat.shape[1]
    return hist


def _weights(c: int) -> FloatArray:
    return LUMA if c == 3 else np.full(c, 1.0 / c)


def _exposed_level_luminance(ev: float) -> FloatArray:
    """Linear light of each uint8 level after the wince exposure of `ev` stops (256,)."""
    coded = np.rint(linear_to_srgb(_LINEAR * 2.0**ev) * 255.0).astype(np.intp)
    out: FloatArray = _LINEAR[coded]
    return out


def _fit_ev(reference_hist: FloatArray, weights: FloatArray, target: float) -> float:
    """EV whose exposure of the reference levels gives mean linear luminance `target`."""

    def mean_at(ev: float) -> float:
        per_channel = reference_hist @ _exposed_level_luminance(ev)
        return float(per_channel @ weights)

    low, high = EV_RANGE
    if target <= mean_at(low):
        return low
    if target >= mean_at(high):
        return high
    for _ in range(40):  # 20/2**40 EV: far below the quantisation of 8-bit levels
        mid = 0.5 * (low + high)
        if mean_at(mid) < target:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)


def exposure_ev(
    reference: Any,
    live: Any,
    *,
    n_boot: int = 200,
    seed: int = 0,
) -> Estimate:
    """Exposure change of the live images relative to the reference, in EV (stops).

    The naive estimate is log2 of the ratio of mean linear-light luminance, live over
    reference. Clipping biases it: blown highlights cannot brighten and black pixels stay
    black. So the reference's level histogram is pushed through the same pipeline as
    `image.exposure` (sRGB decode, linear gain 2**EV, clip, re-encode, round to 8 bits) and the
    EV is the one whose exposed reference has the live mean linear luminance (Rec. 709 weights
    for colour). Without clipping this equals the log2 ratio; with clipping it stays unbiased
    as long as the scene content is the same. The 95% interval resamples live and reference
    images.

    Args:
        reference: reference images (n, h, w, c), uint8 or float in [0, 1].
        live: live images, same channel count.
        n_boot: bootstrap replicates for the interval.
        seed: bootstrap seed.

    Returns:
        Estimate in EV (negative: live images are darker).

    Raises:
        DataError: not image batches, or different channel counts.
    """
    ref = _as_uint8(reference, "monitor reference images")
    liv = _as_uint8(live, "monitor live images")
    if ref.shape[3] != liv.shape[3]:
        raise DataError(
            f"monitor: live images have {liv.shape[3]} channels, the reference {ref.shape[3]}."
        )
    ref_hist = _level_histograms(ref)
    live_hist = _level_histograms(liv)
    weights = _weights(ref_hist.shape[1])
    live_lum = (live_hist @ _LINEAR) @ weights  # per image mean linear luminance
    ref_lum = float((ref_hist.mean(axis=0) @ _LINEAR) @ weights)
    value = _fit_ev(ref_hist.mean(axis=0), weights, float(live_lum.mean()))
    rng = np.random.default_rng(seed)
    reps = [
        _fit_ev(ref_hist[r].mean(axis=0), weights, float(live_lum[li].mean()))
        for r, li in zip(
            _boot_indices(len(ref), n_boot, rng), _boot_indices(len(liv), n_boot, rng), strict=True
        )
    ]
    low, high = _interval(reps)
    naive = math.log2(live_lum.mean() / ref_lum) if ref_lum > 0 and live_lum.mean() > 0 else 0.0
    return Estimate(
        "image.exposure",
        value,
        low,
        high,
        "EV",
        note="EV that maps the reference's mean linear luminance onto the live one, "
        "clipping and 8-bit rounding simulated",
        details={
            "reference_luminance": ref_lum,
            "live_luminance": float(live_lum.mean()),
            "naive_log2_ratio": naive,
        },
    )


def _immerkaer_sd(x: npt.NDArray[np.uint8]) -> FloatArray:
    """Per-image noise sd (fraction of full scale) by Immerkær's Laplacian-difference method."""
    c = 3 if x.shape[3] == 4 else x.shape[3]
    f = x[..., :c].astype(np.float64) / 255.0
    if f.shape[1] < 3 or f.shape[2] < 3:
        raise DataError("monitor: noise estimation needs images of at least 3x3 pixels.")
    lap = (
        f[:, :-2, :-2]
        - 2 * f[:, :-2, 1:-1]
        + f[:, :-2, 2:]
        - 2 * f[:, 1:-1, :-2]
        + 4 * f[:, 1:-1, 1:-1]
        - 2 * f[:, 1:-1, 2:]
        + f[:, 2:, :-2]
        - 2 * f[:, 2:, 1:-1]
        + f[:, 2:, 2:]
    )
    sd: FloatArray = math.sqrt(math.pi / 2) / 6 * np.abs(lap).reshape(len(f), -1).mean(axis=1)
    return sd


def image_noise_pct(reference: Any, live: Any, *, n_boot: int = 200, seed: int = 0) -> Estimate:
    """Added sensor noise of the live images, in % of full scale.

    Immerkær's estimator (mean absolute response to a Laplacian-difference mask, which
    cancels smooth image content) gives a noise sd per image; the added noise is
    sqrt(max(mean sd_live² - mean sd_ref², 0)), since independent noise adds in variance.
    Edges also respond to the mask, which the subtraction of the reference removes; clipping at
    black and white makes it an underestimate on images with large saturated areas.

    Args:
        reference: reference images (n, h, w, c).
        live: live images.
        n_boot: bootstrap replicates for the interval.
        seed: bootstrap seed.

    Returns:
        Estimate in % of full scale (the unit of `image.gaussian_noise`).
    """
    ref = _immerkaer_sd(_as_uint8(reference, "monitor reference images")) ** 2
    liv = _immerkaer_sd(_as_uint8(live, "monitor live images")) ** 2

    def added(r: FloatArray, lv: FloatArray) -> float:
        return 100.0 * math.sqrt(max(float(lv.mean() - r.mean()), 0.0))

    low, high = _two_sample_interval(ref, liv, added, n_boot=n_boot, seed=seed)
    return Estimate(
        "image.gaussian_noise",
        added(ref, liv),
        low,
        high,
        "% of full scale",
        note="Immerkær noise sd, live minus reference in variance",
    )


def laplacian_variance(images: Any) -> FloatArray:
    """Per-image variance of the Laplacian of luminance (encoded values in [0, 1]), shape (n,).

    The usual focus measure: larger is sharper; blur lowers it, noise raises it.
    """
    x = _as_uint8(images, "images")
    c = 3 if x.shape[3] == 4 else x.shape[3]
    luminance = (x[..., :c].astype(np.float64) / 255.0) @ _weights(c)
    return np.array([cv2.Laplacian(image, cv2.CV_64F).var() for image in luminance])


def image_luminance(images: Any) -> FloatArray:
    """Per-image mean linear-light luminance in [0, 1] (Rec. 709 weights for colour), shape (n,)."""
    hist = _level_histograms(_as_uint8(images, "images"))
    out: FloatArray = (hist @ _LINEAR) @ _weights(hist.shape[1])
    return out


def image_luminance_sd(images: Any) -> FloatArray:
    """Per-image standard deviation of linear-light luminance in [0, 1], shape (n,)."""
    x = _as_uint8(images, "images")
    c = 3 if x.shape[3] == 4 else x.shape[3]
    luminance = _LINEAR[x[..., :c]] @ _weights(c)
    out: FloatArray = luminance.reshape(len(x), -1).std(axis=1)
    return out


def image_noise_sd(images: Any) -> FloatArray:
    """Per-image noise sd in fraction of full scale (Immerkær's estimator), shape (n,)."""
    return _immerkaer_sd(_as_uint8(images, "images"))


def sharpness_ratio(reference: Any, live: Any, *, n_boot: int = 200, seed: int = 0) -> Estimate:
    """Sharpness of the live images relative to the reference (1 = as sharp, < 1 = blurrier).

    Sharpness is the variance of the Laplacian of the luminance (the usual focus measure),
    averaged over images; the estimate is live / reference. No blur perturbation exists yet,
    so no curve translates it into harm; it is reported and can alert.

    Args:
        reference: reference images (n, h, w, c).
        live: live images.
        n_boot: bootstrap replicates for the interval.
        seed: bootstrap seed.
    """
    ref = laplacian_variance(_as_uint8(reference, "monitor reference images"))
    liv = laplacian_variance(_as_uint8(live, "monitor live images"))

    def ratio(r: FloatArray, lv: FloatArray) -> float:
        return float(lv.mean() / r.mean()) if r.mean() > 0 else float("nan")

    low, high = _two_sample_interval(ref, liv, ratio, n_boot=n_boot, seed=seed)
    return Estimate(
        "image.sharpness",
        ratio(ref, liv),
        low,
        high,
        "ratio of Laplacian variance (live / reference)",
        note="variance of the Laplacian of luminance, live over reference",
    )


# JPEG -----------------------------------------------------------------------------------
# libjpeg's standard luminance quantisation table (ITU T.81 Annex K), in natural order
_STD_LUMA = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.int64,
).ravel()


def libjpeg_table(quality: int) -> npt.NDArray[np.int64]:
    """Libjpeg's luminance quantisation table at a quality in 1-100 (baseline, 8-bit)."""
    q = min(max(int(quality), 1), 100)
    scale = 5000 // q if q < 50 else 200 - 2 * q
    table: npt.NDArray[np.int64] = np.clip((_STD_LUMA * scale + 50) // 100, 1, 255)
    return table


_TABLES = np.stack([libjpeg_table(q) for q in range(1, 101)])


def quality_from_table(table: Sequence[int]) -> float:
    """The libjpeg quality whose luminance table is closest to `table` (64 values).

    The order of the values does not matter (Pillow gives zigzag order), since libjpeg scales
    every coefficient by the same factor: tables are compared as sorted values.
    """
    observed = np.sort(np.asarray(table, dtype=np.int64).ravel())
    if observed.shape != (64,):
        raise DataError(f"a JPEG quantisation table has 64 values; got {observed.shape}.")
    errors = np.abs(np.sort(_TABLES, axis=1) - observed).sum(axis=1)
    return float(np.argmin(errors) + 1)


def jpeg_file_qualities(files: Sequence[str | Path]) -> list[float | None]:
    """Libjpeg quality (1-100) of each file from its luminance quantisation table.

    None for a file that is not a JPEG (or cannot be opened): its quality is unknown.
    """
    from PIL import Image

    qualities: list[float | None] = []
    for path in files:
        try:
            with Image.open(path) as image:
                tables = getattr(image, "quantization", None)
        except (OSError, Image.DecompressionBombError):
            tables = None
        qualities.append(quality_from_table(tables[min(tables)]) if tables else None)
    return qualities


def jpeg_quality(files: Sequence[str | Path]) -> Estimate:
    """JPEG quality of live image files, read from their quantisation tables.

    Each file's luminance table (Pillow's `Image.quantization[0]`) is matched against
    libjpeg's quality scaling of the standard table; the estimate is the median over files,
    the interval the 2.5-97.5 percentiles. Files that are not JPEG are skipped; with none left
    the quality is not estimable (arrays and lossless files carry no trace of the quality).

    Args:
        files: image file paths.

    Returns:
        Estimate in libjpeg quality (1-100).
    """
    unit = "libjpeg quality"
    qualities = [q for q in jpeg_file_qualities(files) if q is not None]
    if not qualities:
        return not_estimable(
            "image.jpeg", unit, "live inputs are not JPEG files, so their quality is unknown"
        )
    values = np.array(qualities)
    low, high = np.percentile(values, [2.5, 97.5])
    return Estimate(
        "image.jpeg",
        float(np.median(values)),
        float(low),
        float(high),
        unit,
        note=f"quantisation tables of {len(values)} JPEG file(s), libjpeg scaling inverted",
    )


# text -------------------------------------------------------------------------------------
def tokens(text: str) -> list[str]:
    """Lower-cased runs of letters and digits (the characters `text.typos` changes)."""
    return _TOKEN.findall(text.lower())


def _oov_flags(texts: Sequence[str], vocabulary: set[str]) -> tuple[FloatArray, FloatArray]:
    """Per text: count of tokens not in `vocabulary`, count of tokens."""
    oov = np.zeros(len(texts))
    total = np.zeros(len(texts))
    for i, text in enumerate(texts):
        words = tokens(text)
        total[i] = len(words)
        oov[i] = sum(w not in vocabulary for w in words)
    return oov, total


def _reference_self_rate(texts: Sequence[str]) -> tuple[FloatArray, FloatArray, set[str]]:
    """Leave-one-text-out non-word counts of the reference, and its vocabulary.

    A token counts as a non-word when no *other* reference text holds it: the rate a new text
    from the same source shows against the reference vocabulary.
    """
    document_frequency: Counter[str] = Counter()
    for text in texts:
        document_frequency.update(set(tokens(text)))
    oov = np.zeros(len(texts))
    total = np.zeros(len(texts))
    for i, text in enumerate(texts):
        words = tokens(text)
        total[i] = len(words)
        oov[i] = sum(document_frequency[w] == 1 for w in words)
    return oov, total, set(document_frequency)


def _rate_from_excess(excess: float, lengths: FloatArray) -> float:
    """Typo rate r with mean over tokens of 1 - (1 - r)**length equal to `excess`."""
    if excess <= 0 or len(lengths) == 0:
        return 0.0

    def share(r: float) -> float:
        return float(np.mean(1.0 - (1.0 - r) ** lengths))

    if excess >= share(1.0):
        return 1.0
    low, high = 0.0, 1.0
    for _ in range(50):
        mid = 0.5 * (low + high)
        if share(mid) < excess:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)


def typo_rate(
    reference: Sequence[str], live: Sequence[str], *, n_boot: int = 200, seed: int = 0
) -> Estimate:
    """Typo rate per character of the live texts, from their share of non-words.

    A token (lower-cased run of letters and digits) is a non-word when it is not in the
    reference vocabulary. The reference's own non-word rate b is measured leaving one text out
    (tokens that no other reference text holds). A typo almost always turns a word into a
    non-word, and a word of L characters escapes typos at rate r with probability (1 - r)**L,
    so the live non-word share is

        w_live ≈ b + (1 - b) * mean over words of (1 - (1 - r)**L),

    which is solved for r with the word lengths of the live texts (≈ r * mean L for small r).
    The non-word rate itself, w_live - b, is in `details`. Known biases, each a few percent at
    r = 3%: a typo that makes another real word is missed (low), a transposition with the
    following space splits into two non-words (high).

    Args:
        reference: reference texts.
        live: live texts.
        n_boot: bootstrap replicates (resampling live texts) for the interval.
        seed: bootstrap seed.

    Returns:
        Estimate in fraction of characters (the unit of `text.typos`).
    """
    value, nonword, base, reps = typo_rate_replicates(reference, live, n_boot=n_boot, seed=seed)
    low, high = _interval(reps.tolist())
    return Estimate(
        "text.typos",
        value,
        low,
        high,
        "fraction of characters",
        note="non-word share above the reference's own, per-character rate via word lengths",
        details={"reference_nonword_rate": base, "nonword_rate": nonword},
    )


def typo_rate_replicates(
    reference: Sequence[str], live: Sequence[str], *, n_boot: int = 200, seed: int = 0
) -> tuple[float, float, float, FloatArray]:
    """The typo rate of `typo_rate` with its bootstrap replicates.

    Returns:
        (typo rate, non-word rate above the reference's, the reference's own non-word rate,
        `n_boot` bootstrap replicates of the typo rate resampling live texts).

    Raises:
        DataError: no reference or no live texts.
    """
    if not reference or not live:
        raise DataError("monitor: typo estimation needs reference and live texts.")
    ref_oov, ref_total, vocabulary = _reference_self_rate(reference)
    base = float(ref_oov.sum() / max(ref_total.sum(), 1.0))
    live_oov, live_total = _oov_flags(live, vocabulary)
    lengths_per_text = [np.array([len(w) for w in tokens(t)], dtype=np.float64) for t in live]

    def rate(idx: npt.NDArray[np.intp] | None) -> tuple[float, float]:
        oov = live_oov if idx is None else live_oov[idx]
        total = live_total if idx is None else live_total[idx]
        share = float(oov.sum() / max(total.sum(), 1.0))
        excess = (share - base) / max(1.0 - base, 1e-12)
        chosen = lengths_per_text if idx is None else [lengths_per_text[i] for i in idx]
        lengths = np.concatenate(chosen) if chosen else np.zeros(0)
        return _rate_from_excess(excess, lengths), share - base

    value, nonword = rate(None)
    rng = np.random.default_rng(seed)
    reps = np.array([rate(idx)[0] for idx in _boot_indices(len(live), n_boot, rng)])
    return value, nonword, base, reps


# tabular ----------------------------------------------------------------------------------
def _as_table(x: Any, where: str) -> FloatArray:
    table = np.asarray(x, dtype=np.float64)
    if table.ndim != 2 or len(table) < 2:
        raise DataError(f"{where}: tabular data are (n >= 2, features); got {table.shape}.")
    return table


def _column_names(names: Sequence[str] | None, k: int) -> list[str]:
    return list(names) if names is not None else [str(j) for j in range(k)]


def tabular_drift_sd(
    reference: Any,
    live: Any,
    *,
    feature_names: Sequence[str] | None = None,
) -> dict[str, Estimate]:
    """Mean shift of each column, in reference standard deviations.

    drift_j = (mean_live_j - mean_ref_j) / sd_ref_j; the 95% interval is the normal one,
    ± 1.96 * sqrt(var_live/n_live + var_ref/n_ref) / sd_ref. Constant reference columns
    (sd 0) are not estimable.

    Args:
        reference: reference table (n, features).
        live: live table (m, features).
        feature_names: column names (default positions).

    Returns:
        One Estimate per column, keyed by column name, perturbation `tabular.drift`.
    """
    ref = _as_table(reference, "monitor reference table")
    liv = _as_table(live, "monitor live table")
    if ref.shape[1] != liv.shape[1]:
        raise DataError(
            f"monitor: live data have {liv.shape[1]} columns, the reference {ref.shape[1]}."
        )
    names = _column_names(feature_names, ref.shape[1])
    mean_r, mean_l = np.nanmean(ref, axis=0), np.nanmean(liv, axis=0)
    var_r, var_l = np.nanvar(ref, axis=0, ddof=1), np.nanvar(liv, axis=0, ddof=1)
    n_r, n_l = np.sum(np.isfinite(ref), axis=0), np.sum(np.isfinite(liv), axis=0)
    out = {}
    for j, name in enumerate(names):
        sd = math.sqrt(var_r[j])
        if not sd > 0:
            out[name] = not_estimable("tabular.drift", "sd", "constant reference column")
            continue
        value = (mean_l[j] - mean_r[j]) / sd
        half = 1.96 * math.sqrt(var_l[j] / max(n_l[j], 1) + var_r[j] / max(n_r[j], 1)) / sd
        out[name] = Estimate(
            "tabular.drift",
            float(value),
            float(value - half),
            float(value + half),
            "sd",
            note="mean shift in reference sd",
        )
    return out


def tabular_noise_sd(reference: Any, live: Any, *, n_boot: int = 200, seed: int = 0) -> Estimate:
    """Added measurement noise of the live table, in column standard deviations.

    Independent noise adds in variance, so per column the added noise is
    (var_live - var_ref) / var_ref in squared sd units; `tabular.gaussian_noise` adds the same
    number of sds to every column, so the estimate is sqrt(max(mean over columns, 0)). Sampling
    error of the variances makes it positive on unperturbed data of another sample (about
    sqrt(2/n) per column before averaging); the interval resamples live and reference rows.

    Args:
        reference: reference table (n, features).
        live: live table (m, features).
        n_boot: bootstrap replicates for the interval.
        seed: bootstrap seed.

    Returns:
        Estimate in column sds (the unit of `tabular.gaussian_noise`).
    """
    ref = _as_table(reference, "monitor reference table")
    liv = _as_table(live, "monitor live table")

    def added(r: FloatArray, lv: FloatArray) -> float:
        var_r = np.nanvar(r, axis=0, ddof=1)
        keep = var_r > 0
        if not keep.any():
            return float("nan")
        ratio = (np.nanvar(lv, axis=0, ddof=1)[keep] - var_r[keep]) / var_r[keep]
        return math.sqrt(max(float(np.mean(ratio)), 0.0))

    low, high = _two_sample_interval(ref, liv, added, n_boot=n_boot, seed=seed)
    return Estimate(
        "tabular.gaussian_noise",
        added(ref, liv),
        low,
        high,
        "column standard deviations",
        note="excess variance over the reference, averaged over columns",
    )


# the estimators of a perturbation's magnitude (`Perturbation.monitor_estimate` names one), and
# what each reads from live data
LIVE_INPUTS: dict[str, str] = {
    "exposure_ev": "live images",
    "image_noise_pct": "live images",
    "jpeg_quality": "live JPEG files",
    "typo_rate": "live texts",
    "tabular_noise_sd": "live rows",
    "loudness_change_db": "live clips",
    "snr_db": "live clips",
}


# audio ----------------------------------------------------------------------------------
FRAME = 512  # samples per analysis frame (32 ms at 16 kHz)


def _frame_power(x: Any, where: str) -> FloatArray:
    """Mean power of consecutive frames of each clip, shape (n, frames)."""
    clips = np.asarray(x, dtype=np.float64)
    if clips.ndim != 2 or clips.shape[1] < 2 * FRAME:
        raise DataError(
            f"{where}: audio batches are (n, samples) with at least {2 * FRAME} samples; "
            f"got {clips.shape}."
        )
    frames = clips.shape[1] // FRAME
    squares = np.square(clips[:, : frames * FRAME]).reshape(len(clips), frames, FRAME)
    power: FloatArray = squares.mean(axis=2)
    return power


def loudness_change_db(reference: Any, live: Any, *, n_boot: int = 200, seed: int = 0) -> Estimate:
    """Loudness of the live clips relative to the reference, in dB (RMS, dBFS difference).

    Args:
        reference: reference clips (n, samples), float in [-1, 1].
        live: live clips.
        n_boot: bootstrap replicates for the interval.
        seed: bootstrap seed.
    """
    ref = _frame_power(reference, "monitor reference audio").mean(axis=1)
    liv = _frame_power(live, "monitor live audio").mean(axis=1)

    def change(r: FloatArray, lv: FloatArray) -> float:
        return 10.0 * math.log10(float(lv.mean()) / float(r.mean()))

    low, high = _two_sample_interval(ref, liv, change, n_boot=n_boot, seed=seed)
    return Estimate("audio.gain", change(ref, liv), low, high, "dB", note="RMS level, live - ref")


def clip_level_dbfs(clips: Any) -> FloatArray:
    """Per-clip RMS level in dB relative to full scale (0 dBFS is RMS 1), shape (n,)."""
    power = _frame_power(clips, "audio").mean(axis=1)
    with np.errstate(divide="ignore"):
        out: FloatArray = 10.0 * np.log10(power)
    return out


def clip_snr_db(clips: Any, *, quiet_share: float = 0.1) -> FloatArray:
    """Per-clip SNR in dB, the noise floor from the quietest frames (see `snr_db`); shape (n,).

    Clips without a measurable noise floor (digital silence in the pauses) give inf or NaN.
    """
    power = _frame_power(clips, "audio")
    noise = np.quantile(power, quiet_share, axis=1)
    signal = power.mean(axis=1) - noise
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = 10.0 * np.log10(signal / noise)
    return out


def snr_db(live: Any, *, quiet_share: float = 0.1, n_boot: int = 200, seed: int = 0) -> Estimate:
    """Signal-to-noise ratio of the live clips, in dB.

    Per clip, the noise power is that of its quietest frames (the `quiet_share` quantile of
    frame power, where speech or sound pauses leave the noise alone) and the signal power is
    the clip's mean power minus it: SNR = 10 log10((P_mean - P_noise) / P_noise). Exact for
    stationary added noise when clips have pauses; the median over clips is reported.

    Args:
        live: live clips (n, samples), float in [-1, 1].
        quiet_share: quantile of frame power taken as the noise floor, in (0, 0.5).
        n_boot: bootstrap replicates for the interval.
        seed: bootstrap seed.
    """
    per_clip = clip_snr_db(live, quiet_share=quiet_share)
    finite = per_clip[np.isfinite(per_clip)]
    if len(finite) == 0:
        return not_estimable("audio.additive_noise", "dB", "no clip has a measurable noise floor")
    rng = np.random.default_rng(seed)
    reps = [float(np.median(finite[i])) for i in _boot_indices(len(finite), n_boot, rng)]
    low, high = _interval(reps)
    return Estimate(
        "audio.additive_noise",
        float(np.median(finite)),
        low,
        high,
        "dB",
        note=f"median per-clip SNR, noise from the quietest {quiet_share:.0%} of frames",
    )

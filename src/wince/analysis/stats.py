"""Statistics shared by the analyses: cluster bootstrap, one-sided tests, corrections, power.

The bootstrap resamples samples — the units that vary between repetitions of a study — never
individual outcomes. Seeds are nested inside samples (each sample draws its own stream per
trial), so a sample's trials travel with it: resampling samples carries the seed-to-seed
variation too, and resampling seeds again would count it twice (measured: 98.7% coverage
for nominal 95% when both were resampled, on nested Bernoulli data).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import stats

from wince.metrics import Resampling

FloatArray = npt.NDArray[np.float64]
CONFIDENCE = 0.95


def bootstrap_means(values: FloatArray, resample: Resampling) -> FloatArray:
    """Replicates of the mean of a (n_samples, n_trials) matrix, resampling samples.

    Missing cells (NaN) are left out of both numerator and denominator.
    """
    return bootstrap_means_each([values], resample)[:, 0]


def bootstrap_means_each(matrices: Sequence[FloatArray], resample: Resampling) -> FloatArray:
    """(n_boot, k) replicates of the means of k (n_samples, n_trials) matrices.

    Each column as `bootstrap_means` gives it, from one pass over the resampling weights.
    """
    sums = []
    for values in matrices:
        present = np.isfinite(values)
        sums += [np.where(present, values, 0.0).sum(axis=1), present.sum(axis=1)]
    totals = resample.dot(np.stack(sums, axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        means: FloatArray = totals[:, 0::2] / totals[:, 1::2]
    return means


def percentile_interval(replicates: FloatArray) -> tuple[float, float]:
    """Central 95% percentile interval of bootstrap replicates (NaN-free)."""
    finite = replicates[np.isfinite(replicates)]
    if len(finite) == 0:
        return (float("nan"), float("nan"))
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def normal_pvalue(estimate: float, replicates: FloatArray) -> float:
    """One-sided p-value that a quantity is above 0, from its bootstrap replicates.

    The normal approximation p = 1 - Phi(estimate / sd), the standard error being the sd of
    the finite replicates. Unlike the share of replicates below 0, it does not stop at
    1 / n_boot, so it can survive a correction across hundreds of tests.

    Returns:
        p in [0, 1]; 0 or 1 when the replicates do not vary (by the sign of `estimate`),
        NaN with fewer than two finite replicates or a non-finite estimate.

    Examples:
        >>> round(normal_pvalue(1.96, np.array([-1.0, 1.0])), 3)  # sd sqrt(2)
        0.083
    """
    finite = replicates[np.isfinite(replicates)]
    if len(finite) < 2 or not np.isfinite(estimate):
        return float("nan")
    sd = float(np.std(finite, ddof=1))
    if sd == 0.0:
        return 0.0 if estimate > 0 else 1.0
    return float(stats.norm.sf(estimate / sd))


def format_pvalue(p: float) -> str:
    """A p-value for people: two significant digits, or a bound below double precision.

    Examples:
        >>> format_pvalue(0.0312), format_pvalue(0.0), format_pvalue(3e-20)
        ('3.1e-02', '< 1e-16', '< 1e-16')
    """
    return "< 1e-16" if p < 1e-16 else f"{p:.1e}"


def holm(pvalues: npt.ArrayLike) -> FloatArray:
    """Holm-Bonferroni adjusted p-values (family-wise error control)."""
    p = np.asarray(pvalues, dtype=np.float64)
    m = len(p)
    order = np.argsort(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(pvalues: npt.ArrayLike) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (false-discovery-rate control)."""
    p = np.asarray(pvalues, dtype=np.float64)
    m = len(p)
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    adjusted_sorted = np.minimum.accumulate(ranked[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(adjusted_sorted, 1.0)
    return adjusted


def adjust(pvalues: npt.ArrayLike, method: str) -> FloatArray:
    """Adjust p-values across a grid: `holm` or `bh`."""
    return holm(pvalues) if method == "holm" else benjamini_hochberg(pvalues)


def one_sided_pvalue(effects: FloatArray, margin: float, alternative: str) -> float:
    """p-value that the mean per-sample effect is greater (or less) than `margin`.

    Per-sample effects in {0, 1} (a deterministic model's flips, one trial) use the exact
    binomial test; otherwise a one-sample t-test, valid for the bounded, many-sample effects
    measured here.

    Args:
        effects: one effect per sample (e.g. flip frequency minus the noise floor).
        margin: the tolerance the mean is compared with.
        alternative: "greater" (H1: mean > margin) or "less" (H1: mean < margin).
    """
    d = effects[np.isfinite(effects)]
    n = len(d)
    if n == 0:
        return 1.0
    if np.all((d == 0) | (d == 1)) and 0 < margin < 1:
        return float(stats.binomtest(int(d.sum()), n, margin, alternative=alternative).pvalue)
    if np.ptp(d) == 0:  # every effect equal: the mean is known exactly
        holds = d[0] > margin if alternative == "greater" else d[0] < margin
        return 0.0 if holds else 1.0
    return float(stats.ttest_1samp(d, margin, alternative=alternative).pvalue)


def required_samples(
    effects: FloatArray, margin: float, *, alpha: float, power: float = 0.8
) -> int | None:
    """Samples the test of `one_sided_pvalue` needs to tell the observed mean from `margin`.

    At the observed mean and spread, with `alpha` (one-sided, before the grid's correction)
    and `power`:

    - effects in {0, 1} (the exact binomial test): none observed needs the n at which
      (1 - margin)^n < alpha (299 at margin 0.01 and alpha 0.05), the size at which even
      zero events prove the rate below the margin; otherwise the normal approximation with
      the binomial spread sqrt(r (1 - r));
    - other effects (the t-test): the normal approximation with their standard deviation;
      effects that do not vary are decided by any sample size (None).

    Returns None when nothing is to be decided: the mean equals the margin, or the effects
    do not vary.
    """
    d = effects[np.isfinite(effects)]
    if len(d) == 0:
        return None
    mean = float(d.mean())
    gap = abs(mean - margin)
    if gap == 0 or not np.isfinite(gap):
        return None
    if np.all((d == 0) | (d == 1)) and 0 < margin < 1:
        if mean == 0:
            return int(np.floor(np.log(alpha) / np.log1p(-margin))) + 1
        sd = float(np.sqrt(mean * (1 - mean)))
    elif np.ptp(d) == 0:  # every effect equal: decided at any size
        return None
    else:
        sd = float(d.std(ddof=1))
    z = stats.norm.ppf(1 - alpha) + stats.norm.ppf(power)
    return int(np.ceil((z * sd / gap) ** 2))

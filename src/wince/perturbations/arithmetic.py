"""Elementary functions whose results are the same on every CPU.

NumPy picks its `exp`, `log`, `power`, `sin` and complex loops at run time by the CPU's SIMD
level (SSE, AVX2, AVX-512), and those loops round differently in the last bit; OpenBLAS and
the C library do the same for products and elementary functions. A perturbation's output
must not depend on the machine (docs/reproducibility.md), so the values a perturbation computes
per sample go through the functions here instead: range reduction and polynomials written
as elementwise IEEE-754 float64 operations (+, -, *, /, `rint`, `frexp`, `ldexp`), each of
which rounds exactly once and identically whatever the SIMD width. Accuracy: `exp` and `log`
within 2 units in the last place of float64, `power` within 1e-14 relative, `cos` and `sin`
within |x| * 1e-16 absolute; far below the float32 and 8-bit outputs they feed.

Examples:
    >>> import numpy as np
    >>> from wince.perturbations import arithmetic
    >>> float(arithmetic.exp(np.array([0.0]))[0])
    1.0
    >>> abs(float(arithmetic.exp(np.array([1.0]))[0]) - 2.718281828459045) < 1e-15
    True
    >>> round(float(arithmetic.power(np.array([0.5]), 2.4)[0]), 15)  # 0.5 ** 2.4
    0.1894645708138
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]

# ln 2 split so that n * LN2_HIGH is exact for |n| < 2**20 (its low 32 bits are zero).
LN2_HIGH = 6.93147180369123816490e-01
LN2_LOW = 1.90821492927058770002e-10
TWO_PI_HIGH = 6.28318530717958623200e00  # float64 nearest 2 pi
TWO_PI_LOW = 2.44929359829470635445e-16  # 2 pi - TWO_PI_HIGH
SQRT_HALF = math.sqrt(0.5)
LN10 = math.log(10.0)
EXP_MAX = math.log(np.finfo(np.float64).max)  # 709.78: larger arguments overflow

# Taylor coefficients 1/k!, k = 0..14 (e**r on |r| <= ln(2) / 2: error below 1e-17).
_EXP_COEFFICIENTS = tuple(1.0 / math.factorial(k) for k in range(15))
# 2 atanh(s) = ln((1 + s) / (1 - s)) = 2 (s + s**3 / 3 + s**5 / 5 + ...), |s| <= 0.1716.
_ATANH_COEFFICIENTS = tuple(2.0 / (2 * k + 1) for k in range(12))
# cos and sin Taylor coefficients on |r| <= pi / 4 (error below 1e-18).
_COS_COEFFICIENTS = tuple((-1.0) ** k / math.factorial(2 * k) for k in range(11))
_SIN_COEFFICIENTS = tuple((-1.0) ** k / math.factorial(2 * k + 1) for k in range(11))


def _flat(x: npt.ArrayLike) -> Floats:
    """`x` as a new one-dimensional float64 array (results are reshaped back)."""
    return np.array(x, dtype=np.float64).reshape(-1)


def _horner(coefficients: tuple[float, ...], r: Floats) -> Floats:
    """sum(c[k] * r**k) by Horner's rule, one rounding per operation."""
    total = np.full(r.shape, coefficients[-1])
    for c in reversed(coefficients[:-1]):
        total *= r
        total += c
    return total


def exp(x: npt.ArrayLike) -> Floats:
    """e**x elementwise (float64); 0 below -745, inf above `EXP_MAX`.

    x = n ln 2 + r with |r| <= ln(2) / 2; e**r by its Taylor polynomial, then scaled by 2**n
    exactly (`ldexp`).
    """
    values = _flat(x)
    clipped = np.clip(np.nan_to_num(values), -746.0, EXP_MAX)
    n = np.rint(clipped / LN2_HIGH)
    r = (clipped - n * LN2_HIGH) - n * LN2_LOW
    out: Floats = np.ldexp(_horner(_EXP_COEFFICIENTS, r), n.astype(np.int32))
    out[values > EXP_MAX] = np.inf
    out[np.isnan(values)] = np.nan
    return out.reshape(np.shape(x))


def log(x: npt.ArrayLike) -> Floats:
    """Natural logarithm elementwise (float64) of positive values; -inf at 0, nan below.

    x = m 2**e with m in [sqrt(1/2), sqrt(2)) exactly (`frexp`); ln m = 2 atanh(s) with
    s = (m - 1) / (m + 1), by its series; ln x = e ln 2 + ln m.
    """
    values = _flat(x)
    regular = (values > 0.0) & np.isfinite(values)
    mantissa, exponent = np.frexp(np.where(regular, values, 1.0))
    low = mantissa < SQRT_HALF
    mantissa = np.where(low, mantissa * 2.0, mantissa)  # exact; where, not a masked scatter
    exponent -= low
    s = (mantissa - 1.0) / (mantissa + 1.0)
    series = _horner(_ATANH_COEFFICIENTS, s * s) * s
    e = exponent.astype(np.float64)
    out: Floats = e * LN2_HIGH + (e * LN2_LOW + series)
    if not regular.all():
        out[values == 0.0] = -np.inf
        out[values < 0.0] = np.nan
        out[np.isinf(values) & (values > 0)] = np.inf
        out[np.isnan(values)] = np.nan
    return out.reshape(np.shape(x))


def log10(x: npt.ArrayLike) -> Floats:
    """Base-10 logarithm elementwise (float64): `log(x) / ln(10)`."""
    out: Floats = log(x) / LN10
    return out


def power(x: npt.ArrayLike, exponent: float) -> Floats:
    """x**exponent elementwise (float64) for x >= 0 (0**p = 0 for p > 0, 1 for p = 0)."""
    values = _flat(x)
    out = exp(log(np.where(values > 0.0, values, 1.0)) * exponent)
    if exponent > 0:
        out[values == 0.0] = 0.0
    elif exponent == 0:
        out[values == 0.0] = 1.0
    else:
        out[values == 0.0] = np.inf
    out[values < 0.0] = np.nan
    return out.reshape(np.shape(x))


def _quadrants(x: npt.ArrayLike) -> tuple[Floats, Floats, npt.NDArray[np.int64]]:
    """The cosine and sine polynomials of r and the quadrant q, for x = q pi/2 + r, |r| <= pi/4.

    The reduction's absolute error grows as |x| * 1e-16 (2e-13 at 3000 radians).
    """
    values = np.asarray(x, dtype=np.float64)
    quarter = np.rint(values / (TWO_PI_HIGH / 4.0))
    r = (values - quarter * (TWO_PI_HIGH / 4.0)) - quarter * (TWO_PI_LOW / 4.0)
    r2 = r * r
    return (
        _horner(_COS_COEFFICIENTS, r2),
        _horner(_SIN_COEFFICIENTS, r2) * r,
        (quarter.astype(np.int64) % 4),
    )


def cos(x: npt.ArrayLike) -> Floats:
    """Cosine elementwise (float64), x in radians."""
    c, s, q = _quadrants(x)
    out: Floats = np.select([q == 0, q == 1, q == 2], [c, -s, -c], s)
    return out


def sin(x: npt.ArrayLike) -> Floats:
    """Sine elementwise (float64), x in radians."""
    c, s, q = _quadrants(x)
    out: Floats = np.select([q == 0, q == 1, q == 2], [s, c, -s], -c)
    return out


def complex_multiply(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The product a * b of complex arrays (broadcast), as four real products.

    NumPy's complex loops may fuse a product and a sum (FMA) on some CPUs and not on others;
    (ar br - ai bi) + i (ar bi + ai br), one real operation at a time, rounds the same
    everywhere. The result has the dtype of a * b.
    """
    ar, ai, br, bi = a.real, a.imag, b.real, b.imag
    out = np.empty(np.broadcast_shapes(a.shape, b.shape), dtype=np.result_type(a, b))
    out.real = ar * br - ai * bi
    out.imag = ar * bi + ai * br
    return out


def complex_abs(z: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """|z| elementwise as sqrt(re**2 + im**2) in the precision of `z` (no SIMD hypot)."""
    re, im = z.real, z.imag
    magnitude: npt.NDArray[Any] = np.sqrt(re * re + im * im)
    return magnitude

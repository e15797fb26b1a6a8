"""Array kernels for the special functions NumPy lacks: erfinv, erfc, lgamma, digamma, polygamma, i1.

On CuPy each is `cupyx.scipy.special`'s. On NumPy (SciPy is not a dependency) each is
computed in float64 and cast back, which keeps float32 results within an ulp or two of
torch's:
- lgamma, digamma: the reflection formula below 1/2, the recurrence up to 10, then the
  Stirling / asymptotic series (Bernoulli terms through B16: under 1e-16 from 10 on);
- polygamma(n >= 1): (-1)^(n+1) n! zeta(n+1, x), the Hurwitz zeta summed term by term up
  to n + 10 and finished with Euler-Maclaurin; below 0 by the reflection formula, whose
  n-th derivative of cot is a polynomial in cot;
- erfinv: Winitzki's closed-form guess, then three Halley steps on erf (on erfc past 1/2,
  where 1 - y is exact and erf(x) - y would cancel);
- i1 (i0's derivative): its power series, or its asymptotic series beyond 30.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from antorcha._device import cupyx_module, quiet_float_errors, xp_of

_erf_scalar = np.frompyfunc(math.erf, 1, 1)
_erfc_scalar = np.frompyfunc(math.erfc, 1, 1)
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_SHIFT_TO = 10.0  # the asymptotic series are used from here on
# B_2k / (2k)!, k = 1..8: the Euler-Maclaurin coefficients
_BERNOULLI_OVER_FACTORIAL = (
    1 / 12, -1 / 720, 1 / 30240, -1 / 1209600, 1 / 47900160,
    -691 / 1307674368000, 1 / 74724249600, -3617 / 10670622842880000,
)


def _on_gpu(x: Any) -> bool:
    return xp_of(x) is not np


def _special(name: str) -> Any:
    return getattr(cupyx_module("cupyx.scipy.special"), name)


def _as_float64(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float64, copy=False)


def _python_math(scalar_fn: Any, x: np.ndarray) -> np.ndarray:
    """A C-library function element by element, in float64 (exact, not fast)."""
    return np.asarray(scalar_fn(_as_float64(x)), dtype=np.float64)


def erfc_array(x: Any) -> Any:
    if _on_gpu(x):
        return _special("erfc")(x)
    return _python_math(_erfc_scalar, x).astype(x.dtype)


# ---- erfinv --------------------------------------------------------------------------------
def erfinv_array(y: Any) -> Any:
    if _on_gpu(y):
        return _special("erfinv")(y)
    with quiet_float_errors():
        a = np.abs(_as_float64(y))
        inside = a < 1
        safe = np.where(inside, a, 0.5)
        x = _winitzki(safe)
        for _ in range(3):
            x = _halley_step(x, safe)
        x = np.where(inside, x, np.where(a == 1, np.inf, np.nan))
        return np.copysign(x, y).astype(y.dtype)  # erfinv(-0.) is -0., as in torch


def _winitzki(a: np.ndarray) -> np.ndarray:
    """A closed-form erfinv of a in [0, 1), good to ~2e-3; the series near 0, where it cancels."""
    log_term = np.log((1 - a) * (1 + a))
    t = 2 / (math.pi * 0.147) + log_term / 2
    guess = np.sqrt(np.sqrt(t * t - log_term / 0.147) - t)
    return np.where(a < 1e-3, a * (math.sqrt(math.pi) / 2), guess)


def _halley_step(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """One Halley step on f(x) = erf(x) - a: f' = 2/sqrt(pi) exp(-x^2), f'' = -2x f'."""
    near_one = a > 0.5
    residual = np.where(near_one, (1 - a) - _python_math(_erfc_scalar, x), _python_math(_erf_scalar, x) - a)
    slope = (2 / math.sqrt(math.pi)) * np.exp(-x * x)
    return x - residual / (slope + x * residual)


# ---- lgamma, digamma, polygamma ------------------------------------------------------------
def _shifted(x: np.ndarray, to: float, each: Any) -> np.ndarray:
    """Raise every x below `to` by 1 until none is; `each(w, below)` sees each step's values."""
    w = x.copy()
    below = w < to
    while below.any():
        each(w, below)
        w = np.where(below, w + 1, w)
        below = w < to
    return w


def _is_pole(x: np.ndarray) -> np.ndarray:
    """The non-positive integers, where the gamma function has its poles."""
    return (x <= 0) & (x == np.floor(x))


def lgamma_array(x: Any) -> Any:
    if _on_gpu(x):
        return _special("gammaln")(x)
    with quiet_float_errors():
        z = _as_float64(x)
        reflect = z < 0.5
        lg = _lgamma_from_half(np.where(reflect, 1 - z, z))
        # lgamma(z) = log(pi / |sin(pi z)|) - lgamma(1 - z); sin's argument reduced first
        sin_term = np.abs(np.sin(math.pi * (z - np.round(z))))
        out = np.where(reflect, math.log(math.pi) - np.log(sin_term) - lg, lg)  # pi / sin may overflow
        out = np.where(_is_pole(z) | np.isinf(z), np.inf, out)
        # the shifted series leaves ~2e-15 at lgamma's zeros; the C library's (torch's) gives exactly 0
        out = np.where((z == 1) | (z == 2), 0.0, out)
        return out.astype(x.dtype)


def _lgamma_from_half(z: np.ndarray) -> np.ndarray:
    """lgamma for z >= 1/2 (or NaN): lgamma(z) = lgamma(z + k) - log(z (z+1) ... (z+k-1))."""
    product = np.ones_like(z)

    def multiply(w: np.ndarray, below: np.ndarray) -> None:
        np.multiply(product, np.where(below, w, 1.0), out=product)

    w = _shifted(np.where(np.isfinite(z), z, _SHIFT_TO), _SHIFT_TO, multiply)
    r = 1 / w
    r2 = r * r
    series = r * _polynomial(r2, [1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156])
    stirling = (w - 0.5) * np.log(w) - w + _LOG_SQRT_2PI + series
    return np.where(np.isfinite(z), stirling - np.log(product), z)


def _polynomial(x: np.ndarray, coefficients: list[float]) -> np.ndarray:
    """c0 + c1 x + c2 x^2 + ..., by Horner's rule."""
    total = np.full_like(x, coefficients[-1])
    for c in reversed(coefficients[:-1]):
        total = total * x + c
    return total


def digamma_array(x: Any) -> Any:
    if _on_gpu(x):
        return _special("digamma")(x)
    with quiet_float_errors():
        z = _as_float64(x)
        reflect = z < 0.5
        psi = _digamma_from_half(np.where(reflect, 1 - z, z))
        # psi(z) = psi(1 - z) - pi / tan(pi z); tan has period pi, so its argument is reduced
        out = np.where(reflect, psi - math.pi / np.tan(math.pi * (z - np.round(z))), psi)
        out = np.where(_is_pole(z) | (z == -np.inf), np.nan, out)
        out = np.where(z == 0, np.copysign(np.inf, -z), out)  # torch: -inf at 0., +inf at -0.
        return out.astype(x.dtype)


def _digamma_from_half(z: np.ndarray) -> np.ndarray:
    """digamma for z >= 1/2 (or NaN, inf): psi(z) = psi(z + k) - 1/z - ... - 1/(z+k-1)."""
    correction = np.zeros_like(z)

    def subtract(w: np.ndarray, below: np.ndarray) -> None:
        np.subtract(correction, np.where(below, 1 / w, 0.0), out=correction)

    w = _shifted(np.where(np.isfinite(z), z, _SHIFT_TO), _SHIFT_TO, subtract)
    r2 = 1 / (w * w)
    tail = r2 * _polynomial(r2, [1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12])
    return np.where(np.isfinite(z), np.log(w) - 0.5 / w - tail + correction, z)


def polygamma_array(n: int, x: Any) -> Any:
    """The n-th derivative of digamma, n >= 1."""
    if _on_gpu(x):
        return _special("polygamma")(n, x).astype(x.dtype)
    with quiet_float_errors():
        z = _as_float64(x)
        sign = 1.0 if n % 2 else -1.0
        reflect = z < -0.5  # above, the shifted sum is exact enough (and the pole term dominates near 0)
        direct = sign * math.factorial(n) * _hurwitz_zeta(n + 1, np.where(reflect, 1 - z, z))
        # psi_n(z) = (-1)^n psi_n(1 - z) - pi^(n+1) P_n(cot(pi z)), with d^n/dz^n cot(pi z) = pi^n P_n(cot)
        cot = 1 / np.tan(math.pi * (z - np.round(z)))
        reflected = -sign * direct - math.pi ** (n + 1) * _cot_derivative_polynomial(n)(cot)
        out = np.where(reflect, reflected, direct)
        out = np.where(_is_pole(z), sign * np.inf, out)
        # torch's limits: trigamma is 0 at inf and NaN at -inf; zeta's form (n >= 2) is NaN at inf
        if n == 1:  # torch's trigamma reflects through sin(pi x): NaN once pi x overflows below 0
            overflows = z < -np.finfo(x.dtype).max / math.pi
            out = np.where(z == np.inf, 0.0, np.where(overflows, np.nan, out))
        else:
            out = np.where(z == np.inf, np.nan, out)
        return out.astype(x.dtype)


def _cot_derivative_polynomial(n: int) -> np.polynomial.Polynomial:
    """P_n with d^n/dy^n cot(y) = P_n(cot y): P_0(c) = c, P_(k+1) = -(1 + c^2) P_k'."""
    polynomial = np.polynomial.Polynomial([0.0, 1.0])
    for _ in range(n):
        polynomial = polynomial.deriv() * np.polynomial.Polynomial([-1.0, 0.0, -1.0])
    return polynomial


def _hurwitz_zeta(s: int, q: np.ndarray) -> np.ndarray:
    """sum over k >= 0 of (q + k)^-s, for an integer s >= 2 and q >= 0 (NaN and inf pass through)."""
    head = np.zeros_like(q)

    def add(w: np.ndarray, below: np.ndarray) -> None:
        np.add(head, np.where(below, w ** -float(s), 0.0), out=head)

    finite = np.isfinite(q)
    w = _shifted(np.where(finite, q, _SHIFT_TO + s), _SHIFT_TO + s, add)
    # Euler-Maclaurin: the integral, half the first term, then the Bernoulli terms
    tail = w ** (1.0 - s) / (s - 1) + 0.5 * w ** -float(s)
    rising = float(s)  # s (s+1) ... (s + 2j - 2)
    power = w ** -float(s + 1)
    for j, coefficient in enumerate(_BERNOULLI_OVER_FACTORIAL, start=1):
        tail = tail + coefficient * rising * power
        rising *= (s + 2 * j - 1) * (s + 2 * j)
        power = power / (w * w)
    return np.where(finite, head + tail, np.where(q == np.inf, 0.0, np.nan))


# ---- i0's derivative ---------------------------------------------------------------------
def i1_array(x: Any) -> Any:
    """The modified Bessel function of the first kind, order 1."""
    if _on_gpu(x):
        return _special("i1")(x)
    with quiet_float_errors():
        z = _as_float64(x)
        a = np.abs(z)
        large = a > 30
        out = np.where(large, _i1_asymptotic(np.where(large, a, 30.0)), _i1_series(np.where(large, 0.0, a)))
        return np.copysign(out, z).astype(x.dtype)


def _i1_series(a: np.ndarray) -> np.ndarray:
    """sum over k of (a/2)^(2k+1) / (k! (k+1)!): all terms positive, so no cancellation."""
    term = a / 2
    total = term.copy()
    quarter_square = a * a / 4
    for k in range(1, 80):  # the terms fall below 1e-17 of the sum by k = 80 for a <= 30
        term = term * quarter_square / (k * (k + 1))
        total = total + term
    return total


def _i1_asymptotic(a: np.ndarray) -> np.ndarray:
    """e^a / sqrt(2 pi a) * (1 - 3/(8a) - 15/(128 a^2) - ...), the series for order 1."""
    total = np.ones_like(a)
    term = np.ones_like(a)
    for k in range(1, 20):
        term = -term * (4 - (2 * k - 1) ** 2) / (k * 8 * a)
        total = total + term
    # sqrt(2 pi a) taken apart, so the huge a whose 2 pi a overflows still give e^a = inf (torch's
    # inf), where inf / inf would be NaN; a = inf itself is NaN in torch too
    return np.exp(a) / math.sqrt(2 * math.pi) / np.sqrt(a) * total

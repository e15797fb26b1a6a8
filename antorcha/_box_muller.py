"""torch's CPU Box-Muller transforms, reproduced bit for bit in NumPy.

torch's `normal_fill` turns 16 uniforms at a time into 16 normals: element j and j + 8 of each
block are the pair (u1 = 1 - data[j], u2 = data[j + 8]). For float32 on an x86 CPU with AVX2 (also
the AVX512 builds: the kernel is the AVX2 one) torch evaluates log, sin and cos with avx_mathfun's
Cephes polynomials in float32, as compiled by GCC, which fuses some multiply-adds into FMAs; the
functions below replay those exact float32 operations (an FMA is exact in float64 before one
rounding to float32). For float64 torch calls glibc's log, sin and cos; NumPy's float64 sin and cos
agree with glibc, its log does not always, so the log goes through Python's `math.log` (glibc's).
"""

from __future__ import annotations

import math

import numpy as np

F32 = np.float32
_MIN_NORMAL = np.array(0x00800000, np.int32).view(F32)
_HALF_BITS = np.array(0.5, F32).view(np.int32)
_LOG_POLY = (
    7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
    -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
)  # fmt: skip
_TWO_PI_F32 = F32(2.0 * math.pi)


def fma32(a: np.ndarray, b: object, c: object) -> np.ndarray:
    """float32 a * b + c rounded once: the product of two float32s is exact in float64."""
    out = np.empty(np.shape(a), F32)
    np.add(np.multiply(a, b, dtype=np.float64), c, out=out, casting="unsafe")  # rounds once, to out
    return out


def _horner32(x: np.ndarray, coefficients: tuple) -> np.ndarray:
    """((c0 * x + c1) * x + c2) ... in float32, each step one FMA, x in float64 (exactly a float32)."""
    wide = x * np.float64(F32(coefficients[0]))
    y = np.empty(x.shape, F32)
    np.add(wide, np.float64(F32(coefficients[1])), out=y, casting="unsafe")
    for coefficient in coefficients[2:]:
        np.multiply(y, x, out=wide)
        np.add(wide, np.float64(F32(coefficient)), out=y, casting="unsafe")
    return y


def _log_avx(x: np.ndarray) -> np.ndarray:
    """avx_mathfun's log256_ps for x in (0, 1], float32."""
    x = np.maximum(x, _MIN_NORMAL)
    bits = x.view(np.int32)
    exponent = ((bits >> 23) - 0x7E).astype(F32)  # x > 0: the biased exponent - 127, plus 1
    x = ((bits & ~0x7F800000) | _HALF_BITS).view(F32)  # the mantissa, in [0.5, 1)
    small = x < F32(0.707106781186547524)
    x = (x - F32(1)) + np.where(small, x, F32(0))
    exponent = exponent - small.astype(F32)
    z = x * x
    y = _horner32(x.astype(np.float64), _LOG_POLY)
    y = fma32(y * x, z, exponent * F32(-2.12194440e-4))
    y = fma32(z, F32(-0.5), y)
    return fma32(exponent, F32(0.693359375), x + y)


def _sincos_avx(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """avx_mathfun's sincos256_ps for x >= 0, float32: (sin x, cos x)."""
    octant = ((x * F32(1.27323954473516)).astype(np.int32) + 1) & ~1
    y = octant.astype(F32)
    sin_sign = (octant & 4) << 29
    cos_sign = (~(octant - 2) & 4) << 29
    near_zero = (octant & 2) == 0  # the sine polynomial gives the sine there, the cosine's the cosine
    # y is a small integer and DP1, DP2 are short: those products are exact, so the FMAs are plain sums
    x = x + y * F32(-0.78515625)
    x = x + y * F32(-2.4187564849853515625e-4)
    x = fma32(y, F32(-3.77489497744594108e-8), x)
    z = x * x
    z_wide = z.astype(np.float64)
    cos_poly = _horner32(z_wide, (2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2))
    cos_poly = fma32(cos_poly * z, z_wide, -(z * F32(0.5))) + F32(1)
    sin_poly = _horner32(z_wide, (-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1))
    sin_poly = fma32(sin_poly * z, x, x)
    sine = np.where(near_zero, sin_poly, cos_poly)
    cosine = np.where(near_zero, cos_poly, sin_poly)
    return (sine.view(np.int32) ^ sin_sign).view(F32), (cosine.view(np.int32) ^ cos_sign).view(F32)


def fma64(a: np.ndarray, b: float, c: float) -> np.ndarray:
    """float64 a * b + c with one rounding (Dekker's exact product, then a compensated sum)."""
    if b == 1.0:
        return a + c
    split = 134217729.0  # 2**27 + 1
    a_big = a * split
    a_hi = a_big - (a_big - a)
    a_lo = a - a_hi
    b_big = b * split
    b_hi = b_big - (b_big - b)
    b_lo = b - b_hi
    product = a * b
    product_err = ((a_hi * b_hi - product) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    total = product + c
    virtual = total - product
    sum_err = (product - (total - virtual)) + (c - virtual)
    return total + (sum_err + product_err)


def fill16_float32(blocks: np.ndarray, mean: float, std: float) -> np.ndarray:
    """(B, 16) float32 uniforms in [0, 1) -> (B, 16) normals, as torch's AVX2 NormalFill16."""
    u1 = F32(1) - blocks[:, :8]  # (B, 8), in (0, 1]
    radius = np.sqrt(F32(-2) * _log_avx(u1))
    sine, cosine = _sincos_avx(_TWO_PI_F32 * blocks[:, 8:])
    out = np.empty_like(blocks)
    if std == 1 and mean == 0:  # the FMA is exact then
        np.multiply(radius, cosine, out=out[:, :8])
        np.multiply(radius, sine, out=out[:, 8:])
        return out
    out[:, :8] = fma32(radius * cosine, F32(std), F32(mean))
    out[:, 8:] = fma32(radius * sine, F32(std), F32(mean))
    return out


def fill16_float64(blocks: np.ndarray, mean: float, std: float) -> np.ndarray:
    """(B, 16) float64 uniforms -> normals, as torch's scalar NormalFill16<double> (glibc's libm)."""
    u1 = (1.0 - blocks[:, :8]).ravel()
    log_u1 = np.fromiter(map(math.log, u1.tolist()), np.float64, u1.size).reshape(-1, 8)
    radius = np.sqrt(-2.0 * log_u1)
    theta = 2.0 * math.pi * blocks[:, 8:]
    out = np.empty_like(blocks)
    out[:, :8] = fma64(radius * np.cos(theta), std, mean)
    out[:, 8:] = fma64(radius * np.sin(theta), std, mean)
    return out

"""torch's CPU random stream: its mt19937 engine and the transforms its kernels apply to it.

torch's CPU generator is a 32-bit Mersenne Twister seeded with init_genrand(seed); NumPy's
`MT19937` with its legacy seeding is the same engine, and `random_raw` yields its outputs
vectorised. `random64` is two outputs, the first the high word. On top of it each torch kernel
has its own recipe, replayed here:

- uniform float32: the low 24 bits of one output * 2**-24; float64: the low 53 bits of random64 *
  2**-53; then `x * (to - from) + from` in the dtype as one FMA (a value rounded up to `to` becomes
  `from`).
- normal, 16 elements or more: uniforms for all, Box-Muller in blocks of 16 (j with j + 8), the
  last 16 redrawn and redone when the size is not a multiple of 16 (`_box_muller`); fewer than
  16: a float64 Box-Muller per element from two uniforms, the second normal kept for the next
  call (the generator's cached normal, part of its state).
- integers in [from, to): `random() % range + from`, random64 for a range of 2**28 or more.
- exponential, bernoulli, cauchy, geometric, poisson: float64 uniforms through torch's formulas
  (bernoulli against a float32 p: float32 uniforms), glibc's log1p/log/tan/exp via `math`.
- randperm: swap i with i + random() % (n - i); multinomial lives in `_sampling`.

torch's serial kernels fill a non-contiguous tensor in memory order (`random.memory_order_axes`).

The class also answers NumPy Generator's methods that older code calls (`random`,
`standard_normal`, `integers`, `permutation`, ...), so every draw advances this one stream.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from antorcha import _box_muller

_MASK53 = np.uint64((1 << 53) - 1)
_STATE_N = 624
# torch's CPUGeneratorImplState, as get_state lays it out (x86-64 alignment, zero padding)
STATE_SIZE = 5056
_OFFSET_KEY, _OFFSET_NORMAL_Y, _OFFSET_NORMAL_VALID = 24, 5024, 5040
_OFFSET_FLOAT_NORMAL, _OFFSET_FLOAT_VALID = 5048, 5052


def _log_or_minus_inf(x: float) -> float:
    return math.log(x) if x > 0 else -math.inf


def _exp_or_inf(x: float) -> float:
    return math.exp(x) if x < 709.8 else math.inf


def _prod(shape: tuple) -> int:
    return int(np.prod(shape, dtype=np.int64))


class TorchCPUStream:
    """One generator's state: the engine, the seed it was given and the cached normal samples."""

    def __init__(self, seed: int) -> None:
        self._bits = np.random.MT19937(0)
        self.manual_seed(seed)

    # ---- the engine ------------------------------------------------------------------------
    def manual_seed(self, seed: int) -> None:
        self.seed = int(seed)
        self._bits._legacy_seeding(self.seed & 0xFFFFFFFF)
        self.next_double_normal: float | None = None
        self.next_float_normal: float | None = None
        self._next_index_when_spent = 0  # torch's `next_` right after seeding; 624 once drawn from

    def random32(self, count: int) -> np.ndarray:
        """`count` outputs of the engine, uint32 (torch's generator->random())."""
        return self._raw(count).astype(np.uint32)

    def _raw(self, count: int) -> np.ndarray:
        """The engine's next `count` 32-bit outputs as NumPy gives them (uint64)."""
        self._next_index_when_spent = _STATE_N
        if count == 0:
            return np.zeros(0, np.uint64)
        return self._bits.random_raw(count)

    def random64(self, count: int) -> np.ndarray:
        """`count` 64-bit draws, each two outputs with the first as the high word (uint64)."""
        raw = self._raw(2 * count)
        return (raw[0::2] << np.uint64(32)) | raw[1::2]

    # ---- uniforms and normals --------------------------------------------------------------
    def uniform(self, shape: tuple, dtype: Any, low: float = 0.0, high: float = 1.0) -> np.ndarray:
        """U[low, high) as torch's uniform_ kernel draws it, in `dtype` (float16 via float32)."""
        dtype = np.dtype(dtype)
        count = _prod(shape)
        if dtype == np.float64:
            unit = (self.random64(count) & _MASK53).astype(np.float64) * 2.0**-53
            # x * (to - from) + from: GCC fuses it into one FMA in torch's kernel
            values = unit if (low, high) == (0.0, 1.0) else _box_muller.fma64(unit, high - low, low)
        else:
            raw = self._raw(count).view(np.int64)
            raw &= (1 << 24) - 1
            unit = raw.astype(np.float32)
            unit *= np.float32(2.0**-24)
            lo, hi = np.float32(low), np.float32(high)
            values = unit if (low, high) == (0.0, 1.0) else _box_muller.fma32(unit, hi - lo, lo)
        values = values.astype(dtype, copy=False)
        top, bottom = dtype.type(high), dtype.type(low)
        if (low, high) != (0.0, 1.0) or dtype.itemsize < 4:
            values[values == top] = bottom  # torch's clamp of a value rounded up to `to`
        return values.reshape(shape)

    def normal(
        self, shape: tuple, dtype: Any, mean: float = 0.0, std: float = 1.0, blocks: bool = True
    ) -> np.ndarray:
        """N(mean, std) as torch's normal_ kernel draws it, in `dtype`.

        `blocks=False` (a non-contiguous output) takes torch's element-by-element path at any size.
        """
        dtype = np.dtype(dtype)
        count = _prod(shape)
        if count < 16 or not blocks:  # torch's val * std + mean here is one FMA too
            values = np.array([self._normal_double() for _ in range(count)], np.float64)
            return _box_muller.fma64(values, std, mean).astype(dtype).reshape(shape)
        wide = np.float64 if dtype == np.float64 else np.float32  # float16: float32, then cast
        fill16 = _box_muller.fill16_float64 if wide == np.float64 else _box_muller.fill16_float32
        whole = count // 16 * 16
        # float16/bfloat16 go block by block through a float32 buffer, so they skip the partial tail's draws
        drawn = count if dtype.itemsize >= 4 else whole
        data = np.empty(count, wide)
        # 64k elements at a time (a multiple of 16) keep the temporaries in cache; the draws stay in order
        for start in range(0, drawn, 1 << 16):
            stop = min(start + (1 << 16), drawn)
            unit = self.uniform((stop - start,), wide)
            end = min(stop, whole)  # draws past `whole` are the partial tail, redrawn below
            if end > start:
                data[start:end] = fill16(unit[: end - start].reshape(-1, 16), mean, std).ravel()
        if count % 16:
            data[count - 16 :] = fill16(self.uniform((16,), wide).reshape(1, 16), mean, std).ravel()
        return data.astype(dtype, copy=False).reshape(shape)

    def _normal_double(self) -> float:
        """torch's normal_distribution<double> before its mean and std: a Box-Muller pair, the sine cached."""
        if self.next_double_normal is not None:
            value, self.next_double_normal = self.next_double_normal, None
            return value
        u1, u2 = self.uniform((2,), np.float64).tolist()
        radius = math.sqrt(-2.0 * math.log1p(-u2))
        theta = 2.0 * math.pi * u1
        self.next_double_normal = radius * math.sin(theta)
        return radius * math.cos(theta)

    # ---- integers --------------------------------------------------------------------------
    def integers_from_to(self, low: int, high: int, shape: tuple) -> np.ndarray:
        """int64 values in [low, high): (draw % range) + low, one 32-bit draw below 2**28."""
        span = high - low
        count = _prod(shape)
        draws = self.random64(count) if span >= 1 << 28 else self.random32(count).astype(np.uint64)
        offsets = draws % np.uint64(span)
        return (offsets.astype(np.int64) + np.int64(low)).reshape(shape)  # wraps, as torch's int64 sum

    def integers_default(self, shape: tuple, dtype: Any) -> np.ndarray:
        """random_() with no bounds: [0, 2**mantissa] for floats, [0, max] for integers, {0, 1} for bool."""
        dtype = np.dtype(dtype)
        count = _prod(shape)
        wide = dtype in (np.float64, np.int64)
        draws = self.random64(count) if wide else self.random32(count).astype(np.uint64)
        if dtype == np.bool_:
            return (draws & np.uint64(1)).astype(np.bool_).reshape(shape)
        if dtype.kind == "f":
            modulus = (1 << (np.finfo(dtype).nmant + 1)) + 1
        else:
            modulus = int(np.iinfo(dtype).max) + 1
        return (draws % np.uint64(modulus)).astype(dtype).reshape(shape)

    def integers_full_range(self, shape: tuple) -> np.ndarray:
        """random_(int64 min, None): every int64, random64 reinterpreted."""
        return self.random64(_prod(shape)).view(np.int64).reshape(shape)

    def randperm(self, n: int) -> np.ndarray:
        """torch's randperm_cpu for n < 2**32 / 20: swap i with i + random() % (n - i)."""
        if n >= (1 << 32) // 20:
            return self._randperm_large(n)
        if n <= 1:
            return np.arange(n, dtype=np.int64)
        picks = (self.random32(n - 1).astype(np.int64) % np.arange(n, 1, -1, dtype=np.int64)).tolist()
        order = list(range(n))
        for i, offset in enumerate(picks):
            j = i + offset
            order[i], order[j] = order[j], order[i]
        return np.array(order, dtype=np.int64)

    def _randperm_large(self, n: int) -> np.ndarray:
        """torch's inside-out Fisher-Yates with random64 (only for n of 2**32 / 20 and more)."""
        picks = (self.random64(n) % np.arange(1, n + 1, dtype=np.uint64)).tolist()
        order = [0] * n
        for i, j in enumerate(picks):
            order[i] = order[j]
            order[j] = i
        return np.array(order, dtype=np.int64)

    # ---- other distributions ---------------------------------------------------------------
    def exponential(self, shape: tuple, lambd: float = 1.0) -> np.ndarray:
        """float64 Exp(lambd): -1 / lambd * log1p(-u), u a float64 uniform (glibc's log1p)."""
        unit = self.uniform((_prod(shape),), np.float64).tolist()
        scale = -1.0 / lambd
        values = np.fromiter((scale * math.log1p(-u) for u in unit), np.float64, len(unit))
        return values.reshape(shape)

    def bernoulli(self, shape: tuple, p: Any) -> np.ndarray:
        """Booleans u < p; a float64 uniform against a scalar or float64 p, float32 against float32 p."""
        if isinstance(p, np.ndarray) and p.dtype != np.float64:
            return self.uniform(shape, np.float32) < p.astype(np.float32)
        return self.uniform(shape, np.float64) < p

    def cauchy(self, shape: tuple, median: float, sigma: float) -> np.ndarray:
        """median + sigma * tan(pi * (u - 1/2)), u a float64 uniform (glibc's tan, one FMA)."""
        unit = self.uniform((_prod(shape),), np.float64) - 0.5
        tangent = np.fromiter(map(math.tan, (math.pi * unit).tolist()), np.float64, unit.size)
        return _box_muller.fma64(tangent, sigma, median).reshape(shape)

    def geometric(self, shape: tuple, p: float) -> np.ndarray:
        """ceil(log(u) / log1p(-p)), u a float64 uniform."""
        unit = self.uniform((_prod(shape),), np.float64)
        logs = np.fromiter(map(_log_or_minus_inf, unit.tolist()), np.float64, unit.size)
        return np.ceil(logs / math.log1p(-p)).reshape(shape)

    def log_normal(self, shape: tuple, mean: float, std: float) -> np.ndarray:
        """exp of normal_distribution<double> draws, element by element (torch's serial kernel)."""
        values = np.array([self._normal_double() for _ in range(_prod(shape))], np.float64)
        exponents = _box_muller.fma64(values, std, mean).tolist()
        return np.fromiter(map(_exp_or_inf, exponents), np.float64, len(exponents)).reshape(shape)

    def poisson(self, rates: np.ndarray) -> np.ndarray:
        """float64 counts, element by element as torch's cpu sampler draws them (float64 uniforms)."""
        flat = np.asarray(rates, np.float64).ravel().tolist()
        return np.array([self._poisson_one(rate) for rate in flat], np.float64).reshape(np.shape(rates))

    def _poisson_one(self, rate: float) -> float:
        """Hoermann's transformed rejection from a rate of 10, else multiplying uniforms (torch's)."""
        if rate == 0:
            return 0.0
        if rate < 10:
            threshold, product, count = math.exp(-rate), 1.0, 0
            while True:
                product *= self._uniform_double()
                if product <= threshold:
                    return float(count)
                count += 1
        root, log_rate = math.sqrt(rate), math.log(rate)
        b = 0.931 + 2.53 * root
        a = -0.059 + 0.02483 * b
        log_inv_alpha = math.log(1.1239 + 1.1328 / (b - 3.4))
        vr = 0.9277 - 3.6224 / (b - 2)
        while True:
            u = self._uniform_double() - 0.5
            v = self._uniform_double()
            us = 0.5 - abs(u)
            k = math.floor((2 * a / us + b) * u + rate + 0.43)
            if us >= 0.07 and v <= vr:
                return float(k)
            if k < 0 or (us < 0.013 and v > us):
                continue
            accept = -rate + k * log_rate - math.lgamma(k + 1.0)
            if math.log(v) + log_inv_alpha - math.log(a / (us * us) + b) <= accept:
                return float(k)

    def _uniform_double(self) -> float:
        return float(self.uniform((1,), np.float64)[0])

    # ---- NumPy Generator's spelling, for code written against it ----------------------------
    def random(self, size: Any = None, dtype: Any = np.float64) -> Any:
        shape = () if size is None else (size if isinstance(size, tuple) else tuple(np.atleast_1d(size)))
        values = self.uniform(shape, dtype)
        return values if size is not None else float(values)

    def standard_normal(self, size: Any = None, dtype: Any = np.float64) -> Any:
        shape = () if size is None else (size if isinstance(size, tuple) else tuple(np.atleast_1d(size)))
        return self.normal(shape, dtype)

    def integers(
        self,
        low: int,
        high: int | None = None,
        size: Any = None,
        dtype: Any = np.int64,
        endpoint: bool = False,
    ) -> Any:
        if high is None:
            low, high = 0, low
        high = int(high) + (1 if endpoint else 0)
        shape = () if size is None else (size if isinstance(size, tuple) else tuple(np.atleast_1d(size)))
        values = self.integers_from_to(int(low), high, shape).astype(dtype)
        return values if size is not None else values.item()

    def permutation(self, n: Any) -> np.ndarray:
        if isinstance(n, (int, np.integer)):
            return self.randperm(int(n))
        items = np.asarray(n)
        return items[self.randperm(len(items))]

    def __getattr__(self, name: str) -> Any:
        """Other NumPy Generator methods (poisson, choice, ...) draw from this same engine."""
        if name.startswith("_"):
            raise AttributeError(name)
        self._next_index_when_spent = _STATE_N
        return getattr(np.random.Generator(self._bits), name)

    # ---- torch's state bytes ---------------------------------------------------------------
    def to_bytes(self) -> bytes:
        state = self._bits.state["state"]
        position = int(state["pos"])
        raw = bytearray(STATE_SIZE)
        left = _STATE_N + 1 - position
        next_index = self._next_index_when_spent if position == _STATE_N else position
        np.frombuffer(raw, np.uint64, 1, 0)[0] = self.seed % 2**64
        np.frombuffer(raw, np.int32, 2, 8)[:] = (left, 1)
        np.frombuffer(raw, np.uint64, 1, 16)[0] = next_index
        np.frombuffer(raw, np.uint64, _STATE_N, _OFFSET_KEY)[:] = state["key"]
        if self.next_double_normal is not None:
            np.frombuffer(raw, np.float64, 1, _OFFSET_NORMAL_Y)[0] = self.next_double_normal
            np.frombuffer(raw, np.int32, 1, _OFFSET_NORMAL_VALID)[0] = 1
        if self.next_float_normal is not None:
            np.frombuffer(raw, np.float32, 1, _OFFSET_FLOAT_NORMAL)[0] = self.next_float_normal
            raw[_OFFSET_FLOAT_VALID] = 1
        return bytes(raw)

    def load_bytes(self, raw: bytes) -> None:
        """Restore a state torch's (or our) get_state wrote; torch's checks and messages."""
        if len(raw) != STATE_SIZE:
            raise RuntimeError(
                f"Expected a CPUGeneratorImplState of size {STATE_SIZE} but found the input RNG state "
                f"size to be {len(raw)}"
            )
        seed = int(np.frombuffer(raw, np.uint64, 1, 0)[0])
        left, seeded = (int(v) for v in np.frombuffer(raw, np.int32, 2, 8))
        next_index = int(np.frombuffer(raw, np.uint64, 1, 16)[0]) & 0xFFFFFFFF
        if not (seeded and 0 < left <= _STATE_N and next_index <= _STATE_N):
            raise RuntimeError("Invalid mt19937 state")
        key = np.frombuffer(raw, np.uint64, _STATE_N, _OFFSET_KEY).astype(np.uint32)
        position = _STATE_N if left == 1 else next_index
        self._bits.state = {"bit_generator": "MT19937", "state": {"key": key, "pos": position}}
        self.seed = seed
        self._next_index_when_spent = next_index
        valid = np.frombuffer(raw, np.int32, 1, _OFFSET_NORMAL_VALID)[0]
        cached = float(np.frombuffer(raw, np.float64, 1, _OFFSET_NORMAL_Y)[0])
        self.next_double_normal = cached if valid else None
        float_valid = raw[_OFFSET_FLOAT_VALID]
        self.next_float_normal = (
            float(np.frombuffer(raw, np.float32, 1, _OFFSET_FLOAT_NORMAL)[0]) if float_valid else None
        )

    def copy(self) -> TorchCPUStream:
        twin = TorchCPUStream(0)
        twin.load_bytes(self.to_bytes())
        return twin

"""TensorRandomMethods: the in-place samplers bernoulli_, exponential_, geometric_, log_normal_,
cauchy_ and random_ (uniform_ and normal_ live with the other in-place methods).

Each overwrites every element with a draw from antorcha's generators (`generator=` picks one),
checks its parameters with torch's messages, and on a tensor in a graph leaves it there with a
zero gradient to its old values (ExponentialBackward0, ...), as torch does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from antorcha._device import quiet_float_errors, xp_of
from antorcha._mt19937 import TorchCPUStream


def _sampler_ops() -> Any:
    """The graph ops marking a tensor overwritten by a draw (imported late: they import Tensor)."""
    from antorcha.ops import elementwise

    class Exponential(elementwise._Overwritten):
        pass

    class Geometric(elementwise._Overwritten):
        pass

    class LogNormal(elementwise._Overwritten):
        pass

    class Cauchy(elementwise._Overwritten):
        pass

    class RandomFill(elementwise._Overwritten):
        backward_name = "RandomBackward2"

    class BernoulliScalar(elementwise._Overwritten):
        backward_name = "BernoulliBackward2"

    class BernoulliTensor(elementwise._Overwritten):
        backward_name = "BernoulliBackward1"

    return {
        op.__name__: op
        for op in (Exponential, Geometric, LogNormal, Cauchy, RandomFill, BernoulliScalar, BernoulliTensor)
    }


_OPS: dict[str, Any] = {}


def _op(name: str) -> Any:
    if not _OPS:
        _OPS.update(_sampler_ops())
    return _OPS[name]


def _require_continuous(t: Any, distribution: str) -> None:
    if not t.is_floating_point():
        raise RuntimeError(
            f"{distribution} distribution is a continuous probability distribution. dtype must be a "
            f"floating point but you specified {t.dtype.scalar_name}"
        )


def _integer_bounds(t: Any) -> tuple[int, int]:
    """The values random_() draws by default, inclusive: [0, 2**mantissa] for floats, [0, max] for ints."""
    np_dtype = t._data.dtype
    if np_dtype.kind == "f":
        return 0, 2 ** (np.finfo(np_dtype).nmant + 1)
    if np_dtype.kind == "b":
        return 0, 1
    return 0, int(np.iinfo(np_dtype).max)


_C_TYPE_NAMES = {
    "uint8": "unsigned char",
    "int8": "signed char",
    "int16": "short",
    "int32": "int",
    "int64": "long",
}


def check_random_range(np_dtype: Any, low: int, high: int) -> None:
    """[low, high) must fit the integer dtype, as torch's random_ and randint check it."""
    if np_dtype.kind not in "iu":
        return
    info, type_name = np.iinfo(np_dtype), _C_TYPE_NAMES[np_dtype.name]
    if not info.min <= low <= info.max:
        raise RuntimeError(f"from is out of bounds for {type_name}")
    if not info.min <= high - 1 <= info.max:
        raise RuntimeError(f"to - 1 is out of bounds for {type_name}")


def _in_memory_order(array: Any, draw: Any) -> None:
    """array[...] = draw(shape), the draws laid out in memory order as torch's serial kernels write them."""
    from antorcha import random

    view = array.transpose(random.memory_order_axes(array))
    view[...] = draw(view.shape)


def _torch_random_fill(
    rng: TorchCPUStream, shape: tuple, dtype: Any, low: int, high: int, unbounded: bool
) -> Any:
    """random_ as torch's kernels draw it: the dtype's default range, all of int64, or [low, high)."""
    if unbounded:
        return rng.integers_default(shape, dtype)
    if low == -(2**63) and high > 2**63 - 1:
        return rng.integers_full_range(shape)
    return rng.integers_from_to(low, high, shape)


class TensorRandomMethods:
    __slots__ = ()

    def _rng(self, generator: Any) -> Any:
        from antorcha import random

        return random.generator_for(self._device, generator)

    def exponential_(self, lambd: float = 1.0, *, generator: Any = None) -> Any:
        """Exp(lambd) draws: -log(1 - U) / lambd."""
        _require_continuous(self, "Exponential")
        if not lambd > 0:
            raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
        from antorcha import random

        def fill(array: Any) -> None:
            rng = self._rng(generator)
            if isinstance(rng, TorchCPUStream):
                _in_memory_order(array, lambda shape: rng.exponential(shape, lambd))
                return
            array[...] = random.draw_exponential(rng, array.shape) / lambd

        return self._fill_array(fill, _op("Exponential"))

    def geometric_(self, p: float, *, generator: Any = None) -> Any:
        """The number of Bernoulli(p) trials up to the first success: values 1, 2, ..."""
        if not 0 < p < 1:
            raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p}")
        from antorcha import random

        def fill(array: Any) -> None:
            rng = self._rng(generator)
            if isinstance(rng, TorchCPUStream):
                _in_memory_order(array, lambda shape: rng.geometric(shape, p))
                return
            xp = xp_of(array)
            trials = xp.ceil(-random.draw_exponential(rng, array.shape) / math.log1p(-p))
            array[...] = xp.maximum(trials, 1)

        return self._fill_array(fill, _op("Geometric"))

    def log_normal_(self, mean: float = 1.0, std: float = 2.0, *, generator: Any = None) -> Any:
        """exp of N(mean, std) draws."""
        if not self.is_floating_point():
            raise NotImplementedError(f"\"log_normal_cpu\" not implemented for '{self.dtype.scalar_name}'")
        if not std > 0:
            raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std}")
        from antorcha import random

        def fill(array: Any) -> None:
            rng = self._rng(generator)
            with quiet_float_errors():  # exp overflows to inf, as torch's does
                if isinstance(rng, TorchCPUStream):
                    _in_memory_order(array, lambda shape: rng.log_normal(shape, mean, std))
                    return
                array[...] = xp_of(array).exp(random.draw_normal(rng, array.shape, np.float64) * std + mean)

        return self._fill_array(fill, _op("LogNormal"))

    def cauchy_(self, median: float = 0.0, sigma: float = 1.0, *, generator: Any = None) -> Any:
        """median + sigma * tan(pi * (U - 1/2))."""
        _require_continuous(self, "Cauchy")
        if not sigma > 0:
            raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma}")

        def fill(array: Any) -> None:
            rng = self._rng(generator)
            if isinstance(rng, TorchCPUStream):
                _in_memory_order(array, lambda shape: rng.cauchy(shape, median, sigma))
                return
            uniform = rng.random(array.shape)
            array[...] = median + sigma * xp_of(array).tan(math.pi * (uniform - 0.5))

        return self._fill_array(fill, _op("Cauchy"))

    def random_(self, from_: int | None = None, to: int | None = None, *, generator: Any = None) -> Any:
        """Integers uniform over [from_, to); random_(to) means [0, to); random_() the dtype's whole range."""
        unbounded = from_ is None and to is None
        if from_ is not None and to is None:
            low, high = 0, int(from_)
        elif unbounded:
            low, top = _integer_bounds(self)
            high = top + 1
        else:
            low, high = int(from_ or 0), int(to)
        if low >= high:
            raise RuntimeError(
                f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
            )
        check_random_range(self._data.dtype, low, high)

        def fill(array: Any) -> None:
            rng = self._rng(generator)
            if isinstance(rng, TorchCPUStream):

                def draw(shape: tuple) -> Any:
                    return _torch_random_fill(rng, shape, array.dtype, low, high, unbounded)

                _in_memory_order(array, draw)
                return
            if high > 2**63:  # int64's whole range: NumPy's integers takes the inclusive top
                array[...] = rng.integers(low, high - 1, size=array.shape, dtype=np.int64, endpoint=True)
                return
            from antorcha import random

            array[...] = random.draw_integers(rng, low, high, array.shape)

        return self._fill_array(fill, _op("RandomFill"))

    def bernoulli_(self, p: Any = 0.5, *, generator: Any = None) -> Any:
        """1 with probability p (a number, or a tensor broadcast to self's shape), else 0."""
        from antorcha._tensor import Tensor

        if isinstance(p, Tensor):
            return self._bernoulli_tensor(p, generator)
        if not 0 <= p <= 1:
            raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")

        def fill(array: Any) -> None:
            from antorcha import random

            axes = random.memory_order_axes(array)
            view = array.transpose(axes)
            view[...] = random.draw_bernoulli(self._rng(generator), view.shape, p)

        return self._fill_array(fill, _op("BernoulliScalar"))

    def _bernoulli_tensor(self, p: Any, generator: Any) -> Any:
        if not p.is_floating_point():
            raise NotImplementedError(
                f"\"bernoulli_tensor_cpu_p_\" not implemented for '{p.dtype.scalar_name}'"
            )
        probabilities = p.expand(*self.shape)._data
        xp = xp_of(probabilities)
        if probabilities.size and not bool(xp.all((probabilities >= 0) & (probabilities <= 1))):
            raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")

        def fill(array: Any) -> None:
            from antorcha import random

            axes = random.memory_order_axes(array)
            view = array.transpose(axes)
            view[...] = random.draw_bernoulli(self._rng(generator), view.shape, probabilities.transpose(axes))

        return self._fill_array(fill, _op("BernoulliTensor"))

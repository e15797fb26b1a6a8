"""Random number generators: one default per device, reseeded by `manual_seed`.

A cpu generator is torch's: its mt19937 engine and its kernels' transforms (`_mt19937`), so after
`manual_seed(n)` rand, randn, randint, randperm, multinomial, bernoulli, nn.Linear's init, ...
give torch's CPU numbers, and its state is torch's 5056-byte layout (a state saved by torch loads
here and back). A cuda generator draws from CuPy's own stream (not torch's CUDA numbers).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from antorcha._device import device, xp_for, xp_of
from antorcha._mt19937 import TorchCPUStream

# torch's default_rng_seed_val: every new torch.Generator() starts from it, so two agree
DEFAULT_SEED = 67280421310721


class Generator:
    """torch.Generator: holds its own stream; `manual_seed(n)` returns self."""

    def __init__(self, device: Any = "cpu") -> None:
        from antorcha._device import as_device

        self.device = as_device(device)
        self._seed = DEFAULT_SEED
        self._reset()

    def _reset(self) -> None:
        if self.device.type == "cpu":
            self._rng = TorchCPUStream(self._seed)
        else:
            xp = xp_for(self.device)
            self._rng = (
                xp.random.Generator(xp.random.XORWOW(self._seed))
                if hasattr(xp.random, "XORWOW")
                else xp.random.RandomState(self._seed)
            )

    def manual_seed(self, seed: int) -> Generator:
        """Reseed; like torch, a negative seed wraps around modulo 2**64."""
        seed = int(seed)
        if seed >= 2**64:
            raise ValueError("Overflow when unpacking long long")
        self._seed = seed % (2**64)
        self._reset()
        return self

    def seed(self) -> int:
        self._seed = int(np.random.SeedSequence().entropy % (2**63))
        self._reset()
        return self._seed

    def initial_seed(self) -> int:
        return self._rng.seed if self.device.type == "cpu" else self._seed

    def get_state(self) -> Any:
        """The generator's state as a uint8 tensor in torch's CPUGeneratorImplState layout."""
        from antorcha._tensor import wrap

        if self.device.type != "cpu":
            raise RuntimeError(
                "antorcha cannot save the state of a cuda generator (CuPy does not expose it); "
                "reseed it with manual_seed instead"
            )
        return wrap(np.frombuffer(self._rng.to_bytes(), np.uint8).copy())

    def set_state(self, new_state: Any) -> Generator:
        from antorcha._tensor import Tensor

        if not isinstance(new_state, Tensor):
            raise TypeError(f"expected a torch.ByteTensor, but got {type(new_state).__name__}")
        if new_state.dtype.name != "uint8":
            raise TypeError("RNG state must be a torch.ByteTensor")
        if self.device.type != "cpu":
            raise RuntimeError("antorcha cannot restore the state of a cuda generator")
        self._rng.load_bytes(new_state._cpu_array().tobytes())
        self._seed = self._rng.seed
        return self

    def clone_state(self) -> Generator:
        twin = Generator(self.device)
        twin._seed = self._seed
        if self.device.type == "cpu":
            twin._rng = self._rng.copy()
        return twin

    @property
    def rng(self) -> Any:
        return self._rng

    def __repr__(self) -> str:
        return f"<antorcha.Generator object on {self.device}>"


default_generator = Generator("cpu").manual_seed(0x5EED)
_cuda_generators: dict[int, Generator] = {}


def generator_for(target: device, generator: Generator | None = None) -> Any:
    """What to draw from for `target` (torch's checks on `generator`): the cpu's TorchCPUStream, or a
    CuPy random Generator."""
    if generator is not None:
        if not isinstance(generator, Generator):
            raise TypeError(f"generator must be an antorcha.Generator, not {type(generator).__name__}")
        if generator.device.type != target.type:
            raise RuntimeError(
                f"Expected a '{target.type}' device type for generator but found '{generator.device.type}'"
            )
        return generator.rng
    if target.type == "cpu":
        return default_generator.rng
    index = target.index or 0
    if index not in _cuda_generators:
        _cuda_generators[index] = Generator(device("cuda", index)).manual_seed(
            default_generator.initial_seed() + index
        )
    return _cuda_generators[index].rng


def manual_seed(seed: int) -> Generator:
    """Seed every device's default generator (torch.manual_seed)."""
    default_generator.manual_seed(seed)
    for index, gen in _cuda_generators.items():
        gen.manual_seed(int(seed) + index)
    return default_generator


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> Any:
    """The default cpu generator's state, a uint8 tensor."""
    return default_generator.get_state()


def set_rng_state(new_state: Any) -> None:
    default_generator.set_state(new_state)


@contextlib.contextmanager
def fork_rng(
    devices: Any = None,
    enabled: bool = True,
    _caller: str = "fork_rng",
    _devices_kw: str = "devices",
    device_type: str | None = None,
) -> Iterator[None]:
    """Restore the default cpu generator's state on exit (torch.random.fork_rng).

    cuda generators are not forked: CuPy does not expose their state.
    """
    if not enabled:
        yield
        return
    saved = default_generator.get_state()
    try:
        yield
    finally:
        default_generator.set_state(saved)


# ---- draws on raw arrays: torch's recipes on a cpu stream, CuPy's own methods on a cuda one ----
def draw_uniform(rng: Any, shape: tuple, np_dtype: Any) -> Any:
    if isinstance(rng, TorchCPUStream):
        return rng.uniform(shape, np_dtype)
    if np_dtype in (np.float32, np.float64):
        return rng.random(shape, dtype=np_dtype)
    return rng.random(shape).astype(np_dtype)


def draw_normal(rng: Any, shape: tuple, np_dtype: Any) -> Any:
    if isinstance(rng, TorchCPUStream):
        return rng.normal(shape, np_dtype)
    if np_dtype in (np.float32, np.float64):
        return rng.standard_normal(shape, dtype=np_dtype)
    return rng.standard_normal(shape).astype(np_dtype)


def draw_integers(rng: Any, low: int, high: int, shape: tuple) -> Any:
    """int64 values in [low, high): NumPy's and CuPy's Generators call it integers, RandomState randint."""
    if isinstance(rng, TorchCPUStream):
        return rng.integers_from_to(low, high, shape)
    draw = getattr(rng, "integers", None) or rng.randint
    return draw(low, high, size=shape, dtype=np.int64)


def draw_exponential(rng: Any, shape: tuple) -> Any:
    """float64 Exp(1) samples, -log(1 - U) with U in [0, 1): finite and >= 0."""
    if isinstance(rng, TorchCPUStream):
        return rng.exponential(shape)
    uniform = rng.random(shape)
    return -xp_of(uniform).log1p(-uniform)


def draw_bernoulli(rng: Any, shape: tuple, p: Any) -> Any:
    """Booleans, True with probability p (a number or an array broadcast to `shape`).

    On the cpu as torch's bernoulli_ (and so its dropout masks: bernoulli_(1 - p)) draws them.
    """
    if isinstance(rng, TorchCPUStream):
        return rng.bernoulli(shape, p)
    return rng.random(shape) < p


def draw_poisson(rng: Any, rates: Any) -> Any:
    """Poisson samples with the given (float64, non-negative) rates, elementwise (NumPy's sampler)."""
    return rng.poisson(rates)


def memory_order_axes(array: Any) -> tuple[int, ...]:
    """Axes putting `array`'s dims from the largest stride to the smallest.

    torch's serial cpu kernels fill a tensor in memory order, so a transposed or sliced tensor gets
    its draws in that order: filling `array.transpose(axes)` in C order does the same.
    """
    return tuple(sorted(range(array.ndim), key=lambda axis: -abs(array.strides[axis])))


def _is_floating(array: Any) -> bool:
    """float16/32/64, and bfloat16 (a NumPy 'V' kind from ml_dtypes)."""
    from antorcha._dtypes import _FROM_NUMPY

    return array.dtype.kind == "f" or _FROM_NUMPY[array.dtype].is_floating_point


def _scalar_name(array: Any) -> str:
    from antorcha._dtypes import _FROM_NUMPY

    return _FROM_NUMPY[array.dtype].scalar_name


def fill_uniform(array: Any, low: float, high: float, target: device, generator: Generator | None) -> None:
    """uniform_: U[low, high) into a float array, with torch's checks."""
    if not _is_floating(array):
        raise NotImplementedError(f"\"check_uniform_bounds\" not implemented for '{_scalar_name(array)}'")
    if low > high:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={low} > to={high}")
    rng = generator_for(target, generator)
    if isinstance(rng, TorchCPUStream):
        view = array.transpose(memory_order_axes(array))
        view[...] = rng.uniform(view.shape, array.dtype, low, high)
        return
    values = draw_uniform(rng, array.shape, array.dtype.type)
    values *= high - low
    values += low
    array[...] = values


def fill_normal(array: Any, mean: float, std: float, target: device, generator: Generator | None) -> None:
    """normal_: N(mean, std) into a float array, with torch's checks."""
    if not _is_floating(array):
        raise NotImplementedError(f"\"normal_kernel_cpu\" not implemented for '{_scalar_name(array)}'")
    if not std >= 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    rng = generator_for(target, generator)
    if isinstance(rng, TorchCPUStream):  # not contiguous: torch's element-by-element kernel
        view = array.transpose(memory_order_axes(array))
        view[...] = rng.normal(view.shape, array.dtype, mean, std, blocks=array.flags.c_contiguous)
        return
    values = draw_normal(rng, array.shape, array.dtype.type)
    if std != 1:
        values *= std
    if mean != 0:
        values += mean
    array[...] = values

"""Random number generators: one default per device, reseeded by `manual_seed`.

Bit-equality with torch's streams is not a goal; reproducibility within antorcha is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from antorcha._device import device, xp_for


class Generator:
    """torch.Generator: holds its own stream; `manual_seed(n)` returns self."""

    def __init__(self, device: Any = "cpu") -> None:
        from antorcha._device import as_device

        self.device = as_device(device)
        self._seed = int(np.random.SeedSequence().entropy % (2**63))
        self._reset()

    def _reset(self) -> None:
        if self.device.type == "cpu":
            self._rng = np.random.Generator(np.random.PCG64(self._seed))
        else:
            xp = xp_for(self.device)
            self._rng = (
                xp.random.Generator(xp.random.XORWOW(self._seed))
                if hasattr(xp.random, "XORWOW")
                else xp.random.RandomState(self._seed)
            )

    def manual_seed(self, seed: int) -> Generator:
        self._seed = int(seed) % (2**64)
        self._reset()
        return self

    def seed(self) -> int:
        self._seed = int(np.random.SeedSequence().entropy % (2**63))
        self._reset()
        return self._seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> Any:
        return self._rng.bit_generator.state if self.device.type == "cpu" else None

    def set_state(self, state: Any) -> None:
        self._rng.bit_generator.state = state

    @property
    def rng(self) -> Any:
        return self._rng


default_generator = Generator("cpu").manual_seed(0x5EED)
_cuda_generators: dict[int, Generator] = {}


def generator_for(target: device, generator: Generator | None = None) -> Any:
    """The numpy/cupy random Generator to draw from for `target`."""
    if generator is not None:
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
    return default_generator.get_state()


def set_rng_state(state: Any) -> None:
    default_generator.set_state(state)


def draw_uniform(rng: Any, shape: tuple, np_dtype: Any) -> Any:
    if np_dtype in (np.float32, np.float64):
        return rng.random(shape, dtype=np_dtype)
    return rng.random(shape).astype(np_dtype)


def draw_normal(rng: Any, shape: tuple, np_dtype: Any) -> Any:
    if np_dtype in (np.float32, np.float64):
        return rng.standard_normal(shape, dtype=np_dtype)
    return rng.standard_normal(shape).astype(np_dtype)


def draw_integers(rng: Any, low: int, high: int, shape: tuple) -> Any:
    """int64 values in [low, high): NumPy's and CuPy's Generators call it integers, RandomState randint."""
    draw = getattr(rng, "integers", None) or rng.randint
    return draw(low, high, size=shape, dtype=np.int64)


def fill_uniform(array: Any, low: float, high: float, target: device, generator: Generator | None) -> None:
    rng = generator_for(target, generator)
    values = draw_uniform(rng, array.shape, array.dtype.type)
    values *= high - low
    values += low
    array[...] = values


def fill_normal(array: Any, mean: float, std: float, target: device, generator: Generator | None) -> None:
    rng = generator_for(target, generator)
    values = draw_normal(rng, array.shape, array.dtype.type)
    if std != 1:
        values *= std
    if mean != 0:
        values += mean
    array[...] = values

"""Random draws for samplers and `random_split`, from a seeded generator or the global one.

Accepted generators:
- `None`: antorcha's default cpu generator (so `antorcha.manual_seed` makes shuffling reproducible);
- an `antorcha.Generator` on the cpu (after `.manual_seed(n)`), as in torch;
- a `numpy.random.Generator`, or any object with its `permutation`/`integers`/`choice` methods.

Every draw advances the generator, so successive epochs give different orders while a
freshly seeded generator replays the same sequence of epochs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from antorcha._device import CPU
from antorcha.random import Generator, generator_for


def numpy_rng(generator: Any) -> Any:
    """The NumPy-style generator to draw from."""
    if generator is None:
        return generator_for(CPU)
    if isinstance(generator, Generator):
        if generator.device.type != "cpu":
            raise RuntimeError(
                f"Expected a 'cpu' device type for generator but found '{generator.device.type}'"
            )
        return generator.rng
    if hasattr(generator, "permutation") and hasattr(generator, "integers"):
        return generator
    raise TypeError(
        f"generator must be an antorcha.Generator or a numpy.random.Generator, got {type(generator).__name__}"
    )


def seed_from(generator: Any = None) -> int:
    """torch's `torch.empty((), dtype=torch.int64).random_(generator=...).item()`: a fresh seed
    drawn from the generator (the default one when None), as samplers and loaders draw them."""
    if generator is not None and not isinstance(generator, Generator):  # a NumPy generator
        return int(numpy_rng(generator).integers(0, 2**63 - 1))
    import antorcha

    return int(antorcha.empty((), dtype=antorcha.int64).random_(generator=generator).item())


def sampler_generator(generator: Any = None) -> Any:
    """The generator a RandomSampler draws one pass from: the given one, or, as torch's does when
    it is None, a new Generator seeded from the default generator."""
    if generator is not None:
        return generator
    return Generator().manual_seed(seed_from(None))


def permutation(n: int, generator: Any = None) -> np.ndarray:
    """A random permutation of range(n) as an int64 array."""
    return np.asarray(numpy_rng(generator).permutation(n), dtype=np.int64)


def integers(high: int, size: int, generator: Any = None) -> np.ndarray:
    """`size` independent draws from range(high) as an int64 array."""
    return np.asarray(numpy_rng(generator).integers(0, high, size=size), dtype=np.int64)


def weighted_choice(weights: np.ndarray, size: int, replacement: bool, generator: Any = None) -> np.ndarray:
    """`size` indices drawn with probability proportional to `weights` (float64, 1-d): torch's
    multinomial for an antorcha generator (or None), NumPy's choice for a NumPy one."""
    if generator is None or isinstance(generator, Generator):
        import antorcha

        drawn = antorcha.multinomial(antorcha.from_numpy(weights), size, replacement, generator=generator)
        return drawn.numpy()
    if (weights < 0).any() or not np.isfinite(weights).all() or weights.sum() <= 0:
        raise RuntimeError(
            "invalid multinomial distribution (sum of probabilities <= 0 or a negative weight)"
        )
    if not replacement and size > np.count_nonzero(weights):
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    probabilities = weights / weights.sum()
    drawn = numpy_rng(generator).choice(len(weights), size=size, replace=replacement, p=probabilities)
    return np.asarray(drawn, dtype=np.int64)

"""antorcha's cpu random functions give torch's cpu numbers, bit for bit, after the same seed.

torch's generator is mt19937 and each kernel has its own recipe (ARCHITECTURE.md, "Random
numbers"); these tests draw the same thing from both and compare every element exactly: sizes
around torch's 16-element Box-Muller blocks, float32 and float64, the global generator and an
explicit one, interleaved calls (which share the cached normal sample), and get_state/set_state
in torch's own byte layout.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import antorcha

SEEDS = (0, 1337, 2147483647)
SIZES = (1, 7, 15, 16, 17, 100, 1000)
FLOATS = ("float32", "float64")


# antorcha replays the float32 Box-Muller of torch's x86 AVX2 kernel (also what its AVX512 builds run);
# a torch on another CPU (ARM, or ATEN_CPU_CAPABILITY=default) computes those normals with libm instead
_TORCH_USES_AVX2_NORMALS = torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")


def _same(ours: Any, theirs: Any) -> None:
    ours, theirs = ours.numpy(), theirs.detach().numpy()
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    if not _TORCH_USES_AVX2_NORMALS and not np.array_equal(ours, theirs, equal_nan=True):
        pytest.skip(
            "this torch draws float32 normals with its non-AVX2 kernel, which antorcha does not replay"
        )
    np.testing.assert_array_equal(ours, theirs)


def _both(draw: Callable[[Any, Any], Any], seed: int) -> None:
    """draw(module, generator) with antorcha's and torch's explicitly seeded generators."""
    ours = draw(antorcha, antorcha.Generator().manual_seed(seed))
    _same(ours, draw(torch, torch.Generator().manual_seed(seed)))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", FLOATS)
def test_rand_randn_uniform_normal(seed: int, size: int, dtype: str) -> None:
    def draws(m: Any, g: Any) -> Any:
        d = getattr(m, dtype)
        return m.stack(
            [
                m.rand(size, generator=g, dtype=d),
                m.randn(size, generator=g, dtype=d),
                m.empty(size, dtype=d).uniform_(-0.37, 2.9, generator=g),
                m.empty(size, dtype=d).normal_(0.25, 0.02, generator=g),
                m.empty(size, dtype=d).normal_(-3.0, 7.3, generator=g),
                m.randn(size, generator=g, dtype=d),
            ]
        )

    _both(draws, seed)


@pytest.mark.parametrize("shape", [(27, 10), (3, 5, 7), (2_000, 33)])
def test_randn_of_shapes(shape: tuple) -> None:
    _both(lambda m, g: m.randn(shape, generator=g), 2147483647)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    "low, high", [(0, 10), (-5, 100), (0, 2**28 - 1), (0, 2**28), (3, 2**40), (-(2**63), 2**63 - 1)]
)
def test_randint(seed: int, low: int, high: int) -> None:
    for size in SIZES:
        _both(lambda m, g, size=size: m.randint(low, high, (size,), generator=g), seed)
    if low == 0:
        _both(lambda m, g: m.randint(high, (4, 5), generator=g), seed)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", [0, 1, 2, 7, 16, 100, 1000, 50_000])
def test_randperm(seed: int, n: int) -> None:
    _both(lambda m, g: m.randperm(n, generator=g), seed)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "int16", "uint8", "bool"])
def test_random_(dtype: str) -> None:
    _both(lambda m, g: m.empty(100, dtype=getattr(m, dtype)).random_(generator=g), 5)
    if dtype != "bool":
        _both(lambda m, g: m.empty(100, dtype=getattr(m, dtype)).random_(3, 100, generator=g), 5)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_other_in_place_samplers(seed: int, dtype: str) -> None:
    def draws(m: Any, g: Any) -> Any:
        d = getattr(m, dtype)
        return m.stack(
            [
                m.empty(300, dtype=d).exponential_(2.5, generator=g),
                m.empty(300, dtype=d).geometric_(0.3, generator=g),
                m.empty(300, dtype=d).log_normal_(0.5, 1.5, generator=g),
                m.empty(300, dtype=d).cauchy_(0.5, 1.5, generator=g),
                m.empty(300, dtype=d).bernoulli_(0.3, generator=g),
            ]
        )

    _both(draws, seed)


@pytest.mark.parametrize("dtype", FLOATS)
def test_bernoulli_with_tensor_probabilities(dtype: str) -> None:
    def draws(m: Any, g: Any) -> Any:
        p = m.rand(7, 33, generator=g, dtype=getattr(m, dtype))
        return m.stack([m.bernoulli(p, generator=g), m.empty(7, 33).bernoulli_(p, generator=g).to(p.dtype)])

    _both(draws, 11)


@pytest.mark.parametrize("dtype", FLOATS)
def test_normal_with_tensor_parameters(dtype: str) -> None:
    def draws(m: Any, g: Any) -> Any:
        mean = m.rand(40, generator=g, dtype=getattr(m, dtype))
        std = m.rand(40, generator=g, dtype=getattr(m, dtype))
        return m.stack(
            [
                m.normal(mean, std, generator=g),
                m.normal(mean, 2.0, generator=g),
                m.normal(0.3, std, generator=g),
                m.normal(0.5, 2.0, (40,), generator=g, dtype=getattr(m, dtype)),
            ]
        )

    _both(draws, 3)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(27,), (4, 27), (3, 1000)])
@pytest.mark.parametrize(
    "num_samples, replacement", [(1, False), (1, True), (5, False), (20, True), (2000, True)]
)
def test_multinomial(seed: int, dtype: str, shape: tuple, num_samples: int, replacement: bool) -> None:
    def draw(m: Any, g: Any) -> Any:
        probs = m.rand(*shape, generator=g, dtype=getattr(m, dtype)) ** 3
        return m.multinomial(probs, num_samples, replacement, generator=g)

    _both(draw, seed)


def test_makemore_bigram_sampling() -> None:
    """Karpathy's makemore: C = randn((27, 10), generator=g), then names drawn with multinomial."""

    def names(m: Any) -> Any:
        g = m.Generator().manual_seed(2147483647)
        table = m.randn((27, 27), generator=g).exp()
        probs = table / table.sum(1, keepdim=True)
        drawn, ix = [], 0
        for _ in range(60):
            ix = m.multinomial(probs[ix], num_samples=1, replacement=True, generator=g).item()
            drawn.append(ix)
        return m.tensor(drawn + [m.randn((27, 10), generator=g).sum().item() > 0])

    _same(names(antorcha), names(torch))


@pytest.mark.parametrize("seed", SEEDS)
def test_module_initialisation_after_manual_seed(seed: int) -> None:
    def parameters(m: Any) -> Any:
        m.manual_seed(seed)
        layers = [m.nn.Linear(10, 27), m.nn.Linear(27, 100, bias=False), m.nn.Linear(64, 256)]
        layers.append(m.nn.Embedding(27, 10))
        return m.cat([p.detach().reshape(-1) for layer in layers for p in layer.parameters()])

    _same(parameters(antorcha), parameters(torch))


@pytest.mark.parametrize("init", ["kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_"])
def test_init_functions(init: str) -> None:
    def fill(m: Any, g: Any) -> Any:
        weight = m.empty(33, 17)
        getattr(m.nn.init, init)(weight, generator=g)
        return weight

    _both(fill, 9)


def test_the_global_generator_is_the_same_stream() -> None:
    """ng-video-lecture: torch.manual_seed(1337); randint batches; randn; both interleaved."""

    def draws(m: Any) -> Any:
        m.manual_seed(1337)
        data_len, block_size, batch_size = 10_000, 8, 4
        batches = [m.randint(data_len - block_size, (batch_size,)) for _ in range(5)]
        tail = [m.randn(3).double(), m.rand(20).double(), m.randn(5).double()]
        return m.cat([*[b.double() for b in batches], *tail])

    _same(draws(antorcha), draws(torch))
    # an explicit generator seeded alike gives what the global one gives
    antorcha.manual_seed(77)
    _same(antorcha.randn(21), antorcha.randn(21, generator=antorcha.Generator().manual_seed(77)))


def test_interleaved_calls_share_the_cached_normal() -> None:
    """Fewer than 16 normals use a float64 Box-Muller pair per two draws; the second is kept."""

    def draws(m: Any, g: Any) -> Any:
        parts = [m.randn(3, generator=g), m.rand(2, generator=g), m.randn(1, generator=g)]
        parts += [m.randn(17, generator=g), m.randn(5, generator=g, dtype=m.float64).float()]
        parts += [m.randint(0, 9, (3,), generator=g).float()]
        parts += [m.randn(1, generator=g), m.randperm(5, generator=g).float(), m.randn(33, generator=g)]
        return m.cat(parts)

    for seed in SEEDS:
        _both(draws, seed)


def test_state_has_torchs_layout_and_replays() -> None:
    ours, theirs = antorcha.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    for step in (lambda m, g: m.randn(3, generator=g), lambda m, g: m.rand(1000, generator=g)):
        step(antorcha, ours), step(torch, theirs)
        _same(ours.get_state(), theirs.get_state())  # byte for byte, the cached normal included
    # a state saved by torch loads here and replays torch's next numbers, and the reverse
    saved = theirs.get_state()
    expected = torch.randn(20, generator=theirs)
    ours.set_state(antorcha.tensor(saved.numpy()))
    _same(antorcha.randn(20, generator=ours), expected)
    theirs.set_state(torch.from_numpy(ours.get_state().numpy()))
    _same(antorcha.rand(9, generator=ours), torch.rand(9, generator=theirs))
    assert ours.initial_seed() == theirs.initial_seed() == 5
    # the global generator too, through get_rng_state / set_rng_state and fork_rng
    state = antorcha.get_rng_state()
    first = antorcha.randn(4)
    antorcha.set_rng_state(state)
    _same(antorcha.randn(4), torch.from_numpy(first.numpy()))
    twin = antorcha.Generator()
    twin.set_state(antorcha.get_rng_state())
    with antorcha.random.fork_rng():
        antorcha.rand(3)
    _same(antorcha.rand(2), torch.from_numpy(antorcha.rand(2, generator=twin).numpy()))


def test_set_state_rejects_what_torch_rejects() -> None:
    for bad in (antorcha.zeros(10, dtype=antorcha.uint8), antorcha.zeros(5056, dtype=antorcha.uint8)):
        with pytest.raises(RuntimeError) as ours:
            antorcha.Generator().set_state(bad)
        with pytest.raises(RuntimeError) as theirs:
            torch.Generator().set_state(torch.from_numpy(bad.numpy()))
        assert str(ours.value) == str(theirs.value)
    with pytest.raises(TypeError, match=r"RNG state must be a torch\.ByteTensor"):
        antorcha.Generator().set_state(antorcha.zeros(5056))


def test_default_seed_of_a_new_generator() -> None:
    _same(antorcha.randn(20, generator=antorcha.Generator()), torch.randn(20, generator=torch.Generator()))
    assert antorcha.Generator().initial_seed() == torch.Generator().initial_seed()


def test_large_randn_matches_and_stays_fast() -> None:
    antorcha.manual_seed(3)
    torch.manual_seed(3)
    _same(antorcha.randn(200_001), torch.randn(200_001))
    assert math.isfinite(float(antorcha.randn(1000, dtype=antorcha.float64).sum()))


@pytest.mark.parametrize(
    "method, args",
    [
        ("normal_", (0.5, 2.0)),
        ("uniform_", (-1.0, 2.0)),
        ("exponential_", ()),
        ("bernoulli_", (0.4,)),
        ("random_", (0, 50)),
        ("cauchy_", ()),
        ("log_normal_", ()),
        ("geometric_", (0.2,)),
    ],
)
def test_non_contiguous_tensors_fill_in_memory_order(method: str, args: tuple) -> None:
    """torch's serial kernels (and normal_'s, off its 16-blocks) walk a view in memory order."""
    for view in (lambda t: t.t(), lambda t: t[:, ::3]):
        _both(lambda m, g, view=view: getattr(view(m.empty(30, 20)), method)(*args, generator=g), 4)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("mean, std, a, b", [(0, 1, -2, 2), (0, 0.02, -0.04, 0.04), (0.0, 1.0, 1.5, 3.0)])
def test_trunc_normal_(dtype: str, mean: float, std: float, a: float, b: float) -> None:
    """Both of torch's branches: redrawing normals outside [a, b], or uniform proposals for a far window."""

    def fill(m: Any, g: Any) -> Any:
        weight = m.empty(40, 30, dtype=getattr(m, dtype))
        return m.nn.init.trunc_normal_(weight, mean, std, a, b, generator=g)

    for seed in SEEDS:
        _both(fill, seed)


def test_orthogonal_draws_torchs_normals() -> None:
    """The same normals go into the QR; LAPACK's rounding may differ in the last bits."""
    ours = antorcha.nn.init.orthogonal_(antorcha.empty(20, 30), generator=antorcha.Generator().manual_seed(1))
    theirs = torch.nn.init.orthogonal_(torch.empty(20, 30), generator=torch.Generator().manual_seed(1))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=0, atol=1e-5)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("p", [0.1, 0.37, 0.5])
def test_dropout_masks(dtype: str, p: float) -> None:
    """F.dropout and nn.Dropout on the cpu: noise.bernoulli_(1 - p).div_(1 - p), times the input."""
    x = torch.randn(64, 33, dtype=getattr(torch, dtype))

    def drop(m: Any, module: bool) -> Any:
        m.manual_seed(5)
        data = m.tensor(x.numpy())
        return m.nn.Dropout(p)(data) if module else m.nn.functional.dropout(data, p, training=True)

    for module in (False, True):
        _same(drop(antorcha, module), drop(torch, module))


def test_random_split_matches_torch() -> None:
    from torch.utils.data import random_split as torch_random_split

    from antorcha.utils.data import random_split

    ours = random_split(range(100), [0.7, 0.2, 0.1], generator=antorcha.Generator().manual_seed(42))
    theirs = torch_random_split(range(100), [0.7, 0.2, 0.1], generator=torch.Generator().manual_seed(42))
    assert [list(s.indices) for s in ours] == [list(s.indices) for s in theirs]
    antorcha.manual_seed(3)
    torch.manual_seed(3)
    ours, theirs = random_split(range(30), [20, 10]), torch_random_split(range(30), [20, 10])
    assert [list(s.indices) for s in ours] == [list(s.indices) for s in theirs]


@pytest.mark.parametrize("dtype", FLOATS)
def test_poisson(dtype: str) -> None:
    """Both of torch's samplers: multiplied uniforms below a rate of 10, transformed rejection from 10."""
    rates = np.array([0, 0.2, 1, 3.5, 9.99, 10, 11, 25, 100, 1e4] * 7)

    def draw(m: Any, g: Any) -> Any:
        return m.poisson(m.tensor(rates, dtype=getattr(m, dtype)), generator=g)

    for seed in SEEDS:
        _both(draw, seed)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("size", SIZES)
def test_reduced_precision_rand_and_randn(dtype: str, size: int) -> None:
    """float16/bfloat16 draw float32 values (randn block by block, skipping the partial tail) and round."""

    def draws(m: Any, g: Any) -> Any:
        d = getattr(m, dtype)
        normals, uniforms = m.randn(size, generator=g, dtype=d), m.rand(size, generator=g, dtype=d)
        return m.cat([normals.float(), uniforms.float()])

    _both(draws, 3)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_reduced_precision_in_place_fills_and_init(dtype: str) -> None:
    def fills(m: Any, g: Any) -> Any:
        d = getattr(m, dtype)
        parts = [m.empty(n, dtype=d).uniform_(-0.3, 0.3, generator=g) for n in (7, 100)]
        parts += [m.empty(n, dtype=d).normal_(0.1, 0.3, generator=g) for n in (7, 100)]
        return m.cat(parts).float()

    _both(fills, 3)

    def linear(m: Any) -> Any:
        m.manual_seed(1)
        return m.nn.Linear(20, 30, dtype=getattr(m, dtype)).weight.detach().float()

    _same(linear(antorcha), linear(torch))

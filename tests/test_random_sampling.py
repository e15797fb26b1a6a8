"""Random sampling against torch: shapes, dtypes, errors and graph nodes exactly; values by their
distribution (antorcha's PRNG is not torch's, so no sample equals torch's).

Every statistical check draws from a fixed seed with enough samples that the bound is wide
(about 5 standard errors, or a chi-square quantile at p = 1e-4) and still fails a wrong sampler.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import antorcha

# chi-square quantiles at p = 1e-4, by degrees of freedom
_CHI2_CRITICAL = {1: 15.14, 2: 18.42, 3: 21.11, 4: 23.51, 5: 25.74, 7: 29.88}


def _chi_square(counts: np.ndarray, probabilities: np.ndarray) -> float:
    expected = probabilities * counts.sum()
    seen = expected > 0
    assert (counts[~seen] == 0).all(), "a zero-probability category was drawn"
    return float((((counts - expected) ** 2)[seen] / expected[seen]).sum())


def _assert_same_error(ours: object, theirs: object) -> None:
    """Both calls raise the same exception class, and antorcha's message begins like torch's."""
    with pytest.raises(Exception) as expected:
        theirs()
    with pytest.raises(expected.type) as got:
        ours()
    head = str(expected.value).split(" (")[0][:40]
    assert str(got.value).startswith(head), (str(got.value), str(expected.value))


def _pair(data: object, **kwargs: object) -> tuple[antorcha.Tensor, torch.Tensor]:
    return antorcha.tensor(data, **kwargs), torch.tensor(
        data, **{k: getattr(torch, v.name) if k == "dtype" else v for k, v in kwargs.items()}
    )


@pytest.fixture(autouse=True)
def _seeded() -> None:
    antorcha.manual_seed(1234)


# ---- multinomial -------------------------------------------------------------------------------
def test_multinomial_with_replacement_follows_the_probabilities(device: str) -> None:
    weights = np.array([0.1, 0.0, 0.4, 0.2, 0.3, 1.0])  # unnormalised, one impossible category
    probabilities = weights / weights.sum()
    draws = antorcha.multinomial(antorcha.tensor(weights, device=device), 60_000, replacement=True)
    assert draws.dtype is antorcha.int64 and draws.shape == (60_000,)
    counts = np.bincount(draws.cpu().numpy(), minlength=6)
    assert _chi_square(counts, probabilities) < _CHI2_CRITICAL[4]


def test_multinomial_rows_are_independent_distributions() -> None:
    weights = np.array([[1.0, 3.0, 0.0], [0.0, 0.0, 2.0], [5.0, 1.0, 4.0]], dtype=np.float32)
    draws = antorcha.tensor(weights).multinomial(30_000, True).numpy()  # the Tensor method
    assert draws.shape == (3, 30_000)
    for row, row_draws in zip(weights, draws):
        probabilities = row / row.sum()
        dof = int((probabilities > 0).sum()) - 1
        counts = np.bincount(row_draws, minlength=3)
        if dof == 0:
            assert (counts[probabilities == 0] == 0).all()
        else:
            assert _chi_square(counts, probabilities) < _CHI2_CRITICAL[dof]


def test_multinomial_many_rows_and_categories_take_the_per_row_path() -> None:
    weights = np.random.default_rng(0).random((300, 100))
    weights[:, :50] = 0  # half of each row impossible
    draws = antorcha.multinomial(antorcha.tensor(weights), 200, replacement=True).numpy()
    assert draws.shape == (300, 200) and draws.min() >= 50 and draws.max() <= 99


def test_multinomial_without_replacement_first_draw_and_distinctness() -> None:
    weights = np.array([1.0, 2.0, 3.0, 4.0])
    firsts = np.empty(20_000, dtype=np.int64)
    rows = antorcha.tensor(np.tile(weights, (20_000, 1)))
    draws = antorcha.multinomial(rows, 3).numpy()  # (20000, 3)
    firsts = draws[:, 0]
    assert _chi_square(np.bincount(firsts, minlength=4), weights / weights.sum()) < _CHI2_CRITICAL[3]
    assert all(len(set(row)) == 3 for row in draws[:200])
    # the second draw, given the first was category 3, follows the remaining weights 1:2:3
    seconds = draws[firsts == 3, 1]
    assert _chi_square(np.bincount(seconds, minlength=4), np.array([1, 2, 3, 0]) / 6) < _CHI2_CRITICAL[2]


def test_multinomial_without_replacement_takes_zero_weights_last_as_torch() -> None:
    weights = [0.0, 1.0, 0.0, 2.0]
    ours = antorcha.multinomial(antorcha.tensor(weights), 4).numpy()
    theirs = torch.multinomial(torch.tensor(weights), 4).numpy()
    assert sorted(ours[:2]) == sorted(theirs[:2]) == [1, 3]
    assert sorted(ours) == sorted(theirs) == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("weights", "num_samples", "replacement"),
    [
        ([0.0, 1.0], 3, False),  # more samples than categories
        ([-1.0, 1.0], 1, True),
        ([0.0, 0.0], 1, True),
        ([1.0, float("nan")], 1, False),
        ([1.0, float("inf")], 1, True),
        ([[[1.0]]], 1, True),  # 3-D
        ([1.0, 1.0], 0, True),
        ([1, 1], 1, True),  # integer weights
        ([[0.0, 1.0], [0.0, 0.0]], 1, True),  # one empty row
    ],
)
def test_multinomial_errors_match_torch(weights: list, num_samples: int, replacement: bool) -> None:
    _assert_same_error(
        lambda: antorcha.multinomial(antorcha.tensor(weights), num_samples, replacement),
        lambda: torch.multinomial(torch.tensor(weights), num_samples, replacement),
    )


def test_multinomial_shapes_dtypes_and_out_match_torch() -> None:
    for weights in ([[1.0, 2.0], [3.0, 4.0]], [0.5, 0.5]):
        for dtype in ("float16", "float32", "float64"):
            ours = antorcha.multinomial(antorcha.tensor(weights, dtype=getattr(antorcha, dtype)), 2)
            theirs = torch.multinomial(torch.tensor(weights, dtype=getattr(torch, dtype)), 2)
            assert tuple(ours.shape) == tuple(theirs.shape) and ours.dtype.name == str(theirs.dtype)[6:]
    assert antorcha.multinomial(antorcha.ones(0, 3), 2).shape == torch.multinomial(torch.ones(0, 3), 2).shape
    out = antorcha.empty(0, dtype=antorcha.int64)
    assert antorcha.multinomial(antorcha.ones(4), 4, out=out) is out and sorted(out.tolist()) == [0, 1, 2, 3]


def test_multinomial_replays_for_a_seed_and_a_generator() -> None:
    weights = antorcha.rand(5, 7)
    antorcha.manual_seed(7)
    first = antorcha.multinomial(weights, 4)
    antorcha.manual_seed(7)
    assert antorcha.equal(first, antorcha.multinomial(weights, 4))
    draws = [
        antorcha.multinomial(weights, 30, True, generator=antorcha.Generator().manual_seed(3)) for _ in "ab"
    ]
    assert antorcha.equal(*draws)
    with pytest.raises(TypeError):
        antorcha.multinomial(weights, 2, generator=3)


# ---- bernoulli, poisson ------------------------------------------------------------------------
def test_bernoulli_means_follow_the_probabilities(device: str) -> None:
    p = antorcha.tensor([0.0, 0.1, 0.5, 0.9, 1.0], device=device).expand(40_000, 5)
    draws = antorcha.bernoulli(p).cpu().numpy()
    assert set(np.unique(draws)) <= {0.0, 1.0}
    means = draws.mean(axis=0)
    assert means[0] == 0 and means[4] == 1
    np.testing.assert_allclose(means[1:4], [0.1, 0.5, 0.9], atol=5 * math.sqrt(0.25 / 40_000))


def test_bernoulli_forms_match_torch_in_shape_dtype_and_node() -> None:
    for dtype in ("float32", "float64"):
        ours_p = antorcha.rand(3, 4, dtype=getattr(antorcha, dtype), requires_grad=True)
        theirs_p = torch.rand(3, 4, dtype=getattr(torch, dtype), requires_grad=True)
        ours, theirs = antorcha.bernoulli(ours_p), torch.bernoulli(theirs_p)
        assert ours.dtype.name == dtype and ours.shape == theirs.shape
        assert ours.grad_fn.name() == theirs.grad_fn.name() == "BernoulliBackward0"
        ours.sum().backward()
        theirs.sum().backward()
        np.testing.assert_array_equal(ours_p.grad.numpy(), theirs_p.grad.numpy())  # zeros
    halves = antorcha.bernoulli(antorcha.zeros(50_000), 0.5)  # bernoulli(input, p): p for every element
    assert abs(halves.mean().item() - 0.5) < 0.012 and halves.dtype is antorcha.float32


@pytest.mark.parametrize("data", [[0.2, 1.5], [0.2, float("nan")], [0, 1], [True, False]])
def test_bernoulli_errors_match_torch(data: list) -> None:
    _assert_same_error(
        lambda: antorcha.bernoulli(antorcha.tensor(data)), lambda: torch.bernoulli(torch.tensor(data))
    )


def test_bernoulli_in_place_with_a_number_or_a_tensor() -> None:
    x = antorcha.empty(40_000, dtype=antorcha.int64).bernoulli_(0.3)
    assert x.dtype is antorcha.int64 and abs(x.double().mean().item() - 0.3) < 0.012
    p = antorcha.tensor([0.0, 0.25, 1.0])
    y = antorcha.empty(30_000, 3).bernoulli_(p)  # p broadcast over the rows
    np.testing.assert_allclose(y.mean(0).numpy(), [0.0, 0.25, 1.0], atol=0.015)
    assert antorcha.empty(4, dtype=antorcha.bool).bernoulli_().dtype is antorcha.bool
    _assert_same_error(lambda: antorcha.empty(5).bernoulli_(1.5), lambda: torch.empty(5).bernoulli_(1.5))
    _assert_same_error(
        lambda: antorcha.empty(3).bernoulli_(antorcha.rand(2, 3)),
        lambda: torch.empty(3).bernoulli_(torch.rand(2, 3)),
    )


def test_poisson_mean_and_variance_equal_the_rate(device: str) -> None:
    rates = antorcha.tensor([0.0, 0.5, 4.0, 50.0], dtype=antorcha.float64, device=device).expand(40_000, 4)
    draws = antorcha.poisson(rates).cpu().numpy()
    assert draws.dtype == np.float64 and (draws == np.round(draws)).all() and (draws[:, 0] == 0).all()
    for column, rate in zip(draws.T[1:], (0.5, 4.0, 50.0)):
        assert abs(column.mean() - rate) < 5 * math.sqrt(rate / 40_000)
        assert abs(column.var() / rate - 1) < 0.05


def test_poisson_dtype_node_and_errors_match_torch() -> None:
    ours_rate = antorcha.tensor([1.0, 2.0], requires_grad=True)
    theirs_rate = torch.tensor([1.0, 2.0], requires_grad=True)
    ours, theirs = antorcha.poisson(ours_rate), torch.poisson(theirs_rate)
    assert ours.dtype is antorcha.float32 and ours.grad_fn.name() == theirs.grad_fn.name()
    ours.sum().backward()
    assert ours_rate.grad.tolist() == [0.0, 0.0]
    for data in ([1, 2], [-1.0, 2.0], [1.0, float("nan")]):
        _assert_same_error(
            lambda d=data: antorcha.poisson(antorcha.tensor(d)), lambda d=data: torch.poisson(torch.tensor(d))
        )
    big = antorcha.poisson(antorcha.full((1000,), 1e16, dtype=antorcha.float64))  # the normal approximation
    assert abs(big.mean().item() / 1e16 - 1) < 1e-6


# ---- normal -------------------------------------------------------------------------------------
def test_normal_overloads_match_torch_in_shape_dtype_and_node() -> None:
    cases = [
        (lambda m: (m.zeros(2, 3, requires_grad=True), m.ones(3, requires_grad=True)), "NormalBackward3"),
        (lambda m: (m.zeros(2, 3, requires_grad=True), 2.0), "NormalBackward1"),
        (lambda m: (0.5, m.ones(4, dtype=m.float64, requires_grad=True)), "NormalBackward2"),
        (lambda m: (m.zeros(2), m.ones(2, dtype=m.float64)), None),  # mean's dtype wins
    ]
    for make, node in cases:
        ours, theirs = antorcha.normal(*make(antorcha)), torch.normal(*make(torch))
        assert tuple(ours.shape) == tuple(theirs.shape) and ours.dtype.name == str(theirs.dtype)[6:]
        assert (ours.grad_fn.name() if ours.grad_fn else None) == (
            theirs.grad_fn.name() if theirs.grad_fn else None
        )
        assert node is None or ours.grad_fn.name() == node
    mean = antorcha.rand(2, 3, requires_grad=True)
    std = antorcha.rand(3, requires_grad=True)
    antorcha.normal(mean, std).sum().backward()
    assert mean.grad.abs().sum().item() == 0 and std.grad.shape == (3,)  # torch: zeros in each input's shape
    sized = antorcha.normal(2.0, 3.0, size=(1, 4), dtype=antorcha.float64)
    assert sized.shape == (1, 4) and sized.dtype is antorcha.float64
    assert antorcha.normal(0, 1, (2,), requires_grad=True).requires_grad


def test_normal_moments(device: str) -> None:
    mean = antorcha.tensor([-3.0, 0.0, 10.0], device=device, dtype=antorcha.float64).expand(40_000, 3)
    std = antorcha.tensor([0.5, 1.0, 4.0], device=device, dtype=antorcha.float64)
    draws = antorcha.normal(mean, std).cpu().numpy()
    np.testing.assert_allclose(draws.mean(0), [-3, 0, 10], atol=5 * 4 / math.sqrt(40_000))
    np.testing.assert_allclose(draws.std(0), [0.5, 1.0, 4.0], rtol=0.03)
    shared = antorcha.normal(5.0, 2.0, (50_000,), device=device).cpu().numpy()
    assert abs(shared.mean() - 5) < 0.05 and abs(shared.std() - 2) < 0.05


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.normal(m.zeros(2, 3), m.ones(5)),
        lambda m: m.normal(m.zeros(2, 3), -m.ones(2, 3)),
        lambda m: m.normal(0.0, -1.0, (2,)),
        lambda m: m.normal(m.zeros(2), -1.0),
        lambda m: m.normal(m.zeros(2, dtype=m.long), 1.0),
        lambda m: m.normal(0.0, 1.0),
        lambda m: m.normal(m.zeros(2), 1, (5,)),
    ],
)
def test_normal_errors_match_torch(call: object) -> None:
    with pytest.raises(Exception) as expected:
        call(torch)
    with pytest.raises(expected.type):
        call(antorcha)


# ---- the in-place samplers -----------------------------------------------------------------------
def test_exponential_geometric_log_normal_cauchy_moments(device: str) -> None:
    n = 60_000
    exponential = antorcha.empty(n, dtype=antorcha.float64, device=device).exponential_(2.0).cpu().numpy()
    assert (
        exponential.min() >= 0
        and abs(exponential.mean() - 0.5) < 0.01
        and abs(exponential.var() - 0.25) < 0.015
    )
    geometric = antorcha.empty(n, device=device).geometric_(0.25).cpu().numpy()
    assert geometric.min() == 1 and (geometric == np.round(geometric)).all()
    assert abs(geometric.mean() - 4) < 0.07 and abs(geometric.var() - 12) < 0.6  # (1 - p) / p**2
    log_normal = antorcha.empty(n, dtype=antorcha.float64, device=device).log_normal_(1.0, 0.5).cpu().numpy()
    assert (
        log_normal.min() > 0
        and abs(np.log(log_normal).mean() - 1) < 0.01
        and abs(np.log(log_normal).std() - 0.5) < 0.01
    )
    cauchy = antorcha.empty(n, dtype=antorcha.float64, device=device).cauchy_(3.0, 2.0).cpu().numpy()
    np.testing.assert_allclose(np.quantile(cauchy, [0.25, 0.5, 0.75]), [1.0, 3.0, 5.0], atol=0.1)


def test_random_in_place_ranges_per_dtype() -> None:
    assert sorted(np.unique(antorcha.empty(10_000).random_(5).numpy())) == [0, 1, 2, 3, 4]
    assert sorted(np.unique(antorcha.empty(10_000).random_(2, 5).numpy())) == [2, 3, 4]
    assert sorted(np.unique(antorcha.empty(1_000).random_(to=3).numpy())) == [0, 1, 2]
    full_float = antorcha.empty(100_000).random_().numpy()
    assert full_float.min() >= 0 and full_float.max() <= 2**24 and full_float.max() > 2**23
    full_int8 = antorcha.empty(20_000, dtype=antorcha.int8).random_().numpy()
    assert full_int8.min() == 0 and full_int8.max() == 127
    full_long = antorcha.empty(1_000, dtype=antorcha.int64).random_().numpy()
    assert full_long.min() >= 0 and full_long.max() > 2**62
    assert set(antorcha.empty(100, dtype=antorcha.bool).random_().tolist()) == {False, True}
    counts = np.bincount(antorcha.empty(60_000, dtype=antorcha.uint8).random_(0, 256).numpy(), minlength=256)
    assert _chi_square(counts, np.full(256, 1 / 256)) < 255 + 5 * math.sqrt(2 * 255)


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.empty(5).random_(5, 2),
        lambda m: m.empty(5, dtype=m.uint8).random_(0, 300),
        lambda m: m.empty(5, dtype=m.uint8).random_(-1, 3),
        lambda m: m.empty(5).exponential_(0),
        lambda m: m.empty(5).exponential_(-1),
        lambda m: m.empty(5, dtype=m.long).exponential_(),
        lambda m: m.empty(5).geometric_(0),
        lambda m: m.empty(5).geometric_(1.5),
        lambda m: m.empty(5).log_normal_(std=0),
        lambda m: m.empty(5, dtype=m.long).log_normal_(),
        lambda m: m.empty(5).cauchy_(sigma=-1),
        lambda m: m.empty(5, dtype=m.long).cauchy_(),
        lambda m: m.empty(5).uniform_(2, 1),
        lambda m: m.empty(5, dtype=m.long).uniform_(),
        lambda m: m.empty(5).normal_(0, -1),
        lambda m: m.empty(5, dtype=m.long).normal_(),
        lambda m: m.rand(2, dtype=m.long),
        lambda m: m.randn(2, dtype=m.int32),
        lambda m: m.randint(0, 300, (3,), dtype=m.uint8),
        lambda m: m.randint(-1, 3, (3,), dtype=m.uint8),
        lambda m: m.randint(5, 2, (3,)),
    ],
)
def test_in_place_sampler_errors_match_torch(call: object) -> None:
    _assert_same_error(lambda: call(antorcha), lambda: call(torch))


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("exponential_", ()),
        ("geometric_", (0.5,)),
        ("log_normal_", ()),
        ("cauchy_", ()),
        ("random_", ()),
        ("bernoulli_", (0.5,)),
        ("bernoulli_", "tensor"),
        ("uniform_", ()),
        ("normal_", ()),
    ],
)
def test_in_place_sampler_on_a_graph_tensor_names_torch_node(method: str, args: object) -> None:
    def run(m: object) -> tuple:
        leaf = m.rand(3, requires_grad=True)
        x = leaf * 1
        sampled = getattr(x, method)(*((m.rand(3),) if args == "tensor" else args))
        (sampled * 3).sum().backward()
        return sampled.grad_fn.name(), leaf.grad.tolist()

    assert run(antorcha) == run(torch)  # the node, and a zero gradient to the overwritten values


def test_in_place_samplers_take_a_generator() -> None:
    for method, args in (
        ("exponential_", ()),
        ("geometric_", (0.3,)),
        ("cauchy_", ()),
        ("random_", (0, 9)),
        ("bernoulli_", (0.4,)),
        ("log_normal_", ()),
        ("uniform_", ()),
        ("normal_", ()),
    ):
        a, b = (
            getattr(antorcha.empty(50), method)(*args, generator=antorcha.Generator().manual_seed(11))
            for _ in "ab"
        )
        assert antorcha.equal(a, b), method


# ---- the factories' generators, and the Generator itself ----------------------------------------
def test_factories_replay_with_a_generator_and_leave_the_global_stream_alone() -> None:
    def draw(generator: antorcha.Generator) -> list:
        return [
            antorcha.rand(3, generator=generator),
            antorcha.randn(2, 2, generator=generator, dtype=antorcha.float64),
            antorcha.randint(0, 10, (4,), generator=generator),
            antorcha.randperm(6, generator=generator),
            antorcha.normal(0.0, 1.0, (3,), generator=generator),
            antorcha.rand_like(antorcha.zeros(2), generator=generator),
            antorcha.randint_like(antorcha.zeros(2), 5, generator=generator),
        ]

    antorcha.manual_seed(5)
    baseline = antorcha.rand(4)
    antorcha.manual_seed(5)
    first = draw(antorcha.Generator().manual_seed(99))
    assert antorcha.equal(baseline, antorcha.rand(4))  # the global generator did not move
    for a, b in zip(first, draw(antorcha.Generator().manual_seed(99))):
        assert antorcha.equal(a, b)


def test_randperm_is_a_permutation_with_torch_dtypes_and_errors() -> None:
    assert sorted(antorcha.randperm(100).tolist()) == list(range(100))
    for dtype in ("int64", "int32", "float32", "float64"):
        ours = antorcha.randperm(5, dtype=getattr(antorcha, dtype))
        assert ours.dtype.name == str(torch.randperm(5, dtype=getattr(torch, dtype)).dtype)[6:]
    assert antorcha.randperm(0).shape == (0,)
    assert antorcha.randperm(4, dtype=antorcha.float32, requires_grad=True).requires_grad
    for call in (
        lambda m: m.randperm(-1),
        lambda m: m.randperm(300, dtype=m.uint8),
        lambda m: m.randperm(5, dtype=m.bool),
        lambda m: m.randperm(5, requires_grad=True),
    ):
        with pytest.raises(Exception) as expected:
            call(torch)
        with pytest.raises(expected.type):
            call(antorcha)


def test_generator_state_round_trips_and_is_checked() -> None:
    generator = antorcha.Generator().manual_seed(3)
    assert generator.manual_seed(3) is generator and generator.initial_seed() == 3
    state = generator.get_state()
    assert state.dtype is antorcha.uint8 and state.ndim == 1
    first = antorcha.rand(5, generator=generator)
    generator.set_state(state)
    assert antorcha.equal(first, antorcha.rand(5, generator=generator))
    other = antorcha.Generator().manual_seed(8)
    other.set_state(state)  # a state carries over to another generator, its seed too
    assert other.initial_seed() == 3 and antorcha.equal(first, antorcha.rand(5, generator=other))
    _assert_same_error(
        lambda: generator.set_state(antorcha.zeros(3)), lambda: torch.Generator().set_state(torch.zeros(3))
    )
    with pytest.raises(RuntimeError):
        generator.set_state(antorcha.zeros(3, dtype=antorcha.uint8))
    with pytest.raises(TypeError):
        generator.set_state([1, 2])
    assert (
        antorcha.Generator().manual_seed(-1).initial_seed()
        == torch.Generator().manual_seed(-1).initial_seed()
    )


def test_global_state_and_fork_rng() -> None:
    state = antorcha.get_rng_state()
    first = antorcha.randn(4)
    antorcha.set_rng_state(state)
    assert antorcha.equal(first, antorcha.randn(4))
    with antorcha.random.fork_rng():
        inside = antorcha.rand(3)
    assert antorcha.equal(inside, antorcha.rand(3))  # the stream after the block is the one before it
    assert antorcha.random.default_generator is antorcha.default_generator


def test_a_new_generator_starts_from_torchs_default_seed() -> None:
    # torch.Generator() always starts from the same seed, so two new generators agree
    assert antorcha.Generator().initial_seed() == torch.Generator().initial_seed()
    first, second = antorcha.Generator(), antorcha.Generator()
    assert antorcha.equal(antorcha.rand(4, generator=first), antorcha.rand(4, generator=second))

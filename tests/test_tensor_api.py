"""The Tensor's attributes, plain methods, repr and grad_fn graph, each compared with torch's."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import antorcha

BOTH = (torch, antorcha)


def _pair(make: Callable[[Any], Any]) -> tuple[Any, Any]:
    """The same construction in torch and in antorcha."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's deprecation notes (x.T on 3-D, ...)
        return make(torch), make(antorcha)


def _name(value: Any) -> str:
    """A torch-spelled object's text, with the module name swapped in, for comparisons."""
    return str(value).replace("antorcha", "torch")


# ---- attributes ------------------------------------------------------------------------------
def test_basic_attributes() -> None:
    t, a = _pair(lambda m: m.ones(2, 3, 4))
    assert tuple(a.shape) == tuple(t.shape) == (2, 3, 4)
    assert _name(a.dtype) == _name(t.dtype) == "torch.float32"
    assert a.device == antorcha.device("cpu") and repr(a.device) == repr(t.device)
    assert str(a.device) == str(t.device) == "cpu"
    assert a.ndim == t.ndim == 3
    assert a.requires_grad is t.requires_grad is False
    assert a.grad is None and a.grad_fn is None and a.is_leaf


def test_autograd_attributes() -> None:
    for m in BOTH:
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = x * 3
        assert x.is_leaf and not y.is_leaf
        assert x.grad_fn is None and y.grad_fn is not None
        assert y.requires_grad
        y.backward(m.tensor([1.0, 1.0]))
        assert x.grad.tolist() == [3.0, 3.0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about reading a non-leaf's .grad
            assert y.grad is None  # not retained
        assert not x.grad.requires_grad


def test_T_and_mT() -> None:
    for attr in ("T", "mT"):
        at, aa = _pair(lambda m, attr=attr: getattr(m.arange(24.0).reshape(2, 3, 4), attr))
        assert tuple(aa.shape) == tuple(at.shape)
        np.testing.assert_array_equal(np.asarray(aa), at.numpy())
    two_d_t, two_d_a = _pair(lambda m: m.arange(6.0).reshape(2, 3).T)
    np.testing.assert_array_equal(np.asarray(two_d_a), two_d_t.numpy())


def test_data_is_a_detached_alias() -> None:
    for m in BOTH:
        x = m.ones(3, requires_grad=True)
        d = x.data
        assert not d.requires_grad and d.is_leaf
        d[0] = 5.0  # writes through to x
        assert x.tolist() == [5.0, 1.0, 1.0]
        x.data = m.zeros(3)
        assert x.tolist() == [0.0, 0.0, 0.0] and x.requires_grad


def test_size_is_a_tuple_with_torch_repr() -> None:
    t, a = _pair(lambda m: m.ones(2, 3))
    assert isinstance(a.shape, tuple) and isinstance(a.shape, antorcha.Size)
    assert repr(a.shape) == "antorcha.Size([2, 3])" == _name(t.shape).replace("torch", "antorcha")
    assert str(a.size()) == "antorcha.Size([2, 3])"
    assert a.shape == (2, 3) and a.shape == antorcha.Size([2, 3])
    assert a.shape[-1] == 3 and a.shape[1:] == (3,)
    assert antorcha.Size([2, 3]).numel() == torch.Size([2, 3]).numel() == 6
    assert repr(antorcha.ones(()).shape) == "antorcha.Size([])"


def test_size_slices_and_sums_are_sizes_as_in_torch() -> None:
    t, a = _pair(lambda m: m.ones(2, 3, 4))
    for make in (lambda s: s[:2], lambda s: s[1:], lambda s: s + (5,), lambda s: (5,) + s, lambda s: s * 2):
        ours, theirs = make(a.shape), make(t.shape)
        assert type(theirs) is torch.Size and type(ours) is antorcha.Size
        assert tuple(ours) == tuple(theirs)
    assert type(a.shape[0]) is int and a.shape[-1] == t.shape[-1]


# ---- methods ----------------------------------------------------------------------------------
def test_size_dim_numel() -> None:
    t, a = _pair(lambda m: m.zeros(2, 0, 5))
    assert a.size() == t.size() and a.size(1) == t.size(1) == 0 and a.size(-1) == 5
    assert a.dim() == t.dim() == 3
    assert a.numel() == t.numel() == 0
    assert antorcha.ones(3, 4).numel() == 12


@pytest.mark.parametrize(
    "make",
    [lambda m: m.tensor(2.5), lambda m: m.tensor(7), lambda m: m.tensor(True), lambda m: m.tensor([[3.25]]),
     lambda m: m.tensor(1.5, dtype=m.float64)],
    ids=["float", "int", "bool", "one_element", "float64"],
)
def test_item(make: Callable) -> None:
    t, a = _pair(make)
    assert a.item() == t.item() and type(a.item()) is type(t.item())


@pytest.mark.parametrize(
    "make",
    [lambda m: m.tensor([[1.5, 2.0], [3.0, 4.0]]), lambda m: m.tensor([1, 2]), lambda m: m.tensor(2.5),
     lambda m: m.tensor([True, False]), lambda m: m.zeros(0, 2)],
    ids=["2d", "ints", "0d", "bools", "empty"],
)
def test_tolist(make: Callable) -> None:
    t, a = _pair(make)
    assert a.tolist() == t.tolist()
    assert type(a.tolist()) is type(t.tolist())


def test_numpy_shares_memory() -> None:
    x = antorcha.tensor([1.0, 2.0])
    array = x.numpy()
    assert isinstance(array, np.ndarray) and array.dtype == np.float32
    array[0] = 9.0
    assert x.tolist() == [9.0, 2.0]
    assert antorcha.ones(2, requires_grad=True).detach().numpy().tolist() == [1.0, 1.0]


def test_clone_copies_and_keeps_the_graph() -> None:
    for m in BOTH:
        x = m.tensor([1.0, 2.0], requires_grad=True)
        c = x.clone()
        assert type(c.grad_fn).__name__ == "CloneBackward0"
        c.backward(m.tensor([1.0, 2.0]))
        assert x.grad.tolist() == [1.0, 2.0]
        plain = m.tensor([1.0, 2.0])
        copy = plain.clone()
        copy[0] = 5.0
        assert plain.tolist() == [1.0, 2.0]


def test_detach_shares_memory_and_leaves_the_graph() -> None:
    for m in BOTH:
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = (x * 2).detach()
        assert not y.requires_grad and y.grad_fn is None and y.is_leaf
        d = x.detach()
        with m.no_grad():
            d[1] = 7.0
        assert x.tolist() == [1.0, 7.0]


def test_requires_grad_() -> None:
    for m in BOTH:
        x = m.ones(2)
        assert x.requires_grad_() is x and x.requires_grad
        x.requires_grad_(False)
        assert not x.requires_grad


def test_retain_grad() -> None:
    grads = []
    for m in BOTH:
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = x * x
        y.retain_grad()
        assert y.retains_grad
        (y * 3).backward(m.tensor([1.0, -1.0]))
        grads.append((y.grad.tolist(), x.grad.tolist()))
    assert grads[0] == grads[1] == ([3.0, -3.0], [6.0, -12.0])


def test_contiguous() -> None:
    for m in BOTH:
        x = m.arange(6.0).reshape(2, 3).t()
        assert not x.is_contiguous()
        c = x.contiguous()
        assert c.is_contiguous() and c.tolist() == x.tolist()
        assert c.contiguous() is c


CASTS = {
    "to_float64": lambda m, x: x.to(m.float64),
    "to_keyword": lambda m, x: x.to(dtype=m.int32),
    "to_same": lambda m, x: x.to(m.float32),
    "to_device_and_dtype": lambda m, x: x.to("cpu", m.float64),
    "float": lambda m, x: x.float(),
    "double": lambda m, x: x.double(),
    "half": lambda m, x: x.half(),
    "long": lambda m, x: x.long(),
    "int": lambda m, x: x.int(),
    "bool": lambda m, x: x.bool(),
    "type_as_int": lambda m, x: x.type_as(m.tensor([1])),
    "type_as_double": lambda m, x: x.type_as(m.tensor([1.0], dtype=m.float64)),
}


@pytest.mark.parametrize("cast", CASTS.values(), ids=list(CASTS))
def test_dtype_conversions(cast: Callable) -> None:
    t, a = _pair(lambda m: cast(m, m.tensor([-1.75, 0.0, 2.5, 3.0])))
    assert _name(a.dtype) == _name(t.dtype)
    assert a.tolist() == t.tolist()


def test_to_same_dtype_returns_self() -> None:
    for m in BOTH:
        x = m.ones(2)
        assert x.to(m.float32) is x
        assert x.float() is x


# ---- Python protocols -------------------------------------------------------------------------
def test_iteration_and_len() -> None:
    t, a = _pair(lambda m: m.arange(6.0).reshape(3, 2))
    assert len(a) == len(t) == 3
    rows_t, rows_a = list(t), list(a)
    assert len(rows_a) == 3
    for row_a, row_t in zip(rows_a, rows_t):
        assert isinstance(row_a, antorcha.Tensor) and row_a.tolist() == row_t.tolist()
    for m in BOTH:
        with pytest.raises(TypeError):
            len(m.tensor(1.0))
        with pytest.raises(TypeError):
            iter(m.tensor(1.0))


@pytest.mark.parametrize(
    "spec",
    [".2f", ".3e", "8.3f", "g", ""],  # "": torch formats any 0-dim tensor as its item()
)
def test_format_of_0_dim(spec: str) -> None:
    t, a = _pair(lambda m: m.tensor(3.14159))
    assert f"{a:{spec}}".replace("antorcha", "torch") == f"{t:{spec}}"


def test_number_conversions() -> None:
    t, a = _pair(lambda m: m.tensor([2.75]))
    assert float(a) == float(t) and int(a) == int(t) and bool(a) == bool(t)
    assert [10, 20, 30][antorcha.tensor(1)] == 20  # __index__


# ---- repr ---------------------------------------------------------------------------------------
REPRS = {
    "four_decimals": lambda m: m.tensor([1.5, 2.25, -3.125]),
    "integer_valued_floats": lambda m: m.tensor([1.0, 2.0, -3.0]),
    "sci_small": lambda m: m.tensor([1e-5, 2.0]),
    "sci_large": lambda m: m.tensor([1e9, 1.0]),
    "sci_wide_range": lambda m: m.tensor([0.001, 1500.0]),
    "ints": lambda m: m.tensor([1, -20, 300]),
    "bools": lambda m: m.tensor([True, False]),
    "zero_dim_float": lambda m: m.tensor(3.14159),
    "zero_dim_int": lambda m: m.tensor(7),
    "zero_dim_nan": lambda m: m.tensor(float("nan")),
    "empty": lambda m: m.tensor([]),
    "empty_2d": lambda m: m.zeros(0, 3),
    "empty_int": lambda m: m.zeros(0, dtype=m.int64),
    "two_d": lambda m: m.tensor([[1.5, 2.0], [-3.25, 4.0]]),
    "three_d": lambda m: m.arange(24.0).reshape(2, 3, 4) / 7,
    "requires_grad": lambda m: m.tensor([1.0, 2.0], requires_grad=True),
    "grad_fn_mul": lambda m: m.tensor([1.0, 2.0], requires_grad=True) * 2,
    "grad_fn_sum": lambda m: m.tensor([1.0, 2.0], requires_grad=True).sum(),
    "grad_fn_mean_dim": lambda m: m.ones(2, 2, requires_grad=True).mean(1),
    "grad_fn_max": lambda m: m.tensor([1.0, 2.0], requires_grad=True).max(),
    "float64": lambda m: m.tensor([1.0, 2.5], dtype=m.float64),
    "float16": lambda m: m.tensor([1.0, 2.5], dtype=m.float16),
    "int32": lambda m: m.tensor([1, 2], dtype=m.int32),
    "uint8": lambda m: m.tensor([1, 2], dtype=m.uint8),
    "float64_with_grad_fn": lambda m: m.tensor([1.0, 2.5], dtype=m.float64, requires_grad=True) * 2,
    "summarized_floats": lambda m: m.arange(2000.0) / 3,
    "summarized_ints": lambda m: m.arange(5000),
    "summarized_2d": lambda m: m.arange(3000.0).reshape(60, 50),
    "wrapped_row": lambda m: m.arange(30.0) / 7,
    "nan_and_inf": lambda m: m.tensor([float("nan"), float("inf"), -float("inf"), 1.5]),
    "nan_with_integers": lambda m: m.tensor([float("nan"), 1.0, 2.0]),
    "negative_zero": lambda m: m.tensor([-0.0, 1.0]),
    "all_zero": lambda m: m.zeros(3),
    "column_alignment": lambda m: m.tensor([[1.5, -200.25], [30.0, 4.125]]),
    "suffix_on_new_line": lambda m: m.full((2, 4), 1234567.891, dtype=m.float64, requires_grad=True),
}


@pytest.mark.parametrize("make", REPRS.values(), ids=list(REPRS))
def test_repr_matches_torch(make: Callable) -> None:
    t, a = _pair(make)
    assert repr(a) == repr(t).replace("torch", "antorcha")
    assert str(a) == repr(a)


def test_repr_of_random_tensors_matches_torch() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        shape = tuple(rng.integers(1, 5, rng.integers(0, 4)))
        values = rng.standard_normal(shape) * 10.0 ** rng.integers(-6, 10)
        dtype = ["float32", "float64", "int64"][rng.integers(0, 3)]
        values = (np.round(values) if rng.random() < 0.3 else values).astype(dtype)
        expected = repr(torch.tensor(values)).replace("torch", "antorcha")
        assert repr(antorcha.tensor(values)) == expected


# ---- grad_fn names and the graph ---------------------------------------------------------------
def _linear(m: Any) -> Callable:
    if m is torch:
        return torch.nn.functional.linear
    from antorcha.ops.linalg import linear

    return linear


GRAD_FNS = {
    "MulBackward0": lambda m, x, y: x * y,
    "AddBackward0": lambda m, x, y: x + y,
    "SubBackward0": lambda m, x, y: x - y,
    "DivBackward0": lambda m, x, y: x / y,
    "NegBackward0": lambda m, x, y: -x,
    "PowBackward0": lambda m, x, y: x**2,
    "PowBackward1": lambda m, x, y: x.abs() ** y,
    "ExpBackward0": lambda m, x, y: x.exp(),
    "LogBackward0": lambda m, x, y: x.abs().log(),
    "TanhBackward0": lambda m, x, y: x.tanh(),
    "SigmoidBackward0": lambda m, x, y: x.sigmoid(),
    "ReluBackward0": lambda m, x, y: x.relu(),
    "SumBackward0": lambda m, x, y: x.sum(),
    "SumBackward1": lambda m, x, y: x.sum(0),
    "MeanBackward0": lambda m, x, y: x.mean(),
    "MeanBackward1": lambda m, x, y: x.mean(1),
    "MaxBackward1": lambda m, x, y: x.max(),
    "MaxBackward0": lambda m, x, y: x.max(0)[0],
    "ProdBackward0": lambda m, x, y: x.prod(),
    "VarBackward0": lambda m, x, y: x.var(),
    "SoftmaxBackward0": lambda m, x, y: x.softmax(1),
    "LogSoftmaxBackward0": lambda m, x, y: x.log_softmax(1),
    "MmBackward0": lambda m, x, y: x @ y.t(),
    "AddmmBackward0": lambda m, x, y: _linear(m)(x, y, y[0, :2]),
    "ViewBackward0": lambda m, x, y: x.view(3, 2),
    "TBackward0": lambda m, x, y: x.t(),
    "PermuteBackward0": lambda m, x, y: x.permute(1, 0),
    "UnsqueezeBackward0": lambda m, x, y: x.unsqueeze(0),
    "ExpandBackward0": lambda m, x, y: x[None].expand(2, 2, 3),
    "CatBackward0": lambda m, x, y: m.cat([x, y]),
    "StackBackward0": lambda m, x, y: m.stack([x, y], 1),
    "DivBackward2": lambda m, x, y: m.div(x, y, rounding_mode="floor"),
    "NanToNumBackward0": lambda m, x, y: x.nan_to_num(),
    "UniformBackward0": lambda m, x, y: (x * 1).uniform_(),
    "FillBackward2": lambda m, x, y: (x * 1).fill_(2.0),
    "SelectBackward0": lambda m, x, y: x[0],
    "SliceBackward0": lambda m, x, y: x[:1],
    "IndexBackward0": lambda m, x, y: x[[0, 1]],
    "MaskedFillBackward0": lambda m, x, y: x.masked_fill(x > 0, 0.0),
    "WhereBackward0": lambda m, x, y: m.where(x > 0, x, y),
    "GatherBackward0": lambda m, x, y: x.gather(1, m.tensor([[0], [1]])),
    "ClampBackward1": lambda m, x, y: x.clamp(-1, 1),
    "ToCopyBackward0": lambda m, x, y: x.to(m.float64),
    "CloneBackward0": lambda m, x, y: x.clone(),
    "CopySlices": lambda m, x, y: _set_first(x * 1),
    "ZeroBackward0": lambda m, x, y: (x * 1).zero_(),
    "LinalgVectorNormBackward0": lambda m, x, y: x.norm(),
}


def _set_first(t: Any) -> Any:
    t[0] = 1.0
    return t


def _xy(m: Any) -> tuple[Any, Any]:
    x = m.tensor([[1.0, -2.0, 3.0], [0.5, 1.5, -1.0]], requires_grad=True)
    y = m.tensor([[0.3, 2.0, -1.0], [1.0, 0.7, 0.2]], requires_grad=True)
    return x, y


@pytest.mark.parametrize(("expected", "make"), GRAD_FNS.items(), ids=list(GRAD_FNS))
def test_grad_fn_name(expected: str, make: Callable) -> None:
    for m in BOTH:
        out = make(m, *_xy(m))
        assert type(out.grad_fn).__name__ == expected, f"{m.__name__}: {type(out.grad_fn).__name__}"
        assert out.grad_fn.name().endswith(expected)  # torch: "torch::autograd::CopySlices"


def _structure(fn: Any, depth: int = 4) -> Any:
    """A grad_fn's graph as nested (name, output_nr) tuples, AccumulateGrad and None included."""
    if fn is None:
        return None
    children = () if depth == 0 else tuple((_structure(f, depth - 1), nr) for f, nr in fn.next_functions)
    return (type(fn).__name__, children)


GRAPHS = {
    "mul_add": lambda m, x, y: x * y + x,
    "constant_operand": lambda m, x, y: x * 2 + 1,
    "no_grad_operand": lambda m, x, y: x * y.detach(),
    "matmul_sum": lambda m, x, y: (x @ y.t()).sum(),
    "linear": lambda m, x, y: _linear(m)(x.detach(), y, m.tensor([0.1, 0.2], requires_grad=True)),
    "reused_input": lambda m, x, y: (x.exp() * x).mean(0),
    "in_place": lambda m, x, y: (x * 1).mul_(y),
}


@pytest.mark.parametrize("make", GRAPHS.values(), ids=list(GRAPHS))
def test_next_functions_match_torch(make: Callable) -> None:
    t_out, a_out = (make(m, *_xy(m)) for m in BOTH)
    assert _structure(a_out.grad_fn) == _structure(t_out.grad_fn)


def test_accumulate_grad_points_at_its_leaf() -> None:
    x, y = _xy(antorcha)
    out = x * y
    (accumulate, _), _ = out.grad_fn.next_functions
    assert type(accumulate).__name__ == "AccumulateGrad"
    assert accumulate.variable is x


def test_range_keys_index_as_in_torch() -> None:
    """Lecture code's `probs[range(n), ys]` (the loss of a makemore-style MLP), forward and backward."""
    rng = np.random.default_rng(5)
    logits, ys = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    results = []
    for lib in (antorcha, torch):
        x = lib.tensor(logits, requires_grad=True)
        probs = x.softmax(1)
        loss = -probs[range(6), lib.tensor(ys)].log().mean()
        loss.backward()
        picked = x.detach()[range(1, 5, 2)], x.detach()[:, range(0)], x.detach()[[]]
        written = x.detach().clone()
        written[range(2), 0] = -1.0
        results.append([loss.detach().numpy(), x.grad.numpy(), *(p.numpy() for p in picked), written.numpy()])
    for ours, theirs in zip(*results):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_version_counts_in_place_changes_as_torch() -> None:
    """`_version` (what autograd's in-place checks read) counts every in-place change, from the first
    one on a fresh tensor, through views, optimizers and nn.init, as torch's does."""

    def versions(lib: Any) -> list[int]:
        out = []
        x = lib.zeros(3)
        x.add_(1)
        x.mul_(2)
        x[0] = 5
        out.append(x._version)
        y = lib.zeros(3)
        view = y[:2]
        view.add_(1)
        out += [y._version, view._version]
        z = lib.ones(4)
        z.zero_()
        z.fill_(2.0)
        z.clamp_(0, 1)
        out.append(z._version)
        layer = lib.nn.Linear(3, 3)
        adam = lib.optim.Adam(layer.parameters())
        out.append(layer.weight._version)  # nn.init's in-place draws count too
        for _ in range(3):
            adam.zero_grad()
            layer(lib.ones(2, 3)).sum().backward()
            adam.step()
        out.append(layer.weight._version)
        t = lib.empty(3, 3)
        lib.nn.init.normal_(t)
        lib.nn.init.zeros_(t)
        out.append(t._version)
        c = lib.arange(4.0)
        c.copy_(lib.ones(4))
        out.append(c._version)
        return out

    assert versions(antorcha) == versions(torch)


@pytest.mark.parametrize("value", [np.str_("a"), np.bytes_(b"ab")], ids=["str_", "bytes_"])
@pytest.mark.parametrize("make", ["tensor", "as_tensor"])
def test_numpy_text_scalars_are_refused_as_torch(value: Any, make: str) -> None:
    with pytest.raises(TypeError) as theirs:
        getattr(torch, make)(value)
    with pytest.raises(TypeError) as ours:
        getattr(antorcha, make)(value)
    assert str(ours.value) == str(theirs.value)

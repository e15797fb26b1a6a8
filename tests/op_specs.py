"""The op-spec table: every differentiable op (and its non-differentiable kin), declared once.

Each row names an op, says how to call it (one expression run on both `antorcha`
and `torch`, or a method / function name, or a separate torch spelling), how many
inputs it takes and how their shapes relate (the `args` builder from
`strategies.py`), where its inputs live (the domain samplers: positive for log,
away from 0 for div and the kinks of abs/relu, ...), its tolerances per dtype and
whether it is differentiable. `test_ops.py` drives forward and backward checks
against torch from this table; `test_op_coverage.py` checks every public op has a row.

The row type is in `op_spec.py`; the shape, indexing and in-place rows are in
`op_specs_shape.py`; `SPECS` below is the whole table.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import op_specs_attention
import op_specs_contraction
import op_specs_conv
import op_specs_linalg
import op_specs_namespace
import op_specs_nn_more
import op_specs_norm
import op_specs_rearrange
import op_specs_sampling
import op_specs_scatter
import op_specs_sorting
import op_specs_special
import strategies as s
from hypothesis import strategies as st
from op_spec import ACCUMULATE, Call, OpSpec
from op_specs_shape import index_rows, inplace_rows, shape_rows
from strategies import Case, booleans, nonzero, positive, real, unit


# ---- domains and validity checks --------------------------------------------------------------
def _low_bound(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    return rng.uniform(-1.2, -0.2, shape)


def _high_bound(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    return rng.uniform(0.2, 1.2, shape)


def _ratio_off_integers(case: Case) -> bool:
    """a // b and a % b jump where a / b is an integer: keep well clear of those."""
    a, b = case.arrays[:2]
    ratio = a / b
    return bool(np.all(np.abs(ratio - np.round(ratio)) > 1e-3))


def _away_from_bounds(case: Case) -> bool:
    x, low, high = case.arrays
    return bool(np.all(np.abs(x - low) > 1e-3) and np.all(np.abs(x - high) > 1e-3))


def _one_of(*kwarg_sets: dict[str, Any]) -> Callable[[tuple], st.SearchStrategy[dict[str, Any]]]:
    return lambda shape: st.sampled_from(kwarg_sets)


def forward_only(name: str, args: s.Builder, call: Call | None = None, **kw: Any) -> OpSpec:
    """A row with no gradient to check (bool/int results, or no derivative in torch either)."""
    return OpSpec(name, args, call=call, differentiable=False, **kw)


E = s.elementwise
ONE = E(real)
TWO = E(real, real)
DIV = E(real, nonzero)
INT_DIV = E(s.ints, s.nonzero_ints)
SMALL_INTS = E(s.small_ints_as_float)  # integer-valued floats, so == and ties happen
TWO_SMALL_INTS = E(s.small_ints_as_float, s.small_ints_as_float)
BOOLS = E(booleans, booleans)
# torch's clamp backward fails when tensor bounds broadcast x to a larger shape: keep x largest
BOUNDS = s.into(real, _low_bound, _high_bound)
CLAMP_KWARGS = _one_of({"min": -0.5, "max": 0.5}, {"min": -0.5}, {"max": 0.5})
POWERS = _one_of(*({"p": p} for p in (2, 3, 0.5, -1, 2.5, 0, 1)))


def _arithmetic_rows() -> list[OpSpec]:
    off_integers = _ratio_off_integers
    return [
        OpSpec("add", TWO, method="add", function="add"),
        OpSpec("__add__", TWO, call=lambda m, x, y: x + y, covers=("Tensor.__add__",)),
        OpSpec("add_scalar", ONE, call=lambda m, x: x + 1.5),
        OpSpec("__radd__", ONE, call=lambda m, x: 2 + x, covers=("Tensor.__radd__",)),
        OpSpec("add_alpha", TWO, call=lambda m, x, y: m.add(x, y, alpha=0.5)),
        OpSpec("add_alpha_method", TWO, call=lambda m, x, y: x.add(y, alpha=-2)),
        OpSpec("sub", TWO, method="sub", function="sub"),
        OpSpec("__sub__", TWO, call=lambda m, x, y: x - y, covers=("Tensor.__sub__",)),
        OpSpec("__rsub__", ONE, call=lambda m, x: 1.5 - x, covers=("Tensor.__rsub__",)),
        OpSpec("sub_alpha", TWO, call=lambda m, x, y: x.sub(y, alpha=3)),
        OpSpec("mul", TWO, method="mul", function="mul", second_order=True),
        OpSpec("__mul__", TWO, call=lambda m, x, y: x * y, covers=("Tensor.__mul__",)),
        OpSpec("__rmul__", ONE, call=lambda m, x: 3 * x, covers=("Tensor.__rmul__",)),
        OpSpec("div", DIV, method="div", function="div", second_order=True),
        OpSpec("__truediv__", DIV, call=lambda m, x, y: x / y, covers=("Tensor.__truediv__",)),
        OpSpec("true_divide", DIV, function="true_divide"),
        OpSpec("__rtruediv__", E(nonzero), call=lambda m, x: 1.5 / x, covers=("Tensor.__rtruediv__",)),
        OpSpec("div_scalar", ONE, call=lambda m, x: x / 4),
        OpSpec("div_floor", DIV, call=lambda m, x, y: m.div(x, y, rounding_mode="floor"), valid=off_integers),
        OpSpec("div_trunc", DIV, call=lambda m, x, y: x.div(y, rounding_mode="trunc"), valid=off_integers),
        forward_only("div_int", INT_DIV, lambda m, x, y: x / y),
        OpSpec("pow", E(positive, real), method="pow", function="pow", second_order=True),
        OpSpec("__pow__", s.with_kwargs(positive, POWERS), call=lambda m, x, p: x**p,
               covers=("Tensor.__pow__",), second_order=True),
        OpSpec("pow_negative_base", s.with_kwargs(real, _one_of({"p": 2}, {"p": 3})),
               call=lambda m, x, p: x.pow(p)),
        OpSpec("__rpow__", ONE, call=lambda m, x: 2.0**x, covers=("Tensor.__rpow__",), second_order=True),
        forward_only("pow_int", E(s.ints), lambda m, x: x**2),
        # torch has no derivative for floor_divide, nor for `scalar % tensor`: forward only
        forward_only("__floordiv__", DIV, lambda m, x, y: x // y, covers=("Tensor.__floordiv__",),
                     valid=off_integers),
        forward_only("floor_divide", DIV, method="floor_divide", function="floor_divide", valid=off_integers),
        forward_only("__rfloordiv__", E(nonzero), lambda m, x: 7.0 // x, covers=("Tensor.__rfloordiv__",)),
        forward_only("floordiv_int", INT_DIV, lambda m, x, y: x // y),
        OpSpec("remainder", DIV, method="remainder", function="remainder", valid=off_integers),
        OpSpec("__mod__", DIV, call=lambda m, x, y: x % y, covers=("Tensor.__mod__",), valid=off_integers),
        forward_only("__rmod__", E(nonzero), lambda m, x: 5.0 % x, covers=("Tensor.__rmod__",)),
        forward_only("mod_int", INT_DIV, lambda m, x, y: x % y),
        OpSpec("fmod", DIV, method="fmod", function="fmod", valid=off_integers, second_order=True),
    ]


def _selection_rows() -> list[OpSpec]:
    return [
        OpSpec("maximum", TWO, method="maximum", function="maximum", second_order=True),
        OpSpec("minimum", TWO, method="minimum", function="minimum"),
        OpSpec("max_binary", TWO, call=lambda m, x, y: m.max(x, y)),
        OpSpec("min_binary", TWO, call=lambda m, x, y: m.min(x, y)),
        OpSpec("where", E(booleans, real, real), function="where", second_order=True),
        OpSpec("where_method", E(booleans, real, real), call=lambda m, c, x, y: x.where(c, y),
               covers=("Tensor.where",)),
        OpSpec("where_scalar", E(booleans, real), call=lambda m, c, x: m.where(c, x, 0.0)),
        OpSpec("lerp", TWO, call=lambda m, x, y: x.lerp(y, 0.3), covers=("Tensor.lerp",)),
        OpSpec("lerp_function", TWO, call=lambda m, x, y: m.lerp(x, y, 0.7), covers=("antorcha.lerp",)),
        OpSpec("clamp", s.with_kwargs(s.away_from(-0.5, 0.5), CLAMP_KWARGS), method="clamp", function="clamp",
               second_order=True),
        OpSpec("clamp_tensor", BOUNDS, call=lambda m, x, lo, hi: x.clamp(lo, hi), valid=_away_from_bounds),
        OpSpec("clamp_tensor_function", BOUNDS, call=lambda m, x, lo, hi: m.clamp(x, min=lo, max=hi),
               valid=_away_from_bounds),
        OpSpec("clamp_min", E(s.away_from(0.25)), call=lambda m, x: x.clamp_min(0.25),
               covers=("Tensor.clamp_min",)),
        OpSpec("clamp_max", E(s.away_from(0.25)), call=lambda m, x: x.clamp_max(0.25),
               covers=("Tensor.clamp_max",)),
    ]


def _unary_rows() -> list[OpSpec]:
    def unary(name: str, domain: s.Sampler = real, **kw: Any) -> OpSpec:
        return OpSpec(name, E(domain), method=name, function=name, **kw)

    return [
        unary("neg"),
        unary("negative"),
        OpSpec("__neg__", ONE, call=lambda m, x: -x, covers=("Tensor.__neg__",)),
        OpSpec("__pos__", ONE, call=lambda m, x: +x, covers=("Tensor.__pos__",)),
        unary("abs", nonzero, second_order=True),
        OpSpec("__abs__", E(nonzero), call=lambda m, x: abs(x), covers=("Tensor.__abs__",)),
        forward_only("abs_int", E(s.ints), lambda m, x: x.abs()),
        unary("exp", second_order=True),
        forward_only("exp_int", E(s.ints), lambda m, x: x.exp()),  # int -> default float dtype
        unary("expm1"),
        unary("log", positive, second_order=True),
        unary("log1p", positive),
        unary("log2", positive),
        unary("log10", positive),
        unary("sqrt", positive, second_order=True),
        unary("rsqrt", positive),
        unary("square"),
        unary("reciprocal", nonzero),
        unary("sin", second_order=True),
        unary("cos"),
        unary("tan", unit),
        unary("tanh", second_order=True),
        unary("sigmoid", second_order=True),
        unary("relu", nonzero, second_order=True),
        unary("erf", second_order=True),
        unary("sign", nonzero),
        unary("floor"),
        unary("ceil"),
        unary("round"),
        unary("trunc"),
        OpSpec("round_decimals", ONE, call=lambda m, x: x.round(decimals=1)),
        unary("nan_to_num", s.specials),
        OpSpec("nan_to_num_values", E(s.specials), call=lambda m, x: x.nan_to_num(0.5, 9.0, -9.0)),
    ]


GELU_KWARGS = _one_of({"approximate": "none"}, {"approximate": "tanh"})
LEAKY_KWARGS = _one_of({"negative_slope": 0.01}, {"negative_slope": 0.2})
SOFTPLUS_KWARGS = _one_of({}, {"beta": 2.0, "threshold": 1.5})  # x * beta above 1.5 takes the linear branch


def _activation_rows() -> list[OpSpec]:
    """nn.functional's activations, the graph-building backward of each in the second-order set."""

    def activation(name: str, args: s.Builder = ONE, **kw: Any) -> OpSpec:
        return OpSpec(f"F.{name}", args, functional=name, **kw)

    along = s.reduction(real, dim="int", keepdim=False, whole=False)
    return [
        activation("relu", E(nonzero), second_order=True),
        OpSpec("F.relu_inplace", E(nonzero), call=lambda m, x: m.nn.functional.relu(x * 1, inplace=True)),
        OpSpec("F.relu_", E(nonzero), call=lambda m, x: m.nn.functional.relu_(x * 1), covers=("F.relu_",)),
        activation("sigmoid", second_order=True),
        activation("tanh", second_order=True),
        activation("gelu", s.with_kwargs(real, GELU_KWARGS), second_order=True),
        activation("silu", second_order=True),
        activation("leaky_relu", s.with_kwargs(nonzero, LEAKY_KWARGS), second_order=True),
        activation("softplus", s.with_kwargs(s.away_from(0.75), SOFTPLUS_KWARGS), second_order=True),
        activation("logsigmoid", second_order=True),
        activation("softmax", along, tol=ACCUMULATE, second_order=True),
        activation("log_softmax", along, tol=ACCUMULATE, second_order=True),
    ]


def _comparison(symbol: str) -> Call:
    compare = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
               ">=": operator.ge}[symbol]
    return lambda m, x, y: compare(x, y)


def _logic_rows() -> list[OpSpec]:
    rows: list[OpSpec] = []
    for name, symbol in [("eq", "=="), ("ne", "!="), ("lt", "<"), ("le", "<="), ("gt", ">"), ("ge", ">=")]:
        dunder = f"__{name}__"
        rows.append(forward_only(name, TWO_SMALL_INTS, method=name, function=name))
        rows.append(forward_only(dunder, TWO_SMALL_INTS, _comparison(symbol), covers=(f"Tensor.{dunder}",)))
    return [
        *rows,
        forward_only("compare_scalar", SMALL_INTS, lambda m, x: (x < 1, x == 0.0, x >= -1.5)),
        forward_only("compare_int_float", E(s.ints, s.small_ints_as_float), lambda m, x, y: (x <= y, x != y)),
        forward_only("equal", s.same_shape(s.small_ints_as_float, s.small_ints_as_float), method="equal",
                     function="equal"),
        forward_only("equal_self", ONE, lambda m, x: (x.equal(x), m.equal(x, x * 1))),
        forward_only("allclose", TWO,
                     lambda m, x, y: (x.allclose(y), m.allclose(x, x + 1e-9), x.allclose(x + 1e-3)),
                     covers=("Tensor.allclose", "antorcha.allclose")),
        forward_only("__and__", BOOLS, lambda m, x, y: x & y, covers=("Tensor.__and__",)),
        forward_only("__or__", BOOLS, lambda m, x, y: x | y, covers=("Tensor.__or__",)),
        forward_only("__xor__", BOOLS, lambda m, x, y: x ^ y, covers=("Tensor.__xor__",)),
        forward_only("__rand__", E(booleans), lambda m, x: True & x, covers=("Tensor.__rand__",)),
        forward_only("__ror__", E(booleans), lambda m, x: False | x, covers=("Tensor.__ror__",)),
        forward_only("__rxor__", E(booleans), lambda m, x: True ^ x, covers=("Tensor.__rxor__",)),
        forward_only("__invert__", E(booleans), lambda m, x: ~x, covers=("Tensor.__invert__",)),
        forward_only("bitwise_int", E(s.ints, s.ints), lambda m, x, y: (x & y, x | y, x ^ y, ~x)),
        forward_only("logical_and", BOOLS, method="logical_and", function="logical_and"),
        forward_only("logical_or", BOOLS, method="logical_or", function="logical_or"),
        forward_only("logical_not", E(booleans), method="logical_not", function="logical_not"),
        forward_only("logical_on_floats", TWO_SMALL_INTS,
                     lambda m, x, y: (x.logical_and(y), m.logical_not(x))),
        forward_only("any", s.reduction(booleans), method="any", function="any"),
        forward_only("all", s.reduction(booleans), method="all", function="all"),
        forward_only("any_all_floats", SMALL_INTS, lambda m, x: (x.any(), x.all())),
        forward_only("isnan", E(s.specials), method="isnan", function="isnan"),
        forward_only("isinf", E(s.specials), method="isinf", function="isinf"),
        forward_only("isfinite", E(s.specials), method="isfinite", function="isfinite"),
    ]


def _linear_args(draw: Any, cfg: s.ShapeConfig) -> Case:
    side = st.integers(max(cfg.min_side, 1), cfg.max_side)
    batch = draw(st.lists(side, max_size=2))
    k, n = draw(side), draw(side)
    return s.make_case(draw, ((*batch, k), (n, k), (n,)), (real, real, real))


def _matmul_rows() -> list[OpSpec]:
    pairs = s.matmul_pair
    return [
        OpSpec("matmul", pairs(), method="matmul", function="matmul", tol=ACCUMULATE, second_order=True),
        OpSpec("__matmul__", pairs(), call=lambda m, x, y: x @ y, covers=("Tensor.__matmul__",),
               tol=ACCUMULATE),
        OpSpec("__rmatmul__", pairs(), call=lambda m, x, y: y.__rmatmul__(x), covers=("Tensor.__rmatmul__",),
               tol=ACCUMULATE),
        OpSpec("mm", pairs(kinds="mm"), method="mm", function="mm", tol=ACCUMULATE),
        OpSpec("bmm", pairs(kinds="bmm"), method="bmm", function="bmm", tol=ACCUMULATE),
        OpSpec("dot", pairs(kinds="dot"), method="dot", function="dot", tol=ACCUMULATE),
        OpSpec("mv", pairs(kinds="mv"), method="mv", function="mv", tol=ACCUMULATE),
        OpSpec("outer", s.same_shape(real, real, min_dims=1, max_dims=1), function="outer"),
        OpSpec("linear", s.custom(_linear_args), functional="linear", tol=ACCUMULATE, second_order=True),
    ]


def _reduction_rows() -> list[OpSpec]:
    R = s.reduction
    int_dim = {"dim": "int"}
    along = {"dim": "int", "keepdim": False, "whole": False}  # softmax, cumsum: one int dim, required
    acc = ACCUMULATE
    return [
        OpSpec("sum", R(real), method="sum", function="sum", tol=acc, second_order=True),
        forward_only("sum_int", R(s.ints), lambda m, x, **kw: x.sum(**kw)),
        forward_only("sum_bool", R(booleans), lambda m, x, **kw: m.sum(x, **kw)),
        OpSpec("mean", R(real), method="mean", function="mean", tol=acc, second_order=True),
        OpSpec("prod", R(nonzero, **int_dim), method="prod", function="prod", tol=acc),
        OpSpec("prod_with_zeros", R(s.with_zeros, **int_dim), call=lambda m, x, **kw: x.prod(**kw), tol=acc),
        OpSpec("max", R(real, **int_dim), method="max", function="max", second_order=True),
        OpSpec("min", R(real, **int_dim), method="min", function="min"),
        OpSpec("max_ties", R(s.small_ints_as_float, dim="int", keepdim=False),
               call=lambda m, x, **kw: x.max(**kw).values if kw else x.max()),
        OpSpec("amax", R(real), method="amax", function="amax"),
        OpSpec("amin", R(real), method="amin", function="amin"),
        OpSpec("amax_ties", R(s.small_ints_as_float), call=lambda m, x, **kw: x.amax(**kw)),
        forward_only("argmax", R(real, **int_dim), method="argmax", function="argmax"),
        forward_only("argmin", R(real, **int_dim), method="argmin", function="argmin"),
        OpSpec("var", R(real, correction=[0, 1, 2]), method="var", function="var", tol=acc,
               second_order=True),
        OpSpec("var_unbiased", R(real, unbiased=[True, False]), call=lambda m, x, **kw: x.var(**kw), tol=acc),
        OpSpec("std", R(real, correction=[0, 1]), method="std", function="std", tol=acc),
        OpSpec("logsumexp", R(real, whole=False), method="logsumexp", function="logsumexp", tol=acc,
               second_order=True),
        OpSpec("softmax", R(real, **along), method="softmax", function="softmax", tol=acc, second_order=True),
        OpSpec("log_softmax", R(real, **along), method="log_softmax", function="log_softmax", tol=acc,
               second_order=True),
        OpSpec("cumsum", R(real, **along), method="cumsum", function="cumsum", tol=acc, second_order=True),
        OpSpec("norm", R(nonzero, p=[2, 1, 3, float("inf"), "fro"]), method="norm", function="norm", tol=acc,
               second_order=True),
    ]


SPECS: list[OpSpec] = [
    *_arithmetic_rows(),
    *_selection_rows(),
    *_unary_rows(),
    *_activation_rows(),
    *_logic_rows(),
    *_matmul_rows(),
    *_reduction_rows(),
    *shape_rows(),
    *index_rows(),
    *inplace_rows(),
    *op_specs_sorting.rows(),
    *op_specs_special.rows(),
    *op_specs_rearrange.rows(),
    *op_specs_scatter.rows(),
    *op_specs_contraction.rows(),
    *op_specs_namespace.rows(),
    *op_specs_linalg.rows(),
    *op_specs_attention.rows(),
    *op_specs_norm.rows(),
    *op_specs_nn_more.rows(),
    *op_specs_sampling.rows(),
    *op_specs_conv.rows(),
]
# the areas' own NOT_OPS entries, joined into test_op_coverage.NOT_OPS
AREA_NOT_OPS: dict[str, str] = {
    **op_specs_sorting.NOT_OPS,
    **op_specs_special.NOT_OPS,
    **op_specs_rearrange.NOT_OPS,
    **op_specs_scatter.NOT_OPS,
    **op_specs_contraction.NOT_OPS,
    **op_specs_namespace.NOT_OPS,
    **op_specs_linalg.NOT_OPS,
    **op_specs_attention.NOT_OPS,
    **op_specs_norm.NOT_OPS,
    **op_specs_nn_more.NOT_OPS,
    **op_specs_conv.NOT_OPS,
}
BY_NAME: dict[str, OpSpec] = {spec.name: spec for spec in SPECS}
assert len(BY_NAME) == len(SPECS), "spec names must be unique"

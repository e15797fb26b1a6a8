"""Op-spec rows for shape, indexing and in-place ops (the rest of the table is in `op_specs.py`)."""

from __future__ import annotations

from typing import Any

import strategies as s
from hypothesis import strategies as st
from op_spec import Call, OpSpec
from strategies import booleans, nonzero, positive, real

E = s.elementwise
ONE = E(real)
TWO = E(real, real)
INTO_BOOL = s.into(real, booleans)  # a mask that broadcasts to x's shape


# ---- calls that need more than one expression ------------------------------------------------
def _inplace(name: str) -> Call:
    """`(x * 1).<name>(...)`: the in-place op on a non-leaf, so autograd must run through it."""

    def call(m: Any, x: Any, *rest: Any, **kw: Any) -> Any:
        target = x * 1
        out = getattr(target, name)(*rest, **kw)
        assert out is target, f"{name} must return self"
        return target

    return call


def _augmented(op: str) -> Call:
    def call(m: Any, x: Any, y: Any) -> Any:
        target = x * 1
        if op == "+":
            target += y
        elif op == "-":
            target -= y
        elif op == "*":
            target *= y
        else:
            target /= y
        return target

    return call


def _setitem(m: Any, x: Any, *value: Any, key: Any, **kw: Any) -> Any:
    target = x * 1
    target[key] = value[0] if value else kw["value"]
    return target


def _no_kwargs(shape: tuple) -> st.SearchStrategy[dict[str, Any]]:
    return st.just({})


def _a_dim(shape: tuple) -> st.SearchStrategy[dict[str, Any]]:
    return s.dim_of(len(shape)).map(lambda d: {"dim": d})


def shape_rows() -> list[OpSpec]:
    K = s.with_kwargs
    targets = K(real, s.reshape_targets)
    sizes = K(real, s.expand_sizes)
    perm = K(real, s.permutation)
    splits = K(real, s.split_sizes, min_dims=1)
    return [
        OpSpec("reshape", targets, call=lambda m, x, shape: x.reshape(shape), covers=("Tensor.reshape",)),
        OpSpec("reshape_varargs", targets, call=lambda m, x, shape: x.reshape(*shape)),
        OpSpec("reshape_function", targets, call=lambda m, x, shape: m.reshape(x, shape),
               covers=("antorcha.reshape",)),
        # a view of a transposed tensor is impossible (test_errors.py checks the error)
        OpSpec("view", targets, call=lambda m, x, shape: x.view(*shape), covers=("Tensor.view",),
               noncontiguous=False),
        OpSpec("view_as", targets, call=lambda m, x, shape: x.view_as(m.zeros(x.reshape(shape).shape)),
               covers=("Tensor.view_as",), noncontiguous=False),
        OpSpec("reshape_as", targets, call=lambda m, x, shape: x.reshape_as(m.zeros(x.reshape(shape).shape)),
               covers=("Tensor.reshape_as",)),
        OpSpec("flatten", K(real, s.flatten_dims), method="flatten", function="flatten"),
        OpSpec("unflatten", K(real, s.unflatten_sizes, min_dims=1), method="unflatten", function="unflatten"),
        OpSpec("transpose", K(real, s.two_dims), method="transpose", function="transpose"),
        OpSpec("permute", perm, call=lambda m, x, dims: x.permute(dims), covers=("Tensor.permute",)),
        OpSpec("permute_varargs", K(real, s.permutation, min_dims=1),
               call=lambda m, x, dims: x.permute(*dims)),
        OpSpec("permute_function", perm, call=lambda m, x, dims: m.permute(x, dims),
               covers=("antorcha.permute",)),
        OpSpec("t", K(real, _no_kwargs, max_dims=2), method="t", function="t"),
        OpSpec("T", K(real, _no_kwargs, max_dims=2), call=lambda m, x: x.T, covers=("Tensor.T",)),
        OpSpec("mT", E(real, min_dims=2), call=lambda m, x: x.mT, covers=("Tensor.mT",)),
        OpSpec("squeeze", K(real, s.squeeze_dims), method="squeeze", function="squeeze"),
        OpSpec("unsqueeze", K(real, s.unsqueeze_dim), method="unsqueeze", function="unsqueeze"),
        OpSpec("expand", sizes, call=lambda m, x, sizes: x.expand(*sizes), covers=("Tensor.expand",),
               second_order=True),
        OpSpec("expand_tuple", sizes, call=lambda m, x, sizes: x.expand(sizes)),
        OpSpec("expand_as", sizes, call=lambda m, x, sizes: x.expand_as(m.zeros(x.expand(sizes).shape)),
               covers=("Tensor.expand_as",)),
        OpSpec("broadcast_to", sizes, call=lambda m, x, sizes: x.broadcast_to(x.expand(sizes).shape),
               covers=("Tensor.broadcast_to",)),
        OpSpec("broadcast_to_function", sizes,
               call=lambda m, x, sizes: m.broadcast_to(x, x.expand(sizes).shape),
               covers=("antorcha.broadcast_to",)),
        OpSpec("broadcast_tensors", TWO, function="broadcast_tensors"),
        OpSpec("repeat", K(real, s.repeat_counts), call=lambda m, x, repeats: x.repeat(*repeats),
               covers=("Tensor.repeat",)),
        OpSpec("repeat_tuple", K(real, s.repeat_counts), call=lambda m, x, repeats: x.repeat(repeats)),
        OpSpec("cat", s.joinable(real), call=lambda m, *xs, dim: m.cat(xs, dim=dim), covers=("antorcha.cat",),
               second_order=True),
        OpSpec("cat_list_positional_dim", s.joinable(real), call=lambda m, *xs, dim: m.cat(list(xs), dim)),
        OpSpec("stack", s.joinable(real, stack=True), call=lambda m, *xs, dim: m.stack(xs, dim),
               covers=("antorcha.stack",)),
        OpSpec("split", splits, call=lambda m, x, split_size, dim: x.split(split_size, dim),
               covers=("Tensor.split",)),
        OpSpec("split_function", splits, call=lambda m, x, split_size, dim: m.split(x, split_size, dim=dim),
               covers=("antorcha.split",)),
        OpSpec("chunk", K(real, s.chunk_counts, min_dims=1), method="chunk", function="chunk"),
        OpSpec("unbind", K(real, _a_dim, min_dims=1), method="unbind", function="unbind"),
        OpSpec("tril", K(real, s.diagonal, min_dims=2), method="tril", function="tril"),
        OpSpec("triu", K(real, s.diagonal, min_dims=2), method="triu", function="triu"),
        OpSpec("flip", K(real, s.flip_dims), method="flip", function="flip"),
        OpSpec("clone", ONE, method="clone", function="clone"),
        OpSpec("contiguous", ONE, method="contiguous"),
        OpSpec("to_float64", ONE, call=lambda m, x: x.to(m.float64), covers=("Tensor.to",)),
        OpSpec("to_dtype_keyword", ONE, call=lambda m, x: x.to(dtype=m.float32)),
        OpSpec("double", ONE, method="double"),
        OpSpec("float", ONE, method="float"),
        OpSpec("half", ONE, method="half"),  # compared with the float16 tolerance
        # torch's numpy() has no bfloat16: compared after the exact way back to float32
        OpSpec("bfloat16", ONE, call=lambda m, x: x.bfloat16().float(), covers=("Tensor.bfloat16",)),
        OpSpec("type", ONE, call=lambda m, x: x.type(m.float64), covers=("Tensor.type",)),
        OpSpec("type_as", TWO, call=lambda m, x, y: x.type_as(y.double()), covers=("Tensor.type_as",)),
        OpSpec("long", ONE, method="long", differentiable=False),
        OpSpec("int", ONE, method="int", differentiable=False),
        OpSpec("bool", E(s.small_ints_as_float), method="bool", differentiable=False),
    ]


def _getitem(m: Any, x: Any, key: Any) -> Any:
    return x[key]


def index_rows() -> list[OpSpec]:
    index = s.index_builder
    gather_args, select_args = s.index_along_dim("gather"), s.index_along_dim("index_select")
    return [
        OpSpec("getitem_basic", index(False), call=_getitem, covers=("Tensor.__getitem__",), examples=30,
               second_order=True),
        OpSpec("getitem_advanced", index(True), call=_getitem, examples=30, second_order=True),
        OpSpec("setitem_basic", index(False, setitem=True), call=_setitem, covers=("Tensor.__setitem__",),
               examples=30, second_order=True),
        OpSpec("setitem_advanced", index(True, setitem=True), call=_setitem, examples=30),
        OpSpec("setitem_scalar", index(False, setitem=True, scalar_value=True), call=_setitem),
        OpSpec("masked_fill", INTO_BOOL, call=lambda m, x, mask: x.masked_fill(mask, 0.5),
               covers=("Tensor.masked_fill",), second_order=True),
        OpSpec("masked_fill_function", INTO_BOOL, call=lambda m, x, mask: m.masked_fill(x, mask, -1.0),
               covers=("antorcha.masked_fill",)),
        OpSpec("masked_fill_tensor_value", s.same_shape(real, booleans),
               call=lambda m, x, mask: x.masked_fill(mask, (x * 0).sum() + 2.0)),
        OpSpec("gather", gather_args, call=lambda m, x, index, dim: x.gather(dim, index),
               covers=("Tensor.gather",), second_order=True),
        OpSpec("gather_function", gather_args, call=lambda m, x, index, dim: m.gather(x, dim, index),
               covers=("antorcha.gather",)),
        OpSpec("index_select", select_args, call=lambda m, x, index, dim: x.index_select(dim, index),
               covers=("Tensor.index_select",), second_order=True),
        OpSpec("index_select_function", select_args,
               call=lambda m, x, index, dim: m.index_select(x, dim, index),
               covers=("antorcha.index_select",)),
        OpSpec("nonzero", E(s.small_ints_as_float), method="nonzero", function="nonzero",
               differentiable=False),
        OpSpec("nonzero_tuple", E(s.small_ints_as_float), call=lambda m, x: x.nonzero(as_tuple=True),
               differentiable=False),
    ]


def inplace_rows() -> list[OpSpec]:
    """In-place ops on a non-leaf `x * 1`: values, and autograd through the in-place change."""
    into = s.into(real, real)  # the operand broadcasts into the target: in place cannot grow it
    into_nonzero = s.into(real, nonzero)
    ip = _inplace
    return [
        OpSpec("add_", into, call=ip("add_"), covers=("Tensor.add_",)),
        OpSpec("add_alpha_", into, call=lambda m, x, y: ip("add_")(m, x, y, alpha=0.5)),
        OpSpec("sub_", into, call=ip("sub_"), covers=("Tensor.sub_",)),
        OpSpec("mul_", into, call=ip("mul_"), covers=("Tensor.mul_",)),
        OpSpec("mul_scalar_", ONE, call=lambda m, x: ip("mul_")(m, x, 3.0)),
        OpSpec("div_", into_nonzero, call=ip("div_"), covers=("Tensor.div_",)),
        OpSpec("pow_", E(positive), call=lambda m, x: ip("pow_")(m, x, 1.5), covers=("Tensor.pow_",)),
        OpSpec("clamp_", E(s.away_from(-0.5, 0.5)), call=lambda m, x: ip("clamp_")(m, x, -0.5, 0.5),
               covers=("Tensor.clamp_",)),
        OpSpec("masked_fill_", INTO_BOOL, call=lambda m, x, mask: ip("masked_fill_")(m, x, mask, 0.25),
               covers=("Tensor.masked_fill_",)),
        OpSpec("relu_", E(nonzero), call=ip("relu_"), covers=("Tensor.relu_",)),
        OpSpec("neg_", ONE, call=ip("neg_"), covers=("Tensor.neg_",)),
        OpSpec("exp_", ONE, call=ip("exp_"), covers=("Tensor.exp_",)),
        OpSpec("sqrt_", E(positive), call=ip("sqrt_"), covers=("Tensor.sqrt_",)),
        OpSpec("copy_", into, call=ip("copy_"), covers=("Tensor.copy_",)),
        OpSpec("zero_", ONE, call=ip("zero_"), covers=("Tensor.zero_",)),
        OpSpec("fill_", ONE, call=lambda m, x: ip("fill_")(m, x, 1.25), covers=("Tensor.fill_",)),
        OpSpec("fill_tensor_", TWO, call=lambda m, x, y: ip("fill_")(m, x, y.sum())),
        OpSpec("uniform_", ONE, call=lambda m, x: ip("uniform_")(m, x, -1.0, 1.0),
               covers=("Tensor.uniform_",), random_values=True),
        OpSpec("normal_", ONE, call=lambda m, x: ip("normal_")(m, x, 0.0, 2.0), covers=("Tensor.normal_",),
               random_values=True),
        OpSpec("__iadd__", into, call=_augmented("+"), covers=("Tensor.__iadd__",)),
        OpSpec("__isub__", into, call=_augmented("-"), covers=("Tensor.__isub__",)),
        OpSpec("__imul__", into, call=_augmented("*"), covers=("Tensor.__imul__",)),
        OpSpec("__itruediv__", into_nonzero, call=_augmented("/"), covers=("Tensor.__itruediv__",)),
    ]

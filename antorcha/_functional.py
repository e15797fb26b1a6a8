"""The torch-level functions (`antorcha.exp(x)`, `antorcha.cat([...])`, ...) over the ops."""

from __future__ import annotations

from typing import Any

from antorcha._tensor import Tensor
from antorcha.ops import elementwise as _ew
from antorcha.ops import indexing as _ix
from antorcha.ops import linalg as _la
from antorcha.ops import movement as _mv
from antorcha.ops import reduce as _rd
from antorcha.ops import unary as _un

# elementwise
add, sub, mul, div, pow = _ew.add, _ew.sub, _ew.mul, _ew.div, _ew.pow  # noqa: A001
subtract, multiply, divide, true_divide = _ew.sub, _ew.mul, _ew.div, _ew.true_divide
floor_divide, remainder, fmod = _ew.floor_divide, _ew.remainder, _ew.fmod
neg, negative, abs, exp, expm1 = _un.neg, _un.neg, _un.abs, _un.exp, _un.expm1  # noqa: A001
log, log1p, log2, log10 = _un.log, _un.log1p, _un.log2, _un.log10
sqrt, rsqrt, square, reciprocal = _un.sqrt, _un.rsqrt, _un.square, _un.reciprocal
sin, cos, tan, tanh, sigmoid, relu = _un.sin, _un.cos, _un.tan, _un.tanh, _un.sigmoid, _un.relu
sign, floor, ceil, round, trunc = _un.sign, _un.floor, _un.ceil, _un.round, _un.trunc  # noqa: A001
clamp = clip = _ew.clamp
maximum, minimum, where = _ew.maximum, _ew.minimum, _ew.where
nan_to_num = _ew.nan_to_num

# reductions
sum, mean, prod = _rd.sum, _rd.mean, _rd.prod  # noqa: A001
max, min, amax, amin = _rd.max, _rd.min, _rd.amax, _rd.amin  # noqa: A001
argmax, argmin, var, std = _rd.argmax, _rd.argmin, _rd.var, _rd.std
logsumexp, softmax, log_softmax, cumsum, norm = (
    _rd.logsumexp,
    _rd.softmax,
    _rd.log_softmax,
    _rd.cumsum,
    _rd.norm,
)

# shape and indexing
reshape, flatten, unflatten, transpose = _mv.reshape, _mv.flatten, _mv.unflatten, _mv.transpose
permute, t, squeeze, unsqueeze = _mv.permute, _mv.t, _mv.squeeze, _mv.unsqueeze
cat, concat, concatenate, stack = _mv.cat, _mv.cat, _mv.cat, _mv.stack
split, chunk, unbind, tril, triu, flip = _mv.split, _mv.chunk, _mv.unbind, _mv.tril, _mv.triu, _mv.flip
clone, broadcast_to, broadcast_tensors = _mv.clone, _mv.broadcast_to, _mv.broadcast_tensors
masked_fill, gather, index_select, nonzero = _ix.masked_fill, _ix.gather, _ix.index_select, _ix.nonzero
swapaxes = transpose

# linear algebra
matmul, mm, bmm, dot = _la.matmul, _la.mm, _la.bmm, _la.dot


def mv(a: Tensor, b: Tensor) -> Tensor:
    return _la.matmul(a, b)


def isnan(x: Tensor) -> Tensor:
    return x.isnan()


def isinf(x: Tensor) -> Tensor:
    return x.isinf()


def isfinite(x: Tensor) -> Tensor:
    return x.isfinite()


def any(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    return x.any(dim, keepdim)


def all(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    return x.all(dim, keepdim)


def eq(a: Tensor, b: Any) -> Tensor:
    return a == b


def ne(a: Tensor, b: Any) -> Tensor:
    return a != b


def lt(a: Tensor, b: Any) -> Tensor:
    return a < b


def le(a: Tensor, b: Any) -> Tensor:
    return a <= b


def gt(a: Tensor, b: Any) -> Tensor:
    return a > b


def ge(a: Tensor, b: Any) -> Tensor:
    return a >= b


def equal(a: Tensor, b: Tensor) -> bool:
    return a.equal(b)


def allclose(a: Tensor, b: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    return a.allclose(b, rtol, atol, equal_nan)


def logical_not(x: Tensor) -> Tensor:
    return x.logical_not()


def logical_and(a: Tensor, b: Tensor) -> Tensor:
    return a.logical_and(b)


def logical_or(a: Tensor, b: Tensor) -> Tensor:
    return a.logical_or(b)


def numel(x: Tensor) -> int:
    return x.numel()


def is_tensor(obj: Any) -> bool:
    return isinstance(obj, Tensor)


def is_floating_point(x: Tensor) -> bool:
    return x.is_floating_point()


def result_type(a: Any, b: Any) -> Any:
    from antorcha import _dtypes

    return _dtypes.result_type(a, b)


def lerp(start: Tensor, end: Tensor, weight: Any) -> Tensor:
    return start.lerp(end, weight)


def outer(a: Tensor, b: Tensor) -> Tensor:
    return a.unsqueeze(-1) * b


# what `from antorcha._functional import *` gives the antorcha namespace
__all__ = [
    "abs",
    "add",
    "all",
    "allclose",
    "amax",
    "amin",
    "any",
    "argmax",
    "argmin",
    "bmm",
    "broadcast_tensors",
    "broadcast_to",
    "cat",
    "ceil",
    "chunk",
    "clamp",
    "clip",
    "clone",
    "concat",
    "concatenate",
    "cos",
    "cumsum",
    "div",
    "divide",
    "dot",
    "eq",
    "equal",
    "exp",
    "expm1",
    "flatten",
    "flip",
    "floor",
    "floor_divide",
    "fmod",
    "gather",
    "ge",
    "gt",
    "index_select",
    "is_floating_point",
    "is_tensor",
    "isfinite",
    "isinf",
    "isnan",
    "le",
    "lerp",
    "log",
    "log1p",
    "log2",
    "log10",
    "log_softmax",
    "logical_and",
    "logical_not",
    "logical_or",
    "logsumexp",
    "lt",
    "masked_fill",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mm",
    "mul",
    "multiply",
    "mv",
    "nan_to_num",
    "ne",
    "neg",
    "negative",
    "nonzero",
    "norm",
    "numel",
    "outer",
    "permute",
    "pow",
    "prod",
    "reciprocal",
    "relu",
    "remainder",
    "reshape",
    "result_type",
    "round",
    "rsqrt",
    "sigmoid",
    "sign",
    "sin",
    "softmax",
    "split",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "std",
    "sub",
    "subtract",
    "sum",
    "swapaxes",
    "t",
    "tan",
    "tanh",
    "transpose",
    "tril",
    "triu",
    "true_divide",
    "trunc",
    "unbind",
    "unflatten",
    "unsqueeze",
    "var",
    "where",
]

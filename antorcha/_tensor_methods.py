"""Tensor operators and op-calling methods, as a mixin of `Tensor`.

Every method here is a thin call into `antorcha.ops`. The in-place variants
(`add_`, `x[i] = v`, `+=`) live in `_tensor_inplace.py`. The op modules import
Tensor, so they are bound here by `load_ops()` once Tensor exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from antorcha._tensor import Tensor


class TensorMethods:
    """Operators and methods; `self` is always a Tensor."""

    __slots__ = ()

    # ---- arithmetic operators ----------------------------------------------------------
    def __add__(self, other: Any) -> Tensor:
        return _ew.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _ew.add(self, other)

    def __sub__(self, other: Any) -> Tensor:
        return _ew.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _ew.rsub(self, other)

    def __mul__(self, other: Any) -> Tensor:
        return _ew.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _ew.mul(self, other)

    def __truediv__(self, other: Any) -> Tensor:
        return _ew.true_divide(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _ew.rtrue_divide(self, other)

    def __floordiv__(self, other: Any) -> Tensor:
        return _ew.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> Tensor:
        return _ew.floor_divide_reflected(self, other)

    def __mod__(self, other: Any) -> Tensor:
        return _ew.remainder(self, other)

    def __rmod__(self, other: Any) -> Tensor:
        return _ew._reflected(_ew.Remainder, self, other)

    def __pow__(self, exponent: Any) -> Tensor:
        return _ew.pow(self, exponent)

    def __rpow__(self, base: Any) -> Tensor:
        return _ew.rpow(self, base)

    def __matmul__(self, other: Any) -> Tensor:
        return _la.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _la.matmul(other, self)

    def __neg__(self) -> Tensor:
        return _un.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _un.abs(self)

    def __invert__(self) -> Tensor:
        return _ew.invert(self)

    def __and__(self, other: Any) -> Tensor:
        return _ew.logical("bitwise_and", self, other)

    def __or__(self, other: Any) -> Tensor:
        return _ew.logical("bitwise_or", self, other)

    def __xor__(self, other: Any) -> Tensor:
        return _ew.logical("bitwise_xor", self, other)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _ew.compare("equal", self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _ew.compare("not_equal", self, other)

    def __lt__(self, other: Any) -> Tensor:
        return _ew.compare("less", self, other)

    def __le__(self, other: Any) -> Tensor:
        return _ew.compare("less_equal", self, other)

    def __gt__(self, other: Any) -> Tensor:
        return _ew.compare("greater", self, other)

    def __ge__(self, other: Any) -> Tensor:
        return _ew.compare("greater_equal", self, other)

    # in-place operators
    def __iadd__(self, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self.div_(other)

    # ---- named arithmetic ---------------------------------------------------------------
    def add(self, other: Any, *, alpha: float = 1) -> Tensor:
        return _ew.add(self, other, alpha)

    def sub(self, other: Any, *, alpha: float = 1) -> Tensor:
        return _ew.sub(self, other, alpha)

    subtract = sub

    def mul(self, other: Any) -> Tensor:
        return _ew.mul(self, other)

    multiply = mul

    def div(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        return _ew.div(self, other, rounding_mode)

    divide = div
    true_divide = __truediv__

    def floor_divide(self, other: Any) -> Tensor:
        return _ew.floor_divide(self, other)

    def remainder(self, other: Any) -> Tensor:
        return _ew.remainder(self, other)

    def fmod(self, other: Any) -> Tensor:
        return _ew.fmod(self, other)

    def pow(self, exponent: Any) -> Tensor:
        return _ew.pow(self, exponent)

    def matmul(self, other: Tensor) -> Tensor:
        return _la.matmul(self, other)

    def mm(self, other: Tensor) -> Tensor:
        return _la.mm(self, other)

    def bmm(self, other: Tensor) -> Tensor:
        return _la.bmm(self, other)

    def dot(self, other: Tensor) -> Tensor:
        return _la.dot(self, other)

    def mv(self, other: Tensor) -> Tensor:
        return _la.matmul(self, other)

    def maximum(self, other: Tensor) -> Tensor:
        return _ew.maximum(self, other)

    def minimum(self, other: Tensor) -> Tensor:
        return _ew.minimum(self, other)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:
        return _ew.clamp(self, min, max)

    clip = clamp

    def clamp_min(self, min: Any) -> Tensor:
        return _ew.clamp(self, min, None)

    def clamp_max(self, max: Any) -> Tensor:
        return _ew.clamp(self, None, max)

    def where(self, condition: Tensor, other: Any) -> Tensor:
        return _ew.where(condition, self, other)

    def masked_fill(self, mask: Tensor, value: Any) -> Tensor:
        return _ix.masked_fill(self, mask, value)

    def lerp(self, end: Tensor, weight: Any) -> Tensor:
        return self + (end - self) * weight

    # ---- unary math ---------------------------------------------------------------------
    def neg(self) -> Tensor:
        return _un.neg(self)

    negative = neg

    def abs(self) -> Tensor:
        return _un.abs(self)

    def exp(self) -> Tensor:
        return _un.exp(self)

    def expm1(self) -> Tensor:
        return _un.expm1(self)

    def log(self) -> Tensor:
        return _un.log(self)

    def log1p(self) -> Tensor:
        return _un.log1p(self)

    def log2(self) -> Tensor:
        return _un.log2(self)

    def log10(self) -> Tensor:
        return _un.log10(self)

    def sqrt(self) -> Tensor:
        return _un.sqrt(self)

    def rsqrt(self) -> Tensor:
        return _un.rsqrt(self)

    def square(self) -> Tensor:
        return _un.square(self)

    def reciprocal(self) -> Tensor:
        return _un.reciprocal(self)

    def sin(self) -> Tensor:
        return _un.sin(self)

    def cos(self) -> Tensor:
        return _un.cos(self)

    def tan(self) -> Tensor:
        return _un.tan(self)

    def tanh(self) -> Tensor:
        return _un.tanh(self)

    def sigmoid(self) -> Tensor:
        return _un.sigmoid(self)

    def relu(self) -> Tensor:
        return _un.relu(self)

    def sign(self) -> Tensor:
        return _un.sign(self)

    def floor(self) -> Tensor:
        return _un.floor(self)

    def ceil(self) -> Tensor:
        return _un.ceil(self)

    def round(self, decimals: int = 0) -> Tensor:
        return _un.round(self, decimals)

    def trunc(self) -> Tensor:
        return _un.trunc(self)

    def softmax(self, dim: int, dtype: Any = None) -> Tensor:
        return _rd.softmax(self, dim, dtype)

    def log_softmax(self, dim: int, dtype: Any = None) -> Tensor:
        return _rd.log_softmax(self, dim, dtype)

    # ---- predicates and logic -----------------------------------------------------------
    def eq(self, other: Any) -> Tensor:
        return self.__eq__(other)

    def ne(self, other: Any) -> Tensor:
        return self.__ne__(other)

    def lt(self, other: Any) -> Tensor:
        return self.__lt__(other)

    def le(self, other: Any) -> Tensor:
        return self.__le__(other)

    def gt(self, other: Any) -> Tensor:
        return self.__gt__(other)

    def ge(self, other: Any) -> Tensor:
        return self.__ge__(other)

    def equal(self, other: Tensor) -> bool:
        return self.shape == other.shape and bool((self == other).all())

    def allclose(
        self, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
    ) -> bool:
        from antorcha._device import xp_of

        a, b = _common().as_operands(self, other)
        return bool(xp_of(a._data).allclose(a._data, b._data, rtol=rtol, atol=atol, equal_nan=equal_nan))

    def isnan(self) -> Tensor:
        return _ew.unary_predicate("isnan", self)

    def isinf(self) -> Tensor:
        return _ew.unary_predicate("isinf", self)

    def isfinite(self) -> Tensor:
        return _ew.unary_predicate("isfinite", self)

    def logical_not(self) -> Tensor:
        return _ew.unary_predicate("logical_not", self)

    def logical_and(self, other: Tensor) -> Tensor:
        return _ew.logical("logical_and", self.bool(), other.bool())

    def logical_or(self, other: Tensor) -> Tensor:
        return _ew.logical("logical_or", self.bool(), other.bool())

    def any(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _rd.any_all(self, "any", dim, keepdim)

    def all(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _rd.any_all(self, "all", dim, keepdim)

    def nonzero(self, as_tuple: bool = False) -> Any:
        return _ix.nonzero(self, as_tuple)

    def nan_to_num(
        self, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None
    ) -> Tensor:
        return _ew.nan_to_num(self, nan, posinf, neginf)

    # ---- reductions ---------------------------------------------------------------------
    def sum(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
        return _rd.sum(self, dim, keepdim, dtype)

    def mean(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
        return _rd.mean(self, dim, keepdim, dtype)

    def prod(self, dim: int | None = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
        return _rd.prod(self, dim, keepdim, dtype)

    def max(self, dim: Any = None, keepdim: bool = False) -> Any:
        return _rd.max(self, dim, keepdim)

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        return _rd.min(self, dim, keepdim)

    def amax(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        return _rd.amax(self, dim, keepdim)

    def amin(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        return _rd.amin(self, dim, keepdim)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return _rd.argmax(self, dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return _rd.argmin(self, dim, keepdim)

    def var(
        self, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *, correction: Any = None
    ) -> Tensor:
        return _rd.var(self, dim, unbiased, keepdim, correction=correction)

    def std(
        self, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *, correction: Any = None
    ) -> Tensor:
        return _rd.std(self, dim, unbiased, keepdim, correction=correction)

    def logsumexp(self, dim: Any, keepdim: bool = False) -> Tensor:
        return _rd.logsumexp(self, dim, keepdim)

    def cumsum(self, dim: int, *, dtype: Any = None) -> Tensor:
        return _rd.cumsum(self, dim, dtype)

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        return _rd.norm(self, p, dim, keepdim, dtype)

    # ---- shape --------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        return _mv.reshape(self, *shape)

    def view(self, *shape: Any) -> Tensor:
        return _mv.view(self, *shape)

    def view_as(self, other: Tensor) -> Tensor:
        return _mv.view(self, *other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        return _mv.reshape(self, *other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return _mv.flatten(self, start_dim, end_dim)

    def unflatten(self, dim: int, sizes: Any) -> Tensor:
        return _mv.unflatten(self, dim, sizes)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        return _mv.transpose(self, dim0, dim1)

    swapaxes = transpose

    def permute(self, *dims: Any) -> Tensor:
        return _mv.permute(self, *dims)

    def t(self) -> Tensor:
        return _mv.t(self)

    @property
    def T(self) -> Tensor:
        return _mv.permute(self, *reversed(range(self.ndim)))

    @property
    def mT(self) -> Tensor:
        return _mv.matrix_transpose(self)

    def squeeze(self, dim: Any = None) -> Tensor:
        return _mv.squeeze(self, dim)

    def unsqueeze(self, dim: int) -> Tensor:
        return _mv.unsqueeze(self, dim)

    def expand(self, *sizes: Any) -> Tensor:
        return _mv.expand(self, *sizes)

    def expand_as(self, other: Tensor) -> Tensor:
        return _mv.expand(self, *other.shape)

    def broadcast_to(self, shape: Any) -> Tensor:
        return _mv.broadcast_to(self, shape)

    def repeat(self, *repeats: Any) -> Tensor:
        return _mv.repeat(self, *repeats)

    def split(self, split_size: Any, dim: int = 0) -> tuple:
        return _mv.split(self, split_size, dim)

    def chunk(self, chunks: int, dim: int = 0) -> tuple:
        return _mv.chunk(self, chunks, dim)

    def unbind(self, dim: int = 0) -> tuple:
        return _mv.unbind(self, dim)

    def tril(self, diagonal: int = 0) -> Tensor:
        return _mv.tril(self, diagonal)

    def triu(self, diagonal: int = 0) -> Tensor:
        return _mv.triu(self, diagonal)

    def flip(self, dims: Any) -> Tensor:
        return _mv.flip(self, dims)

    def clone(self, *, memory_format: Any = None) -> Tensor:
        return _mv.clone(self)

    def contiguous(self, memory_format: Any = None) -> Tensor:
        return _mv.contiguous(self)

    # ---- indexing -----------------------------------------------------------------------
    def __getitem__(self, key: Any) -> Tensor:
        return _ix.getitem(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._inplace(lambda old, v: _ix.index_put(old, key, v), value, fast=None, key=key)

    def gather(self, dim: int, index: Tensor) -> Tensor:
        return _ix.gather(self, dim, index)

    def index_select(self, dim: int, index: Tensor) -> Tensor:
        return _ix.index_select(self, dim, index)


def _common() -> Any:
    from antorcha.ops import _common

    return _common


_ew: Any = None
_ix: Any = None
_la: Any = None
_mv: Any = None
_rd: Any = None
_un: Any = None


def load_ops() -> None:
    """Bind the op modules; called by `_tensor` once Tensor exists (the ops import it)."""
    global _ew, _ix, _la, _mv, _rd, _un
    from antorcha.ops import elementwise, indexing, linalg, movement, reduce, unary

    _ew, _ix, _la, _mv, _rd, _un = elementwise, indexing, linalg, movement, reduce, unary

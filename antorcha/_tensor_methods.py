"""Tensor operators and op-calling methods, as a mixin of `Tensor`.

Every method here is a thin call into `antorcha.ops`; the in-place variants go
through `_inplace`, which keeps autograd's rules: a leaf that requires grad may
not be changed in place outside `no_grad`, and the version counter is bumped so
that a backward which saved the old value fails loudly instead of silently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from antorcha._grad_mode import STATE

if TYPE_CHECKING:
    from antorcha._tensor import Tensor


def _ops() -> Any:
    from antorcha import ops

    return ops


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
        return _ew.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _ew.abs(self)

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
        return _ew.neg(self)

    negative = neg

    def abs(self) -> Tensor:
        return _ew.abs(self)

    def exp(self) -> Tensor:
        return _ew.exp(self)

    def expm1(self) -> Tensor:
        return _ew.expm1(self)

    def log(self) -> Tensor:
        return _ew.log(self)

    def log1p(self) -> Tensor:
        return _ew.log1p(self)

    def log2(self) -> Tensor:
        return _ew.log2(self)

    def log10(self) -> Tensor:
        return _ew.log10(self)

    def sqrt(self) -> Tensor:
        return _ew.sqrt(self)

    def rsqrt(self) -> Tensor:
        return _ew.rsqrt(self)

    def square(self) -> Tensor:
        return _ew.square(self)

    def reciprocal(self) -> Tensor:
        return _ew.reciprocal(self)

    def sin(self) -> Tensor:
        return _ew.sin(self)

    def cos(self) -> Tensor:
        return _ew.cos(self)

    def tan(self) -> Tensor:
        return _ew.tan(self)

    def tanh(self) -> Tensor:
        return _ew.tanh(self)

    def sigmoid(self) -> Tensor:
        return _ew.sigmoid(self)

    def relu(self) -> Tensor:
        return _ew.relu(self)

    def sign(self) -> Tensor:
        return _ew.sign(self)

    def floor(self) -> Tensor:
        return _ew.floor(self)

    def ceil(self) -> Tensor:
        return _ew.ceil(self)

    def round(self, decimals: int = 0) -> Tensor:
        return _ew.round(self, decimals)

    def trunc(self) -> Tensor:
        return _ew.trunc(self)

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

    # ---- in-place ops -------------------------------------------------------------------
    def add_(self, other: Any, *, alpha: float = 1) -> Tensor:
        return self._inplace(lambda old, o: _ew.add(old, o, alpha), other, fast="add", alpha=alpha)

    def sub_(self, other: Any, *, alpha: float = 1) -> Tensor:
        return self._inplace(lambda old, o: _ew.sub(old, o, alpha), other, fast="subtract", alpha=alpha)

    def mul_(self, other: Any) -> Tensor:
        return self._inplace(_ew.mul, other, fast="multiply")

    def div_(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        if rounding_mode is not None:
            return self._inplace(lambda old, o: _ew.div(old, o, rounding_mode), other)
        return self._inplace(_ew.true_divide, other, fast="true_divide")

    def pow_(self, exponent: Any) -> Tensor:
        return self._inplace(_ew.pow, exponent)

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        return self._inplace(lambda old, _: _ew.clamp(old, min, max), None)

    clip_ = clamp_

    def masked_fill_(self, mask: Tensor, value: Any) -> Tensor:
        return self._inplace(lambda old, v: _ix.masked_fill(old, mask, v), value)

    def relu_(self) -> Tensor:
        return self._inplace(lambda old, _: _ew.relu(old), None)

    def neg_(self) -> Tensor:
        return self._inplace(lambda old, _: _ew.neg(old), None)

    def exp_(self) -> Tensor:
        return self._inplace(lambda old, _: _ew.exp(old), None)

    def sqrt_(self) -> Tensor:
        return self._inplace(lambda old, _: _ew.sqrt(old), None)

    def copy_(self, src: Tensor, non_blocking: bool = False) -> Tensor:
        if not isinstance(src, TensorMethods):
            raise TypeError(f"copy_(): argument 'src' must be Tensor, not {type(src).__name__}")
        return self._inplace(lambda old, s: _copy_broadcast(old, s), src)

    def zero_(self) -> Tensor:
        return self._fill_array(lambda a: a.fill(0), _ew.Zero)

    def fill_(self, value: Any) -> Tensor:
        if isinstance(value, TensorMethods):
            if value.ndim != 0:
                raise RuntimeError(
                    "fill_ only supports 0-dimension value tensor but got tensor with "
                    f"{value.ndim} dimensions."
                )
            if value._requires_grad and STATE.enabled:
                return self._inplace(_copy_broadcast, value)
            value = value.item()
        return self._fill_array(lambda a: a.fill(value), _ew.Fill)

    def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator: Any = None) -> Tensor:
        from antorcha import random

        fill = lambda arr: random.fill_uniform(arr, a, b, self._device, generator)  # noqa: E731
        return self._fill_array(fill, _ew.Uniform)

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Tensor:
        from antorcha import random

        fill = lambda arr: random.fill_normal(arr, mean, std, self._device, generator)  # noqa: E731
        return self._fill_array(fill, _ew.Normal)

    def _check_inplace_allowed(self) -> None:
        if STATE.enabled and self._requires_grad and self.grad_fn is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")

    def _fill_array(self, fill: Callable[[Any], Any], op: Any) -> Tensor:
        """Overwrite every element (no gradient flows from the old values)."""
        self._check_inplace_allowed()
        fill(self._data)
        self._bump_version()
        if self.grad_fn is not None and STATE.enabled:
            # as torch: the tensor stays in the graph, and its old values get a zero gradient
            from antorcha._tensor import wrap

            old = wrap(self._data, True, self.grad_fn, self._device)
            old._output_nr = self._output_nr
            result = op.apply(old)
            self.grad_fn, self._output_nr = result.grad_fn, result._output_nr
        return self

    def _inplace(
        self, compute: Callable, other: Any, fast: str | None = None, alpha: float = 1, key: Any = None
    ) -> Tensor:
        """Run `compute(old_self, other)` and write the result into self's memory.

        Without autograd recording, arithmetic runs as one ufunc with `out=`. With it,
        the old value is copied first (backward may need it), the op is recorded
        out of place, and self takes over the new node as its grad_fn.
        """
        from antorcha._tensor import Tensor, wrap

        other_requires = isinstance(other, Tensor) and other._requires_grad
        recording = STATE.enabled and (self._requires_grad or other_requires)
        if recording:
            self._check_inplace_allowed()
            if self._base is not None:
                return self._inplace_on_view(compute, other)
            old = wrap(self._data.copy(), self._requires_grad, self.grad_fn, self._device)
            old._output_nr = self._output_nr
            result = compute(old, other)
        elif fast is not None and (not isinstance(other, Tensor) or other._device == self._device):
            self._ufunc_inplace(fast, other, alpha)
            self._bump_version()
            return self
        else:
            previous = STATE.enabled
            STATE.enabled = False
            try:
                result = compute(self, other)
            finally:
                STATE.enabled = previous
        self._write_result(result)
        if recording:
            self.grad_fn, self._output_nr, self._requires_grad = result.grad_fn, result._output_nr, True
        return self

    def _inplace_on_view(self, compute: Callable, other: Any) -> Tensor:
        """`base[key].op_(other)` under autograd: rewrite the base as `base[key] = op(base[key], other)`.

        torch's CopySlices: the base takes a node that scatters the op's result into
        its old value, and the view becomes a fresh view of the new base.
        """
        from antorcha._tensor import wrap

        base = self._base
        key = self._extra.get("view_key") if self._extra else None
        if key is None:
            raise RuntimeError(
                "antorcha supports in-place operations tracked by autograd on views made by basic "
                f"indexing (x[i], x[a:b]) only; this view of shape {list(self.shape)} came from another "
                "view op: use an out-of-place op, or clone() the view first"
            )
        if base.grad_fn is None and base._requires_grad:
            raise RuntimeError(
                "a view of a leaf Variable that requires grad is being used in an in-place operation."
            )
        old_base = wrap(base._data.copy(), base._requires_grad, base.grad_fn, base._device)
        old_base._output_nr = base._output_nr
        result = compute(_ix.getitem(old_base, key), other)
        new_base = _ix.index_put(old_base, key, result)
        base._write_result(new_base)  # writes through to this view's memory too
        base.grad_fn, base._output_nr, base._requires_grad = new_base.grad_fn, 0, True
        self.grad_fn = _ix.getitem(new_base, key).grad_fn
        self._output_nr, self._requires_grad = 0, True
        return self

    def _ufunc_inplace(self, name: str, other: Any, alpha: float) -> None:
        from antorcha._device import xp_of
        from antorcha._tensor import Tensor

        xp = xp_of(self._data)
        operand = other._data if isinstance(other, Tensor) else other
        if alpha != 1:
            operand = operand * alpha
        if name == "true_divide" and self._data.dtype.kind != "f":
            raise RuntimeError(
                f"result type Float can't be cast to the desired output type {_type_name(self)}"
            )
        try:
            getattr(xp, name)(self._data, operand, out=self._data, casting="same_kind")
        except TypeError:
            other_dtype = other.dtype.name if isinstance(other, Tensor) else type(other).__name__
            raise RuntimeError(
                f"result type {other_dtype} can't be cast to the desired output type {_type_name(self)}"
            ) from None
        except ValueError:
            other_shape = list(other.shape) if isinstance(other, Tensor) else []
            raise RuntimeError(
                f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                f"{_broadcast_or(self.shape, other_shape)}"
            ) from None

    def _write_result(self, result: Tensor) -> None:
        if result.shape != self.shape:
            raise RuntimeError(
                f"output with shape {list(self.shape)} doesn't match the broadcast shape {list(result.shape)}"
            )
        if result._data.dtype.kind == "f" and self._data.dtype.kind in "iub":
            raise RuntimeError(
                f"result type {result.dtype.name.capitalize()} can't be cast to the desired output "
                f"type {_type_name(self)}"
            )
        from antorcha._device import xp_of

        xp_of(self._data).copyto(self._data, result._data, casting="unsafe")
        self._bump_version()


def _type_name(t: Any) -> str:
    return {"int64": "Long", "int32": "Int", "bool": "Bool", "float32": "Float", "float64": "Double"}.get(
        t.dtype.name, t.dtype.name
    )


def _broadcast_or(a: tuple, b: list) -> list:
    import numpy as np

    try:
        return list(np.broadcast_shapes(tuple(a), tuple(b)))
    except ValueError:
        return list(b)


def _copy_broadcast(old: Tensor, src: Tensor) -> Tensor:
    if src._device != old._device:
        src = src.to(old._device)
    src = src.to(old.dtype)
    if old._requires_grad:  # torch's CopyBackwards: the old values get a zero gradient, not None
        from antorcha._creation import ones
        from antorcha._dtypes import bool_

        return _ew.where(ones(old.shape, dtype=bool_, device=old.device), src, old)
    if src.shape == old.shape:
        return src * 1 if src._requires_grad else src
    return _mv.expand(src, *old.shape) * 1


def _common() -> Any:
    from antorcha.ops import _common

    return _common


_ew: Any = None
_ix: Any = None
_la: Any = None
_mv: Any = None
_rd: Any = None


def load_ops() -> None:
    """Bind the op modules; called by `_tensor` once Tensor exists (the ops import it)."""
    global _ew, _ix, _la, _mv, _rd
    from antorcha.ops import elementwise, indexing, linalg, movement, reduce

    _ew, _ix, _la, _mv, _rd = elementwise, indexing, linalg, movement, reduce

"""In-place tensor methods (`add_`, `mul_`, `x[i] = v`, `+=`, ...), as a mixin of `Tensor`.

Everything goes through `_inplace`, which keeps autograd's rules: a leaf that
requires grad may not be changed in place outside `no_grad`; under autograd the
op is recorded out of place (on a copy of the old value, which backward may
need) and written back into the tensor's memory; and the version counter is
bumped so that a backward which saved the old value fails loudly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from antorcha._grad_mode import STATE

if TYPE_CHECKING:
    from antorcha._tensor import Tensor


class TensorInplaceMethods:
    """In-place methods; `self` is always a Tensor."""

    __slots__ = ()

    # ---- the node: a view's is regenerated once its base changed in place (autograd/function.py) --
    @property
    def grad_fn(self) -> Any:
        fn = self._grad_fn
        if fn is not None and self._base is not None and fn._view_version != self._vc[0]:
            from antorcha.autograd.function import current_view_node

            return current_view_node(self)
        return fn

    @grad_fn.setter
    def grad_fn(self, node: Any) -> None:
        self._grad_fn = node
        if node is not None and self._base is not None:
            node._view_version = self._vc[0]  # whoever sets a view's node describes its values now

    # ---- in-place ops: each is its out-of-place op, written back ---------------------------
    def add_(self, other: Any, *, alpha: float = 1) -> Tensor:
        return self._inplace(lambda old, o: old.add(o, alpha=alpha), other, fast="add", alpha=alpha)

    def sub_(self, other: Any, *, alpha: float = 1) -> Tensor:
        return self._inplace(lambda old, o: old.sub(o, alpha=alpha), other, fast="subtract", alpha=alpha)

    def mul_(self, other: Any) -> Tensor:
        return self._inplace(lambda old, o: old.mul(o), other, fast="multiply")

    def div_(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        if rounding_mode is not None:
            return self._inplace(lambda old, o: old.div(o, rounding_mode=rounding_mode), other)
        return self._inplace(lambda old, o: old.true_divide(o), other, fast="true_divide")

    def pow_(self, exponent: Any) -> Tensor:
        return self._inplace(lambda old, e: old.pow(e), exponent)

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        return self._inplace(lambda old, _: old.clamp(min, max), None)

    clip_ = clamp_

    def masked_fill_(self, mask: Tensor, value: Any) -> Tensor:
        return self._inplace(lambda old, v: old.masked_fill(mask, v), value)

    def relu_(self) -> Tensor:
        return self._inplace(lambda old, _: old.relu(), None)

    def neg_(self) -> Tensor:
        return self._inplace(lambda old, _: old.neg(), None)

    def exp_(self) -> Tensor:
        return self._inplace(lambda old, _: old.exp(), None)

    def sqrt_(self) -> Tensor:
        return self._inplace(lambda old, _: old.sqrt(), None)

    def __setitem__(self, key: Any, value: Any) -> None:
        from antorcha.ops.indexing import index_put

        self._inplace(lambda old, v: index_put(old, key, v), value)

    def __iadd__(self, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self.div_(other)

    def copy_(self, src: Tensor, non_blocking: bool = False) -> Tensor:
        if not isinstance(src, TensorInplaceMethods):
            raise TypeError(f"copy_(): argument 'src' must be Tensor, not {type(src).__name__}")
        return self._inplace(lambda old, s: _copy_broadcast(old, s), src)

    def zero_(self) -> Tensor:
        return self._fill_array(lambda a: a.fill(0), _overwritten().Zero)

    def fill_(self, value: Any) -> Tensor:
        if isinstance(value, TensorInplaceMethods):
            if value.ndim != 0:
                raise RuntimeError(
                    "fill_ only supports 0-dimension value tensor but got tensor with "
                    f"{value.ndim} dimensions."
                )
            if value._requires_grad and STATE.enabled:
                return self._inplace(_copy_broadcast, value)
            value = value.item()
        return self._fill_array(lambda a: a.fill(value), _overwritten().Fill)

    def uniform_(self, from_: float = 0.0, to: float = 1.0, *, generator: Any = None) -> Tensor:
        """U(from_, to) in place: torch calls the bounds `from` and `to` (`from` is no Python name)."""
        from antorcha import random

        fill = lambda arr: random.fill_uniform(arr, from_, to, self._device, generator)  # noqa: E731
        return self._fill_array(fill, _overwritten().Uniform)

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Tensor:
        from antorcha import random

        fill = lambda arr: random.fill_normal(arr, mean, std, self._device, generator)  # noqa: E731
        return self._fill_array(fill, _overwritten().Normal)

    def _check_inplace_allowed(self) -> None:
        if STATE.enabled and self._requires_grad and self._grad_fn is None:
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
        self, compute: Callable, other: Any, fast: str | None = None, alpha: float = 1
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
        from antorcha.ops.indexing import index_put

        result = compute(old_base[key], other)
        new_base = index_put(old_base, key, result)
        base._write_result(new_base)  # writes through to this view's memory too
        base.grad_fn, base._output_nr, base._requires_grad = new_base.grad_fn, 0, True
        from antorcha.autograd.function import rebase_view

        rebase_view(self)  # as torch: the view now reads the new base (AsStridedBackward0)
        return self

    def _ufunc_inplace(self, name: str, other: Any, alpha: float) -> None:
        from antorcha._device import enter_quiet, leave_quiet, xp_of
        from antorcha._tensor import Tensor

        xp = xp_of(self._data)
        operand = other._data if isinstance(other, Tensor) else other
        if alpha != 1:
            operand = operand * alpha
        if name == "true_divide" and self._data.dtype.kind != "f":
            raise RuntimeError(
                f"result type Float can't be cast to the desired output type {self.dtype.scalar_name}"
            )
        quiet = enter_quiet()  # torch never warns about inf or NaN results
        try:
            getattr(xp, name)(self._data, operand, out=self._data, casting="same_kind")
        except TypeError:
            other_dtype = other.dtype.name if isinstance(other, Tensor) else type(other).__name__
            raise RuntimeError(
                f"result type {other_dtype} can't be cast to the desired output type {self.dtype.scalar_name}"
            ) from None
        except ValueError:
            other_shape = list(other.shape) if isinstance(other, Tensor) else []
            raise RuntimeError(
                f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                f"{_broadcast_or(self.shape, other_shape)}"
            ) from None
        finally:
            leave_quiet(quiet)

    def _write_result(self, result: Tensor) -> None:
        if result.shape != self.shape:
            raise RuntimeError(
                f"output with shape {list(self.shape)} doesn't match the broadcast shape {list(result.shape)}"
            )
        if result._data.dtype.kind == "f" and self._data.dtype.kind in "iub":
            raise RuntimeError(
                f"result type {result.dtype.scalar_name} can't be cast to the desired output "
                f"type {self.dtype.scalar_name}"
            )
        from antorcha._device import xp_of

        xp_of(self._data).copyto(self._data, result._data, casting="unsafe")
        self._bump_version()


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
        from antorcha.ops.elementwise import where

        return where(ones(old.shape, dtype=bool_, device=old.device), src, old)
    if src.shape == old.shape:
        return src * 1 if src._requires_grad else src
    return src.expand(*old.shape) * 1


def _overwritten() -> Any:
    """The ops that mark a tensor overwritten by zero_/fill_/uniform_/normal_ (they import us)."""
    from antorcha.ops import elementwise

    return elementwise

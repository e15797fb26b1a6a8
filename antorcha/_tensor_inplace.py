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

    # ---- the node: a view's is regenerated once its base changed in place (autograd/views.py) ----
    @property
    def grad_fn(self) -> Any:
        fn = self._grad_fn
        if fn is not None and self._base is not None and fn._view_version != self._vc[0]:
            from antorcha.autograd.views import current_view_node

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
        return self._inplace(lambda old, v: old.masked_fill(mask, v), value, overlap=False)

    def relu_(self) -> Tensor:
        return self._inplace(lambda old, _: old.relu(), None)

    def neg_(self) -> Tensor:
        return self._inplace(lambda old, _: old.neg(), None)

    def exp_(self) -> Tensor:
        return self._inplace(lambda old, _: old.exp(), None)

    def sqrt_(self) -> Tensor:
        return self._inplace(lambda old, _: old.sqrt(), None)

    def __setitem__(self, key: Any, value: Any) -> None:
        from antorcha.ops.indexing import getitem, index_put

        if _same_memory_family(self, value) and value.ndim:  # a 0-d value is a fill: never refused
            region = getitem(self.detach(), key)
            if region._base is None:  # an advanced key (index_put_): self as a whole, any overlap
                _refuse_partial_overlap(self._data, value._data, full_too=True)
            elif (read := _as_setitem_reads(value._data, region._data.shape)) is not None:
                _refuse_partial_overlap(region._data, read)
        recording = STATE.enabled and (self._requires_grad or getattr(value, "_requires_grad", False))
        if self._base is not None and recording:
            region = getitem(self, key)
            if region._base is not None:  # a basic key: as torch, only the region is written (a view)
                region._inplace(lambda old, v: index_put(old, (Ellipsis,), v), value, overlap=False)
                return
        self._inplace(lambda old, v: index_put(old, key, v), value, overlap=False)

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
                return self._inplace(_copy_broadcast, value, overlap=False)
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
        on_view = self._base is not None and STATE.enabled and self._base._requires_grad
        if on_view:
            _check_base_allows_inplace(self._base)  # before the values change
        fill(self._data)
        self._bump_version()
        if on_view:  # the base's graph must see it: base[key] = op(the new values), gradient zero
            return self._inplace_on_view(lambda old, _: op.apply(old), None)
        if self.grad_fn is not None and STATE.enabled:
            # as torch: the tensor stays in the graph, and its old values get a zero gradient
            from antorcha._tensor import wrap

            old = wrap(self._data, True, self.grad_fn, self._device)
            old._output_nr = self._output_nr
            result = op.apply(old)
            self.grad_fn, self._output_nr = result.grad_fn, result._output_nr
        return self

    def _inplace(
        self, compute: Callable, other: Any, fast: str | None = None, alpha: float = 1, overlap: bool = True
    ) -> Tensor:
        """Run `compute(old_self, other)` and write the result into self's memory.

        Without autograd recording, arithmetic runs as one ufunc with `out=`. With it,
        the old value is copied first (backward may need it), the op is recorded
        out of place, and self takes over the new node as its grad_fn. `overlap`: refuse,
        as torch, an operand that partly overlaps self's memory (a value read whole does not).
        """
        from antorcha._tensor import Tensor, wrap

        vc = self._vc  # inline: this runs on every in-place op (an optimizer's step)
        if overlap and (other is self or (vc is not None and getattr(other, "_vc", None) is vc)):
            _refuse_partial_overlap(self._data, other._data)
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
        """`view.op_(other)` under autograd: rewrite the base as `base[key] = op(base[key], other)`.

        torch's CopySlices: the base takes a node that scatters the op's result into
        its old value, and the view becomes a fresh view of the new base. `key` reads
        the view's elements from its base: the basic index that made it, or else the
        elements' positions in the base (any view, of a view too).
        """
        from antorcha._tensor import wrap

        base = self._base
        key = self._extra.get("view_key") if self._extra else None
        if key is None:
            key = _key_of_view(base, self)
        _check_base_allows_inplace(base)
        from antorcha.autograd.views import rebase_view

        if key is None:  # no element to write (an empty view of a 0-d base): only the errors
            compute(wrap(self._data.copy(), True, self.grad_fn, self._device), other)
            self._bump_version()  # as torch: written, if nothing changed
            rebase_view(self)
            return self
        old_base = wrap(base._data.copy(), base._requires_grad, base.grad_fn, base._device)
        old_base._output_nr = base._output_nr
        from antorcha.ops.indexing import index_put

        result = compute(old_base[key], other)
        new_base = index_put(old_base, key, result)
        base._write_result(new_base)  # writes through to this view's memory too
        base.grad_fn, base._output_nr, base._requires_grad = new_base.grad_fn, 0, True
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


def _same_memory_family(tensor: Tensor, other: Any) -> bool:
    """Whether `other` is a tensor sharing `tensor`'s version counter (a view, the base, a sibling)."""
    return other is tensor or (tensor._vc is not None and getattr(other, "_vc", None) is tensor._vc)


def _refuse_partial_overlap(written: Any, read: Any, full_too: bool = False) -> None:
    """torch's check: two dense arrays whose memory overlaps, but not as the same layout, are refused
    (`full_too`: the same layout as well)."""
    if not (_dense(written) and _dense(read)):
        return  # as torch: too hard to tell, allowed
    from antorcha._tensor_memory import _address

    start_w, start_r = _address(written), _address(read)
    end_w, end_r = start_w + written.nbytes, start_r + read.nbytes
    same = (start_w, end_w) == (start_r, end_r) and _same_strides(written, read)  # torch's "full"
    same = same and not full_too
    if not same and start_w < end_r and start_r < end_w:
        raise RuntimeError(
            "unsupported operation: some elements of the input tensor and the written-to tensor refer to "
            "a single memory location. Please clone() the tensor before performing the operation."
        )


def _as_setitem_reads(value: Any, shape: tuple) -> Any:
    """The value as torch's setitem copies it: leading 1s dropped, broadcast to the region (None: it
    does not fit, and the write itself will say so)."""
    from antorcha._device import xp_of

    lead = 0
    while lead < value.ndim and value.shape[lead] == 1:
        lead += 1
    try:
        return xp_of(value).broadcast_to(value.reshape(value.shape[lead:]), shape)
    except ValueError:
        return None


def _same_strides(a: Any, b: Any) -> bool:
    """torch's stride equality; a new axis of size 1 has stride 0 in NumPy (x[None]), torch's
    differs, so there it counts as any."""
    if a.ndim != b.ndim:
        return False
    return all(
        sa == sb or (n == 1 and 0 in (sa, sb)) for n, sa, sb in zip(a.shape, a.strides, b.strides)
    )


def _dense(array: Any) -> bool:
    """Non-empty, and its elements fill their memory without gaps or repeats (in some dim order)."""
    if array.size == 0:
        return False
    expected = array.itemsize
    for stride, size in sorted((s, n) for s, n in zip(array.strides, array.shape) if n != 1):
        if stride != expected:
            return False
        expected *= size
    return True


def _check_base_allows_inplace(base: Tensor) -> None:
    if base._grad_fn is None and base._requires_grad:
        raise RuntimeError(
            "a view of a leaf Variable that requires grad is being used in an in-place operation."
        )


def _key_of_view(base: Tensor, view: Tensor) -> tuple | None:
    """An index of `base` that reads `view`'s elements in `view`'s shape: where each one lies
    (None: no element, and no index of a 0-d base reads none)."""
    from antorcha._device import xp_of
    from antorcha.ops.strided import positions_in

    positions = positions_in(base._data, view._data)
    xp = xp_of(positions)
    if bool((positions < 0).any()):
        raise RuntimeError(
            f"antorcha cannot record an in-place operation on this view of shape {list(view.shape)} "
            f"(its base has shape {list(base.shape)}): use an out-of-place op, or clone() the view first"
        )
    if xp.unique(positions).size != positions.size:  # an expanded view: as torch, refused
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a single "
            "memory location. Please clone() the tensor before performing the operation."
        )
    if base.ndim == 0:  # the one element, in the view's shape of ones
        return (None,) * view.ndim if positions.size else None
    return tuple(xp.unravel_index(positions, base.shape))


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

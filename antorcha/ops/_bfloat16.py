"""bfloat16 kernels that compute in float32, as torch's CPU kernels do.

ml_dtypes' ufuncs already turn each bfloat16 element into a float32, compute and round back, so
one ufunc gives torch's value. A kernel of several steps (a sum's accumulation, softmax, a matrix
product) would round after every step; torch rounds once. `in_float32(Op)` is the same op with its
forward run on float32 copies of its bfloat16 arrays and its results rounded once to bfloat16
(round to nearest even). Its node keeps the Op's name, and what its forward saved is mapped back to
the bfloat16 inputs and outputs, so version checks see the tensors the user has; its backward runs
the Op's formula on float32 copies of the gradients and saved tensors (torch's backward kernels
compute in float32 as well), and the node rounds the results to bfloat16 once. Public
functions pick the twin only when an input is bfloat16 (`dtype.kind == "V"`, ml_dtypes' kind), so
other dtypes pay one comparison.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from antorcha.autograd.function import Op

_TWINS: dict[type[Op], type[Op]] = {}


def in_float32(op: type[Op]) -> type[Op]:
    """`op`, computing in float32 for bfloat16 inputs and rounding its outputs once (cached)."""
    twin = _TWINS.get(op)
    if twin is None:
        twin = _TWINS[op] = _make_twin(op)
    return twin


def _make_twin(op: type[Op]) -> type[Op]:
    forward = op.forward

    def wide_forward(ctx: Any, *args: Any) -> Any:
        low = None
        wide_args = []
        originals: dict[int, Any] = {}
        for arg in args:
            if getattr(arg, "dtype", None) is not None and getattr(arg.dtype, "kind", "") == "V":
                low = arg.dtype
                wide = arg.astype(np.float32)
                originals[id(wide)] = arg
                arg = wide
            wide_args.append(arg)
        out = forward(ctx, *wide_args)
        if low is None:
            return out
        if type(out) is tuple:
            rounded = tuple([_round(o, low, originals) for o in out])
        else:
            rounded = _round(out, low, originals)
        _map_saved(ctx, originals)
        return rounded

    backward = op.backward

    def wide_backward(ctx: Any, *grads: Any) -> Any:
        # torch's backward kernels compute in float32 too: the same formula on float32 copies, whose
        # results the node casts back to the inputs' bfloat16 (one rounding)
        return backward(_Float32Context(ctx), *[_widened(g) for g in grads])

    namespace = {
        "forward": staticmethod(wide_forward),
        "backward": staticmethod(wide_backward),
        "backward_name": op._node_cls.__name__,
        "__module__": op.__module__,
        "__qualname__": f"{op.__qualname__}InFloat32",
    }
    return type(f"{op.__name__}InFloat32", (op,), namespace)


def _widened(t: Any) -> Any:
    return t.float() if t is not None and t._data.dtype.kind == "V" else t


class _Float32Context:
    """A node seen by its backward formula with its saved bfloat16 tensors as float32."""

    __slots__ = ("_node",)

    def __init__(self, node: Any) -> None:
        self._node = node

    def __getattr__(self, name: str) -> Any:
        return getattr(self._node, name)

    @property
    def saved_tensors(self) -> tuple:
        return tuple([_widened(t) for t in self._node.saved_tensors])


def _round(out: Any, low: Any, originals: dict[int, Any]) -> Any:
    if out is None or getattr(out, "dtype", None) != np.float32:
        return out
    rounded = out.astype(low)
    originals[id(out)] = rounded  # a saved output becomes the bfloat16 output the caller gets
    return rounded


def _map_saved(ctx: Any, originals: dict[int, Any]) -> None:
    saved = getattr(ctx, "_to_save", None)
    if saved:
        ctx._to_save = tuple([originals.get(id(item), item) for item in saved])


def sum_rounded_once(a: Any, axis: Any) -> Any:
    """a.sum(axis, keepdims=True); a bfloat16 sum accumulates in float32 and rounds once, as torch's
    sum kernel (inside a kernel that torch composes of bfloat16 ops, such as logsumexp)."""
    if a.dtype.kind != "V":
        return a.sum(axis=axis, keepdims=True)
    return a.sum(axis=axis, keepdims=True, dtype=np.float32).astype(a.dtype)

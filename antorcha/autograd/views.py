"""Views and autograd: a view's node is regenerated once its base changes in place.

A view shares its base's memory and version counter. Its node is stamped with the version it was
made at; when the counter has moved on (the base or another view of it was changed in place), the
node no longer describes the view's values, and the view is re-read from its base's current node
as `base.as_strided(view's size, stride, offset)`: torch's AsStridedBackward0. The readers of a
tensor's node (`function.edge_of`, `Tensor.grad_fn`) check the stamp; nothing else pays for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from antorcha._grad_mode import STATE

if TYPE_CHECKING:
    from antorcha._tensor import Tensor


def record_view(out: Tensor, base: Tensor) -> Tensor:
    """Mark `out` as a view of `base`: same version counter, the root base kept, its node stamped."""
    counter = out._vc = base._counter()
    out._base = base if base._base is None else base._base
    fn = out._grad_fn
    if fn is not None:
        fn._view_version = counter[0]
    return out


def current_view_node(view: Tensor) -> Any:
    """The view's node, regenerated from its base's current node if the base changed since."""
    fn = view._grad_fn
    if fn is None or fn._view_version is None or fn._view_version == view._vc[0]:
        return fn  # an unstamped node was set by whoever changed the view: it is current
    return rebase_view(view) or fn


def rebase_view(view: Tensor) -> Any:
    """Give `view` a fresh node reading it from its base's current node (None: the base has none)."""
    base = view._base
    if not base._requires_grad or base._data.dtype != view._data.dtype:
        return None
    from antorcha.ops.strided import AsStrided, storage_offset_in

    array = view._data
    size, stride = tuple(array.shape), tuple(s // array.itemsize for s in array.strides)
    previous = STATE.enabled
    STATE.enabled = True  # as torch: reading a view's grad_fn under no_grad regenerates it too
    try:
        node = AsStrided.apply(base, params=(size, stride, storage_offset_in(base._data, array)))._grad_fn
    finally:
        STATE.enabled = previous
    node._view_version = view._vc[0]
    _move_retain_grad(view, view._grad_fn, node)
    view._grad_fn, view._output_nr, view._requires_grad = node, 0, True
    return node


def _move_retain_grad(view: Tensor, old: Any, new: Any) -> None:
    """`view.retain_grad()` follows the view to its new node, as torch moves it."""
    store = view._extra.get("retains_grad") if view._extra else None
    if store is None:
        return
    if old is not None and old._pre_hooks:
        hooks = old._pre_hooks.get(view._output_nr, [])
        if store in hooks:
            hooks.remove(store)
    new.register_prehook(store, 0)

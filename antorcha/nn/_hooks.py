"""Forward hooks of a Module: the handles that remove them and the slow call path that runs them."""

from __future__ import annotations

import warnings
import weakref
from collections import OrderedDict
from typing import Any


class RemovableHandle:
    """Removes a hook from the dicts it was registered in; also a context manager (torch.utils.hooks)."""

    next_id: int = 0

    def __init__(self, hooks_dict: OrderedDict, *, extra_dict: Any = None) -> None:
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = RemovableHandle.next_id
        RemovableHandle.next_id += 1
        extras = [] if extra_dict is None else extra_dict if isinstance(extra_dict, list) else [extra_dict]
        self.extra_dict_ref = tuple(weakref.ref(d) for d in extras)

    def remove(self) -> None:
        for ref in (self.hooks_dict_ref, *self.extra_dict_ref):
            hooks = ref()
            if hooks is not None and self.id in hooks:
                del hooks[self.id]

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def register(
    hooks: OrderedDict, hook: Any, prepend: bool, flags: list[tuple[OrderedDict, bool]]
) -> RemovableHandle:
    """Add `hook` to `hooks` (first when `prepend`), and its id to every flag dict whose flag is set."""
    handle = RemovableHandle(hooks, extra_dict=[d for d, _ in flags])
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    for flag_dict, flag in flags:
        if flag:
            flag_dict[handle.id] = True
    return handle


def _run_pre_hooks(module: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    with_kwargs = module._forward_pre_hooks_with_kwargs
    for hook_id, hook in list(module._forward_pre_hooks.items()):
        if hook_id in with_kwargs:
            result = hook(module, args, kwargs)
            if result is not None:
                if isinstance(result, tuple) and len(result) == 2:
                    args, kwargs = result
                else:
                    raise RuntimeError(
                        "forward pre-hook must return None or a tuple "
                        f"of (new_args, new_kwargs), but got {result}."
                    )
        else:
            result = hook(module, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
    return args, kwargs


def call_with_hooks(module: Any, args: tuple, kwargs: dict) -> Any:
    """Module.__call__ when hooks are registered: pre-hooks, forward, then forward hooks."""
    result = None
    called: set[int] = set()
    try:
        args, kwargs = _run_pre_hooks(module, args, kwargs)
        result = module.forward(*args, **kwargs)
        for hook_id, hook in list(module._forward_hooks.items()):
            called.add(hook_id)
            if hook_id in module._forward_hooks_with_kwargs:
                hook_result = hook(module, args, kwargs, result)
            else:
                hook_result = hook(module, args, result)
            if hook_result is not None:
                result = hook_result
        return result
    except Exception:
        _run_always_called(module, args, kwargs, result, called)
        raise


def _run_always_called(module: Any, args: tuple, kwargs: dict, result: Any, called: set[int]) -> None:
    """Forward hooks registered with always_call=True still run when forward raised."""
    for hook_id, hook in list(module._forward_hooks.items()):
        if hook_id not in module._forward_hooks_always_called or hook_id in called:
            continue
        try:
            if hook_id in module._forward_hooks_with_kwargs:
                hook_result = hook(module, args, kwargs, result)
            else:
                hook_result = hook(module, args, result)
            if hook_result is not None:
                result = hook_result
        except Exception as error:
            warnings.warn(
                "module forward hook with ``always_call=True`` raised an exception "
                f"that was silenced as another error was raised in forward: {error}",
                stacklevel=3,
            )

"""Grad mode: whether new ops are recorded in the graph.

`no_grad`, `enable_grad` and `set_grad_enabled` work both as context managers
and as decorators, as in torch. The flag is per thread, as torch's is: `no_grad()`
in one thread leaves every other thread recording. `antorcha.autograd.grad_mode`
is this module under torch's name.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _GradState(threading.local):
    """One flag read on every op, per thread; a new thread starts with grad mode on."""

    enabled = True


STATE = _GradState()


def is_grad_enabled() -> bool:
    return STATE.enabled


class _GradModeContext:
    """Base for the grad-mode managers: sets the flag on enter, restores it on exit."""

    _mode: bool

    def __enter__(self) -> None:
        self._previous = STATE.enabled
        STATE.enabled = self._mode

    def __exit__(self, *exc: object) -> None:
        STATE.enabled = self._previous

    def __call__(self, fn: F) -> F:
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            previous = STATE.enabled
            STATE.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                STATE.enabled = previous

        return wrapper  # type: ignore[return-value]


class _BareDecoratorContext(_GradModeContext):
    """Also usable as a bare decorator, `@no_grad` without parentheses, as in torch."""

    def __new__(cls, orig_func: Any = None, *args: Any, **kwargs: Any) -> Any:
        if callable(orig_func):
            return cls()(orig_func)
        return super().__new__(cls)


class no_grad(_BareDecoratorContext):  # noqa: N801
    """Ops inside record nothing: their results have requires_grad=False."""

    _mode = False


class enable_grad(_BareDecoratorContext):  # noqa: N801
    _mode = True


class set_grad_enabled(_GradModeContext):  # noqa: N801
    """Sets grad mode at construction, so `set_grad_enabled(False)` works as a plain call too."""

    def __init__(self, mode: bool) -> None:
        self._mode = bool(mode)
        self._previous = STATE.enabled
        STATE.enabled = self._mode

    def __enter__(self) -> None:
        pass  # already applied in __init__

    def __exit__(self, *exc: object) -> None:
        STATE.enabled = self._previous

    def __call__(self, fn: F) -> F:
        STATE.enabled = self._previous  # used as a decorator: undo the eager switch
        return super().__call__(fn)


class inference_mode(no_grad):  # noqa: N801
    """antorcha has no separate inference tensors; this is no_grad under torch's name."""

    def __init__(self, mode: bool = True) -> None:
        self._mode = not mode

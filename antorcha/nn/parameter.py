"""`Parameter` and `Buffer`: tensors that a Module registers when they are assigned to it.

Both are Tensor subclasses with no slots of their own, made around the given tensor's
array (no copy), so `isinstance(p, Tensor)` holds and every Tensor op accepts them.
"""

from __future__ import annotations

from typing import Any

from antorcha._tensor import Tensor, _init, wrap


def _empty_float() -> Tensor:
    from antorcha import _dtypes
    from antorcha._device import CPU, xp_for

    return wrap(xp_for(CPU).empty((0,), dtype=_dtypes.get_default_dtype().np))


def _adopt(cls: type, data: Tensor | None, requires_grad: bool) -> Any:
    """A `cls` instance over `data`'s array, sharing its version counter, as torch's detach does."""
    if data is None:
        data = _empty_float()
    if not isinstance(data, Tensor):
        raise TypeError(f"{cls.__name__}(): argument 'data' must be a Tensor, not {type(data).__name__}")
    out = object.__new__(cls)
    _init(out, data._data, False, None, data._device)
    out._vc = data._counter()
    if requires_grad:
        out.requires_grad = True  # the Tensor setter rejects non-float dtypes, as torch does
    return out


class Parameter(Tensor):
    """A tensor that is a module parameter: `Parameter(data, requires_grad=True)` shares `data`."""

    __slots__ = ()

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        return _adopt(cls, data, requires_grad)

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        pass  # everything happens in __new__; Tensor.__init__ must not run

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo: dict) -> Parameter:
        if id(self) in memo:
            return memo[id(self)]
        result = Parameter(wrap(self._data.copy(), device=self._device), self._requires_grad)
        if self._grad is not None:
            result._grad = wrap(self._grad._data.copy(), device=self._device)
        memo[id(self)] = result
        return result


class Buffer(Tensor):
    """A tensor that a Module registers as a buffer on assignment: `Buffer(data, persistent=True)`."""

    __slots__ = ()

    def __new__(cls, data: Tensor | None = None, *, persistent: bool = True) -> Buffer:
        out = _adopt(cls, data, data is not None and data._requires_grad)
        out._extras()["persistent"] = persistent
        return out

    def __init__(self, data: Tensor | None = None, *, persistent: bool = True) -> None:
        pass

    @property
    def persistent(self) -> bool:
        return bool(self._extras().get("persistent", True))

    def as_tensor(self) -> Tensor:
        """The plain Tensor a module stores (torch stores the data, not the marker type)."""
        out = wrap(self._data, self._requires_grad, None, self._device)
        out._vc = self._counter()
        return out

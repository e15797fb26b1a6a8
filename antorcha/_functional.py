"""The functions of the `antorcha` namespace: every op's declared function, plus a few non-ops.

The op functions are not listed here: each is declared beside its forward and backward
(`@register()` in `antorcha/ops/`), and `__all__` below is made from those declarations.
"""

from __future__ import annotations

from typing import Any

from antorcha import _dtypes
from antorcha._registry import torch_functions
from antorcha._tensor import Tensor


def numel(input: Tensor) -> int:
    return input.numel()


def is_tensor(obj: Any) -> bool:
    return isinstance(obj, Tensor)


def is_floating_point(input: Tensor) -> bool:
    return input.is_floating_point()


def typename(obj: Any) -> str:
    """torch.typename: 'antorcha.FloatTensor' for a tensor, the qualified class name otherwise."""
    if isinstance(obj, Tensor):
        return obj.type()
    module = getattr(obj, "__module__", "") or ""
    qualname = getattr(obj, "__qualname__", None)
    if qualname is None:
        module, qualname = type(obj).__module__, type(obj).__qualname__
    return qualname if module in ("", "builtins") else f"{module}.{qualname}"


def result_type(tensor1: Any, tensor2: Any) -> _dtypes.dtype:
    return _dtypes.result_type(tensor1, tensor2)


_DECLARED = torch_functions()
globals().update(_DECLARED)

# what `from antorcha._functional import *` gives the antorcha namespace
__all__ = sorted(["is_floating_point", "is_tensor", "numel", "result_type", "typename", *_DECLARED])

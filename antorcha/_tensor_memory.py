"""TensorMemoryMethods: factories that take a tensor's dtype and device (new_zeros, new_tensor, ...)
and what torch tells about a tensor's memory (data_ptr, storage_offset, pin_memory, is_pinned).

antorcha has no storage object: a tensor's storage is the NumPy (or CuPy) allocation its array is a
view of, so `storage_offset()` is how many elements into that allocation the array starts.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np


def _allocation_start(array: Any) -> int:
    """The address of the allocation `array` views: the first ndarray in its `.base` chain owning memory."""
    if type(array) is not np.ndarray:  # CuPy: the pointer's memory block knows where it begins
        return int(array.data.mem.ptr)
    root = array
    while True:
        base = root.base
        if not isinstance(base, np.ndarray):  # as_strided's views hold their array one step further
            base = getattr(base, "base", None)
        if not isinstance(base, np.ndarray):
            break
        root = base
    return int(root.__array_interface__["data"][0])


def _address(array: Any) -> int:
    if type(array) is not np.ndarray:
        return int(array.data.ptr)
    return int(array.__array_interface__["data"][0])


def _size_argument(size: tuple, keywords: dict) -> tuple:
    """new_zeros(2, 3), new_zeros((2, 3)) and new_zeros(size=(2, 3)) alike."""
    if "size" in keywords:
        if size:
            raise TypeError("size given both by position and as size=")
        size = (keywords.pop("size"),)
    if keywords:
        raise TypeError(f"got an unexpected keyword argument '{next(iter(keywords))}'")
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size


class TensorMemoryMethods:
    __slots__ = ()

    # ---- factories with self's dtype and device ------------------------------------------
    def _factory_options(self, dtype: Any, device: Any) -> dict:
        return {
            "dtype": dtype if dtype is not None else self.dtype,
            "device": device if device is not None else self._device,
        }

    def new_zeros(
        self,
        *size: Any,
        dtype: Any = None,
        device: Any = None,
        requires_grad: bool = False,
        layout: Any = None,
        pin_memory: bool = False,
        **size_keyword: Any,
    ) -> Any:
        from antorcha._creation import zeros

        return zeros(
            *_size_argument(size, size_keyword),
            **self._factory_options(dtype, device),
            requires_grad=requires_grad,
        )

    def new_ones(
        self,
        *size: Any,
        dtype: Any = None,
        device: Any = None,
        requires_grad: bool = False,
        layout: Any = None,
        pin_memory: bool = False,
        **size_keyword: Any,
    ) -> Any:
        from antorcha._creation import ones

        return ones(
            *_size_argument(size, size_keyword),
            **self._factory_options(dtype, device),
            requires_grad=requires_grad,
        )

    def new_empty(
        self,
        *size: Any,
        dtype: Any = None,
        device: Any = None,
        requires_grad: bool = False,
        layout: Any = None,
        pin_memory: bool = False,
        **size_keyword: Any,
    ) -> Any:
        from antorcha._creation import empty

        return empty(
            *_size_argument(size, size_keyword),
            **self._factory_options(dtype, device),
            requires_grad=requires_grad,
        )

    def new_full(
        self,
        size: Any,
        fill_value: Any,
        *,
        dtype: Any = None,
        device: Any = None,
        requires_grad: bool = False,
        layout: Any = None,
        pin_memory: bool = False,
    ) -> Any:
        from antorcha._creation import full

        return full(size, fill_value, **self._factory_options(dtype, device), requires_grad=requires_grad)

    def new_tensor(
        self,
        data: Any,
        *,
        dtype: Any = None,
        device: Any = None,
        requires_grad: bool = False,
        layout: Any = None,
        pin_memory: bool = False,
    ) -> Any:
        """A copy of `data` with self's dtype and device unless given (torch's warning for a tensor)."""
        from antorcha._creation import tensor
        from antorcha._tensor import Tensor

        if isinstance(data, Tensor):
            warnings.warn(
                "To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone() "
                "or sourceTensor.detach().clone().requires_grad_(True), rather than "
                "tensor.new_tensor(sourceTensor).",
                UserWarning,
                stacklevel=2,
            )
        return tensor(data, **self._factory_options(dtype, device), requires_grad=requires_grad)

    # ---- memory -----------------------------------------------------------------------------
    def data_ptr(self) -> int:
        """The address of the first element (0 for a tensor without elements, as in torch)."""
        return _address(self._data) if self._data.size else 0

    def storage_offset(self) -> int:
        """How many elements into its allocation this tensor starts (views from slicing, narrow, select)."""
        if not self._data.size:
            return 0
        return (_address(self._data) - _allocation_start(self._data)) // self._data.itemsize

    def is_pinned(self, device: Any = None) -> bool:
        return bool(self._extra and self._extra.get("pinned"))

    def pin_memory(self, device: Any = None) -> Any:
        """A copy in page-locked host memory (CuPy's), faster to copy to the GPU; needs a GPU, as in torch."""
        from antorcha import cuda

        if not cuda.is_available():
            raise RuntimeError("Cannot access accelerator device when none is available.")
        if self._device.type != "cpu":
            raise RuntimeError(f"cannot pin '{self.type()}' only dense CPU tensors can be pinned")
        if self.is_pinned():
            return self
        from antorcha._device import cupyx_module
        from antorcha._tensor import wrap

        pinned = cupyx_module().empty_pinned(self._data.shape, dtype=self._data.dtype)
        pinned[...] = self._data
        out = wrap(pinned, device=self._device)
        out._extras()["pinned"] = True
        return out

"""Tensors as MPI buffers: datatypes, reduction operators and the staging copies some dtypes need.

Moving data (broadcast, gather, scatter, send) sends raw bytes, so every dtype goes bit for bit.
Reducing needs an MPI datatype MPI can do arithmetic on: float16 and bfloat16 (MPI has neither)
are reduced in a float32 copy and rounded once at the end; bool reduces with the logical operators
(SUM and MAX are OR, PRODUCT and MIN are AND, as torch's NCCL backend maps them); float MAX and
MIN use a NaN-propagating user operator, as torch.maximum does.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import numpy as np

from antorcha._device import quiet_float_errors
from antorcha._tensor import Tensor


class RedOpType(enum.IntEnum):
    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4
    BAND = 5
    BOR = 6
    BXOR = 7
    PREMUL_SUM = 8
    UNUSED = 9


class ReduceOp:
    """torch.distributed.ReduceOp: ReduceOp.SUM & co. are RedOpType members, as in torch."""

    RedOpType = RedOpType
    SUM = RedOpType.SUM
    AVG = RedOpType.AVG
    PRODUCT = RedOpType.PRODUCT
    MIN = RedOpType.MIN
    MAX = RedOpType.MAX
    BAND = RedOpType.BAND
    BOR = RedOpType.BOR
    BXOR = RedOpType.BXOR


_BITWISE = (RedOpType.BAND, RedOpType.BOR, RedOpType.BXOR)
_nan_ops: dict[str, Any] = {}


def check_op(op: Any) -> RedOpType:
    if isinstance(op, RedOpType):
        if op in (RedOpType.PREMUL_SUM, RedOpType.UNUSED):
            raise ValueError(f"antorcha.distributed does not support {op!r}")
        return op
    raise TypeError(f"op must be a ReduceOp (e.g. ReduceOp.SUM), got {op!r}")


def require_tensor(value: Any, name: str) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(
            f"Invalid function argument. Expected parameter `{name}` of type Tensor but got "
            f"{type(value).__name__} instead."
        )
    return value


def require_tensor_list(value: Any, name: str) -> list[Tensor]:
    if not isinstance(value, list | tuple) or not all(isinstance(t, Tensor) for t in value):
        raise TypeError(
            f"Invalid function argument. Expected parameter `{name}` of type List[Tensor] but got "
            f"{type(value).__name__} instead."
        )
    return list(value)


def host_array(tensor: Tensor) -> tuple[np.ndarray, Callable[[], None]]:
    """A C-contiguous NumPy array of the tensor's values, and a function that writes it back.

    A contiguous cpu tensor is its own buffer (write-back does nothing); anything else is copied.
    """
    data = tensor._data
    if isinstance(data, np.ndarray):
        if data.flags.c_contiguous:
            return data, _nothing
        staged = np.ascontiguousarray(data)
        return staged, lambda: np.copyto(data, staged)
    staged = np.ascontiguousarray(data.get())  # a CuPy array: MPI here is not CUDA-aware

    def write_back() -> None:
        from antorcha._device import cupy_module

        data[...] = cupy_module().asarray(staged)

    return staged, write_back


def _nothing() -> None:
    return None


def as_bytes(array: np.ndarray) -> np.ndarray:
    """The array's memory as uint8 (a view), for sending any dtype bit for bit."""
    return array.reshape(-1).view(np.uint8)


def _nan_op(MPI: Any, name: str) -> Any:
    """A commutative user MPI.Op: np.maximum/np.minimum keep NaN, as torch.maximum does (MPI_MAX need not)."""
    if name not in _nan_ops:
        combine = np.maximum if name == "max" else np.minimum

        def apply(incoming: Any, inout: Any, datatype: Any) -> None:
            kind = np.float32 if datatype.Get_size() == 4 else np.float64
            a = np.frombuffer(incoming, dtype=kind)
            b = np.frombuffer(inout, dtype=kind)
            combine(a, b, out=b)

        _nan_ops[name] = MPI.Op.Create(apply, commute=True)
    return _nan_ops[name]


def mpi_op(MPI: Any, op: RedOpType, kind: str) -> Any:
    """The MPI operator for `op` on an array of NumPy kind `kind` ('f', 'i', 'u' or 'b')."""
    if kind == "b":
        return {
            RedOpType.SUM: MPI.LOR, RedOpType.MAX: MPI.LOR, RedOpType.BOR: MPI.LOR,
            RedOpType.PRODUCT: MPI.LAND, RedOpType.MIN: MPI.LAND, RedOpType.BAND: MPI.LAND,
            RedOpType.BXOR: MPI.LXOR,
        }[op]  # fmt: skip
    if kind == "f" and op in (RedOpType.MAX, RedOpType.MIN):
        return _nan_op(MPI, "max" if op == RedOpType.MAX else "min")
    return {
        RedOpType.SUM: MPI.SUM, RedOpType.AVG: MPI.SUM, RedOpType.PRODUCT: MPI.PROD,
        RedOpType.MAX: MPI.MAX, RedOpType.MIN: MPI.MIN,
        RedOpType.BAND: MPI.BAND, RedOpType.BOR: MPI.BOR, RedOpType.BXOR: MPI.BXOR,
    }[op]  # fmt: skip


def check_reducible(tensor: Tensor, op: RedOpType, op_name: str) -> None:
    """torch's refusals (its gloo backend's words): bitwise ops on floats, AVG on integers and bool."""
    kind = tensor._data.dtype.kind
    if op in _BITWISE and kind not in "iub":
        raise RuntimeError(
            f"Cannot use ReduceOp.{op.name} with non-integral dtype ({op_name} on {tensor.dtype})"
        )
    if op == RedOpType.AVG and kind in "iub":
        raise RuntimeError(
            f"result type Float can't be cast to the desired output type {tensor.dtype.scalar_name} "
            f"({op_name} with ReduceOp.AVG averages floating-point tensors only)"
        )


class Staged:
    """A tensor's values as a C-contiguous host array for MPI, and how they go back into the tensor.

    The array is the tensor's own buffer where possible (a contiguous cpu tensor: nothing copied),
    else a copy: float32 for float16/bfloat16 when `for_reduction`, host memory for a cuda tensor.
    """

    def __init__(self, tensor: Tensor, for_reduction: bool = False) -> None:
        values, write_back = host_array(tensor)
        low_precision = for_reduction and (values.dtype.kind == "V" or values.dtype == np.float16)
        self.array = values.astype(np.float32) if low_precision else values
        self._values, self._write_back = values, write_back

    def commit(self) -> None:
        if self.array is not self._values:
            with quiet_float_errors():  # a float32 sum beyond float16's range rounds to inf, as in torch
                np.copyto(self._values, self.array, casting="unsafe")
        self._write_back()


def reduce_buffer(MPI: Any, array: np.ndarray) -> list[Any]:
    """[array, count, datatype] for a reduction (bool as C_BOOL for the logical operators)."""
    return [array, array.size, _reduction_datatype(MPI, array)]


def average_in_place(array: np.ndarray, size: int) -> None:
    array /= size  # a float array: check_reducible refuses AVG on the others, as torch does


def _reduction_datatype(MPI: Any, array: np.ndarray) -> Any:
    table = {
        "f4": MPI.FLOAT, "f8": MPI.DOUBLE, "b1": MPI.C_BOOL,
        "i1": MPI.INT8_T, "i2": MPI.INT16_T, "i4": MPI.INT32_T, "i8": MPI.INT64_T,
        "u1": MPI.UINT8_T, "u2": MPI.UINT16_T, "u4": MPI.UINT32_T, "u8": MPI.UINT64_T,
    }  # fmt: skip
    return table[f"{array.dtype.kind}{array.dtype.itemsize}"]

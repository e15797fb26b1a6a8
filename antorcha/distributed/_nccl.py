"""backend="nccl": collectives on cuda tensors through CuPy's NCCL (cupy.cuda.nccl).

The NCCL communicator of a group is made on its first cuda collective: rank 0 draws the NCCL
unique id and broadcasts it over the group's MPI communicator. Each operation is enqueued on the
current CuPy stream; its Work records a CUDA event and polls it with the group's deadline. Ops
without an NCCL form here (gather, scatter, all_gather into a list, send/recv) and cpu tensors go
through MPI (cuda tensors staged through host memory).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from antorcha._tensor import Tensor
from antorcha.distributed._buffers import RedOpType
from antorcha.distributed._process_group import ProcessGroup, world_rank
from antorcha.distributed._work import Work


def applies(pg: ProcessGroup, tensor: Tensor) -> bool:
    """NCCL runs the op when the group is nccl's and the tensor a cuda tensor of a dtype NCCL has."""
    return pg._backend == "nccl" and tensor._device.type == "cuda" and tensor._data.dtype.name in _DTYPES


def _nccl() -> Any:
    try:
        from cupy.cuda import nccl
    except ImportError as error:
        raise RuntimeError(
            f"Distributed package doesn't have NCCL built in: backend='nccl' needs CuPy with NCCL ({error})"
        ) from None
    return nccl


def communicator(pg: ProcessGroup) -> Any:
    """The group's NCCL communicator, made once (collective over the group, like the first op)."""
    if pg._nccl is None:
        nccl = _nccl()
        # ncclUniqueId: 128 bytes, which CuPy hands over as a tuple of (signed) chars; they travel as
        # int64 numbers, not a pickle (mpi4py takes the MPI datatype from the NumPy dtype)
        unique_id = np.zeros(_UNIQUE_ID_BYTES, dtype=np.int64)
        if pg.rank() == 0:
            unique_id[:] = nccl.get_unique_id()
        pg._comm.Bcast(unique_id, root=0)
        pg._nccl = nccl.NcclCommunicator(pg.size(), tuple(int(b) for b in unique_id), pg.rank())
    return pg._nccl


_UNIQUE_ID_BYTES = 128  # NCCL_UNIQUE_ID_BYTES
_DTYPES = {
    "float16": 6,
    "float32": 7,
    "float64": 8,
    "int8": 0,
    "uint8": 1,
    "int32": 2,
    "int64": 4,
    "bool": 1,
    "bfloat16": 9,
}  # fmt: skip (ncclDataType_t values)
_OPS = {RedOpType.SUM: 0, RedOpType.PRODUCT: 1, RedOpType.MAX: 2, RedOpType.MIN: 3, RedOpType.AVG: 4}


def _datatype(tensor: Tensor) -> int:
    return _DTYPES[tensor._data.dtype.name]


def _reduce_op(tensor: Tensor, op: RedOpType) -> int:
    if tensor._data.dtype.kind == "b":  # torch's NCCL mapping: bool SUM is MAX, PRODUCT is MIN
        op = {RedOpType.SUM: RedOpType.MAX, RedOpType.PRODUCT: RedOpType.MIN}.get(op, op)
    if op not in _OPS:
        raise RuntimeError(f"NCCL backend does not support {op!r}")
    return _OPS[op]


def _contiguous(tensor: Tensor, op_name: str) -> Any:
    data = tensor._data
    if not data.flags.c_contiguous:
        raise ValueError(f"{op_name}: Tensors must be contiguous (NCCL works on the tensor's own memory)")
    return data


class _EventWork(Work):
    """A Work whose completion is a CUDA event on the stream the NCCL call went to."""

    def __init__(self, op_name: str, pg: ProcessGroup, stream: Any) -> None:
        super().__init__([], op_name, world_rank(), pg.timeout_seconds)
        self._event = stream.record()

    def is_completed(self) -> bool:
        if not self._done and self._event.done:
            self._done = True
        return self._done

    def wait(self, timeout: Any = None) -> bool:
        deadline = time.monotonic() + (self._timeout if timeout is None else float(timeout.total_seconds()))
        while not self.is_completed():
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"antorcha.distributed: {self._op_name} (nccl) on rank {self._rank} did not complete "
                    f"within the timeout of {self._timeout:g} s"
                )
            time.sleep(1e-4)
        return True


def _finish(op_name: str, pg: ProcessGroup, stream: Any, async_op: bool) -> Any:
    work = _EventWork(op_name, pg, stream)
    if async_op:
        return work
    work.wait()
    return None


def _stream() -> Any:
    import cupy

    return cupy.cuda.get_current_stream()


def all_reduce(pg: ProcessGroup, tensor: Tensor, op: RedOpType, async_op: bool) -> Any:
    data = _contiguous(tensor, "all_reduce")
    stream = _stream()
    communicator(pg).allReduce(
        data.data.ptr, data.data.ptr, data.size, _datatype(tensor), _reduce_op(tensor, op), stream.ptr
    )
    return _finish("all_reduce", pg, stream, async_op)


def broadcast(pg: ProcessGroup, tensor: Tensor, root: int, async_op: bool) -> Any:
    data = _contiguous(tensor, "broadcast")
    stream = _stream()
    communicator(pg).broadcast(data.data.ptr, data.data.ptr, data.size, _datatype(tensor), root, stream.ptr)
    return _finish("broadcast", pg, stream, async_op)


def reduce(pg: ProcessGroup, tensor: Tensor, root: int, op: RedOpType, async_op: bool) -> Any:
    data = _contiguous(tensor, "reduce")
    stream = _stream()
    communicator(pg).reduce(
        data.data.ptr, data.data.ptr, data.size, _datatype(tensor), _reduce_op(tensor, op), root, stream.ptr
    )
    return _finish("reduce", pg, stream, async_op)


def all_gather_into_tensor(pg: ProcessGroup, output: Tensor, input: Tensor, async_op: bool) -> Any:
    out = _contiguous(output, "all_gather_into_tensor")
    data = _contiguous(input, "all_gather_into_tensor")
    stream = _stream()
    communicator(pg).allGather(data.data.ptr, out.data.ptr, data.size, _datatype(input), stream.ptr)
    return _finish("all_gather_into_tensor", pg, stream, async_op)


def reduce_scatter_tensor(
    pg: ProcessGroup, output: Tensor, input: Tensor, op: RedOpType, async_op: bool
) -> Any:
    out = _contiguous(output, "reduce_scatter_tensor")
    data = _contiguous(input, "reduce_scatter_tensor")
    stream = _stream()
    communicator(pg).reduceScatter(
        data.data.ptr, out.data.ptr, out.size, _datatype(input), _reduce_op(input, op), stream.ptr
    )
    return _finish("reduce_scatter_tensor", pg, stream, async_op)

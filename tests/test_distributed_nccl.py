"""backend="nccl" without a GPU: the calls antorcha makes into CuPy's NCCL, against a stand-in CuPy.

A GPU machine runs the real thing; here a fake `cupy.cuda.nccl` records each call, so the plumbing
(buffers, counts, NCCL's datatype and operator codes, roots, the unique id's trip, the Work) is
checked in one process with no MPI started.
"""

from __future__ import annotations

import sys
import types
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

import antorcha as torch
from antorcha._device import device
from antorcha._tensor import wrap
from antorcha.distributed import _nccl
from antorcha.distributed._buffers import RedOpType
from antorcha.distributed._process_group import ProcessGroup


class FakeDeviceArray:
    """What _nccl reads of a CuPy array: dtype, size, flags and data.ptr."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        self.dtype, self.size, self.flags = values.dtype, values.size, values.flags
        self.data = types.SimpleNamespace(ptr=values.ctypes.data)


class FakeCommunicator:
    calls: list[tuple[Any, ...]] = []

    def __init__(self, ndev: int, unique_id: tuple, rank: int) -> None:
        assert isinstance(unique_id, tuple) and len(unique_id) == 128
        FakeCommunicator.calls.append(("init", ndev, unique_id[:3], rank))

    def __getattr__(self, name: str) -> Any:
        return lambda *args: FakeCommunicator.calls.append((name, *args))


class FakeComm:
    """The group's MPI communicator: rank 0 of 1; Bcast leaves the id rank 0 wrote."""

    def Get_rank(self) -> int:
        return 0

    def Bcast(self, buffer: np.ndarray, root: int) -> None:
        assert buffer.dtype == np.int64 and root == 0


@pytest.fixture
def fake_cupy(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeCommunicator.calls = []
    event = types.SimpleNamespace(done=True)
    stream = types.SimpleNamespace(ptr=1234, record=lambda: event)
    nccl = types.SimpleNamespace(
        get_unique_id=lambda: tuple([-5, 7, 127] + [0] * 125), NcclCommunicator=FakeCommunicator
    )
    cuda = types.SimpleNamespace(nccl=nccl, get_current_stream=lambda: stream)
    cupy = types.ModuleType("cupy")
    cupy.cuda = cuda
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "cupy.cuda", cuda)
    monkeypatch.setitem(sys.modules, "cupy.cuda.nccl", nccl)


def cuda_tensor(values: np.ndarray) -> Any:
    return wrap(FakeDeviceArray(values), device=device("cuda"))


def group() -> ProcessGroup:
    return ProcessGroup(FakeComm(), "nccl", [0], timedelta(seconds=5))


def test_nccl_takes_cuda_tensors_of_its_dtypes_only(fake_cupy: None) -> None:
    pg = group()
    assert _nccl.applies(pg, cuda_tensor(np.zeros(3, np.float32)))
    assert not _nccl.applies(pg, cuda_tensor(np.zeros(3, np.int16)))  # NCCL has no int16: MPI path
    assert not _nccl.applies(pg, torch.zeros(3))  # a cpu tensor goes through MPI
    assert not _nccl.applies(
        ProcessGroup(FakeComm(), "mpi", [0], timedelta(seconds=5)), cuda_tensor(np.zeros(3))
    )


@pytest.mark.parametrize(
    ("dtype", "op", "codes"),
    [
        (np.float32, RedOpType.SUM, (7, 0)),
        (np.float16, RedOpType.AVG, (6, 4)),
        (np.int64, RedOpType.MAX, (4, 2)),
        (np.float64, RedOpType.PRODUCT, (8, 1)),
        (np.bool_, RedOpType.SUM, (1, 2)),  # torch's NCCL: bool SUM is MAX on bytes
        (np.bool_, RedOpType.PRODUCT, (1, 3)),  # and PRODUCT is MIN
    ],
)
def test_all_reduce_calls_nccl_in_place(fake_cupy: None, dtype: type, op: RedOpType, codes: tuple) -> None:
    pg = group()
    tensor = cuda_tensor(np.zeros((2, 3), dtype))
    work = _nccl.all_reduce(pg, tensor, op, async_op=True)
    assert work.is_completed() and work.wait()
    init, call = FakeCommunicator.calls
    assert init == ("init", 1, (-5, 7, 127), 0)  # rank 0's unique id, signed chars intact
    ptr = tensor._data.data.ptr
    assert call == ("allReduce", ptr, ptr, 6, *codes, 1234)
    _nccl.all_reduce(pg, tensor, op, async_op=False)  # the communicator is made once
    assert [c[0] for c in FakeCommunicator.calls] == ["init", "allReduce", "allReduce"]


def test_the_other_collectives_pass_counts_and_roots(fake_cupy: None) -> None:
    pg = group()
    part, whole = cuda_tensor(np.zeros(4, np.float32)), cuda_tensor(np.zeros(4, np.float32))
    _nccl.broadcast(pg, part, 0, async_op=False)
    _nccl.reduce(pg, part, 0, RedOpType.MIN, async_op=False)
    _nccl.all_gather_into_tensor(pg, whole, part, async_op=False)
    _nccl.reduce_scatter_tensor(pg, part, whole, RedOpType.SUM, async_op=False)
    p, w = part._data.data.ptr, whole._data.data.ptr
    assert FakeCommunicator.calls[1:] == [
        ("broadcast", p, p, 4, 7, 0, 1234),
        ("reduce", p, p, 4, 7, 3, 0, 1234),
        ("allGather", p, w, 4, 7, 1234),
        ("reduceScatter", w, p, 4, 7, 0, 1234),
    ]


def test_a_non_contiguous_cuda_tensor_is_refused(fake_cupy: None) -> None:
    strided = cuda_tensor(np.zeros((4, 4), np.float32)[:, ::2])
    with pytest.raises(ValueError, match="Tensors must be contiguous"):
        _nccl.all_reduce(group(), strided, RedOpType.SUM, async_op=False)


def test_a_stuck_nccl_operation_times_out(fake_cupy: None) -> None:
    sys.modules["cupy"].cuda.get_current_stream = lambda: types.SimpleNamespace(
        ptr=1, record=lambda: types.SimpleNamespace(done=False)
    )
    pg = ProcessGroup(FakeComm(), "nccl", [0], timedelta(seconds=0.05))
    with pytest.raises(RuntimeError, match=r"all_reduce \(nccl\) on rank .* did not complete"):
        _nccl.all_reduce(pg, cuda_tensor(np.zeros(2, np.float32)), RedOpType.SUM, async_op=False)

"""Collectives on tensors, in place as in torch: all_reduce, broadcast, reduce, the gathers, scatter.

Each one checks its arguments (torch's exception classes), starts MPI's nonblocking form on the
tensor's own buffer where it can (a staging copy otherwise: _buffers.Staged), and either returns
the Work (async_op=True) or waits on it with the group's deadline. The tensor's values change when
the Work completes; as in torch, its version counter does not move (a collective is not an autograd
in-place op, and torch's c10d leaves `_version` alone).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from antorcha._tensor import Tensor
from antorcha.distributed import _debug, _nccl
from antorcha.distributed._buffers import (
    RedOpType,
    ReduceOp,
    Staged,
    as_bytes,
    average_in_place,
    check_op,
    check_reducible,
    host_array,
    mpi_op,
    reduce_buffer,
    require_tensor,
    require_tensor_list,
)
from antorcha.distributed._process_group import (
    GroupMember,
    ProcessGroup,
    _NonGroupMember,
    mpi_module,
    resolve,
    warn_not_member,
    world_rank,
)
from antorcha.distributed._work import Work, progress_in_flight, track


def member_group(group: Any, op_name: str) -> ProcessGroup | None:
    """The group to run on, or None (with torch's warning) when this process is not in it."""
    target = resolve(group)
    if isinstance(target, _NonGroupMember):
        warn_not_member(op_name)
        return None
    return target


def launch(
    pg: ProcessGroup,
    op_name: str,
    requests: list[Any],
    finish: Callable[[], Any] | None,
    async_op: bool,
    statuses: list[Any] | None = None,
    outputs: list[Tensor] | None = None,
) -> Work | None:
    work = Work(requests, op_name, world_rank(), pg.timeout_seconds, finish, statuses, outputs)
    progress_in_flight()
    if async_op:
        track(work)
        return work
    work.wait()
    return None


def root_rank(pg: ProcessGroup, global_rank: Any, group_rank: Any, name: str, op_name: str) -> int:
    """The root's rank in the group, from torch's src/dst (global) or group_src/group_dst."""
    if global_rank is not None and group_rank is not None:
        raise ValueError("Can't specify both group_rank and global_rank")
    if group_rank is not None:
        pg.global_rank(group_rank)  # validates
        return group_rank
    if global_rank is None:
        raise ValueError(f"Must specify global_rank or group_rank ({op_name} needs {name} or group_{name})")
    if pg is GroupMember.WORLD and isinstance(global_rank, int) and not 0 <= global_rank < pg.size():
        raise RuntimeError(f"{op_name}: invalid root rank: {global_rank} (the world has {pg.size()} ranks)")
    return pg.group_rank(global_rank)


def write_values(tensor: Tensor, values: np.ndarray) -> None:
    """Copy host values into a tensor (cpu or cuda)."""
    data = tensor._data
    if isinstance(data, np.ndarray):
        np.copyto(data, values.reshape(data.shape), casting="unsafe")
    else:
        from antorcha._device import cupy_module

        data[...] = cupy_module().asarray(values.reshape(data.shape))


def _same_dtype(tensors: list[Tensor]) -> None:
    first = tensors[0].dtype
    for t in tensors[1:]:
        if t.dtype is not first:
            raise ValueError(f"Invalid usage of tensors with different dtypes: found {t.dtype} and {first}")


def _check_list(tensors: list[Tensor], like: Tensor, size: int, name: str, op_name: str) -> None:
    if len(tensors) != size:
        raise RuntimeError(
            f"{op_name}: invalid {name} (expected length {size}, one tensor per rank, got {len(tensors)})"
        )
    _same_dtype([like, *tensors])
    for index, t in enumerate(tensors):
        if t.shape != like.shape:
            raise RuntimeError(
                f"{op_name}: invalid tensor size at index {index} of {name} (expected {list(like.shape)}, "
                f"got {list(t.shape)})"
            )


def all_reduce(tensor: Tensor, op: Any = ReduceOp.SUM, group: Any = None, async_op: bool = False) -> Any:
    """Reduce the tensor across the group; every rank gets the result in `tensor`."""
    require_tensor(tensor, "tensor")
    op = check_op(op)
    pg = member_group(group, "all_reduce")
    if pg is None:
        return None
    check_reducible(tensor, op, "all_reduce")
    if _debug.checking():
        _debug.agree(pg, "all_reduce", [tensor], op.name)
    if _nccl.applies(pg, tensor):
        return _nccl.all_reduce(pg, tensor, op, async_op)
    MPI = mpi_module()
    staged = Staged(tensor, for_reduction=True)
    request = pg._comm.Iallreduce(MPI.IN_PLACE, reduce_buffer(MPI, staged.array), _op(MPI, op, staged))

    def finish() -> None:
        if op == RedOpType.AVG:
            average_in_place(staged.array, pg.size())
        staged.commit()

    return launch(pg, "all_reduce", [request], finish, async_op, outputs=[tensor])


def _op(MPI: Any, op: RedOpType, staged: Staged) -> Any:
    return mpi_op(MPI, op, staged.array.dtype.kind)


def broadcast(
    tensor: Tensor,
    src: int | None = None,
    group: Any = None,
    async_op: bool = False,
    group_src: int | None = None,
) -> Any:
    """Copy the root's tensor into every rank's tensor (bit for bit, any dtype)."""
    require_tensor(tensor, "tensor")
    pg = member_group(group, "broadcast")
    if pg is None:
        return None
    root = root_rank(pg, src, group_src, "src", "broadcast")
    if _debug.checking():
        _debug.agree(pg, "broadcast", [tensor], f"src={root}")
    if _nccl.applies(pg, tensor):
        return _nccl.broadcast(pg, tensor, root, async_op)
    MPI = mpi_module()
    staged = Staged(tensor)
    request = pg._comm.Ibcast([as_bytes(staged.array), MPI.BYTE], root)
    receiving = pg.rank() != root

    def finish() -> None:
        if receiving:
            staged.commit()

    return launch(pg, "broadcast", [request], finish, async_op, outputs=[tensor])


def reduce(
    tensor: Tensor,
    dst: int | None = None,
    op: Any = ReduceOp.SUM,
    group: Any = None,
    async_op: bool = False,
    group_dst: int | None = None,
) -> Any:
    """Reduce into the root's tensor; the other ranks' tensors are left as they were."""
    require_tensor(tensor, "tensor")
    op = check_op(op)
    pg = member_group(group, "reduce")
    if pg is None:
        return None
    root = root_rank(pg, dst, group_dst, "dst", "reduce")
    check_reducible(tensor, op, "reduce")
    if _debug.checking():
        _debug.agree(pg, "reduce", [tensor], f"{op.name}, dst={root}")
    if _nccl.applies(pg, tensor):
        return _nccl.reduce(pg, tensor, root, op, async_op)
    MPI = mpi_module()
    staged = Staged(tensor, for_reduction=True)
    buffer = reduce_buffer(MPI, staged.array)
    is_root = pg.rank() == root
    if is_root:
        request = pg._comm.Ireduce(MPI.IN_PLACE, buffer, _op(MPI, op, staged), root)
    else:
        request = pg._comm.Ireduce(buffer, None, _op(MPI, op, staged), root)

    def finish() -> None:
        if is_root:
            if op == RedOpType.AVG:
                average_in_place(staged.array, pg.size())
            staged.commit()

    return launch(pg, "reduce", [request], finish, async_op, outputs=[tensor])


def all_gather(tensor_list: list[Tensor], tensor: Tensor, group: Any = None, async_op: bool = False) -> Any:
    """tensor_list[i] = rank i's tensor, on every rank."""
    tensor_list = require_tensor_list(tensor_list, "tensor_list")
    require_tensor(tensor, "tensor")
    pg = member_group(group, "all_gather")
    if pg is None:
        return None
    _check_list(tensor_list, tensor, pg.size(), "output tensor list", "all_gather")
    if _debug.checking():
        _debug.agree(pg, "all_gather", [tensor])
    MPI = mpi_module()
    send, _ = host_array(tensor)
    received = np.empty((pg.size(), *send.shape), dtype=send.dtype)  # (ranks, *shape)
    request = pg._comm.Iallgather([as_bytes(send), MPI.BYTE], [as_bytes(received), MPI.BYTE])

    def finish() -> None:
        for values, out in zip(received, tensor_list):
            write_values(out, values)

    return launch(pg, "all_gather", [request], finish, async_op, outputs=tensor_list)


def all_gather_into_tensor(
    output_tensor: Tensor, input_tensor: Tensor, group: Any = None, async_op: bool = False
) -> Any:
    """Rank i's input becomes the i-th slice of output (shape (ranks * n, ...) or (ranks, n, ...))."""
    require_tensor(output_tensor, "output_tensor")
    require_tensor(input_tensor, "input_tensor")
    pg = member_group(group, "all_gather_into_tensor")
    if pg is None:
        return None
    _check_split(output_tensor, input_tensor, pg.size(), "all_gather_into_tensor", "output", "input")
    if _debug.checking():
        _debug.agree(pg, "all_gather_into_tensor", [output_tensor, input_tensor])
    if _nccl.applies(pg, input_tensor):
        return _nccl.all_gather_into_tensor(pg, output_tensor, input_tensor, async_op)
    MPI = mpi_module()
    send, _ = host_array(input_tensor)
    staged = Staged(output_tensor)
    request = pg._comm.Iallgather([as_bytes(send), MPI.BYTE], [as_bytes(staged.array), MPI.BYTE])

    def finish() -> None:
        staged.commit()

    return launch(pg, "all_gather_into_tensor", [request], finish, async_op, outputs=[output_tensor])


def _check_split(
    whole: Tensor, part: Tensor, size: int, op_name: str, whole_name: str, part_name: str
) -> None:
    """`whole` holds one `part` per rank: same dtype, and numel(whole) == ranks * numel(part)."""
    if whole.dtype is not part.dtype:
        raise RuntimeError(
            f"{op_name}: the {whole_name} tensor is {whole.dtype.scalar_name} but the {part_name} tensor is "
            f"{part.dtype.scalar_name}"
        )
    if whole.numel() != size * part.numel():
        raise RuntimeError(
            f"{op_name}: the {whole_name} tensor of shape {list(whole.shape)} must hold {size} (the group's "
            f"size) times the {part_name} tensor of shape {list(part.shape)}"
        )


def reduce_scatter_tensor(
    output: Tensor, input: Tensor, op: Any = ReduceOp.SUM, group: Any = None, async_op: bool = False
) -> Any:
    """Reduce `input` (ranks * n elements) across the group; rank i gets the i-th block in `output`."""
    require_tensor(output, "output")
    require_tensor(input, "input")
    op = check_op(op)
    pg = member_group(group, "reduce_scatter_tensor")
    if pg is None:
        return None
    _check_split(input, output, pg.size(), "reduce_scatter_tensor", "input", "output")
    check_reducible(input, op, "reduce_scatter_tensor")
    if _debug.checking():
        _debug.agree(pg, "reduce_scatter_tensor", [output, input], op.name)
    if _nccl.applies(pg, input):
        return _nccl.reduce_scatter_tensor(pg, output, input, op, async_op)
    MPI = mpi_module()
    sent = Staged(input, for_reduction=True)
    staged = Staged(output, for_reduction=True)
    datatype = reduce_buffer(MPI, staged.array)[2]
    request = pg._comm.Ireduce_scatter_block(
        [sent.array, datatype], [staged.array, datatype], _op(MPI, op, staged)
    )

    def finish() -> None:
        if op == RedOpType.AVG:
            average_in_place(staged.array, pg.size())
        staged.commit()
        del sent.array  # kept alive until MPI is done reading it

    return launch(pg, "reduce_scatter_tensor", [request], finish, async_op, outputs=[output])


def gather(
    tensor: Tensor,
    gather_list: list[Tensor] | None = None,
    dst: int | None = None,
    group: Any = None,
    async_op: bool = False,
    group_dst: int | None = None,
) -> Any:
    """gather_list[i] = rank i's tensor, on the root only."""
    require_tensor(tensor, "tensor")
    pg = member_group(group, "gather")
    if pg is None:
        return None
    root = root_rank(pg, 0 if dst is None and group_dst is None else dst, group_dst, "dst", "gather")
    is_root = pg.rank() == root
    _check_root_list(gather_list, is_root, "gather_list", "destination")
    if is_root:
        gather_list = require_tensor_list(gather_list, "gather_list")
        _check_list(gather_list, tensor, pg.size(), "gather_list", "gather")
    MPI = mpi_module()
    send, _ = host_array(tensor)
    received = np.empty((pg.size(), *send.shape), dtype=send.dtype) if is_root else None
    target = [as_bytes(received), MPI.BYTE] if is_root else None
    request = pg._comm.Igather([as_bytes(send), MPI.BYTE], target, root)

    def finish() -> None:
        if is_root:
            for values, out in zip(received, gather_list):
                write_values(out, values)

    return launch(pg, "gather", [request], finish, async_op, outputs=gather_list or [])


def _check_root_list(tensors: Any, is_root: bool, name: str, role: str) -> None:
    if is_root and tensors is None:
        raise ValueError(f"Argument ``{name}`` must be specified on {role} rank.")
    if not is_root and tensors:
        raise ValueError(f"Argument ``{name}`` must NOT be specified on non-{role} ranks.")


def scatter(
    tensor: Tensor,
    scatter_list: list[Tensor] | None = None,
    src: int | None = None,
    group: Any = None,
    async_op: bool = False,
    group_src: int | None = None,
) -> Any:
    """Rank i's tensor = the root's scatter_list[i]."""
    require_tensor(tensor, "tensor")
    pg = member_group(group, "scatter")
    if pg is None:
        return None
    root = root_rank(pg, 0 if src is None and group_src is None else src, group_src, "src", "scatter")
    is_root = pg.rank() == root
    _check_root_list(scatter_list, is_root, "scatter_list", "source")
    MPI = mpi_module()
    outgoing = None
    if is_root:
        scatter_list = require_tensor_list(scatter_list, "scatter_list")
        _check_list(scatter_list, tensor, pg.size(), "scatter_list", "scatter")
        outgoing = np.stack([host_array(t)[0] for t in scatter_list])  # (ranks, *shape)
    staged = Staged(tensor)
    source = [as_bytes(outgoing), MPI.BYTE] if is_root else None
    request = pg._comm.Iscatter(source, [as_bytes(staged.array), MPI.BYTE], root)

    def finish() -> None:
        staged.commit()

    return launch(pg, "scatter", [request], finish, async_op, outputs=[tensor])


def barrier(group: Any = None, async_op: bool = False, device_ids: Any = None, timeout: Any = None) -> Any:
    """Wait until every rank of the group arrives (within `timeout`, default the group's)."""
    pg = member_group(group, "barrier")
    if pg is None:
        return None
    work = Work([pg._comm.Ibarrier()], "barrier", world_rank(), pg.timeout_seconds)
    if async_op:
        return work
    work.wait(timeout)
    return None

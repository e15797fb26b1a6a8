"""Point to point: send/recv and isend/irecv, with torch's rank checks and the sender returned."""

from __future__ import annotations

from typing import Any

from antorcha._tensor import Tensor
from antorcha.distributed._buffers import Staged, as_bytes, host_array, require_tensor
from antorcha.distributed._collectives import launch, member_group
from antorcha.distributed._process_group import ProcessGroup, mpi_module
from antorcha.distributed._work import Work


def _peer(pg: ProcessGroup, global_rank: Any, group_rank: Any, role: str) -> int:
    """The peer's rank in the group; torch's ValueError for a missing peer or oneself."""
    if global_rank is not None and group_rank is not None:
        raise ValueError("Can't specify both group_rank and global_rank")
    if group_rank is not None:
        pg.global_rank(group_rank)  # validates
        peer = group_rank
    elif global_rank is None:
        raise ValueError("Must specify global_rank or group_rank")
    else:
        peer = pg.group_rank(global_rank)
    if peer == pg.rank():
        raise ValueError(
            f"Invalid {role} rank: {role} rank should not be the same as the rank of the current process."
        )
    return peer


def isend(
    tensor: Tensor, dst: int | None = None, group: Any = None, tag: int = 0, group_dst: int | None = None
) -> Work | None:
    require_tensor(tensor, "tensor")
    pg = member_group(group, "isend")
    if pg is None:
        return None
    peer = _peer(pg, dst, group_dst, "destination")
    MPI = mpi_module()
    outgoing, _ = host_array(tensor)
    request = pg._comm.Isend([as_bytes(outgoing), MPI.BYTE], peer, tag)  # the request keeps the buffer
    return launch(pg, "send", [request], None, async_op=True, outputs=[tensor])


def send(
    tensor: Tensor, dst: int | None = None, group: Any = None, tag: int = 0, group_dst: int | None = None
) -> None:
    work = isend(tensor, dst, group, tag, group_dst)
    if work is not None:
        work.wait()


def irecv(
    tensor: Tensor, src: int | None = None, group: Any = None, tag: int = 0, group_src: int | None = None
) -> Work | None:
    """Receive into `tensor` from src (any rank when None); the Work's source_rank() is the sender's."""
    require_tensor(tensor, "tensor")
    pg = member_group(group, "irecv")
    if pg is None:
        return None
    MPI = mpi_module()
    peer = MPI.ANY_SOURCE if src is None and group_src is None else _peer(pg, src, group_src, "source")
    staged = Staged(tensor)
    expected = staged.array.nbytes
    status = MPI.Status()
    request = pg._comm.Irecv([as_bytes(staged.array), MPI.BYTE], peer, tag)

    def finish() -> int:
        sender = status.Get_source()
        count = status.Get_count(MPI.BYTE)
        if count != expected:
            raise RuntimeError(
                f"recv: rank {pg._ranks[sender]} sent {count} bytes, but the receiving tensor of shape "
                f"{list(tensor.shape)} and dtype {tensor.dtype.scalar_name} holds {expected}"
            )
        staged.commit()
        return pg._ranks[sender]

    return launch(pg, "recv", [request], finish, async_op=True, statuses=[status], outputs=[tensor])


def recv(
    tensor: Tensor, src: int | None = None, group: Any = None, tag: int = 0, group_src: int | None = None
) -> int:
    """Blocking receive; returns the sender's global rank (-1 when not a member of the group)."""
    work = irecv(tensor, src, group, tag, group_src)
    if work is None:
        return -1
    return work.source_rank()


class P2POp:
    """One point-to-point operation for batch_isend_irecv: op is isend or irecv."""

    def __init__(
        self,
        op: Any,
        tensor: Tensor,
        peer: int | None = None,
        group: Any = None,
        tag: int = 0,
        group_peer: int | None = None,
    ) -> None:
        if op not in (isend, irecv):
            raise ValueError(
                "Invalid ``op``. Expected ``op`` to be of type ``antorcha.distributed.isend`` or "
                "``antorcha.distributed.irecv``."
            )
        require_tensor(tensor, "tensor")
        self.op, self.tensor, self.peer, self.group, self.tag, self.group_peer = (
            op,
            tensor,
            peer,
            group,
            tag,
            group_peer,
        )


def batch_isend_irecv(p2p_op_list: list[P2POp]) -> list[Work]:
    """Start every send and receive of the list at once (MPI matches them in any order)."""
    if not isinstance(p2p_op_list, list) or not all(isinstance(p, P2POp) for p in p2p_op_list):
        raise ValueError("Invalid ``p2p_op_list``. Each op is expected to to be of type ``P2POp``.")
    if len({id(p.group) if p.group is not None else None for p in p2p_op_list}) > 1:
        raise ValueError("All ops need to use the same group.")
    works = []
    for p2p in p2p_op_list:
        if p2p.op is isend:
            work = isend(p2p.tensor, p2p.peer, p2p.group, p2p.tag, p2p.group_peer)
        else:
            work = irecv(p2p.tensor, p2p.peer, p2p.group, p2p.tag, p2p.group_peer)
        if work is not None:
            works.append(work)
    return works

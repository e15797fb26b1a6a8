"""Every rank sends something different to every other: all_to_all_single, all_to_all, and
reduce_scatter's list form; monitored_barrier. Raw bytes through MPI's Ialltoallv, any dtype."""

from __future__ import annotations

from typing import Any

import numpy as np

from antorcha._tensor import Tensor, wrap
from antorcha.distributed._buffers import (
    ReduceOp,
    Staged,
    as_bytes,
    host_array,
    require_tensor,
    require_tensor_list,
)
from antorcha.distributed._collectives import (
    _check_list,
    _same_dtype,
    barrier,
    launch,
    member_group,
    reduce_scatter_tensor,
    write_values,
)
from antorcha.distributed._process_group import mpi_module


def _splits(sizes: list[int] | None, rows: int, ranks: int, name: str) -> list[int]:
    """Rows per rank along dim 0: as given, or equal parts (torch's error when they do not divide)."""
    if sizes is None or len(sizes) == 0:
        if rows % ranks:
            raise ValueError(
                f"all_to_all_single: the {name} tensor's {rows} rows do not split evenly over {ranks} ranks"
            )
        return [rows // ranks] * ranks
    sizes = [int(s) for s in sizes]
    if len(sizes) != ranks or any(s < 0 for s in sizes) or sum(sizes) != rows:
        raise ValueError(
            f"all_to_all_single: {name}_split_sizes {sizes} must give one non-negative size per rank "
            f"({ranks}) summing to the {name} tensor's {rows} rows"
        )
    return sizes


def all_to_all_single(
    output: Tensor,
    input: Tensor,
    output_split_sizes: list[int] | None = None,
    input_split_sizes: list[int] | None = None,
    group: Any = None,
    async_op: bool = False,
) -> Any:
    """Split input along dim 0 and send part i to rank i; output gets rank j's part j-th."""
    require_tensor(output, "output")
    require_tensor(input, "input")
    pg = member_group(group, "all_to_all_single")
    if pg is None:
        return None
    _same_dtype([output, input])
    if output.shape[1:] != input.shape[1:]:
        raise RuntimeError(
            f"all_to_all_single: output {list(output.shape)} and input {list(input.shape)} must agree "
            "beyond dim 0"
        )
    if input.dim() == 0 or output.dim() == 0:
        raise ValueError("all_to_all_single: the tensors need a dim 0 to split")
    ranks = pg.size()
    row_bytes = int(np.prod(input.shape[1:], dtype=np.int64)) * input.element_size()
    sent = _byte_layout(
        [rows * row_bytes for rows in _splits(input_split_sizes, input.shape[0], ranks, "input")]
    )
    got = _byte_layout(
        [rows * row_bytes for rows in _splits(output_split_sizes, output.shape[0], ranks, "output")]
    )
    MPI = mpi_module()
    outgoing, _ = host_array(input)
    staged = Staged(output)
    request = pg._comm.Ialltoallv(
        [as_bytes(outgoing), *sent, MPI.BYTE], [as_bytes(staged.array), *got, MPI.BYTE]
    )
    return launch(pg, "all_to_all_single", [request], staged.commit, async_op, outputs=[output])


def all_to_all(
    output_tensor_list: list[Tensor],
    input_tensor_list: list[Tensor],
    group: Any = None,
    async_op: bool = False,
) -> Any:
    """input_tensor_list[i] goes to rank i; output_tensor_list[j] receives rank j's."""
    outputs = require_tensor_list(output_tensor_list, "output_tensor_list")
    inputs = require_tensor_list(input_tensor_list, "input_tensor_list")
    pg = member_group(group, "all_to_all")
    if pg is None:
        return None
    if len(outputs) != pg.size() or len(inputs) != pg.size():
        raise RuntimeError(
            f"all_to_all: each list needs one tensor per rank ({pg.size()}), got {len(outputs)} outputs "
            f"and {len(inputs)} inputs"
        )
    _same_dtype([*outputs, *inputs])
    MPI = mpi_module()
    outgoing = np.concatenate([as_bytes(host_array(t)[0]) for t in inputs])
    send = _byte_layout([t.nbytes for t in inputs])
    recv = _byte_layout([t.nbytes for t in outputs])
    received = np.empty(int(sum(t.nbytes for t in outputs)), dtype=np.uint8)
    request = pg._comm.Ialltoallv([outgoing, *send, MPI.BYTE], [received, *recv, MPI.BYTE])

    def finish() -> None:
        for out, offset in zip(outputs, recv[1]):
            piece = received[offset : offset + out.nbytes].view(out._data.dtype)
            write_values(out, piece)

    return launch(pg, "all_to_all", [request], finish, async_op, outputs=outputs)


def _byte_layout(sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(counts, displacements) in bytes for Ialltoallv."""
    counts = np.array(sizes, dtype=np.int64)
    return counts, np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


def reduce_scatter(
    output: Tensor,
    input_list: list[Tensor],
    op: Any = ReduceOp.SUM,
    group: Any = None,
    async_op: bool = False,
) -> Any:
    """Reduce input_list[i] across the group into rank i's output (the list form of reduce_scatter_tensor)."""
    require_tensor(output, "output")
    inputs = require_tensor_list(input_list, "input_list")
    pg = member_group(group, "reduce_scatter")
    if pg is None:
        return None
    _check_list(inputs, output, pg.size(), "input_list", "reduce_scatter")
    stacked = wrap(np.stack([host_array(t)[0] for t in inputs]))  # (ranks, *shape), on the host
    return reduce_scatter_tensor(output, stacked, op, group, async_op)


def monitored_barrier(group: Any = None, timeout: Any = None, wait_all_ranks: bool = False) -> None:
    """A barrier that raises RuntimeError (naming this rank and the timeout) when a rank is missing."""
    barrier(group, timeout=timeout)

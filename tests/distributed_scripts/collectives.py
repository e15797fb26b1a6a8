"""Every collective, op and dtype under mpirun, each checked against the same computation in one process.

Run as `mpirun -n N python collectives.py OUT_DIR` (tests/test_distributed.py does it through the
launchers). Every rank draws every rank's inputs from per-rank seeds, so it can compute the expected
result alone with NumPy; each case's outcome ("ok" or the error) goes to OUT_DIR/rank<R>.json, and
the test asserts per case and rank. One launch runs all cases.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import traceback
import warnings
from collections.abc import Callable

import ml_dtypes
import numpy as np

import antorcha as torch
import antorcha.distributed as dist

CASES: dict[str, Callable[[int, int], None]] = {}
DTYPES = ["float16", "bfloat16", "float32", "float64", "int8", "uint8", "int16", "int32", "int64", "bool"]
OPS = ["SUM", "AVG", "MAX", "MIN", "PRODUCT"]
_TOLERANCE = {"float16": 2e-3, "bfloat16": 1.6e-2, "float32": 2e-6, "float64": 1e-13}


def case(name: str) -> Callable:
    def register(fn: Callable[[int, int], None]) -> Callable:
        CASES[name] = fn
        return fn

    return register


def np_dtype(name: str) -> np.dtype:
    return np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)


def draw(rank: int, name: str, shape: tuple[int, ...] = (3, 4), seed: int = 0) -> np.ndarray:
    """Rank `rank`'s input: small integers (no overflow in a product of 3), normals for floats."""
    rng = np.random.default_rng(1000 * seed + rank)
    kind = np_dtype(name)
    if name == "bool":
        return rng.random(shape) < 0.5
    if kind.kind == "u":
        return rng.integers(0, 4, shape).astype(kind)
    if kind.kind == "i":
        return rng.integers(-3, 4, shape).astype(kind)
    return rng.standard_normal(shape).astype(np.float32).astype(kind)


def tensor_of(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(array))  # a copy; a 0-d row of a stack is a NumPy scalar


def expected_reduction(stack: np.ndarray, op: str, name: str) -> np.ndarray:
    """One process's answer: float16/bfloat16 in float32 rounded once; bool as OR/AND."""
    kind = np_dtype(name)
    work = stack.astype(np.float32) if name in ("float16", "bfloat16") else stack
    if name == "bool":
        any_, all_ = work.any(0), work.all(0)
        return {"SUM": any_, "MAX": any_, "PRODUCT": all_, "MIN": all_}[op]
    if op == "SUM":
        result = work.sum(0, dtype=work.dtype)
    elif op == "AVG":
        total = work.sum(0, dtype=work.dtype)
        result = total / len(stack)
    elif op == "PRODUCT":
        result = work.prod(0, dtype=work.dtype)
    elif op == "MAX":
        result = np.maximum.reduce(work, 0)
    else:
        result = np.minimum.reduce(work, 0)
    return np.asarray(result).astype(kind)


def check(actual: torch.Tensor, expected: np.ndarray, name: str) -> None:
    values = actual._data
    assert values.dtype == np_dtype(name), f"dtype {values.dtype}, expected {name}"
    assert values.shape == expected.shape, f"shape {values.shape}, expected {expected.shape}"
    if name in _TOLERANCE:
        np.testing.assert_allclose(
            values.astype(np.float64),
            expected.astype(np.float64),
            rtol=_TOLERANCE[name],
            atol=1e-6,
            equal_nan=True,
        )
    else:
        np.testing.assert_array_equal(values, expected)


def same_bits(actual: torch.Tensor, expected: np.ndarray) -> None:
    assert actual._data.dtype == expected.dtype
    assert actual._data.tobytes() == np.ascontiguousarray(expected).tobytes(), "not bit for bit"


def _all_reduce_case(op: str, name: str) -> Callable[[int, int], None]:
    def run(rank: int, size: int) -> None:
        seed = OPS.index(op) * 10 + DTYPES.index(name)
        stack = np.stack([draw(r, name, seed=seed) for r in range(size)])
        t = tensor_of(stack[rank])
        version = t._counter()[0]  # the counter exists once something (a saved tensor) watches it
        assert dist.all_reduce(t, op=getattr(dist.ReduceOp, op)) is None
        check(t, expected_reduction(stack, op, name), name)
        assert t._version == version, "torch's collectives leave the version counter alone"

    return run


FLOATS = ["float16", "bfloat16", "float32", "float64"]
for _op in OPS:
    for _name in DTYPES:
        if _op != "AVG" or _name in FLOATS:
            CASES[f"all_reduce_{_op}_{_name}"] = _all_reduce_case(_op, _name)


@case("all_reduce_refusals_as_torch")
def _(rank: int, size: int) -> None:
    """torch refuses AVG on integer and bool tensors, and the bitwise ops on floats."""
    for name in ("bool", "int64", "uint8"):
        t = tensor_of(draw(rank, name))
        try:
            dist.all_reduce(t, op=dist.ReduceOp.AVG)
        except RuntimeError as error:
            assert "can't be cast to the desired output type" in str(error), str(error)
        else:
            raise AssertionError(f"AVG on {name} must raise")
    try:
        dist.all_reduce(torch.ones(3), op=dist.ReduceOp.BAND)
    except RuntimeError as error:
        assert "Cannot use ReduceOp.BAND with non-integral dtype" in str(error)
    else:
        raise AssertionError("BAND on float32 must raise")


@case("all_reduce_max_min_keep_nan")
def _(rank: int, size: int) -> None:
    for op, combine in (("MAX", np.maximum), ("MIN", np.minimum)):
        stack = np.stack([draw(r, "float32", (5,), seed=77) for r in range(size)])
        stack[0, 1] = np.nan
        stack[size - 1, 3] = np.nan
        t = tensor_of(stack[rank])
        dist.all_reduce(t, op=getattr(dist.ReduceOp, op))
        check(t, combine.reduce(stack, 0), "float32")


@case("all_reduce_bitwise_int64")
def _(rank: int, size: int) -> None:
    stack = np.stack([draw(r, "int64", (6,), seed=5) + 3 for r in range(size)])
    for op, combine in (("BAND", np.bitwise_and), ("BOR", np.bitwise_or), ("BXOR", np.bitwise_xor)):
        t = tensor_of(stack[rank])
        dist.all_reduce(t, op=getattr(dist.ReduceOp, op))
        check(t, combine.reduce(stack, 0), "int64")


@case("all_reduce_non_contiguous_view")
def _(rank: int, size: int) -> None:
    stack = np.stack([draw(r, "float64", (4, 6), seed=8) for r in range(size)])
    base = tensor_of(stack[rank])
    view = base.t()[::2]  # (3, 4), strided
    dist.all_reduce(view)
    expected = stack[rank].copy()
    expected.T[::2] = stack.sum(0).T[::2]
    check(base, expected, "float64")


@case("all_reduce_scalar_empty_and_large")
def _(rank: int, size: int) -> None:
    for shape in ((), (0,), (3, 0), (1_000_003,)):  # the large one: an odd count over the ranks
        stack = np.stack([draw(r, "float32", shape, seed=10) for r in range(size)])
        for op in ("SUM", "MAX"):
            t = tensor_of(stack[rank])
            dist.all_reduce(t, op=getattr(dist.ReduceOp, op))
            check(t, expected_reduction(stack, op, "float32"), "float32")


@case("all_reduce_async_work")
def _(rank: int, size: int) -> None:
    stack = np.stack([draw(r, "float32", (1000,), seed=9) for r in range(size)])
    t = tensor_of(stack[rank])
    work = dist.all_reduce(t, op=dist.ReduceOp.SUM, async_op=True)
    assert isinstance(work, dist.Work)
    assert work.wait() is True
    assert work.is_completed() and work.is_success() and work.exception() is None
    assert work.result() == [t] and work.result()[0] is t
    check(t, stack.sum(0), "float32")


@case("broadcast_every_dtype_bit_for_bit")
def _(rank: int, size: int) -> None:
    for name in DTYPES:
        for src in range(size):
            values = [draw(r, name, seed=20 + src) for r in range(size)]
            if name in ("float32", "bfloat16"):
                values[src].reshape(-1)[0] = np.nan  # NaN payloads pass untouched
            t = tensor_of(values[rank])
            dist.broadcast(t, src=src)
            same_bits(t, values[src])


@case("broadcast_async_and_group_src")
def _(rank: int, size: int) -> None:
    values = [draw(r, "float32", seed=21) for r in range(size)]
    t = tensor_of(values[rank])
    dist.broadcast(t, group_src=size - 1, async_op=True).wait()
    same_bits(t, values[size - 1])


def _reduce_case(op: str, name: str) -> Callable[[int, int], None]:
    def run(rank: int, size: int) -> None:
        stack = np.stack([draw(r, name, seed=30 + OPS.index(op)) for r in range(size)])
        dst = size - 1
        t = tensor_of(stack[rank])
        dist.reduce(t, dst=dst, op=getattr(dist.ReduceOp, op))
        if rank == dst:
            check(t, expected_reduction(stack, op, name), name)
        else:
            same_bits(t, stack[rank])  # only the destination's tensor changes

    return run


for _op in OPS:
    for _name in ("float32", "float16", "int32"):
        if _op != "AVG" or _name in FLOATS:
            CASES[f"reduce_{_op}_{_name}"] = _reduce_case(_op, _name)


@case("all_gather_every_dtype")
def _(rank: int, size: int) -> None:
    for name in DTYPES:
        values = [draw(r, name, (2, 3), seed=40) for r in range(size)]
        out = [torch.zeros(2, 3, dtype=getattr(torch, name)) for _ in range(size)]
        dist.all_gather(out, tensor_of(values[rank]))
        for r in range(size):
            same_bits(out[r], values[r])


@case("all_gather_into_tensor_both_layouts")
def _(rank: int, size: int) -> None:
    for name in ("float32", "bfloat16", "int64", "bool"):
        values = [draw(r, name, (2, 3), seed=41) for r in range(size)]
        kind = getattr(torch, name)
        concatenated = torch.zeros(2 * size, 3, dtype=kind)
        dist.all_gather_into_tensor(concatenated, tensor_of(values[rank]))
        same_bits(concatenated, np.concatenate(values))
        stacked = torch.zeros(size, 2, 3, dtype=kind)
        dist.all_gather_into_tensor(stacked, tensor_of(values[rank]), async_op=True).wait()
        same_bits(stacked, np.stack(values))


@case("reduce_scatter_tensor_ops_and_dtypes")
def _(rank: int, size: int) -> None:
    for op in OPS:
        for name in ("float32", "float64", "float16", "bfloat16", "int64")[: 4 if op == "AVG" else 5]:
            stack = np.stack([draw(r, name, (size * 2, 3), seed=50) for r in range(size)])
            out = torch.zeros(2, 3, dtype=getattr(torch, name))
            dist.reduce_scatter_tensor(out, tensor_of(stack[rank]), op=getattr(dist.ReduceOp, op))
            check(out, expected_reduction(stack, op, name)[2 * rank : 2 * rank + 2], name)


@case("gather_and_scatter")
def _(rank: int, size: int) -> None:
    for name in ("float32", "int8", "bfloat16"):
        values = [draw(r, name, (4,), seed=60) for r in range(size)]
        dst = size - 1
        outs = [torch.zeros(4, dtype=getattr(torch, name)) for _ in range(size)] if rank == dst else None
        dist.gather(tensor_of(values[rank]), outs, dst=dst)
        if rank == dst:
            for r in range(size):
                same_bits(outs[r], values[r])
        pieces = [tensor_of(v) for v in values] if rank == 0 else None
        received = torch.zeros(4, dtype=getattr(torch, name))
        dist.scatter(received, pieces, src=0)
        same_bits(received, values[rank])


@case("all_to_all_single_equal_and_uneven")
def _(rank: int, size: int) -> None:
    for name in ("float32", "bfloat16", "int64"):
        inputs = [draw(r, name, (2 * size, 3), seed=80) for r in range(size)]
        out = torch.zeros(2 * size, 3, dtype=getattr(torch, name))
        dist.all_to_all_single(out, tensor_of(inputs[rank]))
        same_bits(out, np.concatenate([inputs[r][2 * rank : 2 * rank + 2] for r in range(size)]))
    # rank r sends r + j + 1 rows to rank j
    rows = [[r + j + 1 for j in range(size)] for r in range(size)]
    inputs = [draw(r, "float64", (sum(rows[r]), 2), seed=81) for r in range(size)]
    received = [rows[r][rank] for r in range(size)]
    out = torch.zeros(sum(received), 2, dtype=torch.float64)
    dist.all_to_all_single(out, tensor_of(inputs[rank]), received, rows[rank], async_op=True).wait()
    starts = [[sum(rows[r][:j]) for j in range(size)] for r in range(size)]
    expected = np.concatenate(
        [inputs[r][starts[r][rank] : starts[r][rank] + rows[r][rank]] for r in range(size)]
    )
    same_bits(out, expected)


@case("all_to_all_lists_and_reduce_scatter_list")
def _(rank: int, size: int) -> None:
    pieces = [[draw(r, "int32", (j + 1,), seed=82 + j) for j in range(size)] for r in range(size)]
    outs = [torch.zeros(rank + 1, dtype=torch.int32) for _ in range(size)]
    dist.all_to_all(outs, [tensor_of(p) for p in pieces[rank]])
    for r in range(size):
        same_bits(outs[r], pieces[r][rank])
    stacks = [[draw(r, "float32", (3,), seed=90 + j) for j in range(size)] for r in range(size)]
    out = torch.zeros(3)
    dist.reduce_scatter(out, [tensor_of(x) for x in stacks[rank]], op=dist.ReduceOp.MAX)
    check(out, np.maximum.reduce([stacks[r][rank] for r in range(size)]), "float32")
    dist.monitored_barrier(timeout=datetime.timedelta(seconds=20))


@case("gather_object_and_scatter_object_list")
def _(rank: int, size: int) -> None:
    dst = size - 1
    gathered = [None] * size if rank == dst else None
    dist.gather_object({"from": rank, "t": torch.ones(rank)}, gathered, dst=dst)
    if rank == dst:
        assert [g["from"] for g in gathered] == list(range(size))
        assert [g["t"].shape[0] for g in gathered] == list(range(size))
    out = [None]
    dist.scatter_object_list(out, [f"for {r}" for r in range(size)] if rank == 0 else None, src=0)
    assert out == [f"for {rank}"]
    assert dist.get_node_local_rank() == rank and dist.is_torchelastic_launched()


@case("send_recv_ring_and_any_source")
def _(rank: int, size: int) -> None:
    values = [draw(r, "float64", (5,), seed=70) for r in range(size)]
    right, left = (rank + 1) % size, (rank - 1) % size
    incoming = torch.zeros(5, dtype=torch.float64)
    receive = dist.irecv(incoming, src=left)
    send = dist.isend(tensor_of(values[rank]), dst=right, tag=0)
    send.wait()
    receive.wait()
    same_bits(incoming, values[left])
    assert receive.source_rank() == left and receive.result()[0] is incoming
    if rank == 0:
        senders = sorted(dist.recv(torch.zeros(2, dtype=torch.int64)) for _ in range(size - 1))
        assert senders == list(range(1, size)), senders
    else:
        dist.send(torch.tensor([rank, rank], dtype=torch.int64), dst=0)


@case("batch_isend_irecv_ring")
def _(rank: int, size: int) -> None:
    values = [draw(r, "int32", (4,), seed=71) for r in range(size)]
    right, left = (rank + 1) % size, (rank - 1) % size
    incoming = torch.zeros(4, dtype=torch.int32)
    operations = [
        dist.P2POp(dist.irecv, incoming, left),
        dist.P2POp(dist.isend, tensor_of(values[rank]), right),
    ]
    for work in dist.batch_isend_irecv(operations):
        work.wait()
    same_bits(incoming, values[left])
    assert dist.group.WORLD is dist.GroupMember.WORLD and dist.group.WORLD.size() == size


@case("recv_size_mismatch_raises")
def _(rank: int, size: int) -> None:
    if rank == 0:
        dist.send(torch.zeros(3), dst=1)
    elif rank == 1:
        try:
            dist.recv(torch.zeros(5), src=0)
        except RuntimeError as error:
            assert "12 bytes" in str(error) and "[5]" in str(error), str(error)
        else:
            raise AssertionError("a short message must raise")


@case("new_group_members_and_outsiders")
def _(rank: int, size: int) -> None:
    members = [0, size - 1]
    group = dist.new_group(members)
    if rank in members:
        assert dist.get_rank(group) == members.index(rank)
        assert dist.get_world_size(group) == 2
        assert dist.get_process_group_ranks(group) == members
        t = torch.tensor([float(rank)])
        dist.all_reduce(t, group=group)
        assert t.item() == float(sum(members))
        t = torch.tensor([float(rank)])
        dist.broadcast(t, src=size - 1, group=group)  # src is a global rank, as in torch
        assert t.item() == float(size - 1)
    else:
        assert group is dist.GroupMember.NON_GROUP_MEMBER
        assert dist.get_rank(group) == -1 and dist.get_world_size(group) == -1
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert dist.all_reduce(torch.ones(1), group=group) is None
        assert "does not belong to the given group" in str(caught[0].message)
    dist.barrier()


@case("object_collectives")
def _(rank: int, size: int) -> None:
    mine = {"rank": rank, "name": f"r{rank}", 3: (None, True, 2.5, float("inf")), "t": torch.arange(rank + 2),
            "b": bytes([rank, 255]), "big": 2**70 + rank, "nested": [[rank], {"x": -0.0}]}  # fmt: skip
    gathered = [None] * size
    dist.all_gather_object(gathered, mine)
    for r, got in enumerate(gathered):
        assert got["rank"] == r and got["name"] == f"r{r}" and got["big"] == 2**70 + r
        assert got[3] == (None, True, 2.5, float("inf")) and got["b"] == bytes([r, 255])
        assert got["t"].tolist() == list(range(r + 2)) and got["t"].dtype == torch.int64
        assert got["nested"] == [[r], {"x": -0.0}]
    objects = (
        [{"lr": 0.1, "steps": [1, 2]}, "hello", torch.ones(2, dtype=torch.bfloat16)]
        if rank == 1
        else [0, 0, 0]
    )
    dist.broadcast_object_list(objects, src=1)
    assert objects[0] == {"lr": 0.1, "steps": [1, 2]} and objects[1] == "hello"
    assert objects[2].dtype == torch.bfloat16 and objects[2].tolist() == [1.0, 1.0]
    try:
        dist.all_gather_object([None] * size, object())
    except TypeError as error:
        assert "no pickle" in str(error)
    else:
        raise AssertionError("an unsupported object must be refused")


@case("argument_errors")
def _(rank: int, size: int) -> None:
    def raises(kind: type, fragment: str, fn: Callable[[], object]) -> None:
        try:
            fn()
        except kind as error:
            assert fragment in str(error), f"{fragment!r} not in {error}"
        else:
            raise AssertionError(f"expected {kind.__name__} containing {fragment!r}")

    raises(RuntimeError, "invalid root rank: 7", lambda: dist.broadcast(torch.ones(2), src=7))
    raises(
        RuntimeError, "expected length", lambda: dist.all_gather([torch.ones(2)] * (size + 1), torch.ones(2))
    )
    raises(
        RuntimeError, "expected [2], got [3]", lambda: dist.all_gather([torch.ones(3)] * size, torch.ones(2))
    )
    raises(
        ValueError,
        "different dtypes",
        lambda: dist.all_gather([torch.ones(2).double()] * size, torch.ones(2)),
    )
    raises(RuntimeError, "times the input", lambda: dist.all_gather_into_tensor(torch.ones(5), torch.ones(3)))
    raises(
        RuntimeError,
        "expected length",
        lambda: dist.reduce_scatter(torch.ones(2), [torch.ones(2)] * (size + 1)),
    )
    raises(
        RuntimeError,
        "expected [2], got [3]",
        lambda: dist.reduce_scatter(torch.ones(2), [torch.ones(3)] * size),
    )
    raises(
        RuntimeError,
        "Float",
        lambda: dist.reduce_scatter_tensor(torch.ones(2), torch.ones(2 * size).double()),
    )
    raises(ValueError, "should not be the same", lambda: dist.send(torch.ones(2), dst=rank))
    raises(ValueError, "not part of group", lambda: dist.send(torch.ones(2), dst=size + 3))
    raises(TypeError, "Expected parameter `tensor`", lambda: dist.all_reduce([1.0, 2.0]))
    raises(TypeError, "ReduceOp", lambda: dist.all_reduce(torch.ones(2), op="sum"))
    if rank == 0:
        raises(
            ValueError,
            "must be specified on destination rank",
            lambda: dist.gather(torch.ones(2), None, dst=0),
        )
    raises(ValueError, "Must specify global_rank or group_rank", lambda: dist.broadcast(torch.ones(2)))
    raises(ValueError, "twice", lambda: dist.init_process_group())
    dist.barrier()


@case("debug_detail_names_mismatched_calls")
def _(rank: int, size: int) -> None:
    os.environ["TORCH_DISTRIBUTED_DEBUG"] = "DETAIL"
    try:
        dist.all_reduce(torch.ones(3 if rank == 0 else 4))
    except RuntimeError as error:
        assert "Detected mismatch between collectives on ranks" in str(error), str(error)
        assert "rank 0: all_reduce(Float[3], SUM); rank 1: all_reduce(Float[4], SUM)" in str(error), str(
            error
        )
    else:
        raise AssertionError("mismatched shapes must raise under TORCH_DISTRIBUTED_DEBUG=DETAIL")
    finally:
        del os.environ["TORCH_DISTRIBUTED_DEBUG"]
    t = torch.ones(2)
    dist.all_reduce(t)  # agreeing calls still run
    assert t.tolist() == [float(size)] * 2


@case("torchrun_environment")
def _(rank: int, size: int) -> None:
    assert os.environ["RANK"] == str(rank) and os.environ["WORLD_SIZE"] == str(size)
    assert os.environ["LOCAL_RANK"] == str(rank) and os.environ["MASTER_ADDR"]
    assert dist.get_backend() in ("mpi", "gloo") and dist.is_initialized()


def main() -> None:
    out_dir = sys.argv[1]
    backend = sys.argv[2] if len(sys.argv) > 2 else "mpi"
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=30))
    rank, size = dist.get_rank(), dist.get_world_size()
    results = {}
    for name, run in CASES.items():
        try:
            run(rank, size)
            results[name] = "ok"
        except Exception:
            results[name] = traceback.format_exc(limit=4)
        dist.barrier()  # a failed case must not leave messages for the next one
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as handle:
        json.dump(results, handle)
    dist.destroy_process_group()
    assert not dist.is_initialized()


if __name__ == "__main__":
    main()

"""all_gather_object and broadcast_object_list with a safe encoding: JSON with type tags, no pickle.

torch pickles the objects, so a rank can run code on another. Here an object travels as JSON in
which every value is tagged: None, bool, int, float (inf and NaN included), str, bytes, list,
tuple, dict (any encodable keys, order kept) and tensors (dtype name + shape + raw bytes, as
base64). Decoding builds only those types and checks every field, so bytes from another rank can
never do more than fail with a RuntimeError. Anything else is refused with a TypeError at the
sender, before any message is sent.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import numpy as np

from antorcha._tensor import Tensor
from antorcha.distributed._collectives import launch, member_group
from antorcha.distributed._process_group import ProcessGroup, mpi_module

_SUPPORTED = "None, bool, int, float, str, bytes, list, tuple, dict and tensors"
_DEPTH_LIMIT = 100


def encode(obj: Any, depth: int = 0) -> Any:
    """A JSON-ready tagged form of obj: [tag, payload]."""
    if depth > _DEPTH_LIMIT:
        raise ValueError(f"object nested deeper than {_DEPTH_LIMIT} levels (a cycle?)")
    if obj is None:
        return ["none", None]
    if isinstance(obj, bool):
        return ["bool", obj]
    if isinstance(obj, int):
        return ["int", str(obj)]  # as text: JSON readers differ on integers above 2**53
    if isinstance(obj, float):
        return ["float", repr(obj) if not math.isfinite(obj) else obj]
    if isinstance(obj, str):
        return ["str", obj]
    if isinstance(obj, bytes | bytearray):
        return ["bytes", base64.b64encode(bytes(obj)).decode("ascii")]
    if isinstance(obj, list | tuple):
        tag = "list" if isinstance(obj, list) else "tuple"
        return [tag, [encode(item, depth + 1) for item in obj]]
    if isinstance(obj, dict):
        return ["dict", [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in obj.items()]]
    if isinstance(obj, Tensor):
        return ["tensor", _encode_tensor(obj)]
    raise TypeError(
        f"antorcha.distributed sends objects with a safe encoding (no pickle): it can send {_SUPPORTED}, "
        f"not {type(obj).__module__}.{type(obj).__qualname__}"
    )


def _encode_tensor(tensor: Tensor) -> dict[str, Any]:
    values = np.ascontiguousarray(tensor.detach().cpu()._data)
    return {
        "dtype": tensor._data.dtype.name,
        "shape": list(values.shape),
        "data": base64.b64encode(values.tobytes()).decode("ascii"),
    }


def decode(form: Any, depth: int = 0) -> Any:
    """The object a tagged form describes; RuntimeError for anything malformed."""
    if depth > _DEPTH_LIMIT + 1 or not isinstance(form, list) or len(form) != 2:
        raise RuntimeError("antorcha.distributed: a malformed object message arrived")
    tag, payload = form
    if tag == "none" and payload is None:
        return None
    if tag == "bool" and isinstance(payload, bool):
        return payload
    if tag == "int" and isinstance(payload, str):
        return int(payload)
    if tag == "float" and payload in ("inf", "-inf", "nan"):
        return float(payload)
    if tag == "float" and isinstance(payload, int | float) and not isinstance(payload, bool):
        return float(payload)
    if tag == "str" and isinstance(payload, str):
        return payload
    if tag == "bytes" and isinstance(payload, str):
        return base64.b64decode(payload, validate=True)
    if tag in ("list", "tuple") and isinstance(payload, list):
        items = [decode(item, depth + 1) for item in payload]
        return items if tag == "list" else tuple(items)
    if tag == "dict" and isinstance(payload, list):
        return {decode(k, depth + 1): decode(v, depth + 1) for k, v in (_pair(p) for p in payload)}
    if tag == "tensor" and isinstance(payload, dict):
        return _decode_tensor(payload)
    return _bad()


def _bad() -> Any:
    raise RuntimeError("antorcha.distributed: a malformed object message arrived")


def _pair(item: Any) -> tuple[Any, Any]:
    if not isinstance(item, list) or len(item) != 2:
        _bad()
    return item[0], item[1]


_TENSOR_DTYPES = (
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "int8",
    "uint8",
    "int16",
    "int32",
    "int64",
    "bool",
)


def _decode_tensor(payload: dict[str, Any]) -> Tensor:
    from antorcha._dtypes import numpy_dtype_named
    from antorcha._tensor import wrap

    name, shape, data = payload.get("dtype"), payload.get("shape"), payload.get("data")
    if name not in _TENSOR_DTYPES or not isinstance(shape, list) or not isinstance(data, str):
        _bad()
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        _bad()
    kind = numpy_dtype_named(name)
    raw = base64.b64decode(data, validate=True)
    if len(raw) != int(np.prod(shape, dtype=np.int64)) * kind.itemsize:
        _bad()
    return wrap(np.frombuffer(raw, dtype=kind).reshape(shape).copy())


def to_bytes(obj: Any) -> bytes:
    return json.dumps(encode(obj), separators=(",", ":")).encode("utf-8")


def from_bytes(raw: bytes) -> Any:
    try:
        form = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        _bad()
    try:
        return decode(form)
    except (ValueError, TypeError, RecursionError):  # base64, int() or a type mix-up: malformed
        return _bad()


def _all_gather_bytes(pg: ProcessGroup, payload: bytes) -> list[bytes]:
    """Every rank's payload, in rank order (sizes first, then one Iallgatherv)."""
    MPI = mpi_module()
    sizes = np.zeros(pg.size(), dtype=np.int64)
    mine = np.array([len(payload)], dtype=np.int64)
    request = pg._comm.Iallgather([mine, MPI.INT64_T], [sizes, MPI.INT64_T])
    launch(pg, "all_gather_object", [request], None, False)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    received = np.empty(int(sizes.sum()), dtype=np.uint8)
    outgoing = np.frombuffer(payload, dtype=np.uint8)
    request = pg._comm.Iallgatherv([outgoing, MPI.BYTE], [received, (sizes, offsets), MPI.BYTE])
    launch(pg, "all_gather_object", [request], None, False)
    return [received[o : o + n].tobytes() for o, n in zip(offsets, sizes)]


def all_gather_object(object_list: list[Any], obj: Any, group: Any = None) -> None:
    """object_list[i] = rank i's obj, on every rank (object_list needs a slot per rank, as in torch)."""
    pg = member_group(group, "all_gather_object")
    if pg is None:
        return
    if not isinstance(object_list, list) or len(object_list) < pg.size():
        raise ValueError(
            f"all_gather_object: object_list must be a list with an entry per rank ({pg.size()}), got "
            f"{len(object_list) if isinstance(object_list, list) else type(object_list).__name__}"
        )
    payload = to_bytes(obj)
    for index, raw in enumerate(_all_gather_bytes(pg, payload)):
        object_list[index] = from_bytes(raw)


def broadcast_object_list(
    object_list: list[Any],
    src: int | None = None,
    group: Any = None,
    device: Any = None,
    group_src: int | None = None,
) -> None:
    """Replace every rank's object_list entries with the root's (the lists must have equal length)."""
    from antorcha.distributed._collectives import root_rank

    pg = member_group(group, "broadcast_object_list")
    if pg is None:
        return
    root = root_rank(
        pg, 0 if src is None and group_src is None else src, group_src, "src", "broadcast_object_list"
    )
    if not isinstance(object_list, list):
        raise TypeError(
            f"broadcast_object_list: object_list must be a list, got {type(object_list).__name__}"
        )
    MPI = mpi_module()
    is_root = pg.rank() == root
    payload = to_bytes(object_list) if is_root else b""
    size = np.array([len(payload), len(object_list)], dtype=np.int64)
    launch(pg, "broadcast_object_list", [pg._comm.Ibcast([size, MPI.INT64_T], root)], None, False)
    buffer = np.frombuffer(payload, dtype=np.uint8).copy() if is_root else np.empty(int(size[0]), np.uint8)
    launch(pg, "broadcast_object_list", [pg._comm.Ibcast([buffer, MPI.BYTE], root)], None, False)
    if is_root:
        return
    if int(size[1]) != len(object_list):
        raise RuntimeError(
            f"broadcast_object_list: the root's list has {int(size[1])} entries, this rank's "
            f"{len(object_list)}"
        )
    object_list[:] = from_bytes(buffer.tobytes())


def gather_object(
    obj: Any,
    object_gather_list: list[Any] | None = None,
    dst: int | None = None,
    group: Any = None,
    group_dst: int | None = None,
) -> None:
    """object_gather_list[i] = rank i's obj, on the destination only."""
    from antorcha.distributed._collectives import root_rank

    pg = member_group(group, "gather_object")
    if pg is None:
        return
    root = root_rank(pg, 0 if dst is None and group_dst is None else dst, group_dst, "dst", "gather_object")
    is_root = pg.rank() == root
    if is_root and (not isinstance(object_gather_list, list) or len(object_gather_list) < pg.size()):
        raise ValueError(f"gather_object: the destination needs object_gather_list with {pg.size()} entries")
    MPI = mpi_module()
    payload = np.frombuffer(to_bytes(obj), dtype=np.uint8)
    sizes = np.zeros(pg.size(), dtype=np.int64)
    mine = np.array([payload.size], dtype=np.int64)
    launch(
        pg, "gather_object", [pg._comm.Igather([mine, MPI.INT64_T], [sizes, MPI.INT64_T], root)], None, False
    )
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    received = np.empty(int(sizes.sum()), dtype=np.uint8)
    target = [received, (sizes, offsets), MPI.BYTE] if is_root else None
    launch(pg, "gather_object", [pg._comm.Igatherv([payload, MPI.BYTE], target, root)], None, False)
    if is_root:
        for index, (offset, size) in enumerate(zip(offsets, sizes)):
            object_gather_list[index] = from_bytes(received[offset : offset + size].tobytes())


def scatter_object_list(
    scatter_object_output_list: list[Any],
    scatter_object_input_list: list[Any] | None = None,
    src: int | None = None,
    group: Any = None,
    group_src: int | None = None,
) -> None:
    """scatter_object_output_list[0] = the source's scatter_object_input_list[rank]."""
    from antorcha.distributed._collectives import root_rank

    pg = member_group(group, "scatter_object_list")
    if pg is None:
        return
    if not isinstance(scatter_object_output_list, list) or not scatter_object_output_list:
        raise ValueError("Expected argument scatter_object_output_list to be a list of size at least 1.")
    root = root_rank(
        pg, 0 if src is None and group_src is None else src, group_src, "src", "scatter_object_list"
    )
    is_root = pg.rank() == root
    MPI = mpi_module()
    if is_root:
        if not isinstance(scatter_object_input_list, list) or len(scatter_object_input_list) < pg.size():
            raise ValueError(f"scatter_object_list: the source needs {pg.size()} objects to scatter")
        pieces = [to_bytes(item) for item in scatter_object_input_list[: pg.size()]]
        sizes = np.array([len(p) for p in pieces], dtype=np.int64)
        outgoing = np.frombuffer(b"".join(pieces), dtype=np.uint8)
    else:
        sizes, outgoing = np.zeros(pg.size(), dtype=np.int64), None
    mine = np.zeros(1, dtype=np.int64)
    launch(
        pg,
        "scatter_object_list",
        [pg._comm.Iscatter([sizes, MPI.INT64_T], [mine, MPI.INT64_T], root)],
        None,
        False,
    )
    received = np.empty(int(mine[0]), dtype=np.uint8)
    source = [outgoing, (sizes, np.concatenate([[0], np.cumsum(sizes)[:-1]])), MPI.BYTE] if is_root else None
    launch(pg, "scatter_object_list", [pg._comm.Iscatterv(source, [received, MPI.BYTE], root)], None, False)
    scatter_object_output_list[0] = from_bytes(received.tobytes())

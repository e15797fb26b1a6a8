"""TORCH_DISTRIBUTED_DEBUG=DETAIL, as in torch: before each collective the ranks compare what they
are about to run (operation, dtypes, shapes) and raise a RuntimeError naming the ranks that differ,
instead of MPI's truncation error or a timeout. Off by default: it costs one extra exchange per call."""

from __future__ import annotations

import os
from typing import Any

from antorcha._tensor import Tensor


def checking() -> bool:
    return os.environ.get("TORCH_DISTRIBUTED_DEBUG", "").upper() == "DETAIL"


def describe(op_name: str, tensors: list[Tensor], extra: str = "") -> str:
    parts = [f"{t.dtype.scalar_name}{list(t.shape)}" for t in tensors]
    return f"{op_name}({', '.join(parts)}{', ' + extra if extra else ''})"


def agree(pg: Any, op_name: str, tensors: list[Tensor], extra: str = "") -> None:
    """Raise on every rank if the ranks' calls differ (each rank sees every description)."""
    from antorcha.distributed._objects import _all_gather_bytes

    mine = describe(op_name, tensors, extra)
    calls = [raw.decode("utf-8", "replace") for raw in _all_gather_bytes(pg, mine.encode("utf-8"))]
    if len(set(calls)) > 1:
        listing = "; ".join(f"rank {pg._ranks[r]}: {call}" for r, call in enumerate(calls))
        raise RuntimeError(f"Detected mismatch between collectives on ranks: {listing}")

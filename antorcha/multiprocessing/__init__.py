"""torch.multiprocessing: the standard library's multiprocessing, plus `spawn`.

Everything of `multiprocessing` is re-exported, as torch does. `spawn(fn, args, nprocs)` runs
`fn(i, *args)` in `nprocs` fresh processes; where the `distributed` extra is installed it starts
them under mpirun (`_spawn.py`), so the tutorials' pattern, `mp.spawn(train, nprocs=2)` with
`dist.init_process_group("gloo", rank=rank, world_size=2)` inside, forms one world. antorcha
tensors are not shared between processes (no `share_memory_`), so the sharing strategies are names only.
"""

from __future__ import annotations

import multiprocessing as _multiprocessing
from multiprocessing import *  # noqa: F403 - torch.multiprocessing re-exports the whole module

from antorcha.multiprocessing._spawn import (
    ProcessContext,
    ProcessExitedException,
    ProcessRaisedException,
    spawn,
    start_processes,
)

SpawnContext = ProcessContext  # torch's older name

_SHARING_STRATEGIES = {"file_descriptor", "file_system"}
_sharing_strategy = "file_descriptor"


def set_sharing_strategy(new_strategy: str) -> None:
    """Accepted for torch's API; antorcha sends tensors between processes as copies either way."""
    global _sharing_strategy
    if new_strategy not in _SHARING_STRATEGIES:
        raise AssertionError(
            f"invalid sharing strategy {new_strategy!r}, expected one of {_SHARING_STRATEGIES}"
        )
    _sharing_strategy = new_strategy


def get_sharing_strategy() -> str:
    return _sharing_strategy


def get_all_sharing_strategies() -> set[str]:
    return set(_SHARING_STRATEGIES)


__all__ = [
    *_multiprocessing.__all__,
    "ProcessContext",
    "SpawnContext",
    "ProcessExitedException",
    "ProcessRaisedException",
    "get_all_sharing_strategies",
    "get_sharing_strategy",
    "set_sharing_strategy",
    "spawn",
    "start_processes",
]

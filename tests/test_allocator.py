"""antorcha.speed.allocator: on by default, off with ANTORCHA_KEEP_FREED_MEMORY=0, switchable at run time."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
import sys

import pytest

import antorcha
from antorcha.speed import allocator

needs_glibc = pytest.mark.skipif(allocator._mallopt() is None, reason="glibc's mallopt only")


def _flag_in_fresh_process(value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != allocator.ENV_VAR}
    if value is not None:
        env[allocator.ENV_VAR] = value
    code = "import antorcha; from antorcha.speed import allocator; print(allocator.APPLIED)"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@needs_glibc
def test_import_applies_it_unless_the_environment_says_0() -> None:
    assert _flag_in_fresh_process(None) == "True"
    assert _flag_in_fresh_process("0") == "False"


def test_exported_from_the_speed_package() -> None:
    assert antorcha.speed.keep_freed_memory is allocator.keep_freed_memory


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in [
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        ]
    ]


def _mmapped_bytes_while_holding(size: int) -> int:
    """How much more malloc holds in mmapped blocks while a block of `size` bytes is allocated."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.mallinfo2.restype = _MallInfo2
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = (ctypes.c_void_p,)
    before = libc.mallinfo2().hblkhd
    block = libc.malloc(size)
    try:
        return libc.mallinfo2().hblkhd - before
    finally:
        libc.free(block)


def check_switching_in_this_process() -> None:
    """Run in a fresh process: there, no freed heap memory can serve the block without mmap."""
    size = 4 << 20  # over glibc's default mmap threshold, under the one antorcha sets
    assert allocator.keep_freed_memory(False) is True
    assert allocator.APPLIED is False
    assert _mmapped_bytes_while_holding(size) >= size  # glibc's default: a block this big is mmapped
    assert allocator.keep_freed_memory() is True
    assert allocator.APPLIED is True
    assert _mmapped_bytes_while_holding(size) == 0  # served from the heap, which keeps it when freed


@needs_glibc
def test_switching_off_restores_glibcs_thresholds_and_back_on() -> None:
    if not hasattr(ctypes.CDLL(ctypes.util.find_library("c")), "mallinfo2"):
        pytest.skip("mallinfo2 needs glibc 2.33")
    # a process that ran other tests keeps freed heap memory that could serve the block: a fresh one
    code = "import test_allocator; test_allocator.check_switching_in_this_process(); print('ok')"
    env = {**os.environ, "PYTHONPATH": os.path.dirname(__file__)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr

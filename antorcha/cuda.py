"""antorcha.cuda: torch.cuda's query and control functions, over CuPy.

Everything here answers sensibly without CuPy or without a GPU: `is_available()`
is then False (no traceback), and the functions that need a GPU raise a clear
RuntimeError.
"""

from __future__ import annotations

from typing import Any

from antorcha._device import as_device, cupy_module, require_cupy
from antorcha._device import device as _device

_peak_bytes = 0
_tracking = False


def is_available() -> bool:
    return cupy_module() is not None


def device_count() -> int:
    cp = cupy_module()
    return 0 if cp is None else int(cp.cuda.runtime.getDeviceCount())


def _cupy() -> Any:
    return require_cupy(_device("cuda"))


def current_device() -> int:
    return int(_cupy().cuda.runtime.getDevice())


def set_device(index: Any) -> None:
    target = as_device(index)
    _cupy().cuda.runtime.setDevice(target.index or 0)


def get_device_name(index: Any = None) -> str:
    cp = _cupy()
    number = current_device() if index is None else (as_device(index).index or 0)
    name = cp.cuda.runtime.getDeviceProperties(number)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def synchronize(index: Any = None) -> None:
    """Wait for every queued kernel: call before reading a clock around GPU work."""
    cp = cupy_module()
    if cp is not None:
        cp.cuda.Device(None if index is None else as_device(index).index or 0).synchronize()


def manual_seed(seed: int) -> None:
    """Seed the current GPU's generator (a no-op without a GPU, as in torch)."""
    from antorcha import random

    if is_available():
        index = current_device()
        random.generator_for(_device("cuda", index))
        random._cuda_generators[index].manual_seed(int(seed) + index)


def manual_seed_all(seed: int) -> None:
    from antorcha import random

    for index in range(device_count()):
        random.generator_for(_device("cuda", index))
        random._cuda_generators[index].manual_seed(int(seed) + index)


def _track_peak() -> None:
    """Route CuPy's allocations through a wrapper that records the peak of the pool's use."""
    global _tracking
    if _tracking:
        return
    cp = _cupy()
    pool = cp.get_default_memory_pool()

    def malloc(size: int) -> Any:
        global _peak_bytes
        memory = pool.malloc(size)
        _peak_bytes = max(_peak_bytes, pool.used_bytes())
        return memory

    cp.cuda.set_allocator(malloc)
    _tracking = True


def memory_allocated(index: Any = None) -> int:
    """Bytes held by live arrays in CuPy's default pool."""
    if not is_available():
        return 0
    _track_peak()
    return int(_cupy().get_default_memory_pool().used_bytes())


def max_memory_allocated(index: Any = None) -> int:
    """Peak of memory_allocated() since the last reset (tracked from the first memory call)."""
    if not is_available():
        return 0
    _track_peak()
    return max(_peak_bytes, memory_allocated())


def reset_peak_memory_stats(index: Any = None) -> None:
    global _peak_bytes
    _peak_bytes = memory_allocated() if is_available() else 0


def empty_cache() -> None:
    cp = cupy_module()
    if cp is not None:
        cp.get_default_memory_pool().free_all_blocks()


def is_bf16_supported(including_emulation: bool = True) -> bool:
    """Whether antorcha can make bfloat16 cuda tensors: no, with or without a GPU, because CuPy has no
    bfloat16 arrays (torch says False without a GPU too). bfloat16 works on the cpu (ml_dtypes)."""
    return False


def _amp_module() -> Any:
    """torch.cuda.amp, importable as a module too (`from torch.cuda.amp import GradScaler`)."""
    import sys

    from antorcha import _cuda_amp

    sys.modules.setdefault("antorcha.cuda.amp", _cuda_amp)
    return _cuda_amp


amp = _amp_module()

"""torch.backends.openmp: whether an OpenMP runtime is loaded (NumPy's BLAS may bring one)."""

from __future__ import annotations


def is_available() -> bool:
    from antorcha._threads import _thread_pools

    return any(lib.user_api == "openmp" for lib in _thread_pools().lib_controllers)

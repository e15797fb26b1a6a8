"""torch.backends.mkl: whether NumPy's BLAS is Intel's MKL."""

from __future__ import annotations


def is_available() -> bool:
    from antorcha._threads import _thread_pools

    return any(lib.internal_api == "mkl" for lib in _thread_pools().lib_controllers)

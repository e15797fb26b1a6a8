"""torch.backends: the flags a script sets for cpu, cuda, cudnn, mha, mps, mkldnn, opt_einsum, mkl, openmp.

Every flag a PyTorch script sets is accepted and reads back what was set. antorcha runs on
NumPy's BLAS and CuPy's cuBLAS and uses none of cuDNN, oneDNN (mkldnn) or opt_einsum, so most of
these change nothing here; each module's docstring says which do.

Also the namespace's `set_float32_matmul_precision` / `get_float32_matmul_precision` (tied to
`cuda.matmul.allow_tf32`, as in torch) and `use_deterministic_algorithms`.
"""

from __future__ import annotations

import warnings

from antorcha.backends import _state, cpu, cuda, cudnn, mha, mkl, mkldnn, mps, openmp, opt_einsum

__all__ = [
    "are_deterministic_algorithms_enabled",
    "cpu",
    "cuda",
    "cudnn",
    "get_float32_matmul_precision",
    "is_deterministic_algorithms_warn_only_enabled",
    "mha",
    "mkl",
    "mkldnn",
    "mps",
    "openmp",
    "opt_einsum",
    "set_float32_matmul_precision",
    "use_deterministic_algorithms",
]

_PRECISIONS = ("highest", "high", "medium")


def set_float32_matmul_precision(precision: str) -> None:
    """'highest' (full float32), 'high' or 'medium' (TF32 allowed on a GPU). Recorded: CuPy decides TF32
    from its CUPY_TF32 environment variable at import, so this changes no result here."""
    if precision not in _PRECISIONS:
        warnings.warn(
            f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
            "setFloat32MatmulPrecision call has no effect.",
            UserWarning,
            stacklevel=2,
        )
        return
    _state.matmul_precision = precision


def get_float32_matmul_precision() -> str:
    return _state.matmul_precision


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Recorded for `are_deterministic_algorithms_enabled`: antorcha's ops are deterministic on the cpu
    (CuPy's scatter-adds on a GPU accumulate in an unspecified order)."""
    if not isinstance(mode, bool):
        raise TypeError(
            f"use_deterministic_algorithms(): argument 'mode' must be bool, not {type(mode).__name__}"
        )
    _state.deterministic, _state.deterministic_warn_only = mode, bool(warn_only)


def are_deterministic_algorithms_enabled() -> bool:
    return _state.deterministic


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _state.deterministic_warn_only

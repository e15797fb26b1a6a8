"""torch.backends.cuda: cuBLAS's TF32 and reduced-precision flags and the attention-kernel switches.

Accepted and readable; none changes a result here: CuPy reads TF32 from its CUPY_TF32 environment
variable when it loads, and antorcha's attention is the plain formula (no flash or memory-efficient
kernels to switch between).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from antorcha.backends import _state


def is_built() -> bool:
    """Whether antorcha can use CUDA at all: CuPy imports and sees a GPU."""
    from antorcha._device import cupy_module

    return cupy_module() is not None


class _MatmulFlags:
    """torch.backends.cuda.matmul: allow_tf32 (tied to set_float32_matmul_precision) and the reductions."""

    _FLAGS = (
        "allow_tf32",
        "allow_fp16_reduced_precision_reduction",
        "allow_bf16_reduced_precision_reduction",
        "allow_fp16_accumulation",
    )

    def __init__(self) -> None:
        object.__setattr__(
            self,
            "_values",
            {
                "allow_fp16_reduced_precision_reduction": True,
                "allow_bf16_reduced_precision_reduction": True,
                "allow_fp16_accumulation": False,
            },
        )

    def __getattr__(self, name: str) -> Any:
        if name == "allow_tf32":
            return _state.matmul_precision != "highest"
        if name in self._values:
            return self._values[name]
        raise AttributeError(f"Unknown attribute {name}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "allow_tf32":
            _state.matmul_precision = "high" if value else "highest"
        elif name in self._values:
            self._values[name] = bool(value)
        else:
            raise AttributeError(f"Unknown attribute {name}")


matmul = _MatmulFlags()

_sdp = {"flash": True, "mem_efficient": True, "math": True, "cudnn": True}


def enable_flash_sdp(enabled: bool) -> None:
    _sdp["flash"] = bool(enabled)


def enable_mem_efficient_sdp(enabled: bool) -> None:
    _sdp["mem_efficient"] = bool(enabled)


def enable_math_sdp(enabled: bool) -> None:
    _sdp["math"] = bool(enabled)


def enable_cudnn_sdp(enabled: bool) -> None:
    _sdp["cudnn"] = bool(enabled)


def flash_sdp_enabled() -> bool:
    return _sdp["flash"]


def mem_efficient_sdp_enabled() -> bool:
    return _sdp["mem_efficient"]


def math_sdp_enabled() -> bool:
    return _sdp["math"]


def cudnn_sdp_enabled() -> bool:
    return _sdp["cudnn"]


@contextlib.contextmanager
def sdp_kernel(
    enable_flash: bool = True,
    enable_math: bool = True,
    enable_mem_efficient: bool = True,
    enable_cudnn: bool = True,
) -> Iterator[None]:
    """Set the four attention-kernel switches inside the block, as torch's (deprecated) context."""
    saved = dict(_sdp)
    _sdp.update(flash=enable_flash, math=enable_math, mem_efficient=enable_mem_efficient, cudnn=enable_cudnn)
    try:
        yield
    finally:
        _sdp.update(saved)

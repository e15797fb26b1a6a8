"""The speed machinery beside the core: fast paths that keep torch's meaning.

* `compiler.py`        `antorcha.compile(model)`: traces the model once and, when its forward
                       is a chain of Linear layers with optional ReLUs, runs it as one fused op
* `fused_chain.py`     the generic fused op for such a chain (FusedMLP), over cache-sized row
                       chunks, and `chain_backward`, its backward with torch's arithmetic
* `fused_two_layer.py` the lesson's Linear -> ReLU -> Linear as one op: the backward is one
                       matrix product whose small result gives every weight gradient
* `kernels.py`         compiled loops (Numba, optional) with NumPy fallbacks of the same meaning;
                       relu's backward (ops/unary.py), gelu(tanh), layer_norm, attention's
                       softmax and embedding's backward (nn/functional) ask it for a loop or two
* `window_kernels.py` loops over sliding windows (max pooling; im2col, col2im of small images), alike
* `threads.py`         the chunk size and `run_split`: rows shared over one thread per core
* `allocator.py`       asks glibc to keep freed memory for reuse; applied on `import antorcha`
                       (`ANTORCHA_KEEP_FREED_MEMORY=0` or `keep_freed_memory(False)` turn it off)

Imports run one way only: compiler -> fused_two_layer -> fused_chain -> threads (and
fused_two_layer -> kernels), never back. `allocator` and `kernels` (which imports only NumPy,
and Numba on its first call) are loaded with antorcha; the rest on the first `antorcha.compile` call.
"""

from __future__ import annotations

from typing import Any

from antorcha.speed.allocator import keep_freed_memory

__all__ = ["compile", "keep_freed_memory"]


def __getattr__(name: str) -> Any:
    """`compile` is loaded on first use: it imports nn and the fused ops."""
    if name == "compile":
        from antorcha.speed.compiler import compile as compile_model

        return compile_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""torch.backends.cpu: what the cpu offers (NumPy's view of it)."""

from __future__ import annotations


def get_cpu_capability() -> str:
    """The widest SIMD extension NumPy dispatches to here: 'AVX512', 'AVX2', ... or 'DEFAULT'."""
    import numpy as np

    try:
        features = np._core._multiarray_umath.__cpu_features__
    except AttributeError:
        return "DEFAULT"
    for name in ("AVX512F", "AVX2", "SVE", "NEON"):
        if features.get(name):
            return {"AVX512F": "AVX512"}.get(name, name)
    return "DEFAULT"

"""The settings torch keeps in its global context, shared by torch.backends and the namespace functions."""

from __future__ import annotations

matmul_precision = "highest"  # set_float32_matmul_precision; cuda.matmul.allow_tf32 reads it
deterministic = False
deterministic_warn_only = False

"""torch.backends.mha: whether TransformerEncoder and MultiheadAttention may take torch's inference
fast paths.

antorcha's fused paths compute what torch's do, so the one place the switch shows is
TransformerEncoder's nested-tensor path (eval mode, no gradient, a padding mask): with it on, as
in torch, the output at padded positions is 0.
"""

from __future__ import annotations

_is_fastpath_enabled: bool = True


def get_fastpath_enabled() -> bool:
    return _is_fastpath_enabled


def set_fastpath_enabled(value: bool) -> None:
    global _is_fastpath_enabled
    _is_fastpath_enabled = value

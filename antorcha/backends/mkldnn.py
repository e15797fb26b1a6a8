"""torch.backends.mkldnn (oneDNN): `enabled` is accepted and readable; antorcha does not use oneDNN."""

from __future__ import annotations

enabled = True
deterministic = False


def is_available() -> bool:
    return False

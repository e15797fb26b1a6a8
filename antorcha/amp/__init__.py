"""torch.amp: mixed-precision training helpers (GradScaler; autocast comes with issue #11)."""

from antorcha.amp.grad_scaler import GradScaler

__all__ = ["GradScaler"]

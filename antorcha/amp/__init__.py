"""torch.amp: mixed-precision training helpers: autocast (a region's matmuls in bfloat16/float16) and
GradScaler."""

from antorcha.amp.autocast_mode import autocast, is_autocast_available
from antorcha.amp.grad_scaler import GradScaler

__all__ = ["GradScaler", "autocast", "is_autocast_available"]

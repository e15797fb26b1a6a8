"""torch.linalg: norms, inverses, decompositions and solvers, with gradients."""

from __future__ import annotations

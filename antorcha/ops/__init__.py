"""Differentiable operations, one `Op` subclass per op, grouped by kind.

Importing this package imports every op module, and with it every op's public names
(`antorcha._registry`).
"""

from antorcha.ops import (
    contraction,
    distance,
    elementwise,
    index_write,
    indexing,
    linalg,
    logic,
    movement,
    norms,
    rearrange,
    reduce,
    scan,
    scatter,
    softmax,
    sorting,
    special,
    strided,
    unary,
)

__all__ = [
    "contraction",
    "distance",
    "elementwise",
    "index_write",
    "indexing",
    "linalg",
    "logic",
    "movement",
    "norms",
    "rearrange",
    "reduce",
    "scan",
    "scatter",
    "softmax",
    "sorting",
    "special",
    "strided",
    "unary",
]

# torch's flat spellings of linalg (torch.det, Tensor.inverse, torch.svd, ...) are declared there
import antorcha.linalg  # noqa: F401

"""Dropout: zeroes elements with probability p in training, scales the rest by 1/(1-p)."""

from __future__ import annotations

from antorcha._tensor import Tensor
from antorcha.nn import functional as F
from antorcha.nn._arguments import require_tensor
from antorcha.nn.module import Module


class Dropout(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        require_tensor(input, "dropout_" if self.inplace else "dropout")
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"

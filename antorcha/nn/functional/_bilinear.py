"""F.bilinear: y = x1ᵀ A x2 + b for each output feature, as one einsum contraction."""

from __future__ import annotations

from antorcha._registry import register_functional
from antorcha._tensor import Tensor
from antorcha.ops.contraction import einsum


def _check(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None) -> None:
    if input1.ndim != input2.ndim:
        raise RuntimeError(f"bilinear(): input dimensions do not match: got {input1.ndim} and {input2.ndim}")
    for dim in range(input1.ndim - 1):
        if input1.shape[dim] != input2.shape[dim]:
            raise RuntimeError(
                f"bilinear(): input batch dimensions do not match at dim {dim}: "
                f"got {input1.shape[dim]} and {input2.shape[dim]}"
            )
    for name, value, expected in (("input1", input1, weight.shape[1]), ("input2", input2, weight.shape[2])):
        if value.shape[-1] != expected:
            raise RuntimeError(
                f"bilinear(): {name} size does not match weight size: "
                f"got {value.shape[-1]} but expected {expected}"
            )
    if bias is not None and bias.shape[-1] != weight.shape[0]:
        raise RuntimeError(
            "bilinear(): bias size does not match weight size: "
            f"got {bias.shape[-1]} but expected {weight.shape[0]}"
        )


@register_functional()
def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """(*, in1), (*, in2), (out, in1, in2) -> (*, out)."""
    _check(input1, input2, weight, bias)
    out = einsum("...i,oij,...j->...o", input1, weight, input2)
    return out if bias is None else out + bias

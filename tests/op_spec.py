"""The row type of the op-spec table (`op_specs.py`): what a row declares about an op."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from strategies import Builder, Case

Call = Callable[..., Any]


@dataclass(frozen=True)
class Tol:
    rtol: float
    atol: float


@dataclass(frozen=True)
class Tolerances:
    """A Tol per output dtype: `tols["float32"]`. Integer and bool outputs are compared exactly."""

    float32: Tol
    float64: Tol
    float16: Tol = Tol(1e-3, 1e-3)  # outputs of x.half(): an 11-bit mantissa

    def __getitem__(self, dtype: str) -> Tol:
        return getattr(self, dtype, self.float64)


# Default. float32: a few ulps of the result (NumPy and torch use different SIMD kernels for
# exp/log/tanh); float64: far tighter than any real disagreement would be.
TOL = Tolerances(Tol(1e-5, 1e-6), Tol(1e-10, 1e-12))
# Sums of many terms (matmul, sum, mean, var/std, prod, norm, softmax, cumsum, logsumexp): NumPy
# sums pairwise and BLAS blocks its dot products in its own order, so float32 results differ from
# torch's in the last bits of each partial sum, growing with the number of terms (and on a GPU the
# kernels differ again). Measured on these small shapes: at most 1e-6 relative in float32.
ACCUMULATE = Tolerances(Tol(1e-4, 1e-5), Tol(1e-9, 1e-11))


@dataclass(frozen=True)
class OpSpec:
    """One row of the table."""

    name: str  # unique id of the row
    args: Builder  # number of inputs, how their shapes relate, their domains, keyword args
    call: Call | None = None  # call(module, *inputs, **kwargs), run on antorcha and on torch
    method: str | None = None  # also test `x.<method>(*rest, **kwargs)`
    function: str | None = None  # also test `module.<function>(*inputs, **kwargs)`
    functional: str | None = None  # also test `module.nn.functional.<functional>(*inputs, **kwargs)`
    torch_call: Call | None = None  # torch's spelling of `call`, when it differs
    covers: tuple[str, ...] = ()  # other public names the row exercises ("Tensor.__add__")
    differentiable: bool = True
    tol: Tolerances = TOL
    valid: Callable[[Case], bool] | None = None  # rejects inputs on a kink or a tie
    random_values: bool = False  # uniform_/normal_: compare shapes, dtypes and gradients only
    noncontiguous: bool = True  # also run on transposed, strided views
    edge: bool = True  # also run on empty dims, size-1 dims and 0-dim scalars
    second_order: bool = False  # in the representative set for grad-of-grad checks
    examples: int = 15  # hypothesis examples per dtype in the main test

    def forms(self) -> list[tuple[str, Call, Call]]:
        """(label, antorcha call, torch call) for every spelling the row tests."""
        forms: list[tuple[str, Call, Call]] = []
        if self.call is not None:
            forms.append(("call", self.call, self.torch_call or self.call))
        if self.method is not None:
            name = self.method
            forms.append(("method", _method(name), _method(name)))
        if self.function is not None:
            name = self.function
            forms.append(("function", _function(name), _function(name)))
        if self.functional is not None:
            name = self.functional
            forms.append(("nn.functional", _nn_functional(name), _nn_functional(name)))
        return forms

    def covered(self) -> set[str]:
        names = set(self.covers)
        if self.method:
            names.add(f"Tensor.{self.method}")
        if self.function:
            names.add(f"antorcha.{self.function}")
        if self.functional:
            names.add(f"F.{self.functional}")
        return names


def _method(name: str) -> Call:
    return lambda m, x, *rest, **kw: getattr(x, name)(*rest, **kw)


def _function(name: str) -> Call:
    return lambda m, *inputs, **kw: getattr(m, name)(*inputs, **kw)


def _nn_functional(name: str) -> Call:
    return lambda m, *inputs, **kw: getattr(m.nn.functional, name)(*inputs, **kw)

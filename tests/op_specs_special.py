"""Op-spec rows for `antorcha/ops/special.py` (joined into `op_specs.SPECS`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import strategies as s
from hypothesis import strategies as st
from op_spec import TOL, Call, OpSpec, Tol, Tolerances
from strategies import Case, Shape, nonzero, positive, real

# public names of this area that are not ops, or are compared with torch elsewhere: name -> why
NOT_OPS: dict[str, str] = {}

E = s.elementwise
# torch's trigamma (polygamma(1), digamma's derivative) truncates its series early: it is off by up to
# 5e-10 relative in float64 (mpmath agrees with antorcha's, which is good to 1e-15)
TRIGAMMA = Tolerances(TOL.float32, Tol(1e-8, 1e-10))


# ---- domains ---------------------------------------------------------------------------------
def off_poles(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """(-3, 4), at least 0.1 from the non-positive integers, where lgamma and digamma have poles."""
    x = rng.uniform(-3.0, 4.0, shape)
    nearest = np.round(x)
    close = (nearest <= 0) & (np.abs(x - nearest) < 0.1)
    return np.where(close, nearest + np.where(x >= nearest, 0.1, -0.1), x)


def inside_unit(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """(-0.95, 0.95): erfinv's domain, off its infinite ends."""
    return rng.uniform(-0.95, 0.95, shape)


def probability(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """(0.02, 0.98): logit's domain."""
    return rng.uniform(0.02, 0.98, shape)


def wide(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """(-40, 40): i0's gradient takes i1's asymptotic series beyond 30."""
    return rng.uniform(-40.0, 40.0, shape)


def zeros_and_reals(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """Integer-valued reals in [-2, 2], so that heaviside meets exact zeros."""
    return rng.integers(-2, 3, shape).astype(np.float64)


def _one_of(*kwarg_sets: dict[str, Any]) -> Callable[[tuple], st.SearchStrategy[dict[str, Any]]]:
    return lambda shape: st.sampled_from(kwarg_sets)


def _off_logit_bounds(case: Case) -> bool:
    """logit(eps=) clamps to [eps, 1 - eps]: keep clear of the kinks."""
    eps = case.kwargs.get("eps")
    x = case.arrays[0]
    return eps is None or bool(np.all(np.abs(x - eps) > 1e-3) and np.all(np.abs(x - (1 - eps)) > 1e-3))


def _inplace(name: str) -> Call:
    """`(x * 1).<name>(...)`: the in-place op on a non-leaf, so autograd runs through it."""

    def call(m: Any, x: Any, *rest: Any, **kw: Any) -> Any:
        target = x * 1
        out = getattr(target, name)(*rest, **kw)
        assert out is target, f"{name} must return self"
        return target

    return call


def _unary_rows() -> list[OpSpec]:
    def unary(name: str, domain: s.Sampler = real, **kw: Any) -> OpSpec:
        return OpSpec(name, E(domain), method=name, function=name, **kw)

    polygamma_n = _one_of({"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}, {"n": 4})
    return [
        unary("erfinv", inside_unit, second_order=True),
        unary("erfc"),
        unary("lgamma", off_poles),
        unary("digamma", off_poles, tol=TRIGAMMA),
        OpSpec("polygamma", s.with_kwargs(off_poles, polygamma_n), call=lambda m, x, n: m.polygamma(n, x),
               covers=("antorcha.polygamma",), tol=TRIGAMMA, second_order=True),
        OpSpec("polygamma_method", s.with_kwargs(off_poles, polygamma_n), call=lambda m, x, n: x.polygamma(n),
               covers=("Tensor.polygamma",), tol=TRIGAMMA),
        unary("sinc"),
        unary("logit", probability),
        OpSpec("logit_eps", s.with_kwargs(probability, _one_of({"eps": 0.1}, {"eps": 0.3}, {"eps": None})),
               call=lambda m, x, eps: x.logit(eps), valid=_off_logit_bounds),
        unary("deg2rad"),
        unary("rad2deg"),
        unary("frac", s.away_from(-1, 0, 1)),
        unary("fix", s.away_from(-1, 0, 1)),
        unary("i0", wide),
        forward_only_ints(),
    ]


def forward_only_ints() -> OpSpec:
    """torch computes these on integer tensors in the default float dtype (poles included)."""
    return OpSpec(
        "special_on_ints", E(s.ints, s.nonzero_ints),
        call=lambda m, x, y: (m.erfc(x), m.lgamma(x), m.digamma(x), m.polygamma(2, x), m.sinc(x), m.i0(x),
                              m.deg2rad(x), m.rad2deg(x), m.fix(x), m.atan2(x, y), m.copysign(x, y),
                              m.xlogy(x, y.abs()), m.logit(x), m.erfinv(x)),
        differentiable=False)


def _binary_rows() -> list[OpSpec]:
    def binary(name: str, *domains: s.Sampler, **kw: Any) -> OpSpec:
        return OpSpec(name, E(*domains), method=name, function=name, **kw)

    values = _one_of({"value": 1}, {"value": 0.5}, {"value": -2})
    three = s.elementwise
    return [
        binary("atan2", real, real, second_order=True),
        binary("arctan2", real, real),
        binary("hypot", nonzero, nonzero),
        binary("logaddexp", real, real),
        binary("logaddexp2", real, real),
        binary("copysign", nonzero, nonzero),
        OpSpec("copysign_scalar", E(nonzero), call=lambda m, x: (m.copysign(x, -1.0), x.copysign(2))),
        binary("xlogy", real, positive),
        OpSpec("xlogy_zeros", E(s.with_zeros, positive), call=lambda m, x, y: m.xlogy(x, y)),
        OpSpec("xlogy_scalars", E(positive), call=lambda m, y: (m.xlogy(2.0, y), m.xlogy(y, 3))),
        binary("nextafter", real, real),
        OpSpec("heaviside", E(zeros_and_reals, real), method="heaviside", function="heaviside",
               differentiable=False),
        binary("float_power", positive, real),
        OpSpec("float_power_scalar", E(real), call=lambda m, x: (m.float_power(x, 2), m.float_power(2.5, x))),
        OpSpec("addcmul", _with_values(three(real, real, real), values), method="addcmul", function="addcmul",
               second_order=True),
        OpSpec("addcdiv", _with_values(three(real, real, nonzero), values), method="addcdiv",
               function="addcdiv"),
    ]


KwargsFor = Callable[[tuple], st.SearchStrategy[dict[str, Any]]]


def _with_values(builder: s.Builder, kwargs: KwargsFor) -> s.Builder:
    """An elementwise builder, plus keyword arguments (addcmul's value=)."""

    def build(cfg: s.ShapeConfig) -> st.SearchStrategy[Case]:
        return st.tuples(builder(cfg), kwargs(())).map(lambda p: Case(p[0].arrays, p[1], p[0].seed))

    return build


def _inplace_rows() -> list[OpSpec]:
    into = s.into
    rows = [
        OpSpec("addcmul_", into(real, real, real), call=_inplace("addcmul_"), covers=("Tensor.addcmul_",)),
        OpSpec("addcdiv_", into(real, real, nonzero), call=lambda m, x, a, b: _inplace("addcdiv_")(
            m, x, a, b, value=0.5), covers=("Tensor.addcdiv_",)),
        OpSpec("float_power_", into(positive, real),
               call=lambda m, x, e: x.double().mul(1).float_power_(e), covers=("Tensor.float_power_",)),
        OpSpec("logit_", E(probability), call=lambda m, x: _inplace("logit_")(m, x, 0.05),
               covers=("Tensor.logit_",)),
        OpSpec("polygamma_", E(off_poles), call=lambda m, x: _inplace("polygamma_")(m, x, 1),
               covers=("Tensor.polygamma_",), tol=TRIGAMMA),
    ]
    binary = {"atan2_": (real, real), "arctan2_": (real, real), "hypot_": (nonzero, nonzero),
              "copysign_": (nonzero, nonzero), "xlogy_": (real, positive)}
    for name, domains in binary.items():
        rows.append(OpSpec(name, into(*domains), call=_inplace(name), covers=(f"Tensor.{name}",)))
    off_integers = s.away_from(-1, 0, 1)
    unary = {"erfinv_": inside_unit, "erfc_": real, "lgamma_": off_poles, "digamma_": off_poles,
             "sinc_": real, "deg2rad_": real, "rad2deg_": real, "frac_": off_integers, "fix_": off_integers,
             "i0_": real}
    for name, domain in unary.items():
        tol = TRIGAMMA if name == "digamma_" else TOL
        rows.append(OpSpec(name, E(domain), call=_inplace(name), covers=(f"Tensor.{name}",), tol=tol))
    return rows


def rows() -> list[OpSpec]:
    return [*_unary_rows(), *_binary_rows(), *_inplace_rows()]

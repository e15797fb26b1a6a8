"""Every op in `op_specs.SPECS`, forward and backward, against torch.

For each row and each spelling of it (expression, method, function):
* float32 and float64, over hypothesis-drawn broadcast shapes and keyword variants;
* once without autograd (the no-grad fast paths) and once recording a graph;
* the backward pass weighted by a random cotangent (`out.backward(g)`), comparing
  the gradient of every input;
* the same on non-contiguous inputs (transposed, strided views of a larger leaf);
* on edge shapes (empty dims, size-1 dims, 0-dim), where torch may also refuse the
  input: antorcha must then raise the same exception class;
* grad-of-grad for a representative set (`second_order=True` rows) in float64.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from autograd_helpers import arrays_kept, graph_nodes
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from op_spec import OpSpec, Tol
from op_specs import SPECS
from strategies import EDGE, NORMAL, Case, ShapeConfig

import antorcha

DTYPES = ["float32", "float64"]
HYPOTHESIS = {
    "deadline": None,
    "derandomize": True,  # the same examples on every run: a failure is reproducible
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
}
# the largest relative deviation seen per (row, dtype): printed at exit when asked for
DEVIATIONS: dict[tuple[str, str], float] = {}


# ---- building inputs ------------------------------------------------------------------------
def _strided_parent(values: np.ndarray) -> np.ndarray:
    """A larger array whose `[::2]` slice, with its dims reversed, holds `values`."""
    reversed_values = values.transpose()
    parent = np.full((2 * reversed_values.shape[0], *reversed_values.shape[1:]), 7.0, values.dtype)
    parent[::2] = reversed_values
    return parent


def _tensor(m: Any, values: np.ndarray, device: str, requires_grad: bool) -> Any:
    if m is torch:
        return torch.tensor(values.copy(), requires_grad=requires_grad)
    return antorcha.tensor(values.copy(), device=device, requires_grad=requires_grad)


def make_inputs(m: Any, case: Case, dtype: str, device: str, grad: bool, strided: bool) -> tuple[list, list]:
    """The case's arrays as tensors of `m`: (op inputs, the leaves whose grads we compare)."""
    inputs, leaves = [], []
    for values in case.arrays:
        if values.dtype != np.float64:  # masks and indices
            inputs.append(_tensor(m, values, device, False))
            continue
        values = values.astype(dtype)
        if strided and values.ndim:
            leaf = _tensor(m, _strided_parent(values), device, grad)
            inputs.append(leaf[::2].permute(*reversed(range(values.ndim))))
        else:
            leaf = _tensor(m, values, device, grad)
            inputs.append(leaf)
        leaves.append(leaf)
    return inputs, leaves


def convert_kwargs(m: Any, value: Any, device: str) -> Any:
    """NumPy arrays inside keyword arguments (index keys) become tensors of `m`."""
    if isinstance(value, np.ndarray):
        return _tensor(m, value, device, False)
    if isinstance(value, tuple):
        return tuple(convert_kwargs(m, v, device) for v in value)
    if isinstance(value, dict):
        return {k: convert_kwargs(m, v, device) for k, v in value.items()}
    return value


def call_op(call: Callable, m: Any, inputs: list, kwargs: dict) -> tuple[Any, BaseException | None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's deprecation notes (x.T on 3-D, ...)
        try:
            return call(m, *inputs, **kwargs), None
        except Exception as error:
            return None, error


def flat(out: Any) -> list:
    """Outputs as a flat list (tuples from split, (values, indices) from max(dim), ...)."""
    if isinstance(out, (tuple, list)):
        return [leaf for item in out for leaf in flat(item)]
    return [out]


# ---- comparing -------------------------------------------------------------------------------
def dtype_name(t: Any) -> str:
    return str(t.dtype).rsplit(".", 1)[-1]


def assert_close(actual: np.ndarray, expected: np.ndarray, tol: Tol, what: str, record: tuple) -> None:
    """Exact for ints and bools; within `tol` (nan where torch has nan) for floats."""
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != torch's {expected.shape}"
    if expected.dtype.kind in "biu":
        np.testing.assert_array_equal(actual, expected, err_msg=what)
        return
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    np.testing.assert_allclose(a, e, rtol=tol.rtol, atol=tol.atol, equal_nan=True, err_msg=what)
    finite = np.isfinite(e) & np.isfinite(a)
    if finite.any():
        deviation = float(np.max(np.abs(a[finite] - e[finite]) / (np.abs(e[finite]) + tol.atol / tol.rtol)))
        DEVIATIONS[record] = max(DEVIATIONS.get(record, 0.0), deviation)


def compare_outputs(actual: list, expected: list, spec: OpSpec, dtype: str, what: str) -> None:
    assert len(actual) == len(expected), f"{what}: {len(actual)} outputs, torch gives {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected)):
        label = f"{what} output {i}"
        if not isinstance(e, torch.Tensor):  # a Python value (equal, allclose)
            assert type(a) is type(e) and a == e, f"{label}: {a!r} != torch's {e!r}"
            continue
        assert isinstance(a, antorcha.Tensor), f"{label}: got {type(a).__name__}, torch gives a tensor"
        shape, expected_shape = tuple(a.shape), tuple(e.shape)
        assert shape == expected_shape, f"{label}: shape {shape} != torch's {expected_shape}"
        assert dtype_name(a) == dtype_name(e), f"{label}: dtype {a.dtype} != torch's {e.dtype}"
        if not spec.random_values:
            expected_values = e.detach().numpy(force=True)
            tol = spec.tol[dtype_name(e)]
            assert_close(np.asarray(a.detach()), expected_values, tol, label, (spec.name, dtype))


def expect_same_failure(a_error: BaseException | None, t_error: BaseException, what: str) -> None:
    assert a_error is not None, f"{what}: torch raises {type(t_error).__name__}({t_error}), antorcha does not"
    assert isinstance(a_error, type(t_error)), (
        f"{what}: antorcha raises {type(a_error).__name__}({a_error}), torch raises {type(t_error).__name__}"
    )


# ---- one case ---------------------------------------------------------------------------------
def check_case(spec: OpSpec, case: Case, dtype: str, device: str, strided: bool, may_refuse: bool) -> None:
    """Every form of the row on one case: no-grad forward, then forward and backward with a graph."""
    for label, a_call, t_call in spec.forms():
        what = f"{spec.name} [{label}] {case!r} {dtype}{' strided' if strided else ''}"
        passes = (False, True) if spec.differentiable else (False,)
        for grad in passes:
            t_inputs, t_leaves = make_inputs(torch, case, dtype, device, grad, strided)
            a_inputs, a_leaves = make_inputs(antorcha, case, dtype, device, grad, strided)
            t_out, t_error = call_op(t_call, torch, t_inputs, convert_kwargs(torch, case.kwargs, device))
            a_kwargs = convert_kwargs(antorcha, case.kwargs, device)
            a_out, a_error = call_op(a_call, antorcha, a_inputs, a_kwargs)
            if t_error is not None:
                if not may_refuse:
                    raise AssertionError(f"{what}: the spec drew an input torch refuses") from t_error
                expect_same_failure(a_error, t_error, what)
                return
            if a_error is not None:
                raise AssertionError(f"{what}: antorcha raises, torch does not") from a_error
            compare_outputs(flat(a_out), flat(t_out), spec, dtype, what + (" (grad)" if grad else ""))
            if grad:
                outputs = (flat(a_out), flat(t_out))
                check_backward(spec, *outputs, a_leaves, t_leaves, case.seed, dtype, what, may_refuse)


def run_backward(m: Any, outs: list, cotangents: list) -> BaseException | None:
    """`out.backward(g)` for one output, `autograd.backward` for several; the error if one is raised."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's notes on inf * 0 and the like; torch is silent
        try:
            if len(outs) == 1:
                outs[0].backward(cotangents[0])
            else:
                m.autograd.backward(outs, cotangents)
        except Exception as error:  # compared with torch's exception by the caller
            return error
    return None


def check_backward(spec: OpSpec, a_outs: list, t_outs: list, a_leaves: list, t_leaves: list,
                   seed: int, dtype: str, what: str, torch_may_refuse: bool) -> None:
    rng = np.random.default_rng(seed + 1)
    a_diff, t_diff, a_grads, t_grads = [], [], [], []
    for i, (a, t) in enumerate(zip(a_outs, t_outs)):
        if not isinstance(t, torch.Tensor):
            continue
        assert a.requires_grad == t.requires_grad, f"{what} output {i}: requires_grad {a.requires_grad}"
        if t.requires_grad:
            cotangent = rng.standard_normal(tuple(t.shape)).astype(t.detach().numpy().dtype)
            t_diff.append(t)
            a_diff.append(a)
            t_grads.append(torch.tensor(cotangent))
            a_grads.append(antorcha.tensor(cotangent, device=a.device))
    if not t_diff:
        return
    t_error = run_backward(torch, t_diff, t_grads)
    a_error = run_backward(antorcha, a_diff, a_grads)
    if t_error is not None:
        if not torch_may_refuse:
            raise AssertionError(f"{what}: the spec drew an input torch cannot differentiate") from t_error
        expect_same_failure(a_error, t_error, what + " backward")
        return
    if a_error is not None:
        raise AssertionError(f"{what}: antorcha's backward raises, torch's does not") from a_error
    for i, (a_leaf, t_leaf) in enumerate(zip(a_leaves, t_leaves)):
        label = f"{what} grad of input {i}"
        if t_leaf.grad is None:
            assert a_leaf.grad is None, f"{label}: antorcha has a gradient, torch has None"
            continue
        assert a_leaf.grad is not None, f"{label}: antorcha has no gradient"
        assert dtype_name(a_leaf.grad) == dtype_name(t_leaf.grad), f"{label}: dtype {a_leaf.grad.dtype}"
        tol = spec.tol[dtype_name(t_leaf.grad)]
        assert_close(np.asarray(a_leaf.grad), t_leaf.grad.numpy(force=True), tol, label, (spec.name, dtype))


def run_examples(spec: OpSpec, cfg: ShapeConfig, examples: int, check: Callable[[Case], None]) -> None:
    @settings(max_examples=examples, **HYPOTHESIS)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(spec.args(cfg), label="case")
        if spec.valid is not None:
            assume(spec.valid(case))
        check(case)

    run()


# ---- the tests ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_op_matches_torch(spec: OpSpec, dtype: str, device: str) -> None:
    check = lambda case: check_case(spec, case, dtype, device, strided=False, may_refuse=False)  # noqa: E731
    run_examples(spec, NORMAL, spec.examples, check)


@pytest.mark.parametrize("spec", [s for s in SPECS if s.noncontiguous], ids=lambda spec: spec.name)
def test_op_on_noncontiguous_inputs(spec: OpSpec, device: str) -> None:
    run_examples(spec, NORMAL, 8, lambda case: check_case(spec, case, "float64", device, True, False))


@pytest.mark.parametrize("spec", [s for s in SPECS if s.edge], ids=lambda spec: spec.name)
def test_op_on_edge_shapes(spec: OpSpec, device: str) -> None:
    run_examples(spec, EDGE, 12, lambda case: check_case(spec, case, "float32", device, False, True))


@pytest.mark.parametrize("spec", [s for s in SPECS if s.second_order], ids=lambda spec: spec.name)
def test_second_order_gradients(spec: OpSpec, device: str) -> None:
    run_examples(spec, NORMAL, 12, lambda case: check_grad_of_grad(spec, case, device))


def check_grad_of_grad(spec: OpSpec, case: Case, device: str) -> None:
    """grad(create_graph=True), then the gradient of those gradients w.r.t. inputs and cotangents."""
    for label, a_call, t_call in spec.forms():
        what = f"{spec.name} [{label}] {case!r} second order"
        results = [second_order(m, call, case, device) for m, call in ((antorcha, a_call), (torch, t_call))]
        (a_first, a_second), (t_first, t_second) = results
        for order, a_grads, t_grads in (("first", a_first, t_first), ("second", a_second, t_second)):
            for i, (a, t) in enumerate(zip(a_grads, t_grads, strict=True)):
                label_i = f"{what} {order}-order grad {i}"
                if t is None:  # torch skips zero gradients it can prove; antorcha may compute them
                    assert a is None or not np.asarray(a.detach()).any(), f"{label_i}: torch has None"
                    continue
                assert a is not None, f"{label_i}: antorcha has None"
                expected = t.detach().numpy(force=True)
                tol = spec.tol[dtype_name(t)]
                record = (spec.name, "float64 second order")
                assert_close(np.asarray(a.detach()), expected, tol, label_i, record)


def second_order(m: Any, call: Callable, case: Case, device: str) -> tuple[tuple, tuple]:
    """First-order grads (with a graph) and the grads of those w.r.t. the inputs and the cotangents."""
    rng = np.random.default_rng(case.seed + 2)
    inputs, leaves = make_inputs(m, case, "float64", device, True, False)
    out, error = call_op(call, m, inputs, convert_kwargs(m, case.kwargs, device))
    if error is not None:
        raise error
    outs = [o for o in flat(out) if o.requires_grad]
    cotangents = [_tensor(m, rng.standard_normal(tuple(o.shape)), device, True) for o in outs]
    first = m.autograd.grad(outs, leaves, cotangents, create_graph=True, allow_unused=True) if outs else ()
    # one weight per first-order grad, drawn in order, so both libraries get the same weights
    weights = [None if g is None else _tensor(m, rng.standard_normal(tuple(g.shape)), device, False)
               for g in first]
    pairs = [(g, w) for g, w in zip(first, weights) if g is not None and g.requires_grad]
    targets = leaves + cotangents
    if not pairs:
        return first, (None,) * len(targets)
    grads, ws = zip(*pairs)
    return first, m.autograd.grad(list(grads), targets, list(ws), allow_unused=True)


@pytest.mark.parametrize("spec", [s for s in SPECS if s.differentiable], ids=lambda spec: spec.name)
def test_backward_frees_everything_a_node_kept(spec: OpSpec) -> None:
    """After backward (no retain_graph), no node of the graph holds an array: saved tensors and
    arrays kept as ctx attributes (masks, coefficients, differences) are all released."""
    run_examples(spec, NORMAL, 3, lambda case: check_graph_freed(spec, case))


def check_graph_freed(spec: OpSpec, case: Case) -> None:
    for label, call, _ in spec.forms():
        inputs, _ = make_inputs(antorcha, case, "float64", "cpu", True, False)
        out, error = call_op(call, antorcha, inputs, convert_kwargs(antorcha, case.kwargs, "cpu"))
        if error is not None:
            continue  # the op refuses this case (the main test checks torch refuses it too)
        outs = [o for o in flat(out) if isinstance(o, antorcha.Tensor) and o.grad_fn is not None]
        if not outs:
            continue
        rng = np.random.default_rng(case.seed)
        cotangents = [antorcha.tensor(rng.standard_normal(tuple(o.shape))) for o in outs]
        antorcha.autograd.backward(outs, cotangents)
        for node in graph_nodes([o.grad_fn for o in outs]):
            kept = arrays_kept(node)
            assert not kept, f"{spec.name} [{label}]: {node.name()} still holds {kept} after backward"


def _print_deviations() -> None:
    worst = sorted(DEVIATIONS.items(), key=lambda item: -item[1])
    for (name, dtype), deviation in worst[: int(os.environ.get("ANTORCHA_PRINT_DEVIATIONS", "40"))]:
        print(f"{name:28s} {dtype:22s} {deviation:.3e}")


if os.environ.get("ANTORCHA_PRINT_DEVIATIONS"):
    import atexit

    atexit.register(_print_deviations)

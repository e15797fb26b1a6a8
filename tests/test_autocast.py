"""antorcha.autocast against torch.autocast on the cpu: which ops cast to bfloat16/float16 and which
to float32, the values and gradients of an autocast model, the state rules (nesting, enabled=False,
decorator, per thread), and torch's warnings for a dtype or device it cannot autocast."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
import torch

import antorcha

RNG = np.random.default_rng(5)


def _name(dtype: object) -> str:
    return str(dtype).split(".")[-1]


def _inputs(m):
    x = m.tensor(np.linspace(-1, 1, 16, dtype=np.float32).reshape(4, 4))
    low = m.tensor(np.linspace(-2, 1, 16, dtype=np.float32).reshape(4, 4)).bfloat16()
    return x, low, m.tensor([0, 2, 1, 3])


# (name, op): the op's output dtype under CPU autocast must be torch's
CASES = {
    "matmul": lambda m, x, low, t: x @ x,
    "mm": lambda m, x, low, t: x.mm(x),
    "bmm": lambda m, x, low, t: m.bmm(x[None], x[None]),
    "matmul_1d": lambda m, x, low, t: x[0] @ x[1],
    "dot": lambda m, x, low, t: x[0].dot(x[1]),  # not on torch's list
    "mv": lambda m, x, low, t: x.mv(x[0]),  # not on torch's list
    "linear": lambda m, x, low, t: m.nn.functional.linear(x, x, x[0]),
    "linear_3d": lambda m, x, low, t: m.nn.functional.linear(x[None], x),
    "einsum": lambda m, x, low, t: m.einsum("ij,jk->ik", x, x),
    "tensordot": lambda m, x, low, t: m.tensordot(x, x, 1),
    "float64_matmul": lambda m, x, low, t: x.double() @ x.double(),  # float64 is never cast
    "sdpa": lambda m, x, low, t: m.nn.functional.scaled_dot_product_attention(x[None], x[None], x[None]),
    "sdpa_float_mask": lambda m, x, low, t: m.nn.functional.scaled_dot_product_attention(
        x[None], x[None], x[None], attn_mask=m.zeros(4, 4)
    ),
    "softmax": lambda m, x, low, t: low.softmax(-1),
    "relu": lambda m, x, low, t: low.relu(),
    "mixed_add": lambda m, x, low, t: low + x,
    "sum": lambda m, x, low, t: low.sum(),
    "cross_entropy": lambda m, x, low, t: m.nn.functional.cross_entropy(low, t),
    "nll_loss": lambda m, x, low, t: m.nn.functional.nll_loss(low, t),
    "mse_loss": lambda m, x, low, t: m.nn.functional.mse_loss(low, low),
    "l1_loss": lambda m, x, low, t: m.nn.functional.l1_loss(low, low),
    "smooth_l1_loss": lambda m, x, low, t: m.nn.functional.smooth_l1_loss(low, low),
    "huber_loss": lambda m, x, low, t: m.nn.functional.huber_loss(low, low),
    "bce": lambda m, x, low, t: m.nn.functional.binary_cross_entropy(low.sigmoid(), low.sigmoid()),
    "bce_logits": lambda m, x, low, t: m.nn.functional.binary_cross_entropy_with_logits(low, low.sigmoid()),
}


@pytest.mark.parametrize("low_dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_output_dtype_matches_torch(name: str, low_dtype: str) -> None:
    results = []
    for m in (antorcha, torch):
        with m.autocast("cpu", dtype=getattr(m, low_dtype)):
            results.append(_name(CASES[name](m, *_inputs(m)).dtype))
    assert results[0] == results[1]


def _model_step(m, dtype_name: str):
    x = RNG.standard_normal((32, 24)).astype(np.float32)
    weight = (RNG.standard_normal((10, 24)) * 0.3).astype(np.float32)
    bias = RNG.standard_normal(10).astype(np.float32)
    target = RNG.integers(0, 10, 32)
    results = []
    for m in (antorcha, torch):
        layer = m.nn.Linear(24, 10)
        with m.no_grad():
            layer.weight.copy_(m.tensor(weight))
            layer.bias.copy_(m.tensor(bias))
        with m.autocast("cpu", dtype=getattr(m, dtype_name)):
            hidden = layer(m.tensor(x))
            activated = m.relu(hidden)
            probabilities = m.softmax(activated, -1)
            loss = m.nn.functional.cross_entropy(activated, m.tensor(target))
        loss.backward()
        results.append((hidden, activated, probabilities, loss, layer.weight.grad, layer.bias.grad))
    return results


@pytest.mark.parametrize("dtype_name", ["bfloat16", "float16"])
def test_linear_relu_softmax_cross_entropy_dtypes_values_and_grads(dtype_name: str) -> None:
    ours, theirs = _model_step(None, dtype_name)
    for a, t in zip(ours, theirs):
        assert _name(a.dtype) == _name(t.dtype)
    hidden, theirs_hidden = ours[0].float().detach().numpy(), theirs[0].float().detach().numpy()
    # the one matmul is torch's own rounding of a float32-accumulated product (one step at most apart)
    assert np.mean(hidden == theirs_hidden) > 0.99
    np.testing.assert_allclose(hidden, theirs_hidden, rtol=2**-7, atol=0)
    np.testing.assert_allclose(ours[3].item(), theirs[3].item(), rtol=1e-5)
    for a, t in zip(ours[4:], theirs[4:]):  # float32 parameters get float32 gradients
        assert a.dtype is antorcha.float32
        np.testing.assert_allclose(a.numpy(), t.numpy(), rtol=1e-2, atol=1e-4)


def test_autocast_matmul_values_match_torch() -> None:
    a = RNG.standard_normal((96, 64)).astype(np.float32)
    b = RNG.standard_normal((64, 80)).astype(np.float32)
    results = []
    for m in (antorcha, torch):
        with m.autocast("cpu"):
            results.append((m.tensor(a) @ m.tensor(b)).float().numpy())
    steps = np.abs(results[0].view(np.int32).astype(np.int64) - results[1].view(np.int32)) >> 16
    assert steps.max() <= 1 and np.mean(steps == 0) > 0.99


def test_state_nesting_enabled_false_and_decorator() -> None:
    assert not antorcha.is_autocast_enabled("cpu")
    assert antorcha.get_autocast_dtype("cpu") is antorcha.bfloat16
    assert antorcha.get_autocast_dtype("cuda") is antorcha.float16
    with antorcha.autocast("cpu"):
        assert antorcha.is_autocast_enabled("cpu") and not antorcha.is_autocast_enabled()  # default 'cuda'
        with antorcha.autocast("cpu", enabled=False):
            assert not antorcha.is_autocast_enabled("cpu")
            assert (antorcha.ones(2, 2) @ antorcha.ones(2, 2)).dtype is antorcha.float32
        with antorcha.autocast("cpu", dtype=antorcha.float16):
            assert antorcha.get_autocast_dtype("cpu") is antorcha.float16
            assert (antorcha.ones(2, 2) @ antorcha.ones(2, 2)).dtype is antorcha.float16
        assert antorcha.is_autocast_enabled("cpu") and antorcha.get_autocast_dtype("cpu") is antorcha.bfloat16
    assert not antorcha.is_autocast_enabled("cpu")

    @antorcha.autocast("cpu")
    def product(a, b):
        return a @ b

    assert product(antorcha.ones(2, 2), antorcha.ones(2, 2)).dtype is antorcha.bfloat16
    assert not antorcha.is_autocast_enabled("cpu")
    assert antorcha.amp.autocast is antorcha.autocast


def test_state_is_per_thread() -> None:
    seen = []
    with antorcha.autocast("cpu"):
        thread = threading.Thread(target=lambda: seen.append(antorcha.is_autocast_enabled("cpu")))
        thread.start()
        thread.join()
    assert seen == [torch.is_autocast_enabled("cpu")]  # False: a new thread starts without autocast


def test_unsupported_dtype_and_missing_gpu_warn_and_disable_as_torch() -> None:
    for m in (antorcha, torch):
        expected = pytest.warns(UserWarning, match="CPU Autocast only supports dtypes of torch.bfloat16")
        with expected, m.autocast("cpu", dtype=m.float64):
            assert not m.is_autocast_enabled("cpu")
            assert m.get_autocast_dtype("cpu") is m.float64
    if antorcha.cuda.is_available():
        pytest.skip("a GPU is present: cuda autocast is not disabled")
    for m in (antorcha, torch):
        with pytest.warns(UserWarning, match="CUDA is not available"), m.autocast("cuda"):
            assert not m.is_autocast_enabled("cuda")


def test_bad_device_type_raises_as_torch() -> None:
    for m in (antorcha, torch):
        with pytest.raises(RuntimeError, match="Expected one of cpu, cuda"):
            m.autocast("foo")
        with pytest.raises(ValueError, match="Expected `device_type` of type `str`"):
            m.autocast(1)


def test_off_costs_only_a_flag() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = antorcha.ones(3, 3)
        assert (x @ x).dtype is antorcha.float32  # no autocast, no cast
    assert antorcha.cuda.is_bf16_supported() is False
    assert antorcha.cuda.is_bf16_supported(including_emulation=False) is False


def test_cuda_amp_autocast_is_the_deprecated_spelling() -> None:
    for m in (antorcha, torch):
        with pytest.warns(FutureWarning, match=r"torch.cuda.amp.autocast\(args...\)` is deprecated"):
            region = m.cuda.amp.autocast(enabled=False)
        assert isinstance(region, m.autocast) and region.device == "cuda"
        with region:
            assert not m.is_autocast_enabled("cuda")


def test_cuda_bfloat16_autocast_refused_where_unsupported() -> None:
    if not antorcha.cuda.is_available():
        pytest.skip("without a GPU, cuda autocast warns and disables itself before checking its dtype")
    with pytest.raises(RuntimeError, match="does not support bfloat16"):
        antorcha.autocast("cuda", dtype=antorcha.bfloat16)


def test_deprecated_cpu_and_gpu_state_functions_warn_as_torch() -> None:
    for m in (antorcha, torch):
        with pytest.warns(DeprecationWarning, match=r"is_autocast_cpu_enabled\(\) is deprecated"):
            assert m.is_autocast_cpu_enabled() is False
        with pytest.warns(DeprecationWarning, match=r"get_autocast_cpu_dtype\(\) is deprecated"):
            assert m.get_autocast_cpu_dtype() is m.bfloat16
        with pytest.warns(DeprecationWarning, match=r"get_autocast_gpu_dtype\(\) is deprecated"):
            assert m.get_autocast_gpu_dtype() is m.float16
        try:
            with pytest.warns(DeprecationWarning, match=r"set_autocast_cpu_dtype\(dtype\) is deprecated"):
                m.set_autocast_cpu_dtype(m.float16)
            assert m.get_autocast_dtype("cpu") is m.float16
            with pytest.warns(DeprecationWarning, match=r"set_autocast_cpu_enabled\(enabled\) is deprecated"):
                m.set_autocast_cpu_enabled(True)
            assert m.is_autocast_enabled("cpu")
            assert (m.ones(2, 2) @ m.ones(2, 2)).dtype is m.float16
        finally:
            m.set_autocast_enabled("cpu", False)
            m.set_autocast_dtype("cpu", m.bfloat16)
        assert not m.is_autocast_enabled("cpu")


def test_cpu_module_and_its_deprecated_amp_spellings() -> None:
    for m in (antorcha, torch):
        assert m.cpu.is_available() and m.cpu.device_count() == 1 and m.cpu.current_device() == "cpu"
        m.cpu.synchronize()
        with pytest.warns(FutureWarning, match=r"torch.cpu.amp.autocast\(args...\)` is deprecated"):
            region = m.cpu.amp.autocast()
        with region:
            assert m.is_autocast_enabled("cpu") and m.get_autocast_dtype("cpu") is m.bfloat16
            assert (m.ones(2, 2) @ m.ones(2, 2)).dtype is m.bfloat16
        with pytest.warns(FutureWarning, match=r"torch.cpu.amp.GradScaler\(args...\)` is deprecated"):
            scaler = m.cpu.amp.GradScaler(init_scale=8.0)
        assert scaler.get_scale() == 8.0

"""Devices and CUDA: what must hold with and without a GPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import antorcha

needs_gpu = pytest.mark.skipif(
    not antorcha.cuda.is_available(), reason="no CUDA GPU (or no CuPy) on this machine"
)


def test_device_objects_behave_like_torch() -> None:
    for spec in ("cpu", "cuda", "cuda:1"):
        ours, theirs = antorcha.device(spec), torch.device(spec)
        assert str(ours) == str(theirs)
        assert ours.type == theirs.type and ours.index == theirs.index
        assert repr(ours) == repr(theirs)
    assert antorcha.device("cuda", 1) == antorcha.device("cuda:1")
    assert antorcha.device("cpu") == "cpu"
    with pytest.raises(RuntimeError, match="device"):
        antorcha.device("tpu")


def test_cuda_queries_without_a_gpu_do_not_raise() -> None:
    if antorcha.cuda.is_available():
        pytest.skip("a GPU is present")
    assert antorcha.cuda.is_available() is False
    assert antorcha.cuda.device_count() == 0
    assert antorcha.cuda.memory_allocated() == 0
    antorcha.cuda.synchronize()  # a no-op without a GPU
    antorcha.cuda.manual_seed_all(0)


def test_moving_to_cuda_without_a_gpu_is_a_clear_runtime_error() -> None:
    if antorcha.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        antorcha.ones(2).to("cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        antorcha.ones(2).cuda()
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        antorcha.zeros(2, device="cuda")


@needs_gpu
def test_round_trip_and_ops_on_gpu_match_cpu() -> None:
    x = antorcha.randn(4, 5)
    gx = x.to("cuda")
    assert gx.device.type == "cuda" and gx.is_cuda
    np.testing.assert_array_equal(gx.cpu().numpy(), x.numpy())
    a = antorcha.randn(3, 4, requires_grad=True)
    ga = a.detach().cuda().requires_grad_()
    w = antorcha.randn(4, 2)
    for t, wt in ((a, w), (ga, w.cuda())):
        ((t @ wt).relu().exp().sum()).backward()
    np.testing.assert_allclose(ga.grad.cpu().numpy(), a.grad.numpy(), rtol=1e-5, atol=1e-6)


@needs_gpu
def test_gpu_errors_name_devices() -> None:
    g = antorcha.ones(2, device="cuda")
    with pytest.raises(TypeError, match="cuda"):
        g.numpy()
    with pytest.raises(RuntimeError, match=r"cuda:0 and cpu|cpu and cuda:0"):
        _ = g + antorcha.ones(2)


@needs_gpu
def test_model_and_optimizer_on_gpu_follow_cpu() -> None:
    import antorcha.nn as nn

    antorcha.manual_seed(0)
    cpu_model = nn.Linear(4, 3)
    gpu_model = nn.Linear(4, 3)
    gpu_model.load_state_dict(cpu_model.state_dict())
    gpu_model.to("cuda")
    opts = [antorcha.optim.Adam(m.parameters(), lr=0.1) for m in (cpu_model, gpu_model)]
    x = antorcha.randn(8, 4)
    for _ in range(10):
        for model, opt, data in ((cpu_model, opts[0], x), (gpu_model, opts[1], x.cuda())):
            opt.zero_grad()
            model(data).pow(2).mean().backward()
            opt.step()
    for p_cpu, p_gpu in zip(cpu_model.parameters(), gpu_model.parameters()):
        np.testing.assert_allclose(p_gpu.detach().cpu().numpy(), p_cpu.detach().numpy(), rtol=1e-5, atol=1e-6)
    state = opts[1].state[next(iter(gpu_model.parameters()))]
    assert all(v.device.type == "cuda" for v in state.values() if isinstance(v, antorcha.Tensor) and v.ndim)


@needs_gpu
def test_state_dict_saved_on_cuda_loads_on_cpu(tmp_path) -> None:
    import antorcha.nn as nn

    model = nn.Linear(3, 2).cuda()
    antorcha.save(model.state_dict(), tmp_path / "m.safetensors")
    loaded = antorcha.load(tmp_path / "m.safetensors", map_location="cpu")
    cpu_model = nn.Linear(3, 2)
    cpu_model.load_state_dict(loaded)
    np.testing.assert_array_equal(cpu_model.weight.detach().numpy(), model.weight.detach().cpu().numpy())

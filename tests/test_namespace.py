"""The namespace names that are not ops, against torch: new_* factories, data_ptr/storage_offset,
constants, finfo/iinfo, threads, legacy types and Variable, .data, the default device,
torch.accelerator and torch.backends."""

from __future__ import annotations

import importlib
import math
import warnings

import numpy as np
import pytest
import torch

import antorcha
from antorcha import cuda

_NO_GPU = pytest.mark.skipif(cuda.is_available(), reason="checks the behaviour without a GPU")
_GPU = pytest.mark.skipif(not cuda.is_available(), reason="needs a GPU")
_DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool")


def _dtype_name(t: object) -> str:
    return str(t.dtype).split(".")[-1]


def _same(ours: antorcha.Tensor, theirs: torch.Tensor) -> None:
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert _dtype_name(ours) == _dtype_name(theirs)
    assert ours.requires_grad == theirs.requires_grad


# ---- new_* ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_new_factories_take_self_dtype_and_match_torch(dtype: str, device: str) -> None:
    ours_base = antorcha.zeros(3, dtype=getattr(antorcha, dtype), device=device)
    theirs_base = torch.zeros(3, dtype=getattr(torch, dtype))
    calls = [  # (call, whether its values are defined)
        (lambda t: t.new_zeros(2, 3), True),
        (lambda t: t.new_zeros((2, 3)), True),
        (lambda t: t.new_zeros(size=(2,)), True),
        (lambda t: t.new_ones([4]), True),
        (lambda t: t.new_full((2,), 3), True),
        (lambda t: t.new_empty(2, 1), False),
        (lambda t: t.new_empty(size=(5,)), False),
        (lambda t: t.new_tensor([1, 0, 2]), True),
        (
            lambda t: t.new_zeros(
                2, dtype=antorcha.float64 if isinstance(t, antorcha.Tensor) else torch.float64
            ),
            True,
        ),
    ]
    for call, defined in calls:
        ours, theirs = call(ours_base), call(theirs_base)
        _same(ours, theirs)
        assert ours.device.type == device
        if defined:
            np.testing.assert_array_equal(ours.cpu().numpy(), theirs.numpy())


def test_new_factories_requires_grad_and_new_tensor_copies() -> None:
    x = antorcha.ones(3)
    _same(x.new_zeros(2, requires_grad=True), torch.ones(3).new_zeros(2, requires_grad=True))
    _same(
        x.new_tensor([1.0, 2.0], requires_grad=True), torch.ones(3).new_tensor([1.0, 2.0], requires_grad=True)
    )
    with pytest.warns(UserWarning, match="sourceTensor.detach"):
        copy = x.new_tensor(x)
    assert copy.data_ptr() != x.data_ptr()
    assert antorcha.zeros(2, dtype=antorcha.long).new_tensor([1.5]).tolist() == [1]  # as torch: self's dtype
    with pytest.raises(RuntimeError):
        antorcha.zeros(2, dtype=antorcha.long).new_zeros(2, requires_grad=True)


# ---- data_ptr, storage_offset -------------------------------------------------------------------
_VIEWS = {
    "slice0": lambda x: x[1:],
    "slice1": lambda x: x[:, 1:],
    "select": lambda x: x[1],
    "select_slice": lambda x: x[:, 2, 1:],
    "narrow": lambda x: x.narrow(2, 1, 2),
    "transpose": lambda x: x.transpose(0, 2),
    "view": lambda x: x.view(6, 4)[2:],
    "unsqueeze": lambda x: x[1].unsqueeze(0),
    "step": lambda x: x[:, ::2, 1],
    "expand": lambda x: x[1, :1].expand(3, 4),
    "unbind": lambda x: x.unbind(1)[2],
    "chunk": lambda x: x.chunk(2, dim=2)[1],
    "split": lambda x: x.split(1)[1],
    "permute": lambda x: x.permute(2, 0, 1)[1],
    "squeeze": lambda x: x[:, 1:2].squeeze(1),
    "T": lambda x: x[0].T[1:],
}


@pytest.mark.parametrize("name", sorted(_VIEWS))
def test_storage_offset_and_data_ptr_of_views_match_torch(name: str, device: str) -> None:
    ours = antorcha.arange(24.0, device=device).reshape(2, 3, 4)
    theirs = torch.arange(24.0).reshape(2, 3, 4)
    ours_view, theirs_view = _VIEWS[name](ours), _VIEWS[name](theirs)
    assert ours_view.storage_offset() == theirs_view.storage_offset()
    ours_step = ours_view.data_ptr() - ours.data_ptr()
    assert ours_step == theirs_view.data_ptr() - theirs.data_ptr() == theirs_view.storage_offset() * 4


def test_storage_offset_through_numpy_as_strided() -> None:
    base = np.arange(10.0)
    strided = np.lib.stride_tricks.as_strided(base[3:], (2, 2), (8, 16))  # its .base is NumPy's DummyArray
    assert antorcha.from_numpy(strided).storage_offset() == 3


def test_data_ptr_of_fresh_tensors() -> None:
    x = antorcha.arange(6.0)
    assert x.storage_offset() == 0 and x.data_ptr() == x.numpy().ctypes.data
    assert x.view(2, 3).data_ptr() == x.data_ptr() and x.detach().data_ptr() == x.data_ptr()
    assert x.clone().data_ptr() != x.data_ptr()
    assert antorcha.zeros(0).data_ptr() == torch.zeros(0).data_ptr() == 0


@_NO_GPU
def test_pin_memory_needs_an_accelerator_as_in_torch() -> None:
    x = antorcha.ones(2)
    assert x.is_pinned() is False
    with pytest.raises(RuntimeError, match="accelerator"):
        x.pin_memory()


@_GPU
def test_pin_memory_gives_a_pinned_copy() -> None:
    x = antorcha.arange(4.0)
    pinned = x.pin_memory()
    assert pinned.is_pinned() and not x.is_pinned() and pinned.tolist() == x.tolist()
    assert pinned.pin_memory() is pinned and pinned.cuda().tolist() == x.tolist()


def test_empty_strided_matches_torch() -> None:
    for size, stride in (((2, 3), (1, 2)), ((2, 3), (3, 1)), ((4,), (2,)), ((0, 3), (3, 1))):
        ours, theirs = antorcha.empty_strided(size, stride), torch.empty_strided(size, stride)
        assert ours.shape == theirs.shape and ours.stride() == theirs.stride()
        assert ours.storage_offset() == theirs.storage_offset() == 0
    assert antorcha.empty_strided((2,), (1,), dtype=antorcha.int64).dtype is antorcha.int64


# ---- constants, finfo, iinfo ----------------------------------------------------------------------
def test_constants_equal_torch() -> None:
    for name in ("pi", "e", "inf"):
        assert getattr(antorcha, name) == getattr(torch, name)
    assert math.isnan(antorcha.nan) and antorcha.newaxis is torch.newaxis is None
    assert antorcha.zeros(3)[:, antorcha.newaxis].shape == (3, 1)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_finfo_matches_torch(dtype: str) -> None:
    ours, theirs = antorcha.finfo(getattr(antorcha, dtype)), torch.finfo(getattr(torch, dtype))
    for attribute in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"):
        assert getattr(ours, attribute) == getattr(theirs, attribute), attribute
        assert type(getattr(ours, attribute)) is type(getattr(theirs, attribute)), attribute
    assert repr(ours) == repr(theirs)
    assert ours == antorcha.finfo(getattr(antorcha, dtype))


def test_finfo_defaults_and_python_types() -> None:
    assert antorcha.finfo().dtype == torch.finfo().dtype
    assert antorcha.finfo(float).dtype == torch.finfo(float).dtype
    antorcha.set_default_dtype(antorcha.float64)
    try:
        assert antorcha.finfo().dtype == "float64"
    finally:
        antorcha.set_default_dtype(antorcha.float32)


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8"])
def test_iinfo_matches_torch(dtype: str) -> None:
    ours, theirs = antorcha.iinfo(getattr(antorcha, dtype)), torch.iinfo(getattr(torch, dtype))
    for attribute in ("bits", "max", "min", "dtype"):
        assert getattr(ours, attribute) == getattr(theirs, attribute)
        assert type(getattr(ours, attribute)) is type(getattr(theirs, attribute))
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.finfo(m.int32),
        lambda m: m.finfo(m.bool),
        lambda m: m.iinfo(m.float32),
        lambda m: m.iinfo(m.bool),
        lambda m: m.finfo("float32"),
    ],
)
def test_typeinfo_errors_match_torch(call: object) -> None:
    with pytest.raises(TypeError):
        call(torch)
    with pytest.raises(TypeError, match=r"int32|bool|float32|str"):
        call(antorcha)


# ---- threads ------------------------------------------------------------------------------------
def test_set_num_threads_drives_the_blas_pools() -> None:
    from threadpoolctl import threadpool_info

    before = antorcha.get_num_threads()
    try:
        antorcha.set_num_threads(1)
        assert antorcha.get_num_threads() == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas")
        a = antorcha.rand(64, 64)
        np.testing.assert_allclose((a @ a).numpy(), a.numpy() @ a.numpy(), rtol=1e-5)
    finally:
        antorcha.set_num_threads(before)
    assert antorcha.get_num_threads() == before


@pytest.mark.parametrize("value", [0, -1, 1.5])
def test_thread_count_errors_match_torch(value: object) -> None:
    for name in ("set_num_threads", "set_num_interop_threads"):
        with pytest.raises(RuntimeError):
            getattr(torch, name)(value)
        with pytest.raises(RuntimeError, match=name):
            getattr(antorcha, name)(value)


def test_interop_threads_are_accepted() -> None:
    antorcha.set_num_interop_threads(2)
    assert antorcha.get_num_interop_threads() == 2


# ---- legacy types -----------------------------------------------------------------------------
_LEGACY = (
    "FloatTensor",
    "DoubleTensor",
    "HalfTensor",
    "ByteTensor",
    "CharTensor",
    "ShortTensor",
    "IntTensor",
    "LongTensor",
    "BoolTensor",
)


@pytest.mark.parametrize("name", _LEGACY)
def test_legacy_constructors_match_torch(name: str) -> None:
    ours_type, theirs_type = getattr(antorcha, name), getattr(torch, name)
    for args in ((2, 3), ([1, 0, 1],), ((1, 2),), (), (np.array([1, 0]),)):
        ours, theirs = ours_type(*args), theirs_type(*args)
        _same(ours, theirs)
        if args and not isinstance(args[0], int):
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    _same(ours_type(antorcha.Size([2, 3])), theirs_type(torch.Size([2, 3])))
    assert ours_type(2).type() == theirs_type(2).type() == f"torch.{name}"
    assert repr(ours_type) == repr(theirs_type)


def test_legacy_isinstance_and_conversions_match_torch() -> None:
    for ours_dtype in _DTYPES:
        ours = antorcha.zeros(2, dtype=getattr(antorcha, ours_dtype))
        theirs = torch.zeros(2, dtype=getattr(torch, ours_dtype))
        assert ours.type() == theirs.type()
        assert antorcha.typename(ours) == torch.typename(theirs)
        for name in _LEGACY:
            assert isinstance(ours, getattr(antorcha, name)) == isinstance(theirs, getattr(torch, name))
    assert isinstance(antorcha.zeros(1), antorcha.Tensor) and not issubclass(
        antorcha.FloatTensor, antorcha.Tensor
    )
    x = antorcha.zeros(2)
    assert x.type(antorcha.FloatTensor) is x
    assert x.type(antorcha.DoubleTensor).dtype is antorcha.float64
    assert x.type("torch.LongTensor").dtype is antorcha.int64
    assert x.type(antorcha.int32).type() == "torch.IntTensor"
    with pytest.raises(ValueError, match=r"torch\.Nonsense"):
        x.type("torch.Nonsense")
    with pytest.raises(ValueError):
        x.type(np.float64)
    with pytest.raises(ValueError):
        torch.zeros(2).type(np.float64)


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.LongTensor(3.5),
        lambda m: m.ByteTensor([1, 300]),
        lambda m: m.FloatTensor([[1, 2], [3]]),
        lambda m: m.FloatTensor(m.tensor([1, 2])),
        lambda m: m.FloatTensor(2, 3, dtype=m.float64),
    ],
)
def test_legacy_constructor_errors_match_torch(call: object) -> None:
    with pytest.raises(Exception) as expected:
        call(torch)
    with pytest.raises(expected.type):
        call(antorcha)


def test_legacy_constructor_values_cast_as_torch() -> None:
    assert antorcha.LongTensor([1.7, 2]).tolist() == torch.LongTensor([1.7, 2]).tolist()
    assert antorcha.BoolTensor([1, 0]).tolist() == torch.BoolTensor([1, 0]).tolist()
    same = antorcha.tensor([1.0, 2.0])
    assert antorcha.FloatTensor(same).data_ptr() == same.data_ptr()  # as torch: no copy


# ---- Variable and .data ----------------------------------------------------------------------------
def test_variable_returns_a_tensor_as_torch() -> None:
    from antorcha.autograd import Variable

    # `from torch.autograd.variable import Variable`, the old import path
    assert importlib.import_module("antorcha.autograd.variable").Variable is Variable
    base = antorcha.ones(2) * 2
    for requires_grad in (False, True):
        ours = Variable(base, requires_grad=requires_grad)
        theirs = torch.autograd.Variable(torch.ones(2) * 2, requires_grad=requires_grad)
        assert type(ours) is antorcha.Tensor and ours.requires_grad == theirs.requires_grad
        assert ours.is_leaf == theirs.is_leaf and ours.data_ptr() == base.data_ptr()
    assert isinstance(antorcha.zeros(1), Variable) == isinstance(torch.zeros(1), torch.autograd.Variable)
    assert Variable().shape == torch.autograd.Variable().shape
    with pytest.raises(TypeError, match="list"):
        Variable([1, 2])
    with pytest.warns(UserWarning, match="volatile"):
        Variable(base, volatile=True)
    with pytest.raises(RuntimeError, match="deprecated"):
        antorcha.autograd.variable(base)
    leaf = Variable(antorcha.ones(3), requires_grad=True)
    (leaf * leaf).sum().backward()
    assert leaf.grad.tolist() == [2.0, 2.0, 2.0]


def test_data_is_a_detached_alias_as_torch() -> None:
    for m in (antorcha, torch):
        a = m.ones(3, requires_grad=True)
        d = a.data
        assert not d.requires_grad and d.data_ptr() == a.data_ptr()
        d.add_(1)
        assert a.tolist() == [2.0, 2.0, 2.0] and a._version == 0  # autograd does not see it
        assert (a * 2).data.grad_fn is None


def test_assigning_data_replaces_the_contents_as_torch() -> None:
    results = []
    for m in (antorcha, torch):
        a = m.ones(3, requires_grad=True)
        a.data = m.zeros(5)
        b = m.arange(4.0)
        a.data = b
        b[0] = 9  # a shares b's memory now
        results.append((a.tolist(), tuple(a.shape), a.requires_grad, a.is_leaf))
        with pytest.raises(RuntimeError):
            a.data = m.zeros(2, dtype=m.int64)
        with pytest.raises(TypeError):
            a.data = [1.0, 2.0]
    assert results[0] == results[1]


def test_changing_data_in_place_changes_what_backward_sees_as_torch() -> None:
    grads = []
    for m in (antorcha, torch):
        y = m.ones(3, requires_grad=True)
        z = y * y
        y.data.mul_(2)
        z.sum().backward()
        grads.append(y.grad.tolist())
    assert grads[0] == grads[1] == [4.0, 4.0, 4.0]


# ---- the default device, torch.accelerator ----------------------------------------------------------
def test_default_device_is_cpu_and_settable() -> None:
    assert antorcha.get_default_device() == antorcha.device("cpu")
    assert str(antorcha.get_default_device()) == str(torch.get_default_device())
    antorcha.set_default_device("cpu")
    try:
        assert antorcha.zeros(2).device.type == "cpu"
    finally:
        antorcha.set_default_device(None)
    with pytest.raises(RuntimeError, match="bogus"):
        antorcha.set_default_device("bogus")


@_NO_GPU
def test_default_device_cuda_without_a_gpu_fails_at_the_factory() -> None:
    antorcha.set_default_device("cuda")
    try:
        for factory in (
            lambda: antorcha.zeros(2),
            lambda: antorcha.tensor([1.0]),
            lambda: antorcha.rand(2),
            lambda: antorcha.arange(3),
            lambda: antorcha.randperm(3),
            lambda: antorcha.eye(2),
        ):
            with pytest.raises(RuntimeError, match="cuda"):
                factory()
        assert antorcha.zeros(2, device="cpu").device.type == "cpu"  # an explicit device still wins
    finally:
        antorcha.set_default_device(None)
    assert antorcha.zeros(2).device.type == "cpu"


@_GPU
def test_default_device_cuda_moves_the_factories() -> None:
    antorcha.set_default_device("cuda")
    try:
        made = [
            antorcha.zeros(2),
            antorcha.tensor([1.0]),
            antorcha.rand(2),
            antorcha.arange(3),
            antorcha.randperm(3),
            antorcha.normal(0.0, 1.0, (2,)),
            antorcha.full((2,), 1.0),
        ]
        assert all(t.device.type == "cuda" for t in made)
        assert antorcha.get_default_device().type == "cuda"
        assert (
            antorcha.zeros_like(antorcha.zeros(2, device="cpu")).device.type == "cpu"
        )  # *_like: the input's
    finally:
        antorcha.set_default_device(None)


def test_accelerator_matches_torch_without_a_gpu_or_sees_it() -> None:
    accelerator = antorcha.accelerator
    assert accelerator.is_available() == cuda.is_available()
    assert accelerator.device_count() == cuda.device_count()
    if cuda.is_available():
        assert accelerator.current_accelerator() == antorcha.device("cuda")
        assert accelerator.current_device_index() == cuda.current_device()
        accelerator.synchronize()
        return
    assert accelerator.current_accelerator() is None is torch.accelerator.current_accelerator()
    for name in ("current_device_index", "synchronize"):
        with pytest.raises(RuntimeError) as theirs:
            getattr(torch.accelerator, name)()
        with pytest.raises(RuntimeError, match=str(theirs.value)):
            getattr(accelerator, name)()


# ---- torch.backends, and the namespace's precision and determinism switches ---------------------------
def test_backend_flags_read_as_torch_by_default() -> None:
    import antorcha.backends.cudnn as cudnn  # the import form scripts use

    flags = [
        ("cudnn", "enabled"),
        ("cudnn", "benchmark"),
        ("cudnn", "deterministic"),
        ("cudnn", "allow_tf32"),
        ("mkldnn", "enabled"),
    ]
    for module, flag in flags:
        assert getattr(getattr(antorcha.backends, module), flag) == getattr(
            getattr(torch.backends, module), flag
        )
    assert cudnn is antorcha.backends.cudnn
    assert antorcha.backends.cuda.matmul.allow_tf32 == torch.backends.cuda.matmul.allow_tf32
    assert antorcha.get_float32_matmul_precision() == torch.get_float32_matmul_precision()
    assert antorcha.backends.mps.is_available() is antorcha.backends.mps.is_built() is False
    assert antorcha.backends.cudnn.is_available() is False
    assert antorcha.backends.opt_einsum.is_available() == torch.backends.opt_einsum.is_available()
    assert isinstance(antorcha.backends.cpu.get_cpu_capability(), str)
    assert antorcha.are_deterministic_algorithms_enabled() is torch.are_deterministic_algorithms_enabled()


def test_backend_flags_a_script_sets_read_back() -> None:
    cudnn = antorcha.backends.cudnn
    saved = (cudnn.benchmark, cudnn.deterministic)
    cudnn.benchmark, cudnn.deterministic = True, True
    try:
        assert cudnn.benchmark and cudnn.deterministic
        with cudnn.flags(enabled=False, benchmark=False):
            assert not cudnn.enabled and not cudnn.benchmark
        assert cudnn.enabled and cudnn.benchmark
    finally:
        cudnn.benchmark, cudnn.deterministic = saved
    matmul = antorcha.backends.cuda.matmul
    try:
        matmul.allow_tf32 = True  # tied to the float32 matmul precision, as in torch
        assert antorcha.get_float32_matmul_precision() == "high"
        antorcha.set_float32_matmul_precision("highest")
        assert matmul.allow_tf32 is False
        matmul.allow_fp16_reduced_precision_reduction = False
        assert matmul.allow_fp16_reduced_precision_reduction is False
    finally:
        antorcha.set_float32_matmul_precision("highest")
        matmul.allow_fp16_reduced_precision_reduction = True
    with pytest.raises(AttributeError, match="Unknown attribute"):
        matmul.nonsense = 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        antorcha.set_float32_matmul_precision("bogus")
    assert caught and antorcha.get_float32_matmul_precision() == "highest"
    antorcha.use_deterministic_algorithms(True, warn_only=True)
    try:
        assert antorcha.are_deterministic_algorithms_enabled()
        assert antorcha.is_deterministic_algorithms_warn_only_enabled()
    finally:
        antorcha.use_deterministic_algorithms(False)
    with antorcha.backends.cuda.sdp_kernel(enable_flash=False):
        assert not antorcha.backends.cuda.flash_sdp_enabled()
    assert antorcha.backends.cuda.flash_sdp_enabled()


def test_set_default_tensor_type_sets_the_default_dtype_as_torch() -> None:
    try:
        with pytest.warns(UserWarning, match="deprecated"):
            antorcha.set_default_tensor_type(antorcha.DoubleTensor)
        assert (
            antorcha.zeros(1).dtype is antorcha.float64 and antorcha.tensor([1.0]).dtype is antorcha.float64
        )
        with pytest.warns(UserWarning):
            antorcha.set_default_tensor_type("torch.FloatTensor")
        assert antorcha.get_default_dtype() is antorcha.float32
        for bad in (antorcha.LongTensor, antorcha.float64):
            with pytest.warns(UserWarning), pytest.raises(TypeError, match="floating-point"):
                antorcha.set_default_tensor_type(bad)
    finally:
        antorcha.set_default_dtype(antorcha.float32)

"""antorcha.load on the files PyTorch's own torch.save writes: what loads, and what must not run.

Every file here is written by torch in the test itself; torch.load(weights_only=True) on the same
file is the oracle, both for the values and for what is refused.
"""

from __future__ import annotations

import io
import os
import pathlib
import pickle
import zipfile
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import antorcha
from antorcha.serialization import load

DTYPES = ["float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"]


def torch_file(tmp_path: pathlib.Path, obj: Any, name: str = "checkpoint.pt", **kwargs: Any) -> pathlib.Path:
    path = tmp_path / name
    torch.save(obj, path, **kwargs)
    return path


def assert_like_torch(ours: Any, theirs: Any) -> None:
    """Same structure and types as torch's own load; tensors with the same dtype, shape and values."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, antorcha.Tensor), type(ours)
        assert isinstance(ours, antorcha.nn.Parameter) == isinstance(theirs, torch.nn.Parameter)
        assert ours.dtype.name == str(theirs.dtype).removeprefix("torch."), (ours.dtype, theirs.dtype)
        assert tuple(ours.shape) == tuple(theirs.shape)
        assert ours.requires_grad == theirs.requires_grad
        np.testing.assert_array_equal(np.asarray(ours.detach()), theirs.detach().numpy())
        return
    if isinstance(theirs, torch.Size):
        assert isinstance(ours, antorcha.Size) and tuple(ours) == tuple(theirs)
        return
    if isinstance(theirs, torch.dtype):
        assert ours is getattr(antorcha, str(theirs).removeprefix("torch."))
        return
    if isinstance(theirs, torch.device):
        assert isinstance(ours, antorcha.device) and str(ours) == str(theirs)
        return
    assert type(ours) is type(theirs), (type(ours), type(theirs))
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs)
        for key in theirs:
            assert_like_torch(ours[key], theirs[key])
    elif isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert_like_torch(a, b)
    else:
        assert ours == theirs


def load_both(path: pathlib.Path, **kwargs: Any) -> tuple[Any, Any]:
    return load(path, **kwargs), torch.load(path, weights_only=True)


def small_torch_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(3, 5),
        torch.nn.LayerNorm(5),
        torch.nn.GELU(),
        torch.nn.Embedding(1, 1),
        torch.nn.Linear(5, 2),
    )


def small_antorcha_model() -> antorcha.nn.Module:
    nn = antorcha.nn
    return nn.Sequential(nn.Linear(3, 5), nn.LayerNorm(5), nn.GELU(), nn.Embedding(1, 1), nn.Linear(5, 2))


def forward(model: Any, inputs: Any) -> Any:
    """The model without its Embedding (index 3), which is there for its weight only."""
    for index, layer in enumerate(model):
        inputs = inputs if index == 3 else layer(inputs)
    return inputs


# ---- what torch writes loads as torch loads it ----------------------------------------------


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_state_dict_of_a_model(tmp_path: pathlib.Path, legacy: bool) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.BatchNorm1d(5))
    model(torch.randn(8, 3))  # running stats and num_batches_tracked (int64) move
    path = torch_file(tmp_path, model.state_dict(), _use_new_zipfile_serialization=not legacy)
    ours, theirs = load_both(path)
    assert_like_torch(ours, theirs)
    assert ours["1.num_batches_tracked"].dtype == antorcha.int64 and int(ours["1.num_batches_tracked"]) == 1
    assert ours._metadata == theirs._metadata  # load_state_dict reads module versions from it


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_model_loaded_into_antorcha_gives_torch_outputs(tmp_path: pathlib.Path, dtype: torch.dtype) -> None:
    theirs = small_torch_model().to(dtype)
    path = torch_file(tmp_path, theirs.state_dict())
    ours = small_antorcha_model().to(getattr(antorcha, str(dtype).removeprefix("torch.")))
    assert repr(ours.load_state_dict(load(path))) == "<All keys matched successfully>"
    inputs = np.random.default_rng(0).standard_normal((6, 3)).astype(str(dtype).removeprefix("torch."))
    expected = forward(theirs, torch.from_numpy(inputs)).detach().numpy()
    got = np.asarray(forward(ours, antorcha.from_numpy(inputs)).detach())
    tolerance = 1e-6 if dtype == torch.float32 else 1e-13  # BLAS summation order only
    np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance)


def test_optimizer_state_after_a_few_steps(tmp_path: pathlib.Path) -> None:
    model = small_torch_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9))
    for _ in range(3):
        optimizer.zero_grad()
        forward(model, torch.randn(4, 3)).pow(2).mean().backward()
        optimizer.step()
    path = torch_file(tmp_path, optimizer.state_dict())
    ours, theirs = load_both(path)
    assert_like_torch(ours, theirs)
    assert set(ours) == {"state", "param_groups"} and ours["param_groups"][0]["betas"] == (0.8, 0.9)
    assert float(ours["state"][0]["step"]) == 3.0


def test_optimizer_state_resumes_in_antorcha(tmp_path: pathlib.Path) -> None:
    theirs = torch.nn.Linear(3, 2).double()
    optimizer = torch.optim.Adam(theirs.parameters(), lr=0.05)
    data = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for _ in range(2):
        optimizer.zero_grad()
        theirs(data).pow(2).mean().backward()
        optimizer.step()
    path = torch_file(tmp_path, {"model": theirs.state_dict(), "optimizer": optimizer.state_dict()})
    checkpoint = load(path)
    ours = antorcha.nn.Linear(3, 2).double()
    ours.load_state_dict(checkpoint["model"])
    ours_optimizer = antorcha.optim.Adam(ours.parameters(), lr=0.5)
    ours_optimizer.load_state_dict(checkpoint["optimizer"])
    for model, opt, lib in ((theirs, optimizer, torch), (ours, ours_optimizer, antorcha)):
        opt.zero_grad()
        model(lib.from_numpy(data.numpy())).pow(2).mean().backward()
        opt.step()
    np.testing.assert_allclose(np.asarray(ours.weight.detach()), theirs.weight.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_nested_checkpoint(tmp_path: pathlib.Path, legacy: bool) -> None:
    checkpoint = {
        "epoch": 7,
        "loss": 0.125,
        "nan": float("nan"),
        "name": "run-\u03b1",
        "flags": [True, False, None],
        "shape": (3, (4, 5), []),
        "history": [{"step": i, "lr": 0.1 / (i + 1)} for i in range(3)],
        "ordered": OrderedDict([("b", 1), ("a", 2)]),
        "ints": {1: "one", -2: "minus two", 10**30: "huge"},
        "blob": b"\x00\xff bytes",
        "buffer": bytearray(b"xy"),
        "tags": {"a", "b"},
        "counts": Counter("aab"),
        "z": 1 + 2j,
        "size": torch.Size([2, 3]),
        "dtype": torch.float16,
        "device": torch.device("cpu"),
        "tensors": [torch.ones(2), (torch.zeros(1, dtype=torch.int64),)],
    }
    path = torch_file(tmp_path, checkpoint, _use_new_zipfile_serialization=not legacy)
    ours, theirs = load_both(path)
    assert ours.pop("nan") != theirs.pop("nan")  # nan, both
    assert_like_torch(ours, theirs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3), (), (0, 4)])
def test_tensor_dtypes(tmp_path: pathlib.Path, dtype: str, shape: tuple) -> None:
    values = torch.from_numpy(
        np.asarray((np.random.default_rng(0).standard_normal(shape) * 50).astype(dtype))
    )
    ours, theirs = load_both(torch_file(tmp_path, {"t": values, "rg": torch.ones(2, requires_grad=True)}))
    assert_like_torch(ours, theirs)
    assert ours["rg"].is_leaf


def test_parameters_stay_parameters(tmp_path: pathlib.Path) -> None:
    frozen = torch.nn.Parameter(torch.randn(2, 2), requires_grad=False)
    live = torch.nn.Parameter(torch.randn(3))
    ours, theirs = load_both(torch_file(tmp_path, {"frozen": frozen, "live": live, "plain": live.detach()}))
    assert_like_torch(ours, theirs)
    assert isinstance(ours["live"], antorcha.nn.Parameter) and ours["live"].requires_grad
    assert not ours["frozen"].requires_grad and not isinstance(ours["plain"], antorcha.nn.Parameter)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_shared_storages_and_views_alias_as_in_torch(tmp_path: pathlib.Path, legacy: bool) -> None:
    base = torch.arange(24, dtype=torch.float64).reshape(4, 6)
    views = {
        "base": base,
        "rows": base[1:3],  # storage offset 6
        "transposed": base[1:].t(),  # offset 6, strides (1, 6)
        "column": base[:, 5],  # offset 5, stride 6
        "stepped": base[::2, 1::3],
        "expanded": base[0, :1].expand(3, 4),  # stride 0
        "flat_tail": base.view(-1)[20:],
        "tied": {"a": base, "b": base},
    }
    path = torch_file(tmp_path, views, _use_new_zipfile_serialization=not legacy)
    ours, theirs = load_both(path)
    assert_like_torch(ours, theirs)
    assert ours["tied"]["a"] is ours["tied"]["b"] and ours["tied"]["a"] is ours["base"]
    for name in ("rows", "transposed", "column", "stepped", "expanded", "flat_tail"):
        assert np.shares_memory(np.asarray(ours[name]), np.asarray(ours["base"])), name
    ours["base"].mul_(-1)  # writes through every view, as in torch
    theirs["base"].mul_(-1)
    assert_like_torch(ours, theirs)


def test_separate_storages_do_not_alias(tmp_path: pathlib.Path) -> None:
    ours, _ = load_both(torch_file(tmp_path, {"a": torch.ones(3), "b": torch.ones(3)}))
    assert not np.shares_memory(np.asarray(ours["a"]), np.asarray(ours["b"]))


def test_a_bare_storage_loads_as_a_flat_tensor(tmp_path: pathlib.Path) -> None:
    storage = torch.arange(4, dtype=torch.int32).untyped_storage()
    ours = load(torch_file(tmp_path, {"s": storage}))
    np.testing.assert_array_equal(np.asarray(ours["s"]), np.frombuffer(bytes(storage), np.uint8))


def test_file_objects_and_paths(tmp_path: pathlib.Path) -> None:
    buffer = io.BytesIO()
    torch.save({"w": torch.arange(3)}, buffer)
    np.testing.assert_array_equal(np.asarray(load(io.BytesIO(buffer.getvalue()))["w"]), [0, 1, 2])
    path = torch_file(tmp_path, torch.arange(3), name="weights.pth")
    for target in (path, str(path)):
        np.testing.assert_array_equal(np.asarray(load(target)), [0, 1, 2])
    with open(path, "rb") as file:
        np.testing.assert_array_equal(np.asarray(load(file)), [0, 1, 2])


# ---- map_location, weights_only -------------------------------------------------------------


def rewrite_zip(path: pathlib.Path, edit: Callable[[str, bytes], bytes]) -> pathlib.Path:
    """The same archive with each record's bytes passed through `edit(name, bytes)`."""
    out = path.with_name("edited-" + path.name)
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            target.writestr(info.filename, edit(info.filename, source.read(info)))
    return out


def cuda_located(tmp_path: pathlib.Path) -> pathlib.Path:
    """What torch.save of a CUDA tensor writes: its storage's location is 'cuda:0'."""
    path = torch_file(tmp_path, {"w": torch.ones(2, 2)})

    def relocate(name: str, data: bytes) -> bytes:
        old, new = b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0"
        return data.replace(old, new) if name.endswith("data.pkl") else data

    return rewrite_zip(path, relocate)


def test_map_location_forms(tmp_path: pathlib.Path) -> None:
    path = cuda_located(tmp_path)
    seen: list[str] = []

    def to_host(storage: antorcha.Tensor, location: str) -> antorcha.Tensor:
        seen.append(location)
        return storage

    forms = ["cpu", antorcha.device("cpu"), {"cuda:0": "cpu"}, to_host, lambda storage, location: None]
    for form in forms[:-1]:
        loaded = load(path, map_location=form)
        assert loaded["w"].device == antorcha.device("cpu")
        np.testing.assert_array_equal(np.asarray(loaded["w"]), np.ones((2, 2), np.float32))
    assert seen == ["cuda:0"]
    if not antorcha.cuda.is_available():
        for form in (None, forms[-1], {"cpu": "cpu"}):
            with pytest.raises(RuntimeError, match=r"map_location=antorcha.device\('cpu'\)"):
                load(path, map_location=form)


def test_map_location_callback_errors_are_its_own(tmp_path: pathlib.Path) -> None:
    def broken(storage: Any, location: str) -> Any:
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        load(torch_file(tmp_path, {"w": torch.ones(2)}), map_location=broken)


@pytest.mark.skipif(not antorcha.cuda.is_available(), reason="needs CUDA")
def test_map_location_cuda_keeps_views_shared(tmp_path: pathlib.Path) -> None:
    base = torch.arange(6.0).reshape(2, 3)
    loaded = load(torch_file(tmp_path, {"b": base, "t": base.t()}), map_location="cuda")
    assert loaded["t"].device.type == "cuda"
    loaded["b"].add_(1)
    np.testing.assert_array_equal(loaded["t"].cpu().numpy(), (base + 1).t().numpy())


def test_big_endian_files(tmp_path: pathlib.Path) -> None:
    values = torch.tensor([[1.5, -2.0], [3.25, 1e30]], dtype=torch.float64)
    path = torch_file(tmp_path, {"w": values, "i": torch.tensor([1, -2, 300], dtype=torch.int32)})
    dtypes = {"0": ">f8", "1": ">i4"}

    def to_big_endian(name: str, data: bytes) -> bytes:
        if name.endswith("/byteorder"):
            return b"big"
        key = name.rsplit("/", 1)[-1]
        if "/data/" in name:
            return np.frombuffer(data, dtypes[key].replace(">", "<")).astype(dtypes[key]).tobytes()
        return data

    big = rewrite_zip(path, to_big_endian)
    ours, theirs = load(big), torch.load(path, weights_only=True)
    assert_like_torch(ours, theirs)


@pytest.mark.parametrize("weights_only", [None, True, False])
def test_weights_only_is_accepted_and_nothing_runs_either_way(
    tmp_path: pathlib.Path, weights_only: Any
) -> None:
    loaded = load(torch_file(tmp_path, {"w": torch.ones(1)}), weights_only=weights_only)
    np.testing.assert_array_equal(np.asarray(loaded["w"]), [1.0])
    marker = tmp_path / "ran"
    with pytest.raises(RuntimeError, match="Unsupported global"):
        load(torch_file(tmp_path, {"x": _RunsACommand(marker)}, name="evil.pt"), weights_only=weights_only)
    assert not marker.exists()


# ---- what must not load, and must not run ----------------------------------------------------


class _RunsACommand:
    """An object whose pickle, when loaded by plain pickle, runs a shell command."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return os.system, (f"touch {self.marker}",)


class _Evals:
    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return eval, (f"open({str(self.marker)!r}, 'w').close()",)


def crafted_archive(tmp_path: pathlib.Path, pickled: bytes) -> pathlib.Path:
    """A torch-style zip whose data.pkl is `pickled`."""
    path = tmp_path / "crafted.pt"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("crafted/data.pkl", pickled)
        archive.writestr("crafted/byteorder", "little")
        archive.writestr("crafted/version", "3\n")
    return path


def os_system_pickle(marker: pathlib.Path, protocol: int) -> bytes:
    """GLOBAL 'os system' spelled out (pickle itself would write posix.system)."""
    command = f"touch {marker}".encode()
    if protocol < 4:
        return b"\x80\x02cos\nsystem\nX" + len(command).to_bytes(4, "little") + command + b"\x85R."
    return (  # STACK_GLOBAL, as protocol 4+ writes it
        b"\x80\x04\x8c\x02os\x8c\x06system\x93X" + len(command).to_bytes(4, "little") + command + b"\x85R."
    )


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_a_pickle_that_runs_a_command_is_refused(tmp_path: pathlib.Path, legacy: bool) -> None:
    marker = tmp_path / "ran"
    path = torch_file(
        tmp_path,
        {"w": torch.ones(2), "x": _RunsACommand(marker)},
        name="evil.pt",
        _use_new_zipfile_serialization=not legacy,
    )
    with pytest.raises(pickle.UnpicklingError):  # torch refuses it too
        torch.load(path, weights_only=True)
    with pytest.raises(
        RuntimeError, match=rf"Unsupported global: GLOBAL {os.system.__module__}\.system"
    ) as error:
        load(path)
    assert isinstance(error.value, pickle.UnpicklingError)  # what torch raises, so either catch works
    assert f"module '{os.system.__module__}', name 'system'" in str(error.value)
    assert "evil.pt" in str(error.value) and "nothing was executed" in str(error.value)
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol 4")
@pytest.mark.parametrize("protocol", [2, 4])
def test_os_system_by_name_is_refused(tmp_path: pathlib.Path, protocol: int) -> None:
    marker = tmp_path / "ran"
    pickled = os_system_pickle(marker, protocol)
    with pytest.raises(RuntimeError, match=r"Unsupported global: GLOBAL os\.system \(module 'os'"):
        load(crafted_archive(tmp_path, pickled))
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError):
        torch.load(crafted_archive(tmp_path, pickled), weights_only=True)


@pytest.mark.parametrize(
    "payload",
    [
        lambda marker: _Evals(marker),
        lambda marker: {"nested": [1, (_RunsACommand(marker),)]},
        lambda marker: OrderedDict(w=torch.ones(1), m=torch.nn.Linear(1, 1)),  # a whole module
        lambda marker: np.ones(2),  # NumPy's reconstructor: not allowed by torch either
        lambda marker: slice(1, 2),
        lambda marker: frozenset({1}),
    ],
)
def test_other_globals_are_refused_like_torch(tmp_path: pathlib.Path, payload: Callable) -> None:
    marker = tmp_path / "ran"
    path = torch_file(tmp_path, payload(marker))
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    with pytest.raises(RuntimeError, match="Unsupported global: GLOBAL"):
        load(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (torch.ones(2, dtype=torch.float8_e4m3fn), "float8_e4m3fn data"),
        (torch.ones(2, dtype=torch.complex64), "ComplexFloat data"),
        (torch.float8_e4m3fn, "float8_e4m3fn"),
    ],
)
def test_dtypes_antorcha_lacks_give_a_clear_error(tmp_path: pathlib.Path, obj: Any, message: str) -> None:
    with pytest.raises(RuntimeError, match=rf"{message}.*antorcha has no such dtype"):
        load(torch_file(tmp_path, {"x": obj}))


def test_torchscript_archive_gives_a_clear_error(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "scripted.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("scripted/constants.pkl", b"\x80\x02).")
        archive.writestr("scripted/code/__torch__.py", b"")
    with pytest.raises(RuntimeError, match="TorchScript"):
        load(path)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_every_pickle_protocol(tmp_path: pathlib.Path, protocol: int) -> None:
    base = torch.arange(6.0).reshape(2, 3)
    checkpoint = {"w": base, "t": base.t(), "n": [1, "x", (2.5, None)], "b": b"raw"}
    path = torch_file(tmp_path, checkpoint, pickle_protocol=protocol)
    # torch's weights_only reader stops at protocol 3's BINBYTES and protocol 4's FRAME; antorcha's
    # reads them (they are data, not code), so the oracle here is torch's full load of its own file
    ours, theirs = load(path), torch.load(path, weights_only=protocol == 2)
    assert_like_torch(ours, theirs)


def test_mmap_and_pickle_arguments_are_accepted(tmp_path: pathlib.Path) -> None:
    path = torch_file(tmp_path, {"w": torch.ones(2)})
    loaded = load(path, map_location="cpu", mmap=True, weights_only=True, encoding="latin1")
    np.testing.assert_array_equal(np.asarray(loaded["w"]), np.ones(2, np.float32))

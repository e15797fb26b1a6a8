"""antorcha.save / antorcha.load: round trips, atomic writes, damaged files, torch interop."""

from __future__ import annotations

import io
import json
import math
import os
import pathlib
import subprocess
import sys
from collections import OrderedDict
from typing import Any

import numpy as np
import pytest
import safetensors.numpy
import safetensors.torch
import torch

import antorcha
from antorcha import serialization
from antorcha.serialization import load, save

DTYPES = ["float32", "float64", "float16", "int8", "int16", "int32", "int64", "uint8", "bool"]


def make_array(dtype: str, shape: tuple = (2, 3), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.asarray((rng.standard_normal(shape) * 50).astype(dtype))


def round_trip(obj: Any) -> Any:
    buffer = io.BytesIO()
    save(obj, buffer)
    buffer.seek(0)
    return load(buffer)


def assert_tensors_equal(ours: Any, expected: np.ndarray) -> None:
    assert isinstance(ours, antorcha.Tensor)
    assert ours.dtype.np == expected.dtype
    assert tuple(ours.shape) == expected.shape
    np.testing.assert_array_equal(np.asarray(ours), expected)


def assert_same_tree(ours: Any, expected: Any) -> None:
    if isinstance(expected, antorcha.Tensor):
        assert_tensors_equal(ours, np.asarray(expected))
        assert ours.requires_grad == expected.requires_grad
        return
    assert type(ours) is type(expected), (type(ours), type(expected))
    if isinstance(expected, dict):
        assert list(ours) == list(expected)
        for key in expected:
            assert_same_tree(ours[key], expected[key])
    elif isinstance(expected, (list, tuple)):
        assert len(ours) == len(expected)
        for a, b in zip(ours, expected):
            assert_same_tree(a, b)
    elif isinstance(expected, (np.ndarray, np.generic)):
        assert ours.dtype == expected.dtype
        np.testing.assert_array_equal(ours, expected)
    elif isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(ours)
    else:
        assert ours == expected
        if isinstance(expected, float):
            assert math.copysign(1, ours) == math.copysign(1, expected)


# ---- round trips -----------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3), (), (0, 4), (3, 1, 2)])
def test_tensor_round_trip_keeps_dtype_and_values(dtype: str, shape: tuple) -> None:
    array = make_array(dtype, shape)
    loaded = round_trip(antorcha.from_numpy(array.copy()))
    assert_tensors_equal(loaded, array)
    loaded.add_(1) if dtype != "bool" else None  # loaded tensors are writable


def test_non_contiguous_tensor_round_trip() -> None:
    array = make_array("float64", (3, 4))
    transposed = antorcha.from_numpy(array).t()
    assert_tensors_equal(round_trip(transposed), array.T)


def test_nested_structures_round_trip() -> None:
    weight = antorcha.from_numpy(make_array("float32"))
    structure = {
        "model": OrderedDict([("layer1.weight", weight), ("layer1.bias", antorcha.zeros(3))]),
        "epoch": 7,
        "loss": 0.125,
        "history": [1.5, float("inf"), float("-inf"), float("nan"), -0.0, 2**70],
        "flags": (True, False, None),
        "name": "run-ä/1",
        "raw": b"\x00\xffbytes",
        "int_keys": {0: "a", 1: [antorcha.ones(2, dtype=antorcha.int64)], -3: ()},
        "mixed_keys": {0: 1, "0": 2, (1, "x"): 3, 2.5: 4, None: 5, True: 6},
        "numpy": np.arange(4, dtype=np.int32),
        "numpy_scalar": np.float16(1.5),
        "shape": antorcha.Size([2, 3]),
        "dtype": antorcha.float16,
        "device": antorcha.device("cpu"),
        "empty": {"list": [], "tuple": (), "dict": {}, "odict": OrderedDict()},
        "nested_tuples": ((1, (2, [3])), "x"),
    }
    loaded = round_trip(structure)
    assert_same_tree(loaded, structure)
    assert loaded["dtype"] is antorcha.float16
    assert isinstance(loaded["shape"], antorcha.Size)


def test_optimizer_like_state_dict_round_trip() -> None:
    state_dict = {
        "state": {
            0: {
                "step": antorcha.tensor(3.0),
                "exp_avg": antorcha.randn(2, 3),
                "exp_avg_sq": antorcha.rand(2, 3),
            },
            1: {"step": antorcha.tensor(3.0), "exp_avg": antorcha.randn(3), "exp_avg_sq": antorcha.rand(3)},
        },
        "param_groups": [
            {
                "lr": 0.01,
                "betas": (0.9, 0.999),
                "eps": 1e-08,
                "weight_decay": 0,
                "amsgrad": False,
                "maximize": False,
                "foreach": None,
                "capturable": False,
                "differentiable": False,
                "fused": None,
                "params": [0, 1],
            }
        ],
    }
    loaded = round_trip(state_dict)
    assert_same_tree(loaded, state_dict)
    assert isinstance(loaded["param_groups"][0]["betas"], tuple)


def test_real_optimizer_and_model_state_round_trip(tmp_path: pathlib.Path) -> None:
    nn = pytest.importorskip("antorcha.nn")
    optim = pytest.importorskip("antorcha.optim")
    if not hasattr(nn, "Linear") or not hasattr(optim, "Adam"):
        pytest.skip("antorcha.nn.Linear / antorcha.optim.Adam not available yet")
    antorcha.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    model(antorcha.randn(5, 3)).pow(2).mean().backward()
    optimizer.step()
    checkpoint = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 1}
    save(checkpoint, tmp_path / "checkpoint.pt")
    loaded = load(tmp_path / "checkpoint.pt")
    assert_same_tree(loaded, checkpoint)
    restored = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    restored.load_state_dict(loaded["model"])
    restored_optimizer = optim.Adam(restored.parameters(), lr=0.5)
    restored_optimizer.load_state_dict(loaded["optimizer"])
    assert restored_optimizer.param_groups[0]["lr"] == 0.01


def test_requires_grad_parameters_and_sharing() -> None:
    leaf = antorcha.randn(2, requires_grad=True)
    other = antorcha.randn(3)
    view_of_leaf = leaf.detach()  # another tensor over the same array
    loaded = round_trip({"a": leaf, "b": [leaf, other], "c": view_of_leaf})
    assert loaded["a"].requires_grad and loaded["a"].is_leaf
    assert loaded["b"][0] is loaded["a"]  # the same object saved twice loads as one object
    assert loaded["c"] is not loaded["a"] and not loaded["c"].requires_grad
    loaded["c"].add_(1)  # still one array underneath, as it was when saved
    np.testing.assert_array_equal(np.asarray(loaded["a"].detach()), np.asarray(loaded["c"]))
    parameter_module = pytest.importorskip("antorcha.nn.parameter")
    parameter = parameter_module.Parameter(antorcha.randn(2, 2))
    restored = round_trip({"p": parameter})["p"]
    assert isinstance(restored, parameter_module.Parameter) and restored.requires_grad
    assert_tensors_equal(restored.detach(), np.asarray(parameter.detach()))


def test_every_key_of_a_flat_dict_is_a_safetensors_entry(tmp_path: pathlib.Path) -> None:
    tied = antorcha.randn(3, 2)
    state_dict = {"embed.weight": tied, "head.weight": tied, "head.bias": antorcha.zeros(3)}
    save(state_dict, tmp_path / "tied.safetensors")
    entries = safetensors.torch.load_file(tmp_path / "tied.safetensors")
    assert sorted(entries) == sorted(state_dict)
    for key, value in state_dict.items():
        np.testing.assert_array_equal(entries[key].numpy(), np.asarray(value))
    loaded = load(tmp_path / "tied.safetensors")
    assert loaded["head.weight"] is loaded["embed.weight"]


def test_paths_of_every_kind(tmp_path: pathlib.Path) -> None:
    tensor = antorcha.arange(6).reshape(2, 3)
    for target in (str(tmp_path / "a.pt"), tmp_path / "b.pt"):
        save(tensor, target)
        assert_tensors_equal(load(target), np.arange(6).reshape(2, 3))
    with open(tmp_path / "c.pt", "wb") as file:
        save({"t": tensor}, file)
    with open(tmp_path / "c.pt", "rb") as file:
        assert_tensors_equal(load(file)["t"], np.arange(6).reshape(2, 3))
    with pytest.raises(RuntimeError, match=r"Parent directory .* does not exist"):
        save(tensor, tmp_path / "missing" / "d.pt")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nothing.pt")


def test_unsupported_objects_raise_type_error() -> None:
    class Model:
        def state_dict(self) -> dict:
            return {}

    with pytest.raises(TypeError, match=r"Model at obj\['m'\].*state_dict"):
        save({"m": Model()}, io.BytesIO())
    with pytest.raises(TypeError, match="object"):
        save([object()], io.BytesIO())
    with pytest.raises(TypeError, match="dtype complex128"):
        save(np.zeros(2, np.complex128), io.BytesIO())


def test_map_location_variants() -> None:
    tensor = antorcha.from_numpy(make_array("float32"))
    payload = io.BytesIO()
    save({"w": tensor}, payload)
    for location in ("cpu", antorcha.device("cpu"), {"cpu": "cpu"}, lambda storage, loc: storage):
        loaded = load(io.BytesIO(payload.getvalue()), map_location=location, weights_only=True)
        assert loaded["w"].device == antorcha.device("cpu")
        assert_tensors_equal(loaded["w"], np.asarray(tensor))


def cuda_saved_checkpoint() -> bytes:
    """What saving a CUDA tensor writes: the host array plus its saved location."""
    root = {"type": "dict", "items": [["w", {"type": "tensor", "name": "w", "device": "cuda:0"}]]}
    return format_1_checkpoint(root, {"w": np.ones((2, 2), np.float32)})


def test_cuda_checkpoint_maps_to_cpu() -> None:
    data = cuda_saved_checkpoint()
    loaded = load(io.BytesIO(data), map_location="cpu")
    assert_tensors_equal(loaded["w"], np.ones((2, 2), np.float32))
    loaded = load(io.BytesIO(data), map_location={"cuda:0": "cpu"})
    assert loaded["w"].device == antorcha.device("cpu")
    if not antorcha.cuda.is_available():
        with pytest.raises(RuntimeError, match=r"map_location=antorcha.device\('cpu'\)"):
            load(io.BytesIO(data))


@pytest.mark.skipif(not (hasattr(antorcha, "cuda") and antorcha.cuda.is_available()), reason="needs CUDA")
def test_cuda_tensors_round_trip() -> None:
    tensor = antorcha.from_numpy(make_array("float32")).cuda()
    loaded = round_trip({"w": tensor})
    assert loaded["w"].device == tensor.device
    np.testing.assert_array_equal(loaded["w"].cpu().numpy(), tensor.cpu().numpy())
    assert load(io.BytesIO(_saved_bytes({"w": tensor})), map_location="cpu")["w"].device == antorcha.device(
        "cpu"
    )


def _saved_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    save(obj, buffer)
    return buffer.getvalue()


# ---- atomic writes ---------------------------------------------------------------


def test_crash_mid_write_keeps_the_old_file(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "model.pt"
    save({"w": antorcha.ones(3)}, target)
    before = target.read_bytes()

    def crash_halfway(file: Any, payload: bytes) -> None:
        file.write(payload[: len(payload) // 2])
        file.flush()
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(serialization, "_write_chunks", crash_halfway)
    with pytest.raises(OSError, match="simulated"):
        save({"w": antorcha.zeros(1000)}, target)
    with pytest.raises(OSError, match="simulated"):
        save({"w": antorcha.zeros(1000)}, tmp_path / "new.pt")
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.pt"]  # no temporary left, no half new file
    assert_tensors_equal(load(target)["w"], np.ones(3, np.float32))


def test_overwrite_keeps_file_mode(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "model.pt"
    save(antorcha.ones(1), target)
    os.chmod(target, 0o640)
    save(antorcha.zeros(2), target)
    assert (os.stat(target).st_mode & 0o777) == 0o640
    assert_tensors_equal(load(target), np.zeros(2, np.float32))


# ---- damaged and foreign files ---------------------------------------------------


def test_truncated_files_give_a_clear_error() -> None:
    data = _saved_bytes({"a": antorcha.ones(4, 4), "b": [1, 2.5, "x"]})
    for cut in sorted({0, 3, 7, 8, 9, 20, len(data) // 2, len(data) - 65, len(data) - 1}):
        with pytest.raises(RuntimeError, match=r"truncated|not an antorcha checkpoint"):
            load(io.BytesIO(data[:cut]))


def test_damaged_files_give_a_clear_error() -> None:
    data = bytearray(_saved_bytes({"a": antorcha.ones(2), "b": {"c": 1}}))
    header_size = int.from_bytes(data[:8], "little")
    corrupt_header = bytearray(data)
    corrupt_header[8] = ord("[")
    corrupt_structure = data.replace(b'\\"type\\":\\"dict\\"', b'\\"type\\":\\"what\\"', 1)
    assert corrupt_structure != data
    broken_json = data.replace(b'{\\"version', b'{[\\"version', 1)
    assert header_size > 0 and broken_json != data
    for damaged, message in [
        (corrupt_header, "not an antorcha checkpoint"),
        (corrupt_structure, "damaged: its contents do not match the checksum"),
        (broken_json, "damaged"),
        (bytes(data) + b"extra", "damaged or truncated"),
    ]:
        with pytest.raises(RuntimeError, match=message):
            load(io.BytesIO(bytes(damaged)))


def format_1_checkpoint(root: Any, arrays: dict | None = None) -> bytes:
    """A file as format 1 wrote it (no checksum), to reach the structure checks behind it."""
    metadata = {"format": "pt", "antorcha": json.dumps({"version": 1, "root": root})}
    return safetensors.numpy.save(arrays or {}, metadata=metadata)


@pytest.mark.parametrize(
    ("root", "message"),
    [
        ({"type": "what"}, "unknown node type 'what'"),
        ({"type": "dtype", "name": "not-a-dtype"}, "damaged: TypeError"),
        ({"type": "size", "dims": ["x"]}, "damaged: ValueError"),
        ({"type": "dict", "items": [[{"type": "list", "items": []}, 1]]}, "damaged: TypeError"),
        ({"type": "tensor", "name": "missing"}, "no tensor entry named 'missing'"),
        ({"type": "bytes", "base64": "a"}, "damaged"),
        ({"type": "tensor", "name": "w", "shares_array_of": []}, "damaged: TypeError"),
    ],
)
def test_unchecksummed_structure_damage_gives_runtime_error(root: Any, message: str) -> None:
    data = format_1_checkpoint(root, {"w": np.ones(2, np.float32)})
    with pytest.raises(RuntimeError, match=message):
        load(io.BytesIO(data))


def test_format_1_files_still_load() -> None:
    root = {"type": "dict", "items": [["w", {"type": "tensor", "name": "w"}], ["n", 3]]}
    loaded = load(io.BytesIO(format_1_checkpoint(root, {"w": np.arange(3.0)})))
    assert loaded["n"] == 3
    assert_tensors_equal(loaded["w"], np.arange(3.0))


def test_a_checksummed_format_needs_its_checksum() -> None:
    metadata = {"format": "pt", "antorcha": json.dumps({"version": 2, "root": 1})}
    with pytest.raises(RuntimeError, match="do not match the checksum"):
        load(io.BytesIO(safetensors.numpy.save({}, metadata=metadata)))


def test_foreign_files_give_a_clear_error(tmp_path: pathlib.Path) -> None:
    rng = np.random.default_rng(0)
    candidates = {
        "random.bin": rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "config.json": json.dumps({"lr": 0.1, "layers": [1, 2, 3]}).encode(),
        "empty.pt": b"",
        "tiny.pt": b"{}",
    }
    for name, content in candidates.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(RuntimeError, match="not an antorcha checkpoint") as error:
            load(tmp_path / name)
        assert name in str(error.value)
    tar_like = bytearray(1024)
    tar_like[257:262] = b"ustar"
    (tmp_path / "old.tar").write_bytes(bytes(tar_like))
    with pytest.raises(RuntimeError, match="tar-format PyTorch checkpoint"):
        load(tmp_path / "old.tar")


def test_newer_format_and_unsupported_dtype(tmp_path: pathlib.Path) -> None:
    newer = safetensors.numpy.save({}, metadata={"antorcha": json.dumps({"version": 99, "root": None})})
    with pytest.raises(RuntimeError, match="newer antorcha"):
        load(io.BytesIO(newer))
    safetensors.torch.save_file({"w": torch.ones(2, dtype=torch.float8_e4m3fn)}, tmp_path / "f8.safetensors")
    with pytest.raises(RuntimeError, match="F8_E4M3, which antorcha does not support"):
        load(tmp_path / "f8.safetensors")


def test_missing_safetensors_gives_runtime_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    for call in (lambda: save(antorcha.ones(1), io.BytesIO()), lambda: load(io.BytesIO(b""))):
        with pytest.raises(RuntimeError, match=r"needs the 'safetensors' package, a required dependency"):
            call()


def test_save_and_load_need_only_the_required_dependencies(tmp_path: pathlib.Path) -> None:
    """numpy, safetensors and threadpoolctl: torch, numba, CuPy and ml_dtypes are blocked."""
    torch.save({"w": torch.arange(3.0)}, tmp_path / "torch.pt")
    script = f"""
import sys
for name in ("torch", "numba", "cupy", "ml_dtypes"):
    sys.modules[name] = None  # any import of them now fails
import antorcha
antorcha.save({{"w": antorcha.ones(2), "n": 1}}, {str(tmp_path / "ours.pt")!r})
assert antorcha.load({str(tmp_path / "ours.pt")!r})["n"] == 1
assert antorcha.load({str(tmp_path / "torch.pt")!r})["w"].tolist() == [0.0, 1.0, 2.0]
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "ok", result.stderr


# ---- PyTorch interop -------------------------------------------------------------


def torch_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)).double()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_antorcha_weights_load_into_torch(tmp_path: pathlib.Path, dtype: str) -> None:
    shapes = {"0.weight": (4, 3), "0.bias": (4,), "2.weight": (2, 4), "2.bias": (2,)}
    arrays = {key: make_array(dtype, shape, seed=i) for i, (key, shape) in enumerate(shapes.items())}
    save(
        {key: antorcha.from_numpy(array.copy()) for key, array in arrays.items()}, tmp_path / "w.safetensors"
    )
    loaded = safetensors.torch.load_file(tmp_path / "w.safetensors")
    assert set(loaded) == set(arrays)
    for key, array in arrays.items():
        np.testing.assert_array_equal(loaded[key].numpy(), array)
        assert loaded[key].numpy().dtype == array.dtype
    model = torch_model().to(getattr(torch, dtype))
    model.load_state_dict(loaded)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), arrays[key])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.int64, torch.bool])
def test_torch_weights_load_into_antorcha(tmp_path: pathlib.Path, dtype: torch.dtype) -> None:
    state_dict = {key: value.to(dtype) for key, value in torch_model().state_dict().items()}
    safetensors.torch.save_file(state_dict, tmp_path / "torch.safetensors")
    loaded = load(tmp_path / "torch.safetensors")
    assert set(loaded) == set(state_dict)
    for key, value in state_dict.items():
        assert_tensors_equal(loaded[key], value.numpy())


def test_real_models_both_ways(tmp_path: pathlib.Path) -> None:
    nn = pytest.importorskip("antorcha.nn")
    if not hasattr(nn, "Linear"):
        pytest.skip("antorcha.nn.Linear not available yet")
    inputs = make_array("float64", (5, 3))
    ours = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double()
    save(ours.state_dict(), tmp_path / "ours.safetensors")
    theirs = torch_model()
    theirs.load_state_dict(safetensors.torch.load_file(tmp_path / "ours.safetensors"))
    for key, value in ours.state_dict().items():  # weights exactly equal
        np.testing.assert_array_equal(theirs.state_dict()[key].numpy(), np.asarray(value))
    np.testing.assert_allclose(  # outputs up to BLAS summation order
        theirs(torch.from_numpy(inputs)).detach().numpy(),
        np.asarray(ours(antorcha.from_numpy(inputs)).detach()),
        rtol=1e-13,
        atol=1e-13,
    )

    safetensors.torch.save_file(torch_model().state_dict(), tmp_path / "theirs.safetensors")
    ours.load_state_dict(load(tmp_path / "theirs.safetensors"))
    for key, value in torch_model().state_dict().items():
        np.testing.assert_array_equal(np.asarray(ours.state_dict()[key]), value.numpy())
    np.testing.assert_allclose(
        np.asarray(ours(antorcha.from_numpy(inputs)).detach()),
        torch_model()(torch.from_numpy(inputs)).detach().numpy(),
        rtol=1e-13,
        atol=1e-13,
    )

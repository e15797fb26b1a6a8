"""Damaged checkpoints: truncated at every byte, bytes flipped, headers that lie about sizes.

Whatever the damage, antorcha.load raises RuntimeError — never another exception class, a crash,
a hang or a partial result — for its own format, for torch's zip format and for torch's legacy
format. A flip that changes nothing load depends on (a zip timestamp, padding) may load, and then
it must load exactly the original.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import pickle
import tracemalloc
import zipfile
from collections import OrderedDict
from typing import Any

import numpy as np
import pytest
import safetensors.numpy
import torch

import antorcha
from antorcha.serialization import load, save


def antorcha_checkpoint() -> bytes:
    antorcha.manual_seed(0)
    buffer = io.BytesIO()
    checkpoint = {
        "model": {"w": antorcha.randn(3, 2), "b": antorcha.zeros(3, dtype=antorcha.int64)},
        "epoch": 3,
        "loss": 0.25,
        "names": ["a", "b"],
        "mask": antorcha.ones(2, dtype=antorcha.bool),
    }
    save(checkpoint, buffer)
    return buffer.getvalue()


def torch_checkpoint(legacy: bool = False) -> bytes:
    torch.manual_seed(0)
    base = torch.randn(3, 2)
    checkpoint = {
        "model": OrderedDict(w=base, t=base.t(), b=torch.zeros(3, dtype=torch.int64)),
        "epoch": 3,
        "loss": 0.25,
        "names": ("a", "b"),
        "mask": torch.ones(2, dtype=torch.bool),
    }
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer, _use_new_zipfile_serialization=not legacy)
    return buffer.getvalue()


CHECKPOINTS = {
    "antorcha": antorcha_checkpoint,
    "torch-zip": torch_checkpoint,
    "torch-legacy": lambda: torch_checkpoint(legacy=True),
}
# formats with checksums: antorcha's CRC-32 and the zip's per-record CRC-32
CHECKSUMMED = ["antorcha", "torch-zip"]


def same(ours: Any, original: Any) -> bool:
    """Whether two loads are the same checkpoint: types, structure, dtypes, shapes, values."""
    if isinstance(original, antorcha.Tensor):
        return (
            isinstance(ours, antorcha.Tensor)
            and ours.dtype == original.dtype
            and ours.shape == original.shape
            and bool(np.array_equal(np.asarray(ours), np.asarray(original)))
        )
    if type(ours) is not type(original):
        return False
    if isinstance(original, dict):
        return list(ours) == list(original) and all(same(ours[k], original[k]) for k in original)
    if isinstance(original, (list, tuple)):
        return len(ours) == len(original) and all(same(a, b) for a, b in zip(ours, original))
    if isinstance(original, float) and math.isnan(original):
        return math.isnan(ours)
    return ours == original


@pytest.mark.parametrize("kind", CHECKPOINTS)
def test_truncated_at_every_byte_offset(kind: str) -> None:
    data = CHECKPOINTS[kind]()
    assert len(data) < 4096  # small enough to try every offset
    original = load(io.BytesIO(data))
    assert same(load(io.BytesIO(data)), original)
    for cut in range(len(data)):
        with pytest.raises(RuntimeError):
            load(io.BytesIO(data[:cut]))


@pytest.mark.parametrize("kind", CHECKSUMMED)
def test_random_bytes_flipped(kind: str) -> None:
    data = CHECKPOINTS[kind]()
    original = load(io.BytesIO(data))
    rng = np.random.default_rng(0)
    refused = 0
    seeds = 600
    for _ in range(seeds):
        damaged = bytearray(data)
        for position in rng.choice(len(data), size=rng.integers(1, 4), replace=False):
            damaged[position] = (damaged[position] + rng.integers(1, 256)) % 256  # always a new value
        try:
            loaded = load(io.BytesIO(bytes(damaged)))
        except RuntimeError:
            refused += 1
        else:
            assert same(loaded, original), "a damaged file loaded as something else"
    # only bytes nothing depends on (zip timestamps and padding, JSON whitespace) may load
    assert refused > seeds * (0.95 if kind != "torch-zip" else 0.4), refused


@pytest.mark.parametrize("kind", CHECKSUMMED)
def test_every_single_byte_changed(kind: str) -> None:
    """Each byte in turn set to a different value: a CRC (ours, or the zip's) catches any one."""
    data = CHECKPOINTS[kind]()
    original = load(io.BytesIO(data))
    for position in range(len(data)):
        damaged = bytearray(data)
        damaged[position] ^= 0x5A
        try:
            loaded = load(io.BytesIO(bytes(damaged)))
        except RuntimeError:
            continue
        assert same(loaded, original), f"changing byte {position} loaded a different checkpoint"


def test_legacy_files_with_bytes_flipped_load_or_raise_runtime_error() -> None:
    """The legacy format has no checksum (torch cannot tell either): a flip may load other values,
    but it never raises another exception class, crashes or hangs."""
    data = torch_checkpoint(legacy=True)
    rng = np.random.default_rng(1)
    for _ in range(600):
        damaged = bytearray(data)
        for position in rng.choice(len(data), size=rng.integers(1, 4), replace=False):
            damaged[position] = (damaged[position] + rng.integers(1, 256)) % 256
        with contextlib.suppress(RuntimeError):
            load(io.BytesIO(bytes(damaged)))
    for position in range(len(data)):
        damaged = bytearray(data)
        damaged[position] ^= 0x5A
        with contextlib.suppress(RuntimeError):
            load(io.BytesIO(bytes(damaged)))


def test_garbled_antorcha_metadata_keys_are_damage() -> None:
    data = antorcha_checkpoint()
    for old, new in ((b'"antorcha":', b'"antorchX":'), (b'"antorcha":', b'"Xntorcha":')):
        assert data.count(old) == 1
        with pytest.raises(RuntimeError, match="metadata keys are garbled"):
            load(io.BytesIO(data.replace(old, new)))
    both = data.replace(b'"antorcha":', b'"antorchX":').replace(b'"antorcha.crc32":', b'"antorcha.crc3X":')
    with pytest.raises(RuntimeError, match="metadata keys are garbled"):
        load(io.BytesIO(both))


# ---- headers that claim more than the file holds ------------------------------------------


def peak_allocation(call: Any) -> tuple[int, str]:
    """The most memory `call` held at once (NumPy reports to tracemalloc) and its RuntimeError."""
    tracemalloc.start()
    try:
        with pytest.raises(RuntimeError) as error:
            call()
        return tracemalloc.get_traced_memory()[1], str(error.value)
    finally:
        tracemalloc.stop()


def safetensors_with_header(header: dict, data: bytes) -> bytes:
    encoded = json.dumps(header).encode()
    return len(encoded).to_bytes(8, "little") + encoded + data


@pytest.mark.parametrize(
    "entry",
    [
        {"dtype": "F32", "shape": [10**12], "data_offsets": [0, 4 * 10**12]},
        {"dtype": "F32", "shape": [10**12], "data_offsets": [0, 16]},
        {"dtype": "F64", "shape": [2**40, 2**40], "data_offsets": [0, 16]},
    ],
)
def test_safetensors_header_claiming_an_enormous_tensor(entry: dict) -> None:
    data = safetensors_with_header({"w": entry}, bytes(16))
    peak, message = peak_allocation(lambda: load(io.BytesIO(data)))
    assert peak < 10**7, peak
    assert "damaged" in message or "truncated" in message


class _FakeStorage:
    def __init__(self, key: str, numel: int, storage_type: Any = torch.FloatStorage) -> None:
        self.pid = ("storage", storage_type, key, "cpu", numel)


class _FakeTensor:
    """Pickles as torch's _rebuild_tensor_v2 call with whatever size and stride it is given."""

    def __init__(self, storage: _FakeStorage, offset: Any, size: Any, stride: Any, grad: Any = False) -> None:
        self.args = (storage, offset, size, stride, grad, OrderedDict())

    def __reduce__(self) -> tuple:
        return torch._utils._rebuild_tensor_v2, self.args


class _OverwritingTensor(_FakeTensor):
    """A tensor followed by a BUILD opcode that sets its (or its storage's) slots."""

    def __init__(self, storage: _FakeStorage, state: Any) -> None:
        super().__init__(storage, 0, (2,), (1,))
        self.state = state

    def __reduce__(self) -> tuple:
        return torch._utils._rebuild_tensor_v2, self.args, self.state


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> Any:
        return obj.pid if isinstance(obj, (_FakeStorage, _LegacyStorage)) else None


def crafted_torch_zip(obj: Any, records: dict[str, bytes]) -> bytes:
    """A torch.save-style archive holding pickle(obj) and the given storage records."""
    pickled = io.BytesIO()
    _Pickler(pickled, protocol=2).dump(obj)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", pickled.getvalue())
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")
        for key, value in records.items():
            archive.writestr(f"archive/data/{key}", value)
    return out.getvalue()


def test_crafted_archive_loads_when_honest() -> None:
    """The crafting helper itself writes what torch reads (so the lies below are the only damage)."""
    data = crafted_torch_zip({"w": _FakeTensor(_FakeStorage("0", 4), 1, (3,), (1,))}, {"0": bytes(16)})
    np.testing.assert_array_equal(torch.load(io.BytesIO(data), weights_only=True)["w"].numpy(), np.zeros(3))
    np.testing.assert_array_equal(np.asarray(load(io.BytesIO(data))["w"]), np.zeros(3, np.float32))


@pytest.mark.parametrize(
    ("numel", "offset", "size", "stride", "grad"),
    [
        (2**40, 0, (2**40,), (1,), False),  # a storage far larger than its record
        (4, 0, (5,), (1,), False),  # runs past the storage
        (4, 3, (2,), (1,), False),
        (4, 0, (2, 2), (2, 2), False),
        (4, 0, (2**62, 2**62), (1, 1), False),
        (4, -1, (2,), (1,), False),
        (4, 0, (2,), (-1,), False),
        (4, 0, (-2,), (1,), False),
        (4, 0, (2,), (1, 1), False),
        (4, 0, (2.0,), (1,), False),
        (4, "0", (2,), (1,), False),
        (4, 0, [2], (1,), False),
        (4, 0, (2,), (1,), "yes"),
        (-4, 0, (2,), (1,), False),
    ],
)
def test_tensor_headers_that_lie(numel: int, offset: Any, size: Any, stride: Any, grad: Any) -> None:
    obj = {"w": _FakeTensor(_FakeStorage("0", numel), offset, size, stride, grad)}
    data = crafted_torch_zip(obj, {"0": bytes(16)})
    peak, message = peak_allocation(lambda: load(io.BytesIO(data)))
    assert peak < 10**7, peak
    assert "damaged or truncated" in message


@pytest.mark.parametrize(
    "state", [(None, {"_data": 5}), (None, {"_requires_grad": "yes"}), (None, {"_grad": 1}), {"x": 1}]
)
def test_build_opcodes_that_overwrite_a_tensor(state: Any) -> None:
    data = crafted_torch_zip({"w": _OverwritingTensor(_FakeStorage("0", 4), state)}, {"0": bytes(16)})
    with pytest.raises(RuntimeError, match="damaged or truncated"):
        load(io.BytesIO(data))


def test_build_opcode_that_overwrites_a_storage() -> None:
    storage = _FakeStorage("0", 4)
    pickled = io.BytesIO()
    _Pickler(pickled, protocol=2).dump([storage])
    # [storage] then BUILD on the list's item is not expressible by pickle itself: splice it in
    raw = pickled.getvalue()
    spliced = raw.replace(b"Q", b"Q}X\x05\x00\x00\x00arrayK\x01sb", 1)
    assert spliced != raw
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", spliced)
        archive.writestr("archive/data/0", bytes(16))
    with pytest.raises(RuntimeError, match="tried to overwrite a storage"):
        load(io.BytesIO(out.getvalue()))


def test_zip_directory_claiming_an_enormous_record() -> None:
    numel = 0x7FFFFFF0 // 4
    data = bytearray(
        crafted_torch_zip({"w": _FakeTensor(_FakeStorage("0", numel), 0, (2,), (1,))}, {"0": bytes(16)})
    )
    entry = data.rindex(b"PK\x01\x02")  # the last central directory entry: archive/data/0
    data[entry + 20 : entry + 28] = (0x7FFFFFF0).to_bytes(4, "little") * 2  # compressed and full size
    peak, message = peak_allocation(lambda: load(io.BytesIO(bytes(data))))
    assert peak < 10**7, peak
    assert "damaged or truncated" in message


def test_legacy_storage_claiming_an_enormous_size() -> None:
    data = bytearray(torch_checkpoint(legacy=True))
    position = data.rindex((3).to_bytes(8, "little") + bytes(24))  # the int64 zeros: count, then bytes
    data[position : position + 8] = (2**50).to_bytes(8, "little")
    peak, message = peak_allocation(lambda: load(io.BytesIO(bytes(data))))
    assert peak < 10**7, peak
    assert "damaged or truncated" in message


@pytest.mark.parametrize(
    "pickled",
    [
        b"\x80\x04\x8e" + (2**60).to_bytes(8, "little") + b"x.",  # BINBYTES8 of 2**60 bytes
        b"\x80\x05\x96" + (2**40).to_bytes(8, "little") + b"x.",  # BYTEARRAY8
        b"\x80\x04\x8d" + (2**40).to_bytes(8, "little") + b"x.",  # BINUNICODE8
        b"\x80\x03B" + (2**31).to_bytes(4, "little") + b"x.",  # BINBYTES
        b"\x80\x02\x8b" + (2**31 - 1).to_bytes(4, "little") + b"x.",  # LONG4
        b"\x80\x02c__builtin__\nbytearray\nJ\x00\x00\x00\x7f\x85R.",  # bytearray(2**31 - ...)
        b"\x80\x02(" * 10 + b".",  # marks, no object
        b"\x80\x02]q\x00h\x00a.",  # a list containing itself: fine in pickle, and loads
    ],
)
def test_pickles_that_ask_for_memory_or_make_no_sense(pickled: bytes, capfd: pytest.CaptureFixture) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", pickled)
    if pickled.endswith(b"h\x00a."):
        loaded = load(io.BytesIO(out.getvalue()))
        assert loaded[0] is loaded
        return
    peak, message = peak_allocation(lambda: load(io.BytesIO(out.getvalue())))
    assert peak < 10**7, peak
    assert "damaged or truncated" in message
    assert "Error" not in capfd.readouterr().err  # CPython prints a SystemError for BYTEARRAY8 otherwise


def test_format_1_header_with_damaged_structure_still_runtime_error() -> None:
    """Without a checksum (format 1) damage reaches the structure decoder: still RuntimeError."""
    root = {"type": "dict", "items": [["w", {"type": "tensor", "name": "w"}], ["n", {"type": "size"}]]}
    metadata = {"format": "pt", "antorcha": json.dumps({"version": 1, "root": root})}
    data = safetensors.numpy.save({"w": np.ones(2, np.float32)}, metadata=metadata)
    with pytest.raises(RuntimeError, match="damaged"):
        load(io.BytesIO(data))


class _LegacyStorage:
    def __init__(self, pid: tuple) -> None:
        self.pid = pid


def crafted_legacy_file(obj: Any, storages: list[tuple[str, bytes, int]]) -> bytes:
    """A pre-1.6 torch.save file: five pickles, then (count, bytes) for each (key, bytes, count)."""
    out = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
        pickle.dump(header, out, protocol=2)
    _Pickler(out, protocol=2).dump(obj)
    pickle.dump([key for key, _, _ in storages], out, protocol=2)
    for _, data, count in storages:
        out.write(count.to_bytes(8, "little") + data)
    return out.getvalue()


def test_legacy_storage_views_load_like_torch() -> None:
    """Files from torch before 1.0 name storage views: (root key, offset, size) inside the id."""
    root = np.arange(6, dtype=np.float32).tobytes()
    view = _LegacyStorage(("storage", torch.FloatStorage, "0", "cpu", 6, ("v", 2, 3)))
    whole = _LegacyStorage(("storage", torch.FloatStorage, "0", "cpu", 6, None))
    obj = {"view": _FakeTensor(view, 1, (2,), (1,)), "whole": _FakeTensor(whole, 0, (6,), (1,))}
    data = crafted_legacy_file(obj, [("0", root, 6)])
    theirs = torch.load(io.BytesIO(data), weights_only=True)
    ours = load(io.BytesIO(data))
    for key in obj:
        np.testing.assert_array_equal(np.asarray(ours[key]), theirs[key].numpy())
    assert np.shares_memory(np.asarray(ours["view"]), np.asarray(ours["whole"]))
    bad_view = _LegacyStorage(("storage", torch.FloatStorage, "0", "cpu", 6, ("v", 5, 3)))
    data = crafted_legacy_file({"x": _FakeTensor(bad_view, 0, (1,), (1,))}, [("0", root, 6)])
    with pytest.raises(RuntimeError, match="damaged or truncated"):
        load(io.BytesIO(data))

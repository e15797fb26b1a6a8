"""Reading the files `torch.save` writes: its zip archive (torch >= 1.6) and the older pickle stream.

Zip: `<name>/data.pkl` is the pickled object, `<name>/data/<key>` the raw bytes of each storage
(stored uncompressed), `<name>/byteorder` "little" or "big". Every record is CRC-checked as it is
read, and a storage's size is checked against its record, and the record against the file,
before anything is allocated.

Legacy (torch.save(..., _use_new_zipfile_serialization=False)): five pickles in a row — magic
number, protocol version, system info, the object, the list of storage keys — then each storage
as an int64 element count and its bytes. The element sizes come from the object pickle, so it
is walked once (pickletools, which runs nothing) to learn each storage's dtype before the real
load reads the bytes.

Both end in the restricted unpickler of _torch_pickle.py, so no code from the file ever runs.
"""

from __future__ import annotations

import io
import pickletools
import warnings
import zipfile
import zlib
from typing import Any

import numpy as np

from antorcha import _dtypes
from antorcha._map_location import MapLocationCallbackError
from antorcha._torch_pickle import (
    CheckpointError,
    DamagedError,
    RestrictedUnpickler,
    Storage,
    StorageSource,
    finish,
)

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_READ_CHUNK = 1 << 24
_LOCAL_HEADER_SIZE = 30  # a zip local file header before its name and extra field


def is_torch_zip(data: bytes) -> bool:
    return data[:4] == b"PK\x03\x04"


def is_torch_legacy(data: bytes) -> bool:
    """The magic number pickled at the start of a pre-1.6 file (protocol 2 to 5)."""
    magic = _LEGACY_MAGIC.to_bytes(10, "little")
    return data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05") and magic in data[:24]


def load_torch_checkpoint(data: bytes, source: str, map_location: Any, encoding: str = "utf-8") -> Any:
    """The object in a torch.save file; RuntimeError (never anything else) when the file is damaged."""
    try:
        reader = _ZipReader(data) if is_torch_zip(data) else _LegacyReader(data)
        return finish(reader.load(map_location, encoding))
    except CheckpointError as error:
        raise type(error)(f"{source}: {error}") from None
    except MapLocationCallbackError as error:
        raise error.error from None
    except Exception as error:  # damaged anywhere: zip, pickle, sizes, strides...
        detail = str(error) if isinstance(error, DamagedError) else f"{type(error).__name__}: {error}"
        raise RuntimeError(
            f"{source} is damaged or truncated: not a readable PyTorch checkpoint ({detail})"
        ) from None


def _unpickle(pickled: bytes, source: StorageSource, map_location: Any, encoding: str) -> Any:
    if _pickle_length(io.BytesIO(pickled)) != len(pickled):
        raise DamagedError("bytes after the end of the pickle")
    return RestrictedUnpickler(io.BytesIO(pickled), source, map_location, encoding).load()


def _pickle_length(stream: io.BytesIO) -> int:
    """How many bytes the pickle starting at the stream's position takes, found by walking its
    opcodes (pickletools runs nothing). This is also the guard against a length field claiming
    more bytes than the file holds: the C unpickler allocates that many before it notices (and
    for BYTEARRAY8, CPython then prints a SystemError), pickletools reads only what is there."""
    start = stream.tell()
    with warnings.catch_warnings():  # genops warns about odd escapes in a damaged STRING
        warnings.simplefilter("ignore")
        for _ in pickletools.genops(stream):
            pass
    return stream.tell() - start


class _ZipReader(StorageSource):
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._zip = zipfile.ZipFile(io.BytesIO(data))
        self._records = {info.filename: info for info in self._zip.infolist()}
        self._prefix = self._archive_prefix()
        byteorder = self._records.get(self._prefix + "byteorder")
        if byteorder is not None:
            order = self._zip.read(byteorder).decode("ascii", "replace")
            if order not in ("little", "big"):
                raise DamagedError(f"byteorder {order!r}")
            self.byteorder = order

    def _archive_prefix(self) -> str:
        pickles = [name for name in self._records if name.endswith("/data.pkl") and name.count("/") == 1]
        if len(pickles) == 1:
            return pickles[0].removesuffix("data.pkl")
        if any(name.endswith("constants.pkl") for name in self._records):
            raise CheckpointError(
                "this is a TorchScript archive (torch.jit.save), which antorcha cannot load"
            )
        raise DamagedError(f"no single <name>/data.pkl record among {sorted(self._records)[:5]}")

    def load(self, map_location: Any, encoding: str) -> Any:
        pickled = self._zip.read(self._records[self._prefix + "data.pkl"])
        return _unpickle(pickled, self, map_location, encoding)

    def read(self, key: str, nbytes: int) -> np.ndarray:
        info = self._records.get(f"{self._prefix}data/{key}")
        if info is None:
            raise DamagedError(f"no record for storage {key!r}")
        if info.file_size != nbytes:
            raise DamagedError(f"storage {key!r} needs {nbytes} bytes but its record holds {info.file_size}")
        if info.compress_type != zipfile.ZIP_STORED:  # torch never compresses; another zip tool might
            return self._read_compressed(info, nbytes)
        start = self._record_start(info)
        if start + nbytes > len(self._data):
            raise DamagedError(
                f"storage {key!r} claims {nbytes} bytes, more than the file's {len(self._data)}"
            )
        record = memoryview(self._data)[start : start + nbytes]
        if zlib.crc32(record) != info.CRC:
            raise DamagedError(f"storage {key!r} fails its CRC-32 check")
        return np.frombuffer(record, np.uint8).copy()

    def _record_start(self, info: zipfile.ZipInfo) -> int:
        """Where a stored record's bytes begin: after its local header, checked as zipfile does."""
        header = self._data[info.header_offset : info.header_offset + _LOCAL_HEADER_SIZE]
        if len(header) != _LOCAL_HEADER_SIZE or header[:4] != b"PK\x03\x04":
            raise DamagedError(f"record {info.filename!r} has no local header")
        flags = int.from_bytes(header[6:8], "little")
        name_length, extra_length = (
            int.from_bytes(header[26:28], "little"),
            int.from_bytes(header[28:30], "little"),
        )
        name_start = info.header_offset + _LOCAL_HEADER_SIZE
        name = self._data[name_start : name_start + name_length]
        if flags & 0x1 or name != info.orig_filename.encode("utf-8" if flags & 0x800 else "cp437"):
            raise DamagedError(f"record {info.filename!r}: its local header does not match the directory")
        return name_start + name_length + extra_length

    def _read_compressed(self, info: zipfile.ZipInfo, nbytes: int) -> np.ndarray:
        out = np.empty(nbytes, np.uint8)
        with self._zip.open(info) as record:  # the CRC is checked when the last byte is read
            filled = 0
            while filled < nbytes:
                chunk = record.read(min(_READ_CHUNK, nbytes - filled))
                if not chunk:
                    raise DamagedError(f"record {info.filename!r} ends after {filled} of {nbytes} bytes")
                out[filled : filled + len(chunk)] = np.frombuffer(chunk, np.uint8)
                filled += len(chunk)
            if record.read(1):
                raise DamagedError(f"record {info.filename!r} is longer than {nbytes} bytes")
        return out


class _LegacyReader(StorageSource):
    def __init__(self, data: bytes) -> None:
        self._data = data
        stream = io.BytesIO(data)
        if self._small_pickle(stream) != _LEGACY_MAGIC:
            raise DamagedError("invalid magic number")
        if self._small_pickle(stream) != _LEGACY_PROTOCOL:
            raise DamagedError("unknown legacy protocol version")
        info = self._small_pickle(stream)
        if not isinstance(info, dict):
            raise DamagedError("the system info is not a dict")
        self.byteorder = "little" if info.get("little_endian", True) else "big"
        self._object_pickle = self._next_pickle(stream)
        keys = self._small_pickle(stream)
        if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
            raise DamagedError("the storage key list is not a list of strings")
        self._keys, self._data_start = keys, stream.tell()
        self._records: dict[str, tuple[int, int]] = {}  # key -> (offset of its bytes, bytes)

    def _next_pickle(self, stream: io.BytesIO) -> bytes:
        start = stream.tell()
        return self._data[start : start + _pickle_length(stream)]

    def _small_pickle(self, stream: io.BytesIO) -> Any:
        """One of the header pickles: plain data, no globals and no storages."""
        return _unpickle(self._next_pickle(stream), self, None, "utf-8")

    def load(self, map_location: Any, encoding: str) -> Any:
        layout = _LayoutPass(self._object_pickle)
        layout.load()
        sizes = layout.element_sizes
        offset = self._data_start
        for key in self._keys:
            if key not in sizes or offset + 8 > len(self._data):
                raise DamagedError(f"storage {key!r} is missing")
            numel = int.from_bytes(self._data[offset : offset + 8], self.byteorder, signed=True)
            nbytes = numel * sizes[key]
            if numel < 0 or offset + 8 + nbytes > len(self._data):
                raise DamagedError(f"storage {key!r} claims {numel} elements, more than the file holds")
            self._records[key] = (offset + 8, nbytes)
            offset += 8 + nbytes
        if offset != len(self._data):
            raise DamagedError(f"{len(self._data) - offset} bytes after the last storage")
        return _unpickle(self._object_pickle, self, map_location, encoding)

    def read(self, key: str, nbytes: int) -> np.ndarray:
        start, size = self._records.get(key, (0, -1))
        if size != nbytes:
            raise DamagedError(f"storage {key!r} needs {nbytes} bytes but the file holds {max(size, 0)}")
        return np.frombuffer(self._data, np.uint8, nbytes, start).copy()


class _LayoutPass(RestrictedUnpickler):
    """A first pass over a legacy object pickle that only records each storage's element size."""

    def __init__(self, pickled: bytes) -> None:
        super().__init__(io.BytesIO(pickled), StorageSource(), None, "utf-8")
        self.element_sizes: dict[str, int] = {}

    def _load_storage(self, storage_type: Any, key: str, location: str, numel: int) -> Storage:
        self.element_sizes[key] = _dtypes.numpy_dtype_named(storage_type.np_dtype).itemsize
        return Storage(None, typed=True)  # no bytes: the tensors built in this pass are dropped

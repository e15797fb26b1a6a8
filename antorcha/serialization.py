"""`antorcha.save` / `antorcha.load`: checkpoints that run no code when loaded.

A checkpoint is one safetensors file. The arrays are its tensors; the structure around them
(dicts, lists, tuples, numbers, strings...) is JSON kept in the safetensors metadata under the
key "antorcha". Nothing is pickled, so loading a file can never execute code.

Tensor entries are named by their path in the saved object, joined with dots: a flat state
dict is therefore stored under exactly its keys, and loads into PyTorch with
`safetensors.torch.load_file`. In the other direction, a plain safetensors file (no "antorcha"
metadata, e.g. written by `safetensors.torch.save_file`) loads as a dict of tensors, and the
files PyTorch's own torch.save writes (zip or legacy pickle) load through a restricted unpickler
that runs none of their code (_torch_checkpoint.py).

Structure nodes in the JSON: None, booleans, finite numbers and strings stand for themselves;
everything else is an object with a "type" (tensor, ndarray, numpy_scalar, float, bytes,
dtype, device, size, list, tuple, dict, ordered_dict). A tensor node names its entry and keeps
its device, requires_grad and whether it was an nn.Parameter. Two tensors over one array load
sharing one array; the same tensor saved twice loads as one object.

Format 2 adds a CRC-32 (metadata key "antorcha.crc32") over the structure and every entry's name,
dtype, shape and bytes, so a flipped byte anywhere that matters is an error, not a silently
different checkpoint. Format 1 files (no checksum) still load.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import secrets
import stat
import sys
import zlib
from collections import OrderedDict
from types import ModuleType
from typing import Any, BinaryIO

import numpy as np

from antorcha import _dtypes
from antorcha._device import device, move_array
from antorcha._map_location import MapLocationCallbackError, call_map, is_callable_map, target_device
from antorcha._tensor import Size, Tensor, wrap
from antorcha._torch_checkpoint import is_torch_legacy, is_torch_zip, load_torch_checkpoint

FORMAT_KEY = "antorcha"
FORMAT_VERSION = 2
CHECKSUM_KEY = "antorcha.crc32"
_FIRST_CHECKSUMMED_VERSION = 2
_GARBLED_KEY_BYTES = 3  # a metadata key this close to one of antorcha's is damage, not a foreign file
# safetensors dtype codes that antorcha has a dtype for
_SUPPORTED_CODES = {"F16", "BF16", "F32", "F64", "I8", "I16", "I32", "I64", "U8", "BOOL"}
_SUPPORTED_NUMPY = {np.dtype(d) for d in ("float16", "float32", "float64", "int8", "int16", "int32", "int64")}
_SUPPORTED_NUMPY |= {np.dtype("uint8"), np.dtype("bool")}
_MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit
_WRITE_CHUNK_BYTES = 1 << 26
_NODE_TYPES = (
    "tensors, NumPy arrays, numbers, strings, bytes, None, dtypes, devices and dicts/lists/tuples of them"
)


# ---- save ------------------------------------------------------------------------


def save(
    obj: Any,
    f: str | os.PathLike | BinaryIO,
    pickle_module: Any = None,
    pickle_protocol: int = 2,
    _use_new_zipfile_serialization: bool = True,
    _disable_byteorder_record: bool = False,
) -> None:
    """Save `obj` (tensors, state dicts, optimizer state...) to a path or a binary file object.

    Writing to a path is atomic: the bytes go to a temporary file in the same directory, are
    flushed to disk, and only then replace `f`, so a crash never leaves half a checkpoint.
    The pickle arguments are accepted for PyTorch compatibility and ignored.
    """
    safetensors_numpy = _import_safetensors("save")
    encoder = _Encoder()
    root = encoder.encode(obj, ())
    structure = json.dumps({"version": FORMAT_VERSION, "root": root}, allow_nan=False, separators=(",", ":"))
    metadata = {"format": "pt", FORMAT_KEY: structure, CHECKSUM_KEY: _checksum(structure, encoder.arrays)}
    payload = safetensors_numpy.save(encoder.arrays, metadata=metadata)
    if hasattr(f, "write"):
        f.write(payload)  # type: ignore[union-attr]
    else:
        _write_atomically(os.fspath(f), payload)  # type: ignore[arg-type]


class _Encoder:
    """Turns an object into a JSON tree plus the arrays of its tensors, named by path."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self._tensor_names: dict[int, str] = {}  # id(Tensor) -> entry name
        self._array_names: dict[int, str] = {}  # id(array under a tensor) -> entry name

    def encode(self, obj: Any, path: tuple) -> Any:
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, Tensor):
            return self._tensor(obj, path)
        if isinstance(obj, np.ndarray):
            return {"type": "ndarray", "name": self._add_array(_host_array(obj, path), path)}
        if isinstance(obj, np.generic):
            return {"type": "numpy_scalar", "name": self._add_array(_host_array(np.asarray(obj), path), path)}
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, float):
            return float(obj) if math.isfinite(obj) else {"type": "float", "value": repr(float(obj))}
        return self._other(obj, path)

    def _other(self, obj: Any, path: tuple) -> Any:
        if isinstance(obj, bytes):
            return {"type": "bytes", "base64": base64.b64encode(obj).decode("ascii")}
        if isinstance(obj, _dtypes.dtype):
            return {"type": "dtype", "name": obj.name}
        if isinstance(obj, device):
            return {"type": "device", "name": str(obj)}
        if isinstance(obj, Size):
            return {"type": "size", "dims": [int(d) for d in obj]}
        if isinstance(obj, dict):
            kind = "ordered_dict" if isinstance(obj, OrderedDict) else "dict"
            items = [[self._key(key, path), self.encode(value, (*path, key))] for key, value in obj.items()]
            return {"type": kind, "items": items}
        if isinstance(obj, (list, tuple)):
            kind = "tuple" if isinstance(obj, tuple) else "list"
            return {"type": kind, "items": [self.encode(item, (*path, i)) for i, item in enumerate(obj)]}
        hint = " Save its .state_dict() instead." if hasattr(obj, "state_dict") else ""
        raise TypeError(
            f"antorcha.save cannot store an object of type {type(obj).__name__} at {_describe(path)}: "
            f"a checkpoint holds {_NODE_TYPES} (nothing is pickled, so no code runs on load).{hint}"
        )

    def _key(self, key: Any, path: tuple) -> Any:
        if isinstance(key, (Tensor, np.ndarray)):
            raise TypeError(
                f"antorcha.save cannot store a dict keyed by tensors or arrays at {_describe(path)}"
            )
        return self.encode(key, path)

    def _tensor(self, tensor: Tensor, path: tuple) -> dict:
        name = self._add_array(_host_array(tensor._cpu_array(), path), path)
        known = self._tensor_names.setdefault(id(tensor), name)
        if known != name:
            # The same object again: it loads as one object. Its data is written once more
            # anyway so that every key of a flat state dict exists for other safetensors readers.
            return {"type": "tensor", "name": name, "same_as": known}
        array = tensor._data
        node: dict[str, Any] = {"type": "tensor", "name": name}
        shared = self._array_names.setdefault(id(array), name)
        if shared != name:  # another tensor over the same array (e.g. tied weights)
            node["shares_array_of"] = shared
        if tensor._device.type != "cpu":
            node["device"] = str(tensor._device)
        if tensor.requires_grad:
            node["requires_grad"] = True
        if _is_parameter(tensor):
            node["parameter"] = True
        return node

    def _add_array(self, array: np.ndarray, path: tuple) -> str:
        base = ".".join(str(part) for part in path) or "tensor"
        name, suffix = base, 1
        while name in self.arrays:  # e.g. keys 0 and "0" in one dict
            name, suffix = f"{base}#{suffix}", suffix + 1
        self.arrays[name] = array
        return name


def _host_array(array: Any, path: tuple) -> np.ndarray:
    """A C-contiguous little-endian host copy/view that safetensors can write."""
    if not isinstance(array, np.ndarray):
        array = array.get()  # a CuPy array: CUDA tensors are saved from host memory
    if array.dtype.newbyteorder("=") not in _SUPPORTED_NUMPY and array.dtype.name != "bfloat16":
        raise TypeError(
            f"antorcha.save cannot store an array of dtype {array.dtype} at {_describe(path)}: supported "
            "dtypes are float16/32/64, bfloat16, int8/16/32/64, uint8 and bool"
        )
    if not array.flags.c_contiguous:
        array = array.copy(order="C")  # safetensors reads the raw buffer
    return array


def _checksum(structure: str, arrays: dict[str, np.ndarray]) -> str:
    """CRC-32 of everything a load depends on, as 8 hex digits; the same on save and on load."""
    crc = zlib.crc32(structure.encode("utf-8"))
    for name in sorted(arrays):
        array = arrays[name]
        description = json.dumps([name, array.dtype.name, list(array.shape)])
        crc = zlib.crc32(description.encode("utf-8"), crc)
        crc = zlib.crc32(np.ascontiguousarray(array).view(np.uint8).reshape(-1).data, crc)
    return f"{crc:08x}"


def _is_parameter(tensor: Tensor) -> bool:
    # a Parameter can only exist once its module is imported; never import nn just to check
    parameter_class = getattr(sys.modules.get("antorcha.nn.parameter"), "Parameter", None)
    return parameter_class is not None and isinstance(tensor, parameter_class)


def _describe(path: tuple) -> str:
    return "obj" + "".join(f"[{part!r}]" for part in path)


def _write_atomically(path: str, payload: bytes) -> None:
    if os.path.islink(path):
        path = os.path.realpath(path)  # replace the file the link points to, not the link
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise RuntimeError(f"Parent directory {directory} does not exist.")
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never clobber another writer's temporary; mode 0o666 lets the umask decide, as open() does
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(descriptor, "wb") as file:
            _write_chunks(file, payload)
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temporary, stat.S_IMODE(os.stat(path).st_mode))  # keep an existing file's mode
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def _write_chunks(file: BinaryIO, payload: bytes) -> None:
    view = memoryview(payload)
    for start in range(0, len(view), _WRITE_CHUNK_BYTES):
        file.write(view[start : start + _WRITE_CHUNK_BYTES])


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


# ---- load ------------------------------------------------------------------------


def load(
    f: str | os.PathLike | BinaryIO,
    map_location: Any = None,
    pickle_module: Any = None,
    *,
    weights_only: bool | None = None,
    mmap: bool | None = None,
    **pickle_load_args: Any,
) -> Any:
    """Load what `save` wrote, any safetensors file (as a dict of tensors), or a torch.save file.

    `map_location`: None (each tensor goes back to the device it was saved from), a device or
    string ('cpu', 'cuda:0'), a dict from saved location strings to devices, or a callable
    `(tensor_on_cpu, saved_location) -> tensor or None`.

    Loading never runs code from the file. A PyTorch checkpoint goes through a restricted
    unpickler that accepts what torch's `weights_only=True` accepts (tensors, storages,
    containers, primitives) and refuses anything else with an error naming it — whatever
    `weights_only` says: `weights_only=False` is accepted, but antorcha never falls back to
    running a pickle. `pickle_module` and `mmap` are accepted and ignored; `encoding` (for
    checkpoints written by Python 2) is honoured. Any damaged file raises RuntimeError.
    """
    data, source = _read(f)
    if is_torch_zip(data) or is_torch_legacy(data):
        encoding = pickle_load_args.get("encoding", "utf-8")
        return load_torch_checkpoint(data, source, map_location, encoding)
    safetensors_numpy = _import_safetensors("load")
    header = _parse_header(data, source)
    try:
        arrays = _load_arrays(safetensors_numpy, data, header)
    except Exception as error:  # any safetensors failure means a damaged file
        raise RuntimeError(
            f"{source} is damaged or truncated: safetensors cannot read it ({error})"
        ) from None
    metadata = header.get("__metadata__") or {}
    structure = metadata.get(FORMAT_KEY) if isinstance(metadata, dict) else None
    decoder = _Decoder(arrays, map_location, source)
    if structure is None and _damaged_antorcha_metadata(metadata):
        keys = sorted(metadata)
        raise RuntimeError(f"{source} is damaged: its antorcha metadata keys are garbled ({keys})")
    if structure is None:  # a plain safetensors file: its tensors, in file order
        names = sorted(
            (name for name in header if name != "__metadata__"), key=lambda n: header[n]["data_offsets"]
        )
        return {name: decoder.tensor({"type": "tensor", "name": name}) for name in names}
    tree = _parse_structure(structure, source)
    _verify_checksum(metadata, tree, structure, arrays, source)
    return decoder.decode(tree["root"])


def _load_arrays(safetensors_numpy: ModuleType, data: bytes, header: dict) -> dict[str, np.ndarray]:
    """safetensors.numpy.load, which has no bfloat16: a file with BF16 entries is read view by view,
    BF16 as ml_dtypes' bfloat16 (what safetensors.numpy.save writes for it)."""
    if all(entry.get("dtype") != "BF16" for name, entry in header.items() if name != "__metadata__"):
        return safetensors_numpy.load(data)
    from safetensors import deserialize

    arrays = {}
    for name, view in deserialize(data):
        code = view["dtype"]
        dtype = _dtypes.bfloat16.np if code == "BF16" else np.dtype(_NUMPY_OF_CODE[code])
        arrays[name] = np.frombuffer(view["data"], dtype=dtype).reshape(view["shape"])
    return arrays


_NUMPY_OF_CODE = {
    "F16": "float16", "F32": "float32", "F64": "float64", "I8": "int8", "I16": "int16", "I32": "int32",
    "I64": "int64", "U8": "uint8", "BOOL": "bool",
}


def _damaged_antorcha_metadata(metadata: dict) -> bool:
    """Whether metadata without the structure key is an antorcha file whose key names were hit:
    it keeps the checksum key, or a key a few bytes away from one of antorcha's."""

    def near(key: str, ours: str) -> bool:
        return len(key) == len(ours) and sum(a != b for a, b in zip(key, ours)) <= _GARBLED_KEY_BYTES

    return any(near(key, ours) for key in metadata for ours in (FORMAT_KEY, CHECKSUM_KEY))


def _verify_checksum(metadata: dict, tree: dict, structure: str, arrays: dict, source: str) -> None:
    expected = metadata.get(CHECKSUM_KEY)
    if expected is None and tree["version"] < _FIRST_CHECKSUMMED_VERSION:
        return  # written before checksums existed
    if expected != _checksum(structure, arrays):
        raise RuntimeError(
            f"{source} is damaged: its contents do not match the checksum stored in it "
            f"({CHECKSUM_KEY}={expected!r})"
        )


def _import_safetensors(function: str) -> ModuleType:
    try:
        import safetensors.numpy
    except ImportError:
        raise RuntimeError(
            f"antorcha.{function} needs the 'safetensors' package, a required dependency of antorcha: "
            "pip install safetensors"
        ) from None
    return safetensors.numpy


def _read(f: Any) -> tuple[bytes, str]:
    if hasattr(f, "read"):
        data = f.read()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("antorcha.load needs a file opened in binary mode ('rb'), got a text file")
        name = getattr(f, "name", None)
        return bytes(data), f"'{name}'" if isinstance(name, str) else "the file object"
    path = os.fspath(f)
    with open(path, "rb") as file:
        return file.read(), f"'{os.fsdecode(path)}'"


def _not_a_checkpoint(source: str, reason: str, data: bytes) -> RuntimeError:
    hint = ""
    if data[257:262] == b"ustar":
        hint = (
            " It looks like a tar-format PyTorch checkpoint (torch before 0.4), which antorcha cannot "
            "read: load it in PyTorch and save it again."
        )
    return RuntimeError(f"{source} is not an antorcha checkpoint ({reason}).{hint}")


def _parse_header(data: bytes, source: str) -> dict:
    """The safetensors header, after checking the file is whole; clear errors otherwise."""
    if len(data) < 8:
        raise _not_a_checkpoint(
            source, f"only {len(data)} bytes, too short for a safetensors header, or truncated", data
        )
    header_size = int.from_bytes(data[:8], "little")
    if header_size > _MAX_HEADER_BYTES or header_size < 2:
        raise _not_a_checkpoint(source, "no safetensors header", data)
    if 8 + header_size > len(data):
        raise RuntimeError(
            f"{source} is truncated or not an antorcha checkpoint: its header needs {header_size} bytes "
            f"but only {len(data) - 8} follow"
        )
    try:
        header = json.loads(data[8 : 8 + header_size].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _not_a_checkpoint(source, "the safetensors header is not valid JSON", data) from None
    if not isinstance(header, dict):
        raise _not_a_checkpoint(source, "the safetensors header is not a JSON object", data)
    data_size = len(data) - 8 - header_size
    needed = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise _not_a_checkpoint(source, f"entry {name!r} has no valid data_offsets", data)
        if entry.get("dtype") not in _SUPPORTED_CODES:
            raise RuntimeError(
                f"{source}: tensor {name!r} has dtype {entry.get('dtype')}, which antorcha does not support "
                f"(supported: {', '.join(sorted(_SUPPORTED_CODES))})"
            )
        needed = max(needed, offsets[1])
    if needed > data_size:
        raise RuntimeError(
            f"{source} is truncated: its tensors need {needed} bytes of data but only {data_size} are present"
        )
    return header


def _parse_structure(structure: Any, source: str) -> dict:
    try:
        tree = json.loads(structure)
    except (TypeError, ValueError):
        raise RuntimeError(
            f"{source} is damaged: its antorcha structure metadata is not valid JSON"
        ) from None
    if not isinstance(tree, dict) or "root" not in tree or not isinstance(tree.get("version"), int):
        raise RuntimeError(f"{source} is damaged: its antorcha structure metadata has no version/root")
    if tree["version"] > FORMAT_VERSION:
        raise RuntimeError(
            f"{source} was written by a newer antorcha (format {tree['version']}; this one reads up to "
            f"{FORMAT_VERSION}): upgrade antorcha to load it"
        )
    return tree


class _DamagedError(Exception):
    """A structure node that `save` would never have written."""


class _Decoder:
    """Rebuilds the saved object from its JSON tree and the file's arrays."""

    def __init__(self, arrays: dict[str, np.ndarray], map_location: Any, source: str) -> None:
        self.arrays = arrays
        self.map_location = map_location
        self.source = source
        self._tensors: dict[str, Tensor] = {}  # entry name -> the tensor built from it

    def decode(self, node: Any) -> Any:
        try:
            return self._node(node)
        except MapLocationCallbackError as error:
            raise error.error from None
        except _DamagedError as error:
            raise RuntimeError(f"{self.source} is damaged: {error}") from None
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as error:
            # a node of the right shape with a value save never writes (a dtype name, a dims list...)
            raise RuntimeError(f"{self.source} is damaged: {type(error).__name__}: {error}") from None

    def _node(self, node: Any) -> Any:
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        kind = _field(node, "type", str)
        if kind == "tensor":
            return self.tensor(node)
        if kind in ("list", "tuple"):
            items = [self._node(item) for item in _field(node, "items", list)]
            return tuple(items) if kind == "tuple" else items
        if kind in ("dict", "ordered_dict"):
            pairs = _field(node, "items", list)
            if not all(isinstance(pair, list) and len(pair) == 2 for pair in pairs):
                raise _DamagedError("a dict node's items are not [key, value] pairs")
            built = {self._node(key): self._node(value) for key, value in pairs}
            return OrderedDict(built) if kind == "ordered_dict" else built
        return self._leaf(kind, node)

    def _leaf(self, kind: str, node: dict) -> Any:
        if kind == "ndarray":
            return self._array(_field(node, "name", str))
        if kind == "numpy_scalar":
            return self._array(_field(node, "name", str))[()]
        if kind == "float":
            value = _field(node, "value", str)
            if value not in ("nan", "inf", "-inf"):
                raise _DamagedError(f"unknown float value {value!r}")
            return float(value)
        if kind == "bytes":
            return base64.b64decode(_field(node, "base64", str))
        if kind == "dtype":
            return _dtypes.as_dtype(np.dtype(_field(node, "name", str)))
        if kind == "device":
            return device(_field(node, "name", str))
        if kind == "size":
            return Size(int(d) for d in _field(node, "dims", list))
        raise _DamagedError(f"unknown node type {kind!r}")

    def _array(self, name: str) -> np.ndarray:
        if name not in self.arrays:
            raise _DamagedError(f"no tensor entry named {name!r}")
        array = self.arrays[name]
        return array if array.flags.writeable else array.copy()

    def tensor(self, node: dict) -> Tensor:
        same_as = node.get("same_as")
        if same_as is not None:
            if same_as not in self._tensors:
                raise _DamagedError(f"a tensor refers to {same_as!r} before it was stored")
            return self._tensors[same_as]
        name = _field(node, "name", str)
        shares = node.get("shares_array_of")
        array = self._tensors[shares]._data if shares in self._tensors else self._array(name)
        saved_location = node.get("device", "cpu")
        tensor = self._place(array, saved_location, bool(node.get("requires_grad", False)))
        if node.get("parameter"):
            from antorcha.nn.parameter import Parameter

            tensor = Parameter(tensor, requires_grad=tensor.requires_grad)
        self._tensors[name] = tensor
        return tensor

    def _place(self, array: Any, saved_location: str, requires_grad: bool) -> Tensor:
        """The tensor on the device `map_location` picks for an array saved from `saved_location`."""
        mapping = self.map_location
        if is_callable_map(mapping):
            host = wrap(array if type(array) is np.ndarray else array.get())
            mapped = call_map(mapping, host, saved_location)
            if isinstance(mapped, Tensor):
                return mapped.requires_grad_(requires_grad) if mapped.is_leaf else mapped
            mapping = None  # None: the default, back where it was saved
        target = target_device(mapping, saved_location)
        moved = move_array(array, target)
        return wrap(moved, requires_grad, None, target if target.type == "cpu" else None)


def _field(node: Any, key: str, kind: type) -> Any:
    if not isinstance(node, dict) or not isinstance(node.get(key), kind):
        raise _DamagedError(f"a structure node lacks a valid {key!r}: {str(node)[:80]}")
    return node[key]

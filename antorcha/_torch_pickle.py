"""The restricted unpickler for PyTorch checkpoints: rebuilds data, never runs the file's code.

A pickle is a program: its GLOBAL opcodes name any importable callable and REDUCE calls it. This
unpickler resolves globals only from a fixed table — what torch's `weights_only=True` allows
(containers, torch.Size, torch.device, dtypes, storage types, the tensor rebuild functions) — and
maps each to an antorcha stand-in; torch itself is never imported. Any other global stops the load
inside `find_class`, before anything could be called, with torch's wording
("Unsupported global: GLOBAL os.system").

Storages arrive through `persistent_load` as ('storage', <storage type>, key, location, numel
[, view metadata]); the container reader (_torch_checkpoint.py) supplies their bytes. Each key is
read once, so tensors that shared a storage in the file share memory after loading, as in torch.
"""

from __future__ import annotations

import pickle
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

from antorcha import _dtypes
from antorcha._device import cupy_module, device
from antorcha._map_location import call_map, is_callable_map, place
from antorcha._tensor import Size, Tensor, wrap


class CheckpointError(RuntimeError):
    """A PyTorch checkpoint that is whole but asks for something antorcha cannot give."""


class UnsafeGlobalError(CheckpointError, pickle.UnpicklingError):
    """The pickle named a global outside the allowed set (torch raises UnpicklingError here)."""


class DamagedError(Exception):
    """The bytes are not what torch.save writes; the reader turns this into RuntimeError."""


# torch storage type -> NumPy dtype of its elements
_STORAGE_DTYPES = {
    "FloatStorage": "float32",
    "DoubleStorage": "float64",
    "HalfStorage": "float16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
    "BFloat16Storage": "bfloat16",
}
# torch dtypes antorcha has no dtype for (so no tensor of them can load)
_FOREIGN_DTYPES = {"complex32", "complex64", "complex128", "chalf", "cfloat", "cdouble"}
_FOREIGN_DTYPES |= {"uint16", "uint32", "uint64", "qint8", "quint8", "qint32", "quint4x2", "quint2x4"}
_FOREIGN_DTYPES |= {"float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu"}
_FOREIGN_DTYPES |= {"float4_e2m1fn_x2", "bits1x8", "bits2x4", "bits4x2", "bits8", "bits16"}
_FOREIGN_DTYPES |= {f"{sign}int{bits}" for sign in ("", "u") for bits in range(1, 8)}
# what torch's weights_only allows but antorcha has no counterpart for
_UNSUPPORTED_REBUILDS = {
    "_rebuild_qtensor": "quantized tensors",
    "_rebuild_sparse_tensor": "sparse tensors",
    "_rebuild_nested_tensor": "nested tensors",
    "_rebuild_meta_tensor_no_storage": "meta tensors",
    "_rebuild_wrapper_subclass": "tensor subclasses",
    "_rebuild_device_tensor_from_numpy": "tensors pickled through NumPy",
}


class _Marker:
    """A torch global that only means something as an argument (torch.Tensor, a storage type)."""

    __slots__ = ("name", "np_dtype")

    def __init__(self, name: str, np_dtype: str | None = None) -> None:
        self.name = name
        self.np_dtype = np_dtype

    def __repr__(self) -> str:
        return self.name

    def __setstate__(self, state: Any) -> None:  # a BUILD opcode aimed at a stand-in
        raise DamagedError(f"a pickle tried to overwrite {self.name}")


_TENSOR_TYPE = _Marker("torch.Tensor")
_UNTYPED = _Marker("torch.UntypedStorage", "uint8")


class Storage:
    """One storage of the file: a 1-D array of its elements (bytes when untyped), on its device."""

    __slots__ = ("array", "typed")

    def __init__(self, array: Any, typed: bool) -> None:
        self.array = array
        self.typed = typed

    def __setstate__(self, state: Any) -> None:  # a BUILD opcode aimed at a storage
        raise DamagedError("a pickle tried to overwrite a storage")


# ---- the rebuild functions the pickle calls (torch._utils names, antorcha results) ----------


def _int(value: Any, what: str) -> int:
    if type(value) is not int:
        raise DamagedError(f"a tensor's {what} is {type(value).__name__}, not an int")
    return value


def _ints(values: Any, what: str) -> tuple[int, ...]:
    if not isinstance(values, tuple):
        raise DamagedError(f"a tensor's {what} is {type(values).__name__}, not a tuple")
    return tuple(_int(v, what) for v in values)


def _strided(storage: Any, offset: Any, size: Any, stride: Any, np_dtype: np.dtype | None = None) -> Any:
    """The array `size`/`stride` (in elements) view from `offset` into the storage, checked in bounds."""
    if not isinstance(storage, Storage):
        raise DamagedError(f"a tensor's storage is a {type(storage).__name__}")
    flat = storage.array
    if flat is None:  # the legacy reader's layout pass: no bytes yet, nothing to view
        return np.zeros(0)
    if np_dtype is not None:  # _rebuild_tensor_v3: the untyped bytes viewed as `dtype`
        if storage.typed or flat.size % np_dtype.itemsize:
            raise DamagedError(f"a {np_dtype} tensor over a storage of {flat.size} bytes")
        flat = flat.view(np_dtype)
    shape, strides, start = _ints(size, "size"), _ints(stride, "stride"), _int(offset, "storage offset")
    if len(shape) != len(strides) or min((*shape, *strides, start), default=0) < 0:
        raise DamagedError(f"a tensor has size {shape}, stride {strides} and storage offset {start}")
    if 0 in shape:
        return flat[:0].reshape(shape)
    last = start + sum((n - 1) * s for n, s in zip(shape, strides))
    if last >= flat.size:
        raise DamagedError(
            f"a tensor of size {shape}, stride {strides} and offset {start} runs past the end of its "
            f"storage of {flat.size} elements"
        )
    byte_strides = tuple(s * flat.itemsize for s in strides)
    tricks = np.lib.stride_tricks if isinstance(flat, np.ndarray) else cupy_module().lib.stride_tricks
    return tricks.as_strided(flat[start:], shape, byte_strides)


def _tensor(array: Any, requires_grad: Any, metadata: Any = None) -> Tensor:
    if metadata:  # only complex tensors carry conj/neg bits
        raise CheckpointError(f"a tensor has conj/neg bits {metadata!r}, which antorcha does not support")
    if type(requires_grad) is not bool:
        raise DamagedError(f"requires_grad is {type(requires_grad).__name__}")
    tensor = wrap(array)
    return tensor.requires_grad_(True) if requires_grad else tensor


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any) -> Tensor:
    return _tensor(_strided(storage, storage_offset, size, stride), False)


def _rebuild_tensor_v2(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any,
    backward_hooks: Any,
    metadata: Any = None,
) -> Tensor:
    return _tensor(_strided(storage, storage_offset, size, stride), requires_grad, metadata)


def _rebuild_tensor_v3(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any,
    backward_hooks: Any,
    dtype: Any,
    metadata: Any = None,
) -> Tensor:
    if not isinstance(dtype, _dtypes.dtype):
        raise DamagedError(f"a tensor's dtype is {type(dtype).__name__}")
    array = _strided(storage, storage_offset, size, stride, dtype.np)
    return _tensor(array, requires_grad, metadata)


def _parameter(data: Any, requires_grad: Any) -> Tensor:
    from antorcha.nn.parameter import Parameter

    if not isinstance(data, Tensor) or type(requires_grad) is not bool:
        raise DamagedError("a Parameter's data is not a tensor")
    return Parameter(data, requires_grad)


def _rebuild_parameter(data: Any, requires_grad: Any, backward_hooks: Any) -> Tensor:
    return _parameter(data, requires_grad)


def _rebuild_parameter_with_state(data: Any, requires_grad: Any, backward_hooks: Any, state: Any) -> Tensor:
    _no_python_state(state)
    return _parameter(data, requires_grad)


def _rebuild_device_tensor_from_cpu_tensor(data: Any, dtype: Any, device: Any, requires_grad: Any) -> Tensor:
    if not isinstance(data, Tensor) or not isinstance(dtype, _dtypes.dtype):
        raise DamagedError("a device tensor's data is not a tensor")
    return _tensor(data.to(dtype)._data, requires_grad)


def _no_python_state(state: Any) -> None:
    if state:  # attributes set on a tensor in Python: antorcha tensors have nowhere to keep them
        names = sorted(state) if isinstance(state, dict) else state
        raise CheckpointError(f"a tensor carries Python attributes {names!r}, which antorcha cannot restore")


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any) -> Any:
    if func not in _REBUILDS or not isinstance(args, tuple):
        raise DamagedError("_rebuild_from_type_v2 without a tensor rebuild function")
    tensor = func(*args)
    if new_type is not _TENSOR_TYPE and new_type is not _parameter_class():
        raise CheckpointError(f"a tensor of subclass {new_type!r}, which antorcha cannot rebuild")
    _no_python_state(state)
    return tensor


_REBUILDS: set[Callable] = {_rebuild_tensor, _rebuild_tensor_v2, _rebuild_tensor_v3, _rebuild_parameter}
_REBUILDS |= {_rebuild_parameter_with_state, _rebuild_device_tensor_from_cpu_tensor}


def _parameter_class() -> type:
    from antorcha.nn.parameter import Parameter

    return Parameter


# ---- the other allowed callables, each only as permissive as the data needs -------------


def _latin1_bytes(text: Any, encoding: Any = "latin1") -> bytes:
    """`_codecs.encode(text, 'latin1')`: how protocol 2 pickles bytes. No other codec is looked up."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise DamagedError("_codecs.encode is only used for latin1 bytes")
    return text.encode("latin1")


def _bytearray(source: Any = b"", encoding: Any = None) -> bytearray:
    if isinstance(source, str) and encoding in ("latin1", "latin-1"):
        return bytearray(source, "latin1")
    if not isinstance(source, (bytes, bytearray)):  # never bytearray(n): n bytes of zeros on request
        raise DamagedError(f"bytearray from a {type(source).__name__}")
    return bytearray(source)


def _size(dims: Any = ()) -> Size:
    return Size(_ints(tuple(dims) if isinstance(dims, list) else dims, "torch.Size"))


def _device(kind: Any, index: Any = None) -> device:
    try:
        return device(kind, index) if index is not None else device(kind)
    except (RuntimeError, TypeError) as error:
        raise CheckpointError(f"the checkpoint names a device antorcha does not have: {error}") from None


def _get_layout(name: Any) -> _Marker:
    if name != "torch.strided":
        raise CheckpointError(f"a tensor with layout {name!r}: antorcha has only strided tensors")
    return _Marker(name)


def _allowed_globals() -> dict[tuple[str, str], Any]:
    table: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): OrderedDict,
        ("collections", "Counter"): Counter,
        ("builtins", "set"): set,
        ("builtins", "complex"): complex,
        ("builtins", "bytearray"): _bytearray,
        ("_codecs", "encode"): _latin1_bytes,
        ("torch", "Size"): _size,
        ("torch", "device"): _device,
        ("torch", "Tensor"): _TENSOR_TYPE,
        ("torch.serialization", "_get_layout"): _get_layout,
        ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
        ("torch", "UntypedStorage"): _UNTYPED,
        ("torch.storage", "UntypedStorage"): _UNTYPED,
    }
    for function in _REBUILDS:
        table["torch._utils", function.__name__] = function
    for storage_name, np_dtype in _STORAGE_DTYPES.items():
        table["torch", storage_name] = table["torch.cuda", storage_name] = _Marker(storage_name, np_dtype)
    for name in _dtypes._SCALAR_NAMES:
        table["torch", name] = _dtypes.as_dtype(np.dtype(name))
    table["torch", "bfloat16"] = _dtypes.bfloat16  # its NumPy dtype (ml_dtypes) loads on first use
    return table


_ALLOWED = _allowed_globals()


def _resolve_global(module: str, name: str) -> Any:
    """The allowed stand-in for `module.name`, or an error naming it."""
    if (module, name) in NAME_MAPPING:  # names as Python 2 (and protocol 2) spell them
        module, name = NAME_MAPPING[module, name]
    module = IMPORT_MAPPING.get(module, module)
    found = _ALLOWED.get((module, name))
    if found is not None:
        return found
    if module == "torch._utils" and name in _UNSUPPORTED_REBUILDS:
        raise CheckpointError(
            f"the checkpoint holds {_UNSUPPORTED_REBUILDS[name]} ({module}.{name}), "
            "which antorcha cannot load"
        )
    if module in ("torch", "torch.cuda") and (name.endswith("Storage") or name in _FOREIGN_DTYPES):
        kind = name.removesuffix("Storage")
        raise CheckpointError(
            f"the checkpoint holds {kind} data (torch.{name}), and antorcha has no such dtype: "
            "in PyTorch, convert those tensors (e.g. .float()) and save again"
        )
    full_name = name if module == "builtins" else f"{module}.{name}"
    raise UnsafeGlobalError(
        f"Weights only load failed: Unsupported global: GLOBAL {full_name} (module {module!r}, "
        f"name {name!r}). antorcha.load rebuilds only tensors, storages, containers and primitives from "
        "a PyTorch checkpoint and never runs anything else in its pickle, so nothing was executed. "
        "If the checkpoint holds a whole pickled model or other objects, load it in PyTorch (only if "
        "you trust it) and save its state_dict() instead."
    )


class StorageSource:
    """What the container reader provides: the raw bytes of a storage record, read on request."""

    byteorder: str = "little"

    def read(self, key: str, nbytes: int) -> np.ndarray:  # (nbytes,) uint8
        raise NotImplementedError


class RestrictedUnpickler(pickle.Unpickler):
    """pickle.Unpickler whose globals come only from the allowed table and whose storages come
    from `source`, each key read once and placed on the device `map_location` picks."""

    def __init__(self, file: BinaryIO, source: StorageSource, map_location: Any, encoding: str) -> None:
        super().__init__(file, encoding=encoding)
        self._source = source
        self._map_location = map_location
        self._storages: dict[str, Storage] = {}  # key -> the storage, placed
        self._views: dict[Any, Storage] = {}  # legacy view key -> the slice of its storage

    def find_class(self, module: str, name: str) -> Any:
        return _resolve_global(module, name)

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid:
            raise DamagedError(f"a persistent id {pid!r:.80}")
        kind = pid[0].decode("ascii") if isinstance(pid[0], bytes) else pid[0]
        if kind == "module":
            raise CheckpointError("the checkpoint holds a pickled nn.Module; save its state_dict() instead")
        if kind != "storage" or len(pid) not in (5, 6):
            raise DamagedError(f"a persistent id {pid!r:.80}")
        storage_type, key, location, numel = pid[1:5]
        key, location = (v.decode("ascii") if isinstance(v, bytes) else v for v in (key, location))
        if not isinstance(storage_type, _Marker) or storage_type.np_dtype is None:
            raise DamagedError(f"a storage of type {storage_type!r:.80}")
        if not isinstance(key, str) or not isinstance(location, str):
            raise DamagedError("a storage key or location is not a string")
        storage = self._storages.get(key)
        if storage is None:
            storage = self._storages[key] = self._load_storage(
                storage_type, key, location, _int(numel, "numel")
            )
        view = pid[5] if len(pid) == 6 else None
        return storage if view is None else self._legacy_view(storage, view)

    def _load_storage(self, storage_type: _Marker, key: str, location: str, numel: int) -> Storage:
        np_dtype = _dtypes.numpy_dtype_named(storage_type.np_dtype)
        raw = self._source.read(key, numel * np_dtype.itemsize)  # checks the size against the file
        order = "<" if self._source.byteorder == "little" else ">"
        # bfloat16 (ml_dtypes) has no byte-swapped form: its bits are read as uint16 in the file's order
        as_read = np.dtype("u2") if np_dtype.name == "bfloat16" else np_dtype
        flat = raw.view(as_read.newbyteorder(order))
        if not flat.dtype.isnative:
            flat = flat.astype(as_read)
        flat = flat.view(np_dtype)
        typed, mapping = storage_type is not _UNTYPED, self._map_location
        if is_callable_map(mapping):
            mapped = call_map(mapping, wrap(flat), location)
            if isinstance(mapped, Tensor):
                if mapped.shape != (numel,) or mapped.dtype.np != np_dtype:
                    raise CheckpointError(
                        f"map_location returned a {mapped.dtype} tensor of shape "
                        f"{tuple(mapped.shape)} for a storage of {numel} {np_dtype}"
                    )
                return Storage(mapped._data, typed)
            mapping = None  # the callable declined: back where it was saved
        return Storage(place(flat, mapping, location), typed)

    def _legacy_view(self, storage: Storage, view: Any) -> Storage:
        """Pre-1.6 files name a storage view as (view key, element offset, element count)."""
        if not (isinstance(view, tuple) and len(view) == 3):
            raise DamagedError("a storage view is not (key, offset, size)")
        view_key, offset, size = view[0], _int(view[1], "view offset"), _int(view[2], "view size")
        if storage.array is None:  # the legacy reader's layout pass
            return storage
        known = self._views.get(view_key)
        if known is None:
            if offset < 0 or size < 0 or offset + size > storage.array.size:
                raise DamagedError(
                    f"a storage view [{offset}, {offset + size}) past {storage.array.size} elements"
                )
            known = self._views[view_key] = Storage(storage.array[offset : offset + size], True)
        return known


def finish(obj: Any, seen: set[int] | None = None) -> Any:
    """The unpickled object made whole: a bare storage saved as a value (torch gives a
    TypedStorage) becomes a 1-D tensor, and anything only a crafted pickle could leave behind (a
    stand-in type as a value, a tensor whose slots a BUILD opcode overwrote) is an error."""
    seen = set() if seen is None else seen
    if isinstance(obj, Storage):
        return wrap(obj.array)
    if isinstance(obj, _Marker):
        raise CheckpointError(f"the checkpoint holds the type {obj.name} itself, which antorcha cannot give")
    if isinstance(obj, Tensor):
        _check_tensor(obj)
    if id(obj) in seen or not isinstance(obj, (dict, list, tuple, set)):
        return obj
    seen.add(id(obj))
    if isinstance(obj, dict):
        for key, value in obj.items():
            if finish(key, seen) is not key:
                raise DamagedError("a storage as a dict key")
            whole = finish(value, seen)
            if whole is not value:
                obj[key] = whole
    elif isinstance(obj, list):
        obj[:] = [finish(item, seen) for item in obj]
    else:  # tuples and sets: a storage cannot hide in them unchanged, so only check
        items = [finish(item, seen) for item in obj]
        if any(a is not b for a, b in zip(items, obj)):
            return type(obj)(items) if type(obj) in (tuple, Size) else obj
    return obj


def _check_tensor(tensor: Tensor) -> None:
    array = tensor._data
    cupy = cupy_module()
    arrays = (np.ndarray,) if cupy is None else (np.ndarray, cupy.ndarray)
    if not isinstance(array, arrays) or array.dtype not in _dtypes._FROM_NUMPY:
        raise DamagedError(f"a tensor holds a {type(array).__name__}, not an array")
    if type(tensor._requires_grad) is not bool or tensor.grad_fn is not None or tensor._grad is not None:
        raise DamagedError("a tensor's autograd fields were overwritten")

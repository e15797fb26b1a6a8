"""`default_collate` (a list of samples -> one batch) and `default_convert` (one sample, unbatched).

Type by type, as torch: tensors are stacked; NumPy arrays become tensors and are stacked;
NumPy scalars become a 1-d tensor of their dtype; Python floats a float64 tensor; Python
ints an int64 tensor (bools a bool tensor); strings and bytes stay a list; mappings are
collated per key; namedtuples keep their type; other sequences are transposed and collated
per position (tuples come back as lists, as torch does for backward compatibility).
"""

from __future__ import annotations

import collections.abc
import copy
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from antorcha._tensor import Tensor

_STRING_OR_OBJECT_DTYPE = re.compile(r"[SaUO]")

_COLLATE_ERROR = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
)


def _tensor_from_numpy(array: np.ndarray | np.generic) -> Tensor:
    import antorcha

    return antorcha.as_tensor(array)  # as torch's collate: shares an array's memory


# ---- one function per element type, each `fn(batch, *, collate_fn_map)` as torch's ---------------


def collate_tensor_fn(batch: Sequence[Tensor], *, collate_fn_map: dict | None = None) -> Tensor:
    import antorcha

    return antorcha.stack(list(batch), 0)


def collate_numpy_array_fn(batch: Sequence[np.ndarray], *, collate_fn_map: dict | None = None) -> Any:
    if _STRING_OR_OBJECT_DTYPE.search(batch[0].dtype.str) is not None:
        raise TypeError(_COLLATE_ERROR.format(batch[0].dtype))
    return collate([_tensor_from_numpy(array) for array in batch], collate_fn_map=collate_fn_map)


def collate_numpy_scalar_fn(batch: Sequence[np.generic], *, collate_fn_map: dict | None = None) -> Tensor:
    return _tensor_from_numpy(np.asarray(batch))


def collate_float_fn(batch: Sequence[float], *, collate_fn_map: dict | None = None) -> Tensor:
    import antorcha

    return antorcha.tensor(list(batch), dtype=antorcha.float64)


def collate_int_fn(batch: Sequence[int], *, collate_fn_map: dict | None = None) -> Tensor:
    import antorcha

    return antorcha.tensor(list(batch))  # int64, or bool when the ints are bools


def collate_str_fn(batch: Sequence[str | bytes], *, collate_fn_map: dict | None = None) -> Sequence:
    return batch


# torch's table: an element's exact type first, then the first entry it is an instance of
default_collate_fn_map: dict[type | tuple[type, ...], Callable] = {
    Tensor: collate_tensor_fn,
    np.ndarray: collate_numpy_array_fn,
    (np.bool_, np.number, np.object_): collate_numpy_scalar_fn,
    float: collate_float_fn,
    int: collate_int_fn,
    str: collate_str_fn,
    bytes: collate_str_fn,
}


def collate(batch: Sequence[Any], *, collate_fn_map: dict | None = None) -> Any:
    """Merge a batch with `collate_fn_map`'s function for its element type; containers (mappings,
    namedtuples, sequences) are collated per key or position, as torch's `collate`."""
    element = batch[0]
    if collate_fn_map is not None:
        if type(element) in collate_fn_map:
            return collate_fn_map[type(element)](batch, collate_fn_map=collate_fn_map)
        for element_type, collate_fn in collate_fn_map.items():
            if isinstance(element, element_type):
                return collate_fn(batch, collate_fn_map=collate_fn_map)
    if isinstance(element, collections.abc.Mapping):
        per_key = {key: [sample[key] for sample in batch] for key in element}
        collated = {key: collate(values, collate_fn_map=collate_fn_map) for key, values in per_key.items()}
        return rebuild_mapping(element, collated)
    if isinstance(element, tuple) and hasattr(element, "_fields"):  # namedtuple
        return type(element)(*(collate(samples, collate_fn_map=collate_fn_map) for samples in zip(*batch)))
    if isinstance(element, collections.abc.Sequence):
        size = len(element)
        if any(len(sample) != size for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        collated = [collate(samples, collate_fn_map=collate_fn_map) for samples in zip(*batch)]
        if isinstance(element, tuple):
            return collated  # a list, as torch keeps for backward compatibility
        return rebuild_sequence(element, collated)
    raise TypeError(_COLLATE_ERROR.format(type(element)))


def default_collate(batch: Sequence[Any]) -> Any:
    """Merge a list of samples into a batch (see the module docstring for the rules)."""
    return collate(batch, collate_fn_map=default_collate_fn_map)


def default_convert(data: Any) -> Any:
    """Turn NumPy arrays (and scalars) inside one sample into tensors; leave everything else as is."""
    if isinstance(data, Tensor):
        return data
    data_type = type(data)
    if data_type.__module__ == "numpy" and data_type.__name__ not in ("str_", "string_"):
        if isinstance(data, np.ndarray) and _STRING_OR_OBJECT_DTYPE.search(data.dtype.str) is not None:
            return data
        return _tensor_from_numpy(data)
    if isinstance(data, collections.abc.Mapping):
        return rebuild_mapping(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return data_type(*(default_convert(item) for item in data))
    if isinstance(data, tuple):
        return [default_convert(item) for item in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return rebuild_sequence(data, [default_convert(item) for item in data])
    return data


def rebuild_mapping(template: collections.abc.Mapping, values: dict) -> Any:
    """A mapping of the template's type holding `values` (a plain dict when the type refuses)."""
    try:
        if isinstance(template, collections.abc.MutableMapping):
            # a copy keeps extra state of the mapping type (e.g. a defaultdict's factory)
            clone = copy.copy(template)
            clone.update(values)
            return clone
        return type(template)(values)
    except TypeError:
        return values


def rebuild_sequence(template: collections.abc.Sequence, values: list) -> Any:
    try:
        if isinstance(template, collections.abc.MutableSequence):
            clone = copy.copy(template)
            for i, value in enumerate(values):
                clone[i] = value
            return clone
        return type(template)(values)
    except TypeError:
        return values

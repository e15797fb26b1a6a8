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
from typing import Any

import numpy as np

from antorcha._tensor import Tensor

_STRING_OR_OBJECT_DTYPE = re.compile(r"[SaUO]")

_COLLATE_ERROR = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
)


def _tensor_from_numpy(array: np.ndarray | np.generic) -> Tensor:
    import antorcha

    return antorcha.from_numpy(np.asarray(array))


def _collate_tensors(batch: list[Tensor]) -> Tensor:
    import antorcha

    return antorcha.stack(batch, 0)


def _collate_numpy_arrays(batch: list[np.ndarray]) -> Tensor:
    if _STRING_OR_OBJECT_DTYPE.search(batch[0].dtype.str) is not None:
        raise TypeError(_COLLATE_ERROR.format(batch[0].dtype))
    return _collate_tensors([_tensor_from_numpy(array) for array in batch])


def _collate_numpy_scalars(batch: list[np.generic]) -> Tensor:
    return _tensor_from_numpy(np.asarray(batch))


def _collate_floats(batch: list[float]) -> Tensor:
    import antorcha

    return antorcha.tensor(batch, dtype=antorcha.float64)


def _collate_ints(batch: list[int]) -> Tensor:
    import antorcha

    return antorcha.tensor(batch)  # int64, or bool when the ints are bools


def default_collate(batch: list[Any]) -> Any:
    """Merge a list of samples into a batch (see the module docstring for the rules)."""
    element = batch[0]
    if isinstance(element, Tensor):
        return _collate_tensors(batch)
    if isinstance(element, np.ndarray):
        return _collate_numpy_arrays(batch)
    if isinstance(element, (np.bool_, np.number, np.object_)):
        return _collate_numpy_scalars(batch)
    if isinstance(element, float):
        return _collate_floats(batch)
    if isinstance(element, int):
        return _collate_ints(batch)
    if isinstance(element, (str, bytes)):
        return batch
    if isinstance(element, collections.abc.Mapping):
        return _rebuild_mapping(element, {key: default_collate([d[key] for d in batch]) for key in element})
    if isinstance(element, tuple) and hasattr(element, "_fields"):  # namedtuple
        return type(element)(*(default_collate(list(samples)) for samples in zip(*batch)))
    if isinstance(element, collections.abc.Sequence):
        size = len(element)
        if any(len(sample) != size for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        collated = [default_collate(list(samples)) for samples in zip(*batch)]
        if isinstance(element, tuple):
            return collated
        return _rebuild_sequence(element, collated)
    raise TypeError(_COLLATE_ERROR.format(type(element)))


def default_convert(data: Any) -> Any:
    """Turn NumPy arrays (and scalars) inside one sample into tensors; leave everything else as is."""
    if isinstance(data, Tensor):
        return data
    data_type = type(data)
    if data_type.__module__ == "numpy" and data_type.__name__ not in ("str_", "bytes_", "string_"):
        if isinstance(data, np.ndarray) and _STRING_OR_OBJECT_DTYPE.search(data.dtype.str) is not None:
            return data
        return _tensor_from_numpy(data)
    if isinstance(data, collections.abc.Mapping):
        return _rebuild_mapping(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return data_type(*(default_convert(item) for item in data))
    if isinstance(data, tuple):
        return [default_convert(item) for item in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _rebuild_sequence(data, [default_convert(item) for item in data])
    return data


def _rebuild_mapping(template: collections.abc.Mapping, values: dict) -> Any:
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


def _rebuild_sequence(template: collections.abc.Sequence, values: list) -> Any:
    try:
        if isinstance(template, collections.abc.MutableSequence):
            clone = copy.copy(template)
            for i, value in enumerate(values):
                clone[i] = value
            return clone
        return type(template)(values)
    except TypeError:
        return values

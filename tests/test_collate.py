"""default_collate / default_convert against torch's, type by type: containers keep torch's types,
numbers and NumPy values become torch's dtypes, and bad batches raise torch's error."""

from __future__ import annotations

import collections
from collections import OrderedDict, defaultdict, namedtuple
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pytest
import torch
import torch.utils.data as tdata

import antorcha
import antorcha.utils.data as adata

Pair = namedtuple("Pair", ["left", "right"])


class FrozenMapping(Mapping):
    """A read-only Mapping: collate rebuilds it with type(elem)(dict)."""

    def __init__(self, items: dict) -> None:
        self._items = dict(items)

    def __getitem__(self, key: Any) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class PickyMapping(FrozenMapping):
    """A Mapping whose constructor takes no dict: collate falls back to a plain dict."""

    def __init__(self, key: Any, value: Any) -> None:
        super().__init__({key: value})


class Row(Sequence):
    """A read-only Sequence that is not a tuple: rebuilt with type(elem)(list)."""

    def __init__(self, items: list) -> None:
        self._items = list(items)

    def __getitem__(self, index: Any) -> Any:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Row) and self._items == other._items


def plain(value: Any) -> Any:
    """Any batch of either framework as comparable plain data: tensors become (dtype, shape, values)."""
    if isinstance(value, (antorcha.Tensor, torch.Tensor)):
        return ("tensor", str(value.dtype).split(".")[-1], tuple(value.shape), value.tolist())
    if isinstance(value, defaultdict):
        return ("defaultdict", value.default_factory, {k: plain(v) for k, v in value.items()})
    if isinstance(value, Mapping):
        return (type(value).__name__, [(k, plain(v)) for k, v in value.items()])
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return (type(value).__name__, [plain(v) for v in value])
    if isinstance(value, (list, tuple, Row)):
        return (type(value).__name__, [plain(v) for v in value])
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.tolist())
    return (type(value).__name__, value)


def counts(lib: Any) -> defaultdict:
    out = defaultdict(list)
    out["a"] = lib.tensor([1.0])
    return out


BATCHES = {
    "ints and bools": lambda lib: [[1, True], [2, False]],
    "mixed int first": lambda lib: [1, 2.5],
    "mixed float first": lambda lib: [2.5, 1],
    "numpy scalars of every kind": lambda lib: [
        (np.float16(1.5), np.bool_(True), np.int8(-3), np.uint8(200), np.int64(7)),
        (np.float16(2.5), np.bool_(False), np.int8(4), np.uint8(3), np.int64(-1)),
    ],
    "numpy 0-d and 2-d arrays": lambda lib: [
        (np.array(1.5), np.ones((2, 3), np.int16)),
        (np.array(2.5), np.zeros((2, 3), np.int16)),
    ],
    "numpy float64 is not a float": lambda lib: [np.float64(1.0), np.float64(2.0)],
    "numpy strings": lambda lib: [np.str_("a"), np.str_("b")],
    "bytes": lambda lib: [b"a", b"bc"],
    "ordered dict": lambda lib: [OrderedDict(b=1, a=2.0), OrderedDict(b=3, a=4.0)],
    "defaultdict keeps its factory": lambda lib: [counts(lib), counts(lib)],
    "read-only mapping": lambda lib: [FrozenMapping({"x": 1}), FrozenMapping({"x": 2})],
    "mapping that cannot be rebuilt": lambda lib: [PickyMapping("x", 1.0), PickyMapping("x", 2.0)],
    "namedtuple of tensors": lambda lib: [Pair(lib.ones(2), 1), Pair(lib.zeros(2), 2)],
    "tuples become lists": lambda lib: [(1, "a"), (2, "b")],
    "read-only sequence": lambda lib: [Row([1, 2.0]), Row([3, 4.0])],
    "range cannot be rebuilt": lambda lib: [range(2), range(1, 3)],
    "nested": lambda lib: [
        {"pair": Pair([lib.tensor(1), 2], {"k": np.float32(1)}), "id": "a"},
        {"pair": Pair([lib.tensor(3), 4], {"k": np.float32(2)}), "id": "b"},
    ],
    "int tensors": lambda lib: [lib.tensor([1, 2], dtype=lib.int32), lib.tensor([3, 4], dtype=lib.int32)],
    "bool tensors": lambda lib: [lib.tensor(True), lib.tensor(False)],
}


@pytest.mark.parametrize("case", sorted(BATCHES))
def test_default_collate_matches_torch(case: str) -> None:
    assert plain(adata.default_collate(BATCHES[case](antorcha))) == plain(
        tdata.default_collate(BATCHES[case](torch))
    )


@pytest.mark.parametrize("case", sorted(BATCHES))
def test_default_convert_matches_torch(case: str) -> None:
    ours, theirs = BATCHES[case](antorcha), BATCHES[case](torch)
    assert plain(adata.default_convert(ours)) == plain(tdata.default_convert(theirs))
    for our_sample, their_sample in zip(ours, theirs):
        assert plain(adata.default_convert(our_sample)) == plain(tdata.default_convert(their_sample))


BAD_BATCHES = {
    "sizes differ": lambda lib: [[1, 2], [3]],
    "tensor shapes differ": lambda lib: [lib.ones(2), lib.ones(3)],
    "object": lambda lib: [object(), object()],
    "numpy string arrays": lambda lib: [np.array(["a"]), np.array(["b"])],
    "numpy object arrays": lambda lib: [np.array([None]), np.array([None])],
    "none": lambda lib: [None, None],
    "set": lambda lib: [{1}, {2}],
}


@pytest.mark.parametrize("case", sorted(BAD_BATCHES))
def test_bad_batches_raise_torchs_error(case: str) -> None:
    with pytest.raises(Exception) as theirs:
        tdata.default_collate(BAD_BATCHES[case](torch))
    with pytest.raises(theirs.type) as ours:
        adata.default_collate(BAD_BATCHES[case](antorcha))
    message = str(theirs.value).replace("torch.", "antorcha.").replace("<class 'antorcha.", "<class '")
    assert str(ours.value).replace("antorcha.", "") == message.replace("antorcha.", "")


def test_collate_with_its_own_type_map_as_torch() -> None:
    def run(lib: Any) -> Any:
        collate = lib.utils.data._utils.collate

        def twice(batch: list, *, collate_fn_map: dict) -> list:
            return [2 * x for x in batch]

        custom = {**collate.default_collate_fn_map, int: twice}
        return collate.collate([{"n": 1, "x": 0.5}, {"n": 2, "x": 1.5}], collate_fn_map=custom)

    assert plain(run(antorcha)) == plain(run(torch))


def test_loader_over_stack_dataset_matches_torch() -> None:
    def run(lib: Any, named: bool) -> list:
        images = lib.utils.data.TensorDataset(lib.arange(12.0).reshape(6, 2))
        labels = list(range(6))
        stack_of = lib.utils.data.StackDataset
        stack = stack_of(x=images, y=labels) if named else stack_of(images, labels)
        assert len(stack) == 6 and plain(stack[1]) == plain(stack.__getitems__([1])[0])
        return [plain(batch) for batch in lib.utils.data.DataLoader(stack, batch_size=4)]

    for named in (False, True):
        assert run(antorcha, named) == run(torch, named)
    for lib in (antorcha, torch):
        data = lib.utils.data
        with pytest.raises(ValueError, match="Size mismatch between datasets"):
            data.StackDataset([1, 2], [1])
        with pytest.raises(ValueError, match="At least one dataset should be passed"):
            data.StackDataset()
        with pytest.raises(ValueError, match="but both types are given"):
            data.StackDataset([1], y=[2])


def test_dataset_wrappers_match_torch() -> None:
    for lib in (antorcha, torch):
        data = lib.utils.data

        class Overrides(data.Subset):
            def __getitem__(self, index: int) -> Any:
                return 0

        with pytest.raises(NotImplementedError, match="overrides __getitem__ but not __getitems__"):
            Overrides([1, 2], [0])
        with pytest.raises(AssertionError, match="ChainDataset only supports IterableDataset"):
            len(data.ChainDataset([[1, 2]]))
        concat = data.ConcatDataset([[1, 2], [3]])
        with pytest.warns(FutureWarning, match="renamed to `cumulative_sizes`"):
            assert concat.cummulative_sizes == [2, 3]
        assert [concat[i] for i in range(-3, 3)] == [1, 2, 3, 1, 2, 3]
        with pytest.raises(ValueError, match="absolute value of index should not exceed dataset length"):
            concat[-4]
    assert collections.abc.Sequence  # the module is used above through its classes


def test_default_convert_refuses_numpy_bytes_as_torch() -> None:
    with pytest.raises(TypeError) as theirs:
        tdata.default_convert(np.bytes_(b"ab"))
    with pytest.raises(TypeError) as ours:
        adata.default_convert(np.bytes_(b"ab"))
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("num_workers", [0, 1])
def test_an_iterable_loaders_iterator_has_no_length_as_torch(num_workers: int) -> None:
    def lengths(lib: Any, data_module: Any) -> tuple:
        class Counting(data_module.IterableDataset):
            def __iter__(self) -> Any:
                return iter(range(5))

            def __len__(self) -> int:
                return 5

        loader = data_module.DataLoader(Counting(), batch_size=2, num_workers=num_workers)
        iterator = iter(loader)
        with pytest.raises(TypeError) as raised:
            len(iterator)
        del iterator
        return len(loader), str(raised.value)

    assert lengths(antorcha, adata) == lengths(torch, tdata)


_Pair = collections.namedtuple("_Pair", "a b")


class _ListType(list):
    pass


@pytest.mark.parametrize(
    "data",
    [
        collections.defaultdict(list, {"x": [1, 2], "y": ("s", 3)}),
        _Pair(1, "z"),
        _ListType([1, "q"]),
        ("a", [1, {"k": 2}]),
        {"m": _Pair([1], (2,))},
        range(3),
    ],
    ids=["defaultdict", "namedtuple", "list-subclass", "tuple", "nested", "range"],
)
def test_pin_memory_rebuilds_containers_as_torch(data: object) -> None:
    """The containers around the tensors (none here: no accelerator on this machine) come back as
    torch's pin_memory rebuilds them, types and a defaultdict's factory included."""
    from torch.utils.data._utils.pin_memory import pin_memory as torch_pin_memory

    from antorcha.utils.data._pin_memory import pin_memory

    ours, theirs = pin_memory(data), torch_pin_memory(data)
    assert type(ours) is type(theirs) and ours == theirs
    assert getattr(ours, "default_factory", None) is getattr(theirs, "default_factory", None)

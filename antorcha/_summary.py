"""`antorcha.summary(model, input_size=...)`: torchinfo's model summary, built on forward hooks.

Every module gets a forward pre-hook (which opens its row, in call order, with its parameter
count) and a forward hook (which fills in the input/output shapes, output bytes and mult-adds).
One forward pass under no_grad in eval mode on random inputs (or the caller's `input_data`) fills
the rows; containers whose own forward never runs (ModuleList, ModuleDict) are slotted in above
their first child afterwards. The rows and totals live in `_summary_stats.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

import antorcha
from antorcha._summary_stats import (
    HEADER_TITLES,
    ROW_SETTINGS,
    FormattingOptions,
    LayerInfo,
    ModelStatistics,
    prod,
)

DEFAULT_COLUMN_NAMES = ("output_size", "num_params")
NEEDS_INPUT = {"input_size", "output_size", "mult_adds"}

__all__ = ["LayerInfo", "ModelStatistics", "summary"]


def summary(
    model: Any,
    input_size: Any = None,
    input_data: Any = None,
    batch_dim: int | None = None,
    col_names: Iterable[str] | None = None,
    col_width: int = 25,
    depth: int = 3,
    device: Any = None,
    dtypes: list[Any] | None = None,
    mode: str | None = None,
    row_settings: Iterable[str] | None = None,
    verbose: int = 1,
    **kwargs: Any,
) -> ModelStatistics:
    """Print and return torchinfo's summary of `model`: per layer its output shape, parameters and
    mult-adds; the totals; and the input, activation (forward + backward) and parameter sizes in MB.

    input_size: the shape(s) of the input, batch dim included, e.g. (64, 10) or [(2, 3), (2, 5)];
    input_data: the forward's arguments themselves (a tensor, a list of them, or a dict of kwargs).
    With neither, no forward runs and only the parameter counts are shown.
    """
    has_input = input_data is not None or input_size is not None
    columns = (
        tuple(col_names) if col_names is not None else DEFAULT_COLUMN_NAMES if has_input else ("num_params",)
    )
    rows = set(row_settings) if row_settings is not None else {"depth"}
    _validate(input_data, input_size, columns, rows, col_width, verbose, mode)
    if device is not None:
        device = antorcha.device(device) if isinstance(device, str) else device
        model = model.to(device)
    x, correct_input_size = _process_input(input_data, input_size, batch_dim, device, dtypes, model)
    summary_list = _forward_pass(model, x, batch_dim, mode or "eval", kwargs)
    formatting = FormattingOptions(depth, verbose, columns, col_width, rows)
    results = ModelStatistics(summary_list, correct_input_size, _total_bytes(x), formatting)
    if verbose > 0:
        print(results)
    return results


def _validate(
    input_data: Any,
    input_size: Any,
    columns: tuple[str, ...],
    rows: set[str],
    col_width: int,
    verbose: int,
    mode: Any,
) -> None:
    if col_width <= 0:
        raise ValueError(f"Column width must be greater than 0: col_width={col_width}")
    if verbose not in (0, 1, 2):
        raise ValueError(f"Verbose must be either 0 (quiet), 1 (default), or 2 (verbose), got {verbose!r}.")
    if input_data is not None and input_size is not None:
        raise RuntimeError("Only one of (input_data, input_size) should be specified.")
    unknown = [c for c in columns if c not in HEADER_TITLES] + [r for r in rows if r not in ROW_SETTINGS]
    if unknown:
        raise ValueError(
            f"Unknown col_names/row_settings {unknown}; known: {list(HEADER_TITLES)}, {list(ROW_SETTINGS)}"
        )
    needs_input = NEEDS_INPUT & set(columns)
    if input_data is None and input_size is None and needs_input:
        raise ValueError(
            f"You must pass input_data or input_size in order to use columns: {sorted(needs_input)}"
        )
    if mode not in (None, "train", "eval"):
        raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")


# ---- inputs ---------------------------------------------------------------------------------
def _process_input(
    input_data: Any, input_size: Any, batch_dim: int | None, device: Any, dtypes: Any, model: Any
) -> tuple[Any, Any]:
    """The forward's arguments (a list, or a dict of kwargs) and the input shapes to report."""
    if input_data is not None:
        data = _map_tensors(input_data, lambda t: t if device is None else t.to(device))
        shapes = _map_tensors(data, lambda t: t.shape)
        return ([data] if isinstance(data, antorcha.Tensor) else data), shapes
    if input_size is not None:
        sizes = _correct_input_sizes(input_size)
        dtypes = dtypes if dtypes is not None else [antorcha.float32] * len(sizes)
        device = device if device is not None else _model_device(model)
        tensors = []
        for size, dtype in zip(sizes, dtypes, strict=False):
            tensor = antorcha.rand(*size, device=device).to(dtype)
            tensors.append(tensor if batch_dim is None else tensor.unsqueeze(batch_dim))
        return tensors, sizes
    return None, []


def _model_device(model: Any) -> Any:
    first = next(iter(model.parameters()), None)
    return first.device if first is not None else None


def _correct_input_sizes(input_size: Any) -> list[tuple[int, ...]]:
    """(64, 10) -> [(64, 10)]; [(2, 3), (2, 5)] -> the same list: one shape per forward argument."""
    if not isinstance(input_size, (list, tuple)):
        raise TypeError(
            f"input_size must be a tuple/list of ints, or a list of them, got {type(input_size).__name__}"
        )
    flat = list(_flatten(input_size))
    if not flat or any(size <= 0 for size in flat):
        raise ValueError(f"input_size must be non-empty and positive, got {input_size}")
    if isinstance(input_size[0], int):
        return [tuple(input_size)]
    return [tuple(size) for size in input_size]


def _flatten(nested: Any) -> Iterable[Any]:
    for item in nested:
        if isinstance(item, (list, tuple)):
            yield from _flatten(item)
        else:
            yield item


def _map_tensors(data: Any, action: Any) -> Any:
    """Apply `action` to every tensor in nested lists/tuples/dicts (numpy arrays become tensors)."""
    if isinstance(data, np.ndarray):
        data = antorcha.from_numpy(data)
    if isinstance(data, antorcha.Tensor):
        return action(data)
    if isinstance(data, Mapping):
        return {key: _map_tensors(value, action) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(_map_tensors(item, action) for item in data)
    return data


def _total_bytes(data: Any) -> int:
    """Bytes of every input tensor (torchinfo adds CPython's 64-byte storage header to each)."""
    sizes: list[int] = []
    _map_tensors(data, lambda t: sizes.append(t.nbytes))
    return sum(sizes)


def _size_of(value: Any, batch_dim: int | None) -> tuple[list[int], int]:
    """A module input/output's reported shape and element size: a tensor's own, a sequence's
    first tensor's, a dict's last value's (torchinfo's rules); [] for anything else."""
    if isinstance(value, np.ndarray):
        value = antorcha.from_numpy(value)
    if isinstance(value, antorcha.Tensor):
        return list(value.shape), value.element_size()
    if isinstance(value, Mapping) and value:
        size, elem = _size_of(list(value.values())[-1], None)
    elif isinstance(value, (list, tuple)) and value:
        size, elem = _size_of(value[0], None)
    else:
        return [], 0
    if batch_dim is not None and batch_dim < len(size):
        size[batch_dim] = 1
    return size, elem


# ---- the hooked forward -------------------------------------------------------------------------
def _forward_pass(model: Any, x: Any, batch_dim: int | None, mode: str, kwargs: dict) -> list[LayerInfo]:
    summary_list: list[LayerInfo] = []
    handles = _apply_hooks(model, x is not None, summary_list, batch_dim)
    if x is None:
        _set_children_layers(summary_list)
        return summary_list
    modes = {module: module.training for module in model.modules()}  # restored one by one
    try:
        model.train(mode == "train")
        with antorcha.no_grad():
            _ = model(**x, **kwargs) if isinstance(x, Mapping) else model(*x, **kwargs)
    except Exception as error:
        executed = [info for info in summary_list if info.executed]
        raise RuntimeError(f"Failed to run antorcha.summary. Executed layers up to: {executed}") from error
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes.items():
            module.training = training
    _add_missing_container_layers(summary_list)
    _set_children_layers(summary_list)
    return summary_list


def _apply_hooks(
    model: Any, run_forward: bool, summary_list: list[LayerInfo], batch_dim: int | None
) -> list[Any]:
    """Hook every module depth first; without a forward, list the rows in definition order now."""
    seen_ids: set[int] = set()
    handles: dict[int, tuple[Any, Any]] = {}  # one pair per module, however often it is listed
    open_rows: dict[int, LayerInfo] = {}
    stack: list[tuple[str, Any, int, LayerInfo | None]] = [(type(model).__name__, model, 0, None)]
    while stack:
        var_name, module, depth, parent = stack.pop()
        placeholder = LayerInfo(var_name, module, depth, parent)  # the parent of its children's rows
        open_rows[id(module)] = placeholder
        pre_hook = _make_pre_hook(var_name, depth, parent, summary_list, seen_ids, open_rows)
        if run_forward:
            for earlier in handles.get(id(module), ()):  # a reused module: its last place names it
                earlier.remove()
            handles[id(module)] = (
                module.register_forward_pre_hook(pre_hook),
                module.register_forward_hook(_make_hook(open_rows, batch_dim)),
            )
        else:
            pre_hook(module, ())
        children = [(name, child) for name, child in module._modules.items() if child is not None]
        stack += [(name, child, depth + 1, placeholder) for name, child in reversed(children)]
    return [handle for pair in handles.values() for handle in pair]


def _make_pre_hook(
    var_name: str,
    depth: int,
    parent: LayerInfo | None,
    summary_list: list[LayerInfo],
    seen_ids: set[int],
    open_rows: dict,
) -> Any:
    def pre_hook(module: Any, args: tuple) -> None:
        info = LayerInfo(var_name, module, depth, parent)
        info.calculate_num_params()
        info.is_recursive = info.layer_id in seen_ids
        summary_list.append(info)
        seen_ids.add(info.layer_id)
        open_rows[info.layer_id] = info

    return pre_hook


def _make_hook(open_rows: dict[int, LayerInfo], batch_dim: int | None) -> Any:
    def hook(module: Any, args: tuple, output: Any) -> None:
        info = open_rows[id(module)]
        info.input_size, _ = _size_of(args, batch_dim)
        info.output_size, elem_bytes = _size_of(output, batch_dim)
        info.output_bytes = elem_bytes * prod(info.output_size)
        info.executed = True
        info.calculate_macs()

    return hook


def _add_missing_container_layers(summary_list: list[LayerInfo]) -> None:
    """Insert the rows of containers that were never called (ModuleList...) above their first child.

    A row's ancestors (through parent_info) must appear, at their depths, as the rows just above it
    in the tree; an ancestor missing from the current chain gets its row (counted, never executed).
    """
    seen_ids = {info.layer_id for info in summary_list}
    chain: dict[int, LayerInfo] = {}  # depth -> the row now open at that depth
    index = 0
    while index < len(summary_list):
        info = summary_list[index]
        ancestors = _ancestors_by_depth(info)
        for depth in range(1, info.depth):
            ancestor = ancestors[depth]
            if depth in chain and chain[depth].module is ancestor.module:
                continue
            ancestor.calculate_num_params()
            ancestor.is_recursive = ancestor.layer_id in seen_ids
            seen_ids.add(ancestor.layer_id)
            summary_list.insert(index, ancestor)
            chain[depth] = ancestor
            index += 1
        chain[info.depth] = info
        for deeper in [d for d in chain if d > info.depth]:
            del chain[deeper]
        index += 1


def _ancestors_by_depth(info: LayerInfo) -> dict[int, LayerInfo]:
    ancestors: dict[int, LayerInfo] = {}
    parent = info.parent_info
    while parent is not None and parent.depth > 0:
        ancestors[parent.depth] = parent
        parent = parent.parent_info
    return ancestors


def _set_children_layers(summary_list: list[LayerInfo]) -> None:
    """Number rows per depth (the '1-3' in 'Linear: 1-3') and give each its subtree's rows."""
    counters: dict[int, int] = {}
    for index, info in enumerate(summary_list):
        counters[info.depth] = counters.get(info.depth, 0) + 1
        info.depth_index = counters[info.depth]
        end = index + 1
        while end < len(summary_list) and summary_list[end].depth > info.depth:
            end += 1
        info.children = summary_list[index + 1 : end]

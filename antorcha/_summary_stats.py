"""The rows and totals of `antorcha.summary`, and the table torchinfo prints for them.

One `LayerInfo` per module call (in call order), one `ModelStatistics` for the whole model.
The figures follow torchinfo 1.8's rules so a learner's numbers match the add-on's; the one
deliberate difference: a parameter tied between two modules counts once in the totals
(torchinfo counts it in each module that owns it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

# col_name -> header title, in torchinfo's words
HEADER_TITLES = {
    "kernel_size": "Kernel Shape",
    "input_size": "Input Shape",
    "output_size": "Output Shape",
    "num_params": "Param #",
    "params_percent": "Param %",
    "mult_adds": "Mult-Adds",
    "trainable": "Trainable",
}
ROW_SETTINGS = ("ascii_only", "depth", "var_names", "hide_recursive_layers")


def prod(sizes: Iterable[Any]) -> int:
    """Product of a (possibly nested) list of ints; 1 for an empty list."""
    result = 1
    for size in sizes:
        result *= prod(size) if isinstance(size, Iterable) else int(size)
    return result


class LayerInfo:
    """One row: a module's call, its output shape, parameter count and mult-adds."""

    def __init__(self, var_name: str, module: Any, depth: int, parent_info: LayerInfo | None = None) -> None:
        self.layer_id = id(module)
        self.module = module
        self.class_name = type(module).__name__
        self.var_name = var_name
        self.depth = depth
        self.depth_index: int | None = None  # numbered once all rows are known
        self.parent_info = parent_info
        self.children: list[LayerInfo] = []
        self.is_leaf_layer = not any(True for _ in module.children())
        self.executed = False
        self.is_recursive = False  # the same module was called before (weights shared by reuse)
        self.input_size: list[int] = []
        self.output_size: list[int] = []
        self.kernel_size = _kernel_size(module)
        self.num_params = 0
        self.trainable_params = 0
        self.param_bytes = 0
        self.output_bytes = 0
        self.macs = 0
        self.inner_layers: dict[str, dict[str, str]] = {}  # verbose=2: one line per weight

    def __repr__(self) -> str:
        return f"{self.class_name}: {self.depth}"

    def calculate_num_params(self) -> None:
        """Count this module's parameters (its children's included), and the verbose=2 lines."""
        self.num_params = self.trainable_params = self.param_bytes = 0
        self.inner_layers = {}
        for name, param in self.module.named_parameters():
            count = param.numel()
            self.num_params += count
            self.param_bytes += count * param.element_size()
            if param.requires_grad:
                self.trainable_params += count
            if self.parent_info is not None or "." not in name:
                self.inner_layers[name] = {
                    "kernel_size": str(_weight_shape(name, param)),
                    "num_params": f"├─{count:,}",
                }
        if self.inner_layers:
            last = self.inner_layers[next(reversed(self.inner_layers))]
            last["num_params"] = "└─" + last["num_params"][2:]

    def calculate_macs(self) -> None:
        """torchinfo's mult-add rule: each weight/bias element once per output row.

        A row is the batch (output dim 0) for most layers; for ConvNd it is every output position
        (batch x spatial dims, the channel dim left out); recurrent weights (weight_ih_l0...) count
        once per (batch, time) pair, the first two output dims.
        """
        for name, param in self.module.named_parameters():
            count = param.numel()
            if name in ("weight", "bias"):
                if "Conv" in self.class_name:
                    self.macs += count * prod(self.output_size[:1] + self.output_size[2:])
                else:
                    self.macs += (self.output_size[0] if self.output_size else 0) * count
            elif "weight" in name or "bias" in name:
                self.macs += prod(self.output_size[:2]) * count

    @property
    def trainable(self) -> str:
        if self.num_params == 0:
            return "--"
        if self.trainable_params == 0:
            return "False"
        return "True" if self.trainable_params == self.num_params else "Partial"

    def leftover_params(self) -> int:
        """Parameters of this module that no listed child accounts for (a container's own)."""
        return self.num_params - sum(
            child.num_params if child.is_leaf_layer else child.leftover_params()
            for child in self.children
            if not child.is_recursive
        )

    def layer_name(self, show_var_name: bool, show_depth: bool) -> str:
        name = self.class_name
        if show_var_name and self.var_name:
            name += f" ({self.var_name})"
        if show_depth and self.depth > 0:
            name += f": {self.depth}" + (f"-{self.depth_index}" if self.depth_index is not None else "")
        return name

    def num_params_to_str(self, reached_max_depth: bool) -> str:
        if self.num_params == 0:
            return "--"
        if self.is_recursive:
            return "(recursive)"
        if reached_max_depth or self.is_leaf_layer:
            text = f"{self.num_params:,}"
            return text if self.trainable_params else f"({text})"  # parentheses: frozen
        leftover = self.leftover_params()
        return f"{leftover:,}" if leftover > 0 else "--"

    def macs_to_str(self, reached_max_depth: bool) -> str:
        if self.macs <= 0:
            return "--"
        if self.is_leaf_layer:
            return f"{self.macs:,}"
        if reached_max_depth:  # a folded container shows what its leaves did
            return f"{sum(child.macs for child in self.children if child.is_leaf_layer):,}"
        return "--"

    def params_percent(self, total_params: int, reached_max_depth: bool) -> str:
        if self.is_recursive:
            return "(recursive)"
        params = self.num_params if reached_max_depth or self.is_leaf_layer else self.leftover_params()
        if total_params == 0 or params == 0:
            return "     --"
        return f"{params / total_params:>7.2%}"


def _kernel_size(module: Any) -> int | list[int] | None:
    kernel = getattr(module, "kernel_size", None)
    if kernel is None:
        return None
    return list(kernel) if isinstance(kernel, Iterable) else int(kernel)


def _weight_shape(name: str, param: Any) -> list[int]:
    shape = list(param.shape)
    if name == "weight" and len(shape) > 1:  # shown as [in, out, k, k]
        shape[0], shape[1] = shape[1], shape[0]
    return shape


class ModelStatistics:
    """What `antorcha.summary` returns: the rows, the totals (attributes) and the table (str)."""

    def __init__(
        self, summary_list: list[LayerInfo], input_size: Any, total_input_size: int, formatting: Any
    ) -> None:
        self.summary_list = summary_list
        self.input_size = input_size
        self.formatting = formatting
        self.total_input = total_input_size
        self.total_mult_adds = 0
        self.total_output_bytes = 0
        self.total_param_bytes = 0
        seen_params: set[int] = set()
        for info in summary_list:
            if not info.is_leaf_layer:
                continue
            self.total_mult_adds += info.macs
            if info.num_params > 0:
                self.total_output_bytes += info.output_bytes * 2  # x2: the gradient of each output
            if not info.is_recursive:
                self.total_param_bytes += _unseen_param_bytes(info.module, seen_params)
        params = _unique_params(summary_list[0].module) if summary_list else []
        self.total_params = sum(p.numel() for p in params)
        self.trainable_params = sum(p.numel() for p in params if p.requires_grad)
        formatting.set_layer_name_width(summary_list)

    @staticmethod
    def format_output_num(num: int, units: str) -> str:
        """': 1,201' for parameter counts; ' (M): 0.08' for mult-adds (M, G or T by size)."""
        if units == "auto":
            units, divisor = ("T", 1e12) if num >= 1e12 else ("G", 1e9) if num >= 1e9 else ("M", 1e6)
            value: float = num / divisor
        else:
            value = num
        shown = f"{int(value):,d}" if float(value).is_integer() else f"{value:,.2f}"
        return (f" ({units})" if units != "none" else "") + f": {shown}"

    def __repr__(self) -> str:
        fmt = self.formatting
        divider = "=" * fmt.get_total_width()
        count = self.format_output_num
        text = (
            f"{divider}\n{fmt.header_row()}{divider}\n"
            f"{fmt.layers_to_str(self.summary_list, self.total_params)}{divider}\n"
            f"Total params{count(self.total_params, 'none')}\n"
            f"Trainable params{count(self.trainable_params, 'none')}\n"
            f"Non-trainable params{count(self.total_params - self.trainable_params, 'none')}\n"
        )
        if self.input_size:
            total = self.total_input + self.total_output_bytes + self.total_param_bytes
            text += (
                f"Total mult-adds{count(self.total_mult_adds, 'auto')}\n{divider}\n"
                f"Input size (MB): {self.total_input / 1e6:0.2f}\n"
                f"Forward/backward pass size (MB): {self.total_output_bytes / 1e6:0.2f}\n"
                f"Params size (MB): {self.total_param_bytes / 1e6:0.2f}\n"
                f"Estimated Total Size (MB): {total / 1e6:0.2f}\n"
            )
        return text + divider

    __str__ = __repr__


def _unique_params(module: Any) -> list[Any]:
    """Each parameter once, however many modules hold it (named_parameters drops repeats)."""
    return [param for _, param in module.named_parameters()]


def _unseen_param_bytes(module: Any, seen: set[int]) -> int:
    total = 0
    for param in _unique_params(module):
        if id(param) not in seen:
            seen.add(id(param))
            total += param.numel() * param.element_size()
    return total


class FormattingOptions:
    """Which columns and row settings; the widths; turning rows into aligned text."""

    def __init__(
        self, max_depth: int, verbose: int, col_names: tuple[str, ...], col_width: int, row_settings: set[str]
    ) -> None:
        self.max_depth = max_depth
        self.verbose = verbose
        self.col_names = col_names
        self.col_width = col_width
        self.layer_name_width = 40
        self.ascii_only = "ascii_only" in row_settings
        self.show_var_name = "var_names" in row_settings
        self.show_depth = "depth" in row_settings
        self.hide_recursive_layers = "hide_recursive_layers" in row_settings

    def get_start_str(self, depth: int) -> str:
        """The tree drawing before a name: '├─' at depth 1, '│    └─' at depth 2, ..."""
        if depth == 0:
            return ""
        if depth == 1:
            return "+ " if self.ascii_only else "├─"
        return ("|    " if self.ascii_only else "│    ") * (depth - 1) + ("+ " if self.ascii_only else "└─")

    def set_layer_name_width(self, summary_list: list[LayerInfo], align: int = 5) -> None:
        """Widen the first column (to a multiple of 5) when a name and its indent pass 40."""
        longest = max(
            (
                len(info.layer_name(self.show_var_name, self.show_depth)) + info.depth * align + 1
                for info in summary_list
            ),
            default=0,
        )
        if longest >= self.layer_name_width:
            self.layer_name_width = math.ceil(longest / align) * align

    def get_total_width(self) -> int:
        return len(self.col_names) * self.col_width + self.layer_name_width

    def format_row(self, layer_name: str, values: dict[str, str]) -> str:
        line = f"{layer_name:<{self.layer_name_width}} "
        for col in self.col_names:
            line += f"{values.get(col, ''):<{self.col_width}} "
        return line.rstrip() + "\n"

    def header_row(self) -> str:
        suffix = (" (var_name)" if self.show_var_name else "") + (":depth-idx" if self.show_depth else "")
        return self.format_row(f"Layer (type{suffix})", HEADER_TITLES)

    def layer_info_to_row(self, info: LayerInfo, reached_max_depth: bool, total_params: int) -> str:
        values = {
            "kernel_size": _or_dashes(info.kernel_size),
            "input_size": _or_dashes(info.input_size),
            "output_size": _or_dashes(info.output_size),
            "num_params": info.num_params_to_str(reached_max_depth),
            "params_percent": info.params_percent(total_params, reached_max_depth),
            "mult_adds": info.macs_to_str(reached_max_depth),
            "trainable": info.trainable,
        }
        name = self.get_start_str(info.depth) + info.layer_name(self.show_var_name, self.show_depth)
        line = self.format_row(name, values)
        if self.verbose == 2:
            prefix = self.get_start_str(info.depth + 1)
            for inner_name, inner_values in info.inner_layers.items():
                line += self.format_row(prefix + inner_name, inner_values)
        return line

    def layers_to_str(self, summary_list: list[LayerInfo], total_params: int) -> str:
        shown = (
            info
            for info in summary_list
            if info.depth <= self.max_depth and not (self.hide_recursive_layers and info.is_recursive)
        )
        return "".join(
            self.layer_info_to_row(info, info.depth == self.max_depth, total_params) for info in shown
        )


def _or_dashes(value: Any) -> str:
    return str(value) if value else "--"

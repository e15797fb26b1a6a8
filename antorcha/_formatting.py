"""`repr(tensor)` in torch's style: `tensor([[1., 2.]], requires_grad=True)`.

Follows torch's printing rules: 4 decimals, integer-valued floats as `1.`,
scientific notation when the values span more than 1000x or leave [1e-4, 1e8],
columns aligned to the widest value, long tensors summarized with `...`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_LINE_WIDTH = 80
_THRESHOLD = 1000
_EDGE_ITEMS = 3


class _Formatter:
    """Chooses one number format for a whole tensor, as torch does."""

    def __init__(self, values: np.ndarray) -> None:
        self.kind = values.dtype.kind
        self.sci = False
        self.int_mode = True
        measured = values.reshape(-1)
        if self.kind == "f":
            finite = values[np.isfinite(values)].astype(np.float64)
            measured = finite[finite != 0]  # torch sizes columns by the nonzero finite values only
            nonzero = np.abs(measured)
            if nonzero.size:
                self.int_mode = bool(np.all(nonzero == np.ceil(nonzero)))
                low, high = float(nonzero.min()), float(nonzero.max())
                too_wide = high / low > 1000.0 or high > 1.0e8
                self.sci = too_wide if self.int_mode else too_wide or low < 1.0e-4
        self.width = max((len(self._plain(v)) for v in measured), default=1)

    def _plain(self, value: Any) -> str:
        if self.kind == "b":
            return str(bool(value))
        if self.kind != "f":
            return str(int(value))
        value = float(value)
        if not np.isfinite(value):
            return "nan" if np.isnan(value) else ("inf" if value > 0 else "-inf")
        if self.sci:
            return f"{value:.4e}"
        if self.int_mode:
            return f"{value:.0f}."
        return f"{value:.4f}"

    def __call__(self, value: Any) -> str:
        return self._plain(value).rjust(self.width)


def _summarized(values: np.ndarray) -> np.ndarray:
    """The elements that a summarized print shows (the edges of every dim)."""
    if values.ndim == 0:
        return values.reshape(1)
    count = values.shape[0]
    rows = (
        list(values[:_EDGE_ITEMS]) + list(values[-_EDGE_ITEMS:]) if count > 2 * _EDGE_ITEMS else list(values)
    )
    if values.ndim == 1:
        return np.array(rows, dtype=values.dtype)
    return np.concatenate([_summarized(r) for r in rows])


def _format_1d(values: np.ndarray, fmt: _Formatter, indent: int, summarize: bool) -> str:
    items = [fmt(v) for v in values]
    if summarize and values.shape[0] > 2 * _EDGE_ITEMS:
        items = [fmt(v) for v in values[:_EDGE_ITEMS]] + [" ..."] + [fmt(v) for v in values[-_EDGE_ITEMS:]]
    per_line = max((_LINE_WIDTH - indent) // (fmt.width + 2), 1)
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _format_nd(values: np.ndarray, fmt: _Formatter, indent: int, summarize: bool) -> str:
    if values.ndim == 1:
        return _format_1d(values, fmt, indent, summarize)
    rows: list[str] = []
    count = values.shape[0]
    if summarize and count > 2 * _EDGE_ITEMS:
        head = [_format_nd(v, fmt, indent + 1, summarize) for v in values[:_EDGE_ITEMS]]
        tail = [_format_nd(v, fmt, indent + 1, summarize) for v in values[-_EDGE_ITEMS:]]
        rows = [*head, "...", *tail]
    else:
        rows = [_format_nd(v, fmt, indent + 1, summarize) for v in values]
    separator = "," + "\n" * (values.ndim - 1) + " " * (indent + 1)
    return "[" + separator.join(rows) + "]"


def format_values(values: np.ndarray, indent: int) -> str:
    summarize = values.size > _THRESHOLD
    fmt = _Formatter(_summarized(values) if summarize else values)
    if values.ndim == 0:
        return fmt._plain(values.item())
    return _format_nd(values, fmt, indent, summarize)


def tensor_repr(t: Any, prefix: str = "tensor(") -> str:
    from antorcha import _dtypes

    values = t._cpu_array()
    if values.dtype.kind == "V":  # bfloat16 (ml_dtypes): its values, exactly, as float32
        values = values.astype(np.float32)
    suffixes = []
    if values.size == 0:
        body = "[]"
        if values.shape != (0,):
            suffixes.append(f"size={tuple(values.shape)}")
    else:
        body = format_values(values, len(prefix))
    if t._device.type != "cpu":
        suffixes.append(f"device='{t._device}'")
    dtype = t.dtype
    default_shown = (_dtypes.get_default_dtype(), _dtypes.int64, _dtypes.bool_)
    if dtype not in default_shown or (values.size == 0 and dtype is not _dtypes.get_default_dtype()):
        suffixes.append(f"dtype={dtype!r}")
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{type(t.grad_fn).__name__}>")
    elif t._requires_grad:
        suffixes.append("requires_grad=True")
    return _add_suffixes(prefix + body, suffixes, len(prefix))


def _add_suffixes(text: str, suffixes: list[str], indent: int) -> str:
    """torch's rule: a suffix that would pass the line width goes on a new line."""
    parts = [text]
    last_line_length = len(text) - text.rfind("\n") + 1  # (sic) torch's own arithmetic
    for suffix in suffixes:
        # measured as torch's "torch.float64" would be, so lines break where torch breaks them
        length = len(suffix.replace("antorcha.", "torch."))
        if last_line_length + length + 2 > _LINE_WIDTH:
            parts.append(",\n" + " " * indent + suffix)
            last_line_length = indent + length
        else:
            parts.append(", " + suffix)
            last_line_length += length + 2
    return "".join(parts) + ")"

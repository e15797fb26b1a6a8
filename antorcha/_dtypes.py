"""dtype objects and PyTorch's type-promotion rules.

A `dtype` wraps a NumPy dtype. Promotion follows torch, not NumPy: an int tensor
plus a float tensor gives the float tensor's dtype (NumPy would give float64),
Python scalars never upcast a tensor of their own category, and zero-dim tensors
only win when they are of a higher category than the dimensioned operands.

`bfloat16` is ml_dtypes' NumPy dtype (NumPy has none). Its extension takes about a second to
import, so it loads on the first use of `antorcha.bfloat16`'s NumPy dtype, not with antorcha.
"""

from __future__ import annotations

import numpy as np

# Categories order the kinds of number: bool < integer < floating.
_BOOL, _INT, _FLOAT = 0, 1, 2


class dtype:  # noqa: N801 - torch spells it in lower case
    """A tensor element type, e.g. `antorcha.float32`."""

    __slots__ = ("category", "is_floating_point", "is_signed", "itemsize", "name", "np")

    def __init__(self, name: str, np_dtype: np.dtype) -> None:
        self.name = name
        self.np = np.dtype(np_dtype)
        self.itemsize = self.np.itemsize
        self.is_floating_point = self.np.kind == "f"
        self.is_signed = self.np.kind in "if"
        self.category = _FLOAT if self.np.kind == "f" else _INT if self.np.kind in "iu" else _BOOL

    @property
    def is_complex(self) -> bool:
        return False

    @property
    def scalar_name(self) -> str:
        """torch's ScalarType name, as its error messages spell it: 'Float', 'Long', 'Bool'."""
        return _SCALAR_NAMES.get(self.name, self.name)

    @property
    def legacy_name(self) -> str:
        """The legacy tensor type: 'FloatTensor', 'LongTensor' (`tensor.type()`)."""
        return _SCALAR_NAMES.get(self.name, self.name) + "Tensor"

    def __repr__(self) -> str:
        return f"antorcha.{self.name}"

    def __reduce__(self) -> str:
        return self.name


# torch's ScalarType names (its C++ enum), used in its error messages and legacy type names
_SCALAR_NAMES = {
    "float32": "Float",
    "float64": "Double",
    "float16": "Half",
    "int64": "Long",
    "int32": "Int",
    "int16": "Short",
    "int8": "Char",
    "uint8": "Byte",
    "bool": "Bool",
}

float32 = dtype("float32", np.float32)
float64 = dtype("float64", np.float64)
float16 = dtype("float16", np.float16)
int32 = dtype("int32", np.int32)
int64 = dtype("int64", np.int64)
int16 = dtype("int16", np.int16)
int8 = dtype("int8", np.int8)
uint8 = dtype("uint8", np.uint8)
bool_ = dtype("bool", np.bool_)



class _BFloat16(dtype):
    """bfloat16: float32's exponent with 8 significand bits; its NumPy dtype is ml_dtypes' (loaded lazily)."""

    __slots__ = ()

    def __init__(self) -> None:  # no NumPy dtype yet: it comes from ml_dtypes on first use
        self.name = "bfloat16"
        self.itemsize = 2
        self.is_floating_point = self.is_signed = True
        self.category = _FLOAT

    @property
    def scalar_name(self) -> str:  # not in _SCALAR_NAMES: the torch checkpoint reader maps those eagerly
        return "BFloat16"

    @property
    def legacy_name(self) -> str:
        return "BFloat16Tensor"

    @property
    def np(self) -> np.dtype:  # type: ignore[override]
        try:
            return _NP_SLOT.__get__(self)
        except AttributeError:
            return load_bfloat16()


_NP_SLOT = dtype.np  # the slot the property above shadows
bfloat16 = _BFloat16()


def load_bfloat16() -> np.dtype:
    """Import ml_dtypes and register its bfloat16 as `bfloat16`'s NumPy dtype."""
    import ml_dtypes

    np_dtype = np.dtype(ml_dtypes.bfloat16)
    _NP_SLOT.__set__(bfloat16, np_dtype)
    _FROM_NUMPY[np_dtype] = bfloat16
    return np_dtype


def is_floating_array(np_dtype: np.dtype) -> bool:
    """Whether arrays of this NumPy dtype are floating point: kind 'f', or bfloat16 (ml_dtypes' kind 'V').
    Hot paths spell it `np_dtype.kind in "fV"` (no call; antorcha has no other kind-'V' dtype)."""
    return np_dtype.kind == "f" or np_dtype.name == "bfloat16"


# torch's aliases
float = float32  # noqa: A001
double = float64
half = float16
long = int64
int = int32  # noqa: A001
short = int16
bool = bool_  # noqa: A001

# The Python builtins, saved before the aliases above shadowed their names.
_py_float, _py_int, _py_bool = type(1.0), type(1), type(True)  # noqa: UP003

ALL_DTYPES = (float32, float64, float16, bfloat16, int8, int16, int32, int64, uint8, bool_)
_FROM_NUMPY = {d.np: d for d in ALL_DTYPES if d is not bfloat16}  # bfloat16's joins when it loads

_default_float = float32


def from_numpy_dtype(np_dtype: np.dtype) -> dtype:
    try:
        return _FROM_NUMPY[np_dtype]
    except KeyError:
        if np_dtype.name == "bfloat16":  # ml_dtypes', passed in before antorcha loaded it
            load_bfloat16()
            return bfloat16
        raise TypeError(
            f"can't convert np.ndarray of type {np_dtype}. The only supported types are: "
            "float64, float32, float16, int64, int32, int16, int8, uint8, and bool."
        ) from None


def as_dtype(value: object) -> dtype:
    """Accept an antorcha dtype, a NumPy dtype or a Python type (float, int, bool)."""
    if isinstance(value, dtype):
        return value
    if value is _py_float:
        return _default_float
    if value is _py_int:
        return int64
    if value is _py_bool:
        return bool_
    try:
        return from_numpy_dtype(np.dtype(value))
    except TypeError as error:
        raise TypeError(f"unsupported dtype {value!r}") from error


def get_default_dtype() -> dtype:
    return _default_float


def set_default_dtype(d: dtype) -> None:
    global _default_float
    d = as_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default_float = d


def promote_types(a: dtype, b: dtype) -> dtype:
    """torch.promote_types: the smallest dtype both fit in, ints never beating floats."""
    if a is b:
        return a
    if a.category != b.category:
        return a if a.category > b.category else b
    return _FROM_NUMPY[np.promote_types(a.np, b.np)]


def result_type(*operands: object) -> dtype:
    """torch.result_type over tensors and Python scalars.

    Three priority tiers: dimensioned tensors, then zero-dim tensors, then Python
    scalars. A lower tier only matters when its category is higher than every
    higher tier's category, and then it contributes its *default* dtype for a
    scalar or its own dtype for a zero-dim tensor.
    """
    dims = zero = scalar = None  # best dtype seen at each tier
    for op in operands:
        d = getattr(op, "dtype", None)
        if isinstance(d, dtype):
            if op.ndim:
                dims = d if dims is None else promote_types(dims, d)
            else:
                zero = d if zero is None else promote_types(zero, d)
        else:
            s = scalar_dtype(op)
            scalar = s if scalar is None else promote_types(scalar, s)
    result = None
    for tier in (dims, zero, scalar):
        if tier is None:
            continue
        if result is None:
            result = tier
        elif tier.category > result.category:
            # a weaker tier of a higher category contributes the default of its category
            result = tier if tier is zero else _default_of_category(tier.category)
    return result


def _default_of_category(category: int) -> dtype:
    return _default_float if category == _FLOAT else int64 if category == _INT else bool_


def scalar_dtype(value: object) -> dtype:
    """The dtype torch gives a Python scalar on its own."""
    if isinstance(value, (_py_bool, np.bool_)):
        return bool_
    if isinstance(value, (_py_int, np.integer)):
        return int64
    if isinstance(value, (_py_float, np.floating)):
        return _default_float
    raise TypeError(f"unsupported operand type {type(value).__name__}")


def bfloat16_max() -> float:
    """The largest finite bfloat16 (3.3895e38; float32's max rounds to inf in bfloat16)."""
    return _py_float(np.finfo(bfloat16.np).max)


def numpy_dtype_named(name: str) -> np.dtype:
    """np.dtype(name), with 'bfloat16' as ml_dtypes' (loaded on first use)."""
    return bfloat16.np if name == "bfloat16" else np.dtype(name)

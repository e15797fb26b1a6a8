"""antorcha: tensors, autograd, nn and optim with PyTorch's API, on NumPy (and CuPy).

`import antorcha as torch` and ordinary beginner PyTorch code runs unchanged.
"""

from __future__ import annotations

import importlib as _importlib
import math as _math
from typing import Any as _Any

# speed loads its allocator module, which tunes malloc for array reuse (see its docstring)
from antorcha import autograd, speed
from antorcha._creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    empty_strided,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    normal,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from antorcha._device import device, get_default_device, set_default_device
from antorcha._dtypes import (
    bfloat16,
    bool_,
    double,
    dtype,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    promote_types,
    set_default_dtype,
    short,
    uint8,
)
from antorcha._dtypes import bool as bool  # noqa: A004
from antorcha._dtypes import float as float  # noqa: A004
from antorcha._dtypes import int as int  # noqa: A004
from antorcha._functional import *  # noqa: F403
from antorcha._grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from antorcha._legacy import (
    BoolTensor,
    ByteTensor,
    CharTensor,
    DoubleTensor,
    FloatTensor,
    HalfTensor,
    IntTensor,
    LongTensor,
    ShortTensor,
    set_default_tensor_type,
)
from antorcha._tensor import Size, Tensor
from antorcha._threads import (
    get_num_interop_threads,
    get_num_threads,
    set_num_interop_threads,
    set_num_threads,
)
from antorcha._typeinfo import finfo, iinfo
from antorcha.amp.autocast_mode import (
    autocast,
    clear_autocast_cache,
    get_autocast_cpu_dtype,
    get_autocast_dtype,
    get_autocast_gpu_dtype,
    is_autocast_cache_enabled,
    is_autocast_cpu_enabled,
    is_autocast_enabled,
    set_autocast_cache_enabled,
    set_autocast_cpu_dtype,
    set_autocast_cpu_enabled,
    set_autocast_dtype,
    set_autocast_enabled,
    set_autocast_gpu_dtype,
)
from antorcha.backends import (
    are_deterministic_algorithms_enabled,
    get_float32_matmul_precision,
    is_deterministic_algorithms_warn_only_enabled,
    set_float32_matmul_precision,
    use_deterministic_algorithms,
)
from antorcha.random import (
    Generator,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    seed,
    set_rng_state,
)

# torch's constants
pi = _math.pi
e = _math.e
inf = _math.inf
nan = _math.nan
newaxis = None

__version__ = "0.1.0"


def compile(model: _Any = None, **options: _Any) -> _Any:  # noqa: A001 - torch's name
    """Fuse an MLP's Linear/ReLU layers into one chunked op (see antorcha/speed/compiler.py)."""
    from antorcha.speed.compiler import compile as compile_model

    return compile_model(model, **options)


_LAZY_SUBMODULES = {
    "nn", "optim", "utils", "cuda", "cpu", "serialization", "linalg", "amp", "accelerator", "profiler",
    "distributed", "multiprocessing",
}  # fmt: skip


def __getattr__(name: str) -> _Any:
    """Load the heavier submodules (nn, optim, utils, cuda) on first use."""
    if name in _LAZY_SUBMODULES:
        return _importlib.import_module(f"antorcha.{name}")
    if name == "summary":  # torchinfo's model summary (antorcha/_summary.py)
        return _importlib.import_module("antorcha._summary").summary
    if name in ("save", "load"):
        return getattr(_importlib.import_module("antorcha.serialization"), name)
    raise AttributeError(f"module 'antorcha' has no attribute '{name}'")

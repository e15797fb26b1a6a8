"""Shared helpers for the autograd tests: run one scenario on torch and on antorcha, compare.

A scenario is a function `scenario(lib)` written once against the torch API; it is called
with `lib=torch` (always on the cpu: the oracle) and with antorcha on the device under test
(`AntorchaOn`: its factory functions create tensors there). Whatever it returns (tensors, None,
numbers, strings, nested tuples/lists/dicts) is compared structurally, antorcha's tensors
also by device; if torch raises, antorcha must raise the same builtin exception class.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import antorcha

LIBS = (torch, antorcha)
FLOAT_DTYPES = ("float32", "float64")
TOLERANCES = {"float32": (1e-5, 1e-6), "float64": (1e-10, 1e-12)}

# antorcha's functions that create a tensor from nothing (and so take `device=`)
DEVICE_FACTORIES = frozenset(
    {"tensor", "as_tensor", "zeros", "ones", "empty", "full", "eye", "arange", "linspace",
     "rand", "randn", "randint", "randperm"}
)


class AntorchaOn:
    """antorcha as a scenario sees it on one device: the factory functions default to that
    device (like torch's `with torch.device(...)`); every other name is antorcha's own."""

    def __init__(self, device: str) -> None:
        self._target_device = device  # not `device`: scenarios may use `lib.device`

    def __getattr__(self, name: str) -> Any:
        value = getattr(antorcha, name)
        if name not in DEVICE_FACTORIES:
            return value

        def on_device(*args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("device", self._target_device)
            return value(*args, **kwargs)

        return on_device

    def __repr__(self) -> str:
        return f"AntorchaOn({self._target_device!r})"


def random_array(
    shape: tuple[int, ...], dtype: str = "float64", seed: int = 0, positive: bool = False
) -> np.ndarray:
    array = np.random.default_rng(seed).standard_normal(shape)
    if positive:
        array = np.abs(array) + 0.5
    return array.astype(dtype)


def leaf(lib: Any, array: np.ndarray, requires_grad: bool = True) -> Any:
    """A leaf tensor of `lib` holding a copy of `array` (same dtype)."""
    return lib.tensor(array.copy(), requires_grad=requires_grad)


def linear(lib: Any) -> Callable[..., Any]:
    """torch.nn.functional.linear, or its antorcha counterpart."""
    return torch.nn.functional.linear if lib is torch else antorcha.ops.linalg.linear


def dtype_name(dtype: Any) -> str:
    return str(dtype).split(".")[-1]


def builtin_base(cls: type) -> type:
    """The nearest builtin exception class (torch and antorcha subclass them differently)."""
    for klass in cls.__mro__:
        if getattr(builtins, klass.__name__, None) is klass:
            return klass
    return cls


class Raised:
    """What a scenario that raised is compared as: the builtin class of the exception."""

    def __init__(self, error: BaseException) -> None:
        self.cls = builtin_base(type(error))
        self.message = str(error)

    def __repr__(self) -> str:
        return f"Raised({self.cls.__name__}: {self.message[:200]})"


def outcome(scenario: Callable[[Any], Any], lib: Any) -> Any:
    try:
        return scenario(lib)
    except Exception as error:  # the class is what is compared
        return Raised(error)


def assert_same(
    ours: Any,
    theirs: Any,
    rtol: float | None = None,
    atol: float | None = None,
    path: str = "",
    device: str = "cpu",
) -> None:
    """Recursively compare an antorcha result with torch's (tensors by dtype, shape, values;
    antorcha's tensors must be on `device`, torch's are on the cpu)."""
    where = path or "result"
    if isinstance(theirs, Raised):
        assert isinstance(ours, Raised), f"{where}: torch raised {theirs}, antorcha returned {ours!r}"
        assert ours.cls is theirs.cls, f"{where}: torch raised {theirs}, antorcha raised {ours}"
        return
    assert not isinstance(ours, Raised), f"{where}: antorcha raised {ours}, torch returned {theirs!r}"
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, antorcha.Tensor), f"{where}: expected a Tensor, got {ours!r}"
        name = dtype_name(theirs.dtype)
        assert dtype_name(ours.dtype) == name, f"{where}: dtype {ours.dtype} != {theirs.dtype}"
        assert tuple(ours.shape) == tuple(theirs.shape), f"{where}: shape {ours.shape} != {theirs.shape}"
        assert ours.device.type == device, f"{where}: on {ours.device}, expected {device}"
        default_rtol, default_atol = TOLERANCES.get(name, (1e-3, 1e-4))
        np.testing.assert_allclose(
            ours.detach().cpu().numpy(),
            theirs.detach().numpy(),
            rtol=default_rtol if rtol is None else rtol,
            atol=default_atol if atol is None else atol,
            err_msg=where,
        )
    elif isinstance(theirs, dict):
        assert isinstance(ours, dict) and list(ours) == list(theirs), f"{where}: keys {ours!r} != {theirs!r}"
        for key in theirs:
            assert_same(ours[key], theirs[key], rtol, atol, f"{where}[{key!r}]", device)
    elif isinstance(theirs, (list, tuple)):
        assert isinstance(ours, (list, tuple)), f"{where}: expected a sequence, got {ours!r}"
        assert len(ours) == len(theirs), f"{where}: length {len(ours)} != {len(theirs)}"
        for index, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, rtol, atol, f"{where}[{index}]", device)
    elif isinstance(theirs, np.ndarray):
        np.testing.assert_allclose(ours, theirs, rtol=rtol or 1e-6, atol=atol or 1e-7, err_msg=where)
    elif isinstance(theirs, float):
        assert ours == theirs or np.isclose(ours, theirs, rtol=rtol or 1e-6), f"{where}: {ours} != {theirs}"
    else:
        assert ours == theirs, f"{where}: {ours!r} != {theirs!r}"


def assert_same_outcome(
    scenario: Callable[[Any], Any],
    rtol: float | None = None,
    atol: float | None = None,
    device: str = "cpu",
) -> Any:
    """Run `scenario` on torch (cpu) and on antorcha on `device`; compare results (or exception classes)."""
    theirs = outcome(scenario, torch)
    ours = outcome(scenario, AntorchaOn(device))
    assert_same(ours, theirs, rtol, atol, device=device)
    return ours


def assert_raises_like_torch(
    scenario: Callable[[Any], Any], expected: type[BaseException], device: str = "cpu"
) -> Raised:
    """Both must raise `expected` (checks the torch side too, so the scenario really raises)."""
    theirs = outcome(scenario, torch)
    assert isinstance(theirs, Raised) and issubclass(theirs.cls, expected), f"torch: {theirs!r}"
    ours = outcome(scenario, AntorchaOn(device))
    assert isinstance(ours, Raised), f"antorcha returned {ours!r} where torch raised {theirs}"
    assert ours.cls is theirs.cls, f"torch raised {theirs}, antorcha raised {ours}"
    return ours


def graph_nodes(roots: list) -> list:
    """Every node reachable from `roots` (antorcha's grad_fn objects), each once."""
    seen: list = []
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node is None or any(node is s for s in seen):
            continue
        seen.append(node)
        stack.extend(child for child, _ in node.next_functions)
    return seen


def arrays_kept(node: Any) -> list[str]:
    """The names of a node's attributes that hold an array or Tensor (also inside tuples)."""

    def holds(value: Any) -> bool:
        if isinstance(value, (tuple, list)):
            return any(holds(v) for v in value)
        return isinstance(value, (np.ndarray, antorcha.Tensor))

    return [name for name, value in vars(node).items() if holds(value)]

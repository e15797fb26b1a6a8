"""Where an op's public names are declared: once, on its function, beside its forward and backward.

    @register(dunders=("__mul__", "__rmul__"), aliases=("multiply",))
    def mul(input: Tensor, other: Any) -> Tensor:
        return _binary(Mul, input, other)

declares `antorcha.mul`, `antorcha.multiply`, `Tensor.mul`, `Tensor.multiply`, `x * y` and `2 * x`.
Nothing else has to be edited: `Tensor` gets its methods from `bind_tensor_methods`, the
`antorcha` namespace from `torch_functions`, and `antorcha.nn.functional` from
`functional_functions` (early tinygrad's `register()`, with the names spelled out).

A Tensor method receives the tensor as the function's first argument, so one function serves
`antorcha.exp(x)` and `x.exp()` alike, with torch's parameter names (`input`, `other`, `dim`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Declaration:
    """The public names of one function."""

    function: Callable[..., Any]  # as written; dunders and properties are bound to it
    public: Callable[..., Any]  # antorcha.<name> and F.<name>: `function`, or its `_public` wrapper
    for_methods: Callable[..., Any]  # Tensor.<method>: `function`, or a wrapper taking NumPy's names
    name: str  # its own name: antorcha.<name>, Tensor.<name>, F.<name>, as asked
    method: str | None  # the Tensor method's name, or None
    in_torch: bool  # whether antorcha.<name> exists
    in_functional: bool  # whether antorcha.nn.functional.<name> exists
    aliases: tuple[str, ...]  # more names wherever `name` is bound (`clip` for `clamp`)
    dunders: tuple[str, ...]  # operator methods bound to the same function
    as_property: bool  # Tensor.<method> is a property (`x.T`)

    def method_names(self) -> tuple[str, ...]:
        if self.method is None:
            return self.dunders
        return (self.method, *(self.aliases if not self.as_property else ()), *self.dunders)

    def torch_names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases) if self.in_torch else ()

    def functional_names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases) if self.in_functional else ()


DECLARATIONS: list[Declaration] = []


def register(
    name: str | None = None,
    *,
    method: bool | str = True,
    torch: bool = True,
    functional: bool = False,
    aliases: tuple[str, ...] = (),
    dunders: tuple[str, ...] = (),
    as_property: bool = False,
) -> Callable[[F], F]:
    """Declare a function's public names (see the module docstring); returns it unchanged.

    The names are bound to the function itself or to a thin wrapper (`_public`) that takes
    NumPy's spellings (`axis=`) and turns a non-tensor `input` into torch's TypeError.

    `method`: True binds Tensor.<name>, a string binds that name instead, False none.
    `torch`: bind antorcha.<name>. `functional`: bind antorcha.nn.functional.<name>.
    """

    def declare(function: F) -> F:
        own = name or function.__name__
        method_name = own if method is True else (method or None)
        declaration = Declaration(
            function, _public(function, own, check_input=True), _public(function, own, check_input=False),
            own, method_name, torch, functional, aliases, dunders, as_property,
        )
        DECLARATIONS.append(declaration)
        if _TENSOR_CLASS is not None:
            _bind(_TENSOR_CLASS, declaration)
        return function

    return declare


# torch's argument parser also takes NumPy's names for these parameters: x.sum(axis=0, keepdims=True)
_NUMPY_NAMES = {
    "axis": "dim", "keepdims": "keepdim", "x": "input", "a": "input", "x1": "input", "x2": "other",
}


def _public(function: F, name: str, check_input: bool) -> F:
    """`function` as the public names call it: NumPy's keywords renamed to torch's for functions
    with a `dim` or `keepdim` (learners write `axis=`/`keepdims=`), and, with `check_input`, a
    non-tensor `input` reported as torch reports it instead of as a missing attribute. Without
    either, `function` itself; internal callers always use it, so only public calls pay."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return function
    renames = {}
    if "dim" in parameters or "keepdim" in parameters:
        renames = {numpy: torch for numpy, torch in _NUMPY_NAMES.items()
                   if torch in parameters and numpy not in parameters}
    check_input = check_input and next(iter(parameters), None) == "input"
    if not renames and not check_input:
        return function

    @functools.wraps(function)
    def public(*args: Any, **kwargs: Any) -> Any:
        if renames and kwargs and not renames.keys().isdisjoint(kwargs):
            kwargs = {renames.get(key, key): value for key, value in kwargs.items()}
        try:
            return function(*args, **kwargs)
        except AttributeError:  # free when nothing is raised; only then is `input` looked at
            if check_input:
                _require_tensor_input(name, args[0] if args else kwargs.get("input"), bool(args))
            raise

    return public  # type: ignore[return-value]


def _require_tensor_input(name: str, value: Any, positional: bool) -> None:
    from antorcha._tensor import Tensor

    if not isinstance(value, Tensor):
        where = " (position 1)" if positional else ""
        kind = type(value).__name__
        raise TypeError(f"{name}(): argument 'input'{where} must be Tensor, not {kind}") from None


def _collect(names_of: Callable[[Declaration], tuple[str, ...]], where: str) -> dict[str, Callable]:
    bound: dict[str, Callable] = {}
    for declaration in DECLARATIONS:
        for public_name in names_of(declaration):
            if public_name in bound and bound[public_name] is not declaration.public:
                raise RuntimeError(f"{where}.{public_name} is declared twice")
            bound[public_name] = declaration.public
    return bound


def torch_functions() -> dict[str, Callable]:
    """antorcha.<name> -> function, for every declaration with torch=True."""
    return _collect(Declaration.torch_names, "antorcha")


def functional_functions() -> dict[str, Callable]:
    """antorcha.nn.functional.<name> -> function."""
    return _collect(Declaration.functional_names, "antorcha.nn.functional")


def bind_tensor_methods(tensor_class: type) -> None:
    """Attach every declared method, alias, dunder and property to `tensor_class`.

    Declarations made later (modules imported after the Tensor exists) are bound as they come.
    """
    global _TENSOR_CLASS
    _TENSOR_CLASS = tensor_class
    for declaration in DECLARATIONS:
        _bind(tensor_class, declaration)


_TENSOR_CLASS: type | None = None


def _bind(tensor_class: type, declaration: Declaration) -> None:
    for public_name in declaration.method_names():
        if public_name in tensor_class.__dict__:  # declared twice, or already a Tensor method
            raise RuntimeError(f"Tensor.{public_name} is declared twice")
        member: Any = declaration.function if public_name in declaration.dunders else declaration.for_methods
        if declaration.as_property and public_name == declaration.method:
            member = property(declaration.function, doc=declaration.function.__doc__)
        setattr(tensor_class, public_name, member)


def register_functional(name: str | None = None) -> Callable[[F], F]:
    """Declare a function of `antorcha.nn.functional` only (no Tensor method, no antorcha.<name>)."""
    return register(name, method=False, torch=False, functional=True)

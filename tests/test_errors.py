"""Bad input raises torch's exception class, with a message that names the shapes or dtypes.

Each case runs the same expression on torch and on antorcha: torch must raise (so the
case really is an error), antorcha must raise the same class, never a bare NumPy
exception, and its message must contain the given pieces (the shapes involved).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import antorcha

Case = tuple[str, Callable[[Any], Any], tuple[str, ...]]


def _linear(m: Any) -> Callable:
    if m is torch:
        return torch.nn.functional.linear
    from antorcha.ops.linalg import linear

    return linear


CASES: list[Case] = [
    # matmul shapes
    ("matmul_2d", lambda m: m.ones(2, 3) @ m.ones(4, 5), ("2x3", "4x5")),
    ("matmul_1d", lambda m: m.ones(3) @ m.ones(4), ("[3]", "[4]")),
    ("matmul_matrix_vector", lambda m: m.ones(2, 3) @ m.ones(4), ("2x3", "4")),
    ("matmul_batch_broadcast", lambda m: m.ones(2, 3, 4) @ m.ones(3, 4, 5), ("2", "3")),
    ("matmul_0d", lambda m: m.ones(()) @ m.ones(3), ("0D", "1D")),
    ("mm", lambda m: m.mm(m.ones(2, 3), m.ones(2, 3)), ("2x3",)),
    ("mm_not_2d", lambda m: m.mm(m.ones(2, 3, 4), m.ones(4, 3)), ("3",)),
    ("bmm_inner", lambda m: m.bmm(m.ones(2, 3, 4), m.ones(2, 5, 6)), ("4", "5")),
    ("bmm_batch", lambda m: m.bmm(m.ones(2, 3, 4), m.ones(3, 4, 6)), ("[2, 4]", "[3, 4]")),
    ("linear", lambda m: _linear(m)(m.ones(2, 3), m.ones(4, 5)), ("2x3", "5x4")),
    # broadcasting
    ("broadcast_add", lambda m: m.ones(2, 3) + m.ones(4, 3), ("(2)", "(4)", "dimension 0")),
    ("broadcast_mul", lambda m: m.ones(2, 3) * m.ones(2, 4), ("(3)", "(4)", "dimension 1")),
    ("broadcast_sub_3d", lambda m: m.ones(5, 2, 3) - m.ones(4, 1, 3), ("(5)", "(4)")),
    ("broadcast_where", lambda m: m.where(m.ones(2, 3) > 0, m.ones(2, 3), m.ones(5, 1, 4)), ("3", "4")),
    ("broadcast_maximum", lambda m: m.maximum(m.ones(3), m.ones(4)), ("(3)", "(4)")),
    ("broadcast_comparison", lambda m: m.ones(3) < m.ones(4), ("(3)", "(4)")),
    ("broadcast_in_place", lambda m: m.ones(3).add_(m.ones(2, 3)), ("[3]", "[2, 3]")),
    ("expand", lambda m: m.ones(2, 3).expand(4, 3), ("(4)", "(2)", "[4, 3]", "[2, 3]")),
    ("masked_fill_shape", lambda m: m.ones(2, 3).masked_fill(m.ones(4, 3) > 0, 0.0), ("4", "2")),
    # impossible views and reshapes
    ("view_transposed", lambda m: m.ones(2, 3).t().view(6), ("[3, 2]", "[6]", ".reshape")),
    ("view_wrong_size", lambda m: m.ones(2, 3).view(5), ("[5]", "6")),
    ("reshape_wrong_size", lambda m: m.ones(2, 3).reshape(4, 4), ("[4, 4]", "6")),
    ("reshape_cannot_infer", lambda m: m.ones(2, 3).reshape(-1, 4), ("[-1, 4]", "6")),
    # out-of-range indices and dims
    ("index_int", lambda m: m.ones(3, 4)[5], ("5", "dimension 0", "size 3")),
    ("index_second_dim", lambda m: m.ones(3, 4)[:, 7], ("7", "dimension 1", "size 4")),
    ("index_negative", lambda m: m.ones(3, 4)[-4], ("-4", "size 3")),
    ("index_tensor", lambda m: m.ones(3, 4)[m.tensor([0, 9])], ("9", "size 3")),
    ("index_too_many", lambda m: m.ones(3, 4)[0, 1, 2], ("dimension 2",)),
    ("index_0d", lambda m: m.ones(())[0], ("0-dim",)),
    ("index_bool_mask_shape", lambda m: m.ones(3, 4)[m.ones(2, 4) > 0], ("[2, 4]", "[3, 4]")),
    ("index_float_tensor", lambda m: m.ones(3)[m.tensor([0.0])], ("long", "bool")),
    ("setitem_out_of_range", lambda m: m.ones(3).__setitem__(4, 1.0), ("4", "size 3")),
    ("gather_out_of_range", lambda m: m.ones(2, 3).gather(1, m.tensor([[0, 5]])), ("5", "size 3")),
    ("dim_sum", lambda m: m.ones(2, 3).sum(dim=3), ("[-2, 1]", "3")),
    ("dim_softmax", lambda m: m.ones(2, 3).softmax(dim=-3), ("[-2, 1]", "-3")),
    ("dim_transpose", lambda m: m.ones(2, 3).transpose(0, 2), ("[-2, 1]", "2")),
    ("dim_unsqueeze", lambda m: m.ones(2, 3).unsqueeze(4), ("[-3, 2]", "4")),
    ("dim_cat", lambda m: m.cat([m.ones(2, 3), m.ones(2, 3)], dim=2), ("[-2, 1]", "2")),
    ("dim_max", lambda m: m.ones(2, 3).max(dim=2), ("[-2, 1]", "2")),
    ("dim_size", lambda m: m.ones(2, 3).size(2), ("[-2, 1]", "2")),
    ("dim_squeeze", lambda m: m.ones(2, 3).squeeze(5), ("[-2, 1]", "5")),
    # dtypes
    ("requires_grad_int", lambda m: m.tensor([1, 2], requires_grad=True), ("floating point",)),
    ("requires_grad_int_method", lambda m: m.tensor([1, 2]).requires_grad_(), ("floating point",)),
    ("requires_grad_bool", lambda m: m.zeros(3, dtype=m.bool, requires_grad=True), ("floating point",)),
    ("gather_float_index", lambda m: m.ones(2, 3).gather(1, m.tensor([[0.0, 1.0]])), ("int64",)),
    ("index_select_float_index", lambda m: m.ones(2, 3).index_select(0, m.tensor([0.0])), ("int64",)),
    ("masked_fill_float_mask", lambda m: m.ones(2, 3).masked_fill(m.ones(2, 3), 0.0), ("bool", "float")),
    ("masked_fill_int_mask", lambda m: m.ones(2, 3).masked_fill(m.ones(2, 3, dtype=m.int64), 0.0),
     ("bool", "int64")),
    ("where_float_condition", lambda m: m.where(m.ones(3), m.ones(3), m.zeros(3)), ("bool", "float")),
    ("mean_of_ints", lambda m: m.tensor([1, 2]).mean(), ("floating point", "Got: Long")),
    ("div_into_int", lambda m: m.tensor([1, 2]).div_(2), ("Float", "Long")),
    ("add_float_into_int", lambda m: m.tensor([1, 2]).add_(1.5), ("Long",)),
    ("negate_bool", lambda m: -m.tensor([True]), ("bool",)),
    ("subtract_bool", lambda m: m.ones(3) - m.tensor([True, False, True]), ("bool",)),
    ("subtract_from_bool", lambda m: 1 - m.tensor([True]), ("bool",)),
    ("int_to_negative_power", lambda m: m.tensor([2]) ** -1, ("negative",)),
    # element counts and arguments
    ("item_of_many", lambda m: m.ones(2, 3).item(), ("6 elements",)),
    ("bool_of_many", lambda m: bool(m.ones(2)), ("ambiguous",)),
    ("cat_shapes", lambda m: m.cat([m.ones(2, 3), m.ones(2, 4)]), ("3", "4", "tensor number 1")),
    ("cat_ndim", lambda m: m.cat([m.ones(2, 3), m.ones(3)]), ("[2, 3]", "[3]")),
    ("stack_shapes", lambda m: m.stack([m.ones(2, 3), m.ones(3, 2)]), ("[2, 3]", "[3, 2]")),
    ("split_sizes", lambda m: m.ones(5).split([2, 2]), ("5", "[2, 2]")),
    ("permute_length", lambda m: m.ones(2, 3).permute(0), ("2", "1")),
    ("flatten_order", lambda m: m.ones(2, 3, 4).flatten(2, 1), ("start_dim",)),
    ("repeat_too_few", lambda m: m.ones(2, 3).repeat(2), ("repeat dims",)),
    ("t_of_3d", lambda m: m.ones(2, 3, 4).t(), ("3D",)),
    ("mT_of_1d", lambda m: m.ones(3).mT, ("1-D",)),
    ("chunk_zero", lambda m: m.ones(3).chunk(0), ("0",)),
    ("clamp_without_bounds", lambda m: m.ones(3).clamp(), ("min", "max")),
    ("zeros_negative_size", lambda m: m.zeros(2, -1), ("-1",)),
    ("ragged_data", lambda m: m.tensor([[1, 2], [3]]), ("length 2", "dim 1")),
    ("arange_zero_step", lambda m: m.arange(0, 5, 0), ("step",)),
    ("randint_empty_range", lambda m: m.randint(5, 2, (3,)), ("5", "2")),
    # autograd misuse
    ("backward_non_scalar", lambda m: (m.ones(2, requires_grad=True) * 2).backward(), ("scalar",)),
    ("backward_without_graph", lambda m: m.ones(2).sum().backward(), ("does not require grad",)),
    ("in_place_on_leaf", lambda m: m.ones(2, requires_grad=True).add_(1), ("leaf",)),
    ("cotangent_shape", lambda m: (m.ones(2, requires_grad=True) * 2).backward(m.ones(3)), ("[3]", "[2]")),
    ("numpy_of_requires_grad", lambda m: m.ones(2, requires_grad=True).numpy(), ("detach",)),
]


def _raise(fn: Callable[[Any], Any], m: Any) -> BaseException:
    try:
        fn(m)
    except Exception as error:
        return error
    pytest.fail(f"{m.__name__} raised nothing")


@pytest.mark.parametrize(("name", "fn", "pieces"), CASES, ids=[case[0] for case in CASES])
def test_error_matches_torch(name: str, fn: Callable[[Any], Any], pieces: tuple[str, ...]) -> None:
    expected = _raise(fn, torch)
    actual = _raise(fn, antorcha)
    message = str(actual)
    assert isinstance(actual, type(expected)), (
        f"antorcha raises {type(actual).__name__}({message}), torch raises {type(expected).__name__}"
    )
    # a NumPy exception (AxisError is both an IndexError and a ValueError) must never leak out
    assert type(actual).__module__ == "builtins", f"{type(actual).__module__}.{type(actual).__name__} leaked"
    for numpy_words in ("axis", "operands could not be broadcast", "ndarray"):
        assert numpy_words not in message, f"NumPy's wording leaks into the message: {message!r}"
    for piece in pieces:
        assert piece in message, f"message {message!r} does not mention {piece!r}"


def test_in_place_on_a_saved_tensor_is_detected() -> None:
    """Changing a tensor that backward needs raises at backward time, naming its shape and version."""
    for m in (torch, antorcha):
        x = m.ones(2, 3, requires_grad=True)
        y = x * 2
        z = y.exp()  # exp saves its output
        z.add_(1)
        with pytest.raises(RuntimeError, match=r"modified by an inplace operation") as info:
            z.backward(m.ones(2, 3))
        assert "[2, 3]" in str(info.value)
        assert "version 1" in str(info.value)

"""contraction.py beyond the op-spec table: bad input raises torch's exception class and message.

Each case runs one expression on torch and on antorcha: torch must raise (so the case really is
an error), antorcha must raise the same class with torch's message.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import antorcha

ERRORS: dict[str, Callable[[Any], Any]] = {
    # einsum's equation against its operands
    "einsum_fewer_operands": lambda m: m.einsum("ij,jk->ik", m.ones(2, 3)),
    "einsum_more_operands": lambda m: m.einsum("ij->ij", m.ones(2, 3), m.ones(3, 4)),
    "einsum_too_many_subscripts": lambda m: m.einsum("ijk->i", m.ones(2, 3)),
    "einsum_too_few_subscripts": lambda m: m.einsum("i->i", m.ones(2, 3)),
    "einsum_more_than_ellipsis_covers": lambda m: m.einsum("ijk...->i", m.ones(2, 3)),
    "einsum_sizes": lambda m: m.einsum("ij,jk->ik", m.ones(2, 3), m.ones(4, 4)),
    "einsum_repeated_sizes": lambda m: m.einsum("ii->i", m.ones(2, 3)),
    "einsum_ellipsis_sizes": lambda m: m.einsum("i...,i...->...", m.ones(3, 2), m.ones(3, 5)),
    "einsum_unknown_output": lambda m: m.einsum("ij->k", m.ones(2, 3)),
    "einsum_repeated_output": lambda m: m.einsum("ij->ii", m.ones(2, 3)),
    "einsum_invalid_subscript": lambda m: m.einsum("i1->i", m.ones(2, 3)),
    "einsum_lone_dot": lambda m: m.einsum("i.j", m.ones(2, 3)),
    "einsum_two_ellipses": lambda m: m.einsum("i...j...", m.ones(2, 3)),
    "einsum_dot_in_output": lambda m: m.einsum("ij->i.", m.ones(2, 3)),
    "einsum_float_dtypes": lambda m: m.einsum("ij,jk", m.ones(2, 3), m.ones(3, 4, dtype=m.float64)),
    "einsum_sublist_range": lambda m: m.einsum(m.ones(2, 3), [0, 52]),
    "einsum_not_a_tensor": lambda m: m.einsum("i,j", [m.ones(2)], m.ones(3)),
    # tensordot, inner, vdot
    "tensordot_sizes": lambda m: m.tensordot(m.ones(2, 3), m.ones(4, 5), dims=1),
    "tensordot_negative_dims": lambda m: m.tensordot(m.ones(2, 3), m.ones(3, 5), dims=-1),
    "tensordot_too_many_dims": lambda m: m.tensordot(m.ones(2, 3), m.ones(3, 5), dims=3),
    "tensordot_list_lengths": lambda m: m.tensordot(m.ones(2, 3), m.ones(3, 5), dims=([1], [0, 1])),
    "tensordot_dtypes": lambda m: m.tensordot(m.ones(2, 3), m.ones(3, 5, dtype=m.float64), dims=1),
    "tensordot_ints_pair": lambda m: m.tensordot(m.ones(2, 3), m.ones(3, 4), dims=(1, 0)),
    "inner_sizes": lambda m: m.inner(m.ones(2, 3), m.ones(4, 2)),
    "inner_dtypes": lambda m: m.inner(m.ones(3), m.ones(3, dtype=m.float64)),
    "vdot_2d": lambda m: m.vdot(m.ones(3, 1), m.ones(3)),
    "vdot_sizes": lambda m: m.vdot(m.ones(3), m.ones(4)),
    "vdot_dtypes": lambda m: m.vdot(m.ones(3), m.ones(3, dtype=m.float64)),
    # block_diag, cartesian_prod
    "block_diag_3d": lambda m: m.block_diag(m.ones(2, 3, 4)),
    "cartesian_prod_2d": lambda m: m.cartesian_prod(m.ones(2, 2)),
    "cartesian_prod_dtypes": lambda m: m.cartesian_prod(m.ones(2), m.arange(3)),
    "cartesian_prod_nothing": lambda m: m.cartesian_prod(),
    # cross
    "cross_dim_not_3": lambda m: m.cross(m.ones(4, 3), m.ones(4, 3), dim=0),
    "cross_other_not_3": lambda m: m.cross(m.ones(4, 3), m.ones(3, 4)),
    "cross_no_dim_of_3": lambda m: m.cross(m.ones(4, 2), m.ones(4, 2)),
    "cross_ndims": lambda m: m.cross(m.ones(3), m.ones(2, 3), dim=-1),
    "cross_shapes": lambda m: m.cross(m.ones(2, 3), m.ones(4, 3), dim=1),
    "cross_dtypes": lambda m: m.cross(m.ones(2, 3), m.ones(2, 3, dtype=m.float64), dim=1),
    "cross_dim_range": lambda m: m.cross(m.ones(2, 3), m.ones(2, 3), dim=2),
    # cdist
    "cdist_1d": lambda m: m.cdist(m.ones(3), m.ones(4)),
    "cdist_columns": lambda m: m.cdist(m.ones(3, 2), m.ones(4, 3)),
    "cdist_negative_p": lambda m: m.cdist(m.ones(3, 2), m.ones(4, 2), p=-1),
    "cdist_integers": lambda m: m.cdist(m.ones(3, 2, dtype=m.int64), m.ones(4, 2, dtype=m.int64)),
    "cdist_dtypes": lambda m: m.cdist(m.ones(3, 2), m.ones(4, 2, dtype=m.float64)),
    "cdist_batch": lambda m: m.cdist(m.ones(2, 3, 2), m.ones(4, 4, 2)),
    "cdist_compute_mode": lambda m: m.cdist(m.ones(3, 2), m.ones(4, 2), compute_mode="x"),
}


@pytest.mark.parametrize("name", ERRORS)
def test_bad_input_raises_as_torch_does(name: str) -> None:
    call = ERRORS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cross without dim= warns, in both
        with pytest.raises(Exception) as expected:
            call(torch)
        with pytest.raises(Exception) as actual:
            call(antorcha)
    assert isinstance(actual.value, type(expected.value)), f"{type(actual.value)} != {type(expected.value)}"
    assert str(actual.value) == str(expected.value)


def test_cross_without_dim_warns_as_torch_does() -> None:
    with pytest.warns(UserWarning, match="without specifying the dim"):
        antorcha.cross(antorcha.ones(3, 4), antorcha.ones(3, 4))


def test_einsum_of_integers_stays_integer() -> None:
    a = np.arange(6).reshape(2, 3)
    expected = torch.einsum("ij,kj->ik", torch.tensor(a), torch.tensor(a))
    actual = antorcha.einsum("ij,kj->ik", antorcha.tensor(a), antorcha.tensor(a))
    assert actual.dtype == antorcha.int64
    np.testing.assert_array_equal(np.asarray(actual), expected.numpy())


def test_cdist_takes_the_mm_form_past_25_rows() -> None:
    """With the default compute_mode, torch switches to |a|^2 - 2ab + |b|^2 beyond 25 rows; so do we."""
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((30, 3)), rng.standard_normal((4, 3))
    expected = torch.cdist(torch.tensor(x1), torch.tensor(x2))
    actual = antorcha.cdist(antorcha.tensor(x1), antorcha.tensor(x2))
    np.testing.assert_allclose(np.asarray(actual), expected.numpy(), rtol=1e-12)
    same = torch.cdist(torch.tensor(x1), torch.tensor(x1))  # clamped at 1e-30 and rooted: 1e-15, not 0
    actual_same = antorcha.cdist(antorcha.tensor(x1), antorcha.tensor(x1))
    np.testing.assert_allclose(np.asarray(actual_same), same.numpy(), rtol=1e-9, atol=1e-12)

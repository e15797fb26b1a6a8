"""What the op-spec table cannot say about the rearrange and scatter ops: aliasing, in-place semantics
and refusals, each run in antorcha and in torch and compared.

* views (narrow, select, diagonal, unfold, as_strided, movedim, swapaxes) share memory and the
  version counter with their base: a write through either is seen by both;
* as_strided addresses the base's memory (storage_offset counts from the base's first element);
* the in-place scatter family returns self, bumps the version, works through autograd on a
  non-leaf and on a basic-index view of one, and trips the saved-tensor check;
* bad arguments raise torch's exception class, with torch's message where antorcha copies it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import antorcha

LIBRARIES = (antorcha, torch)


def _grid(m: Any, *shape: int, requires_grad: bool = False) -> Any:
    """0, 1, 2, ... as float64, the same in both libraries."""
    values = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    return m.tensor(values, requires_grad=requires_grad)


def _numpy(t: Any) -> np.ndarray:
    return np.asarray(t.detach()) if isinstance(t, antorcha.Tensor) else t.detach().numpy()


def _both(program: Callable[[Any], Any]) -> None:
    """Run `program(m)` in both libraries and compare every tensor it returns."""
    a_results, t_results = program(antorcha), program(torch)
    a_list = a_results if isinstance(a_results, (tuple, list)) else [a_results]
    t_list = t_results if isinstance(t_results, (tuple, list)) else [t_results]
    assert len(a_list) == len(t_list)
    for i, (a, t) in enumerate(zip(a_list, t_list)):
        if isinstance(t, torch.Tensor):
            np.testing.assert_allclose(_numpy(a), _numpy(t), rtol=1e-12, atol=1e-12, err_msg=f"result {i}")
        else:
            assert a == t, f"result {i}: {a!r} != torch's {t!r}"


# ---- views write through to their base, and share its version -----------------------------------
VIEWS: dict[str, Callable[[Any], Any]] = {
    "narrow": lambda x: x.narrow(1, 1, 2),
    "select": lambda x: x.select(0, -1),
    "diagonal": lambda x: x.diagonal(1),
    "diagonal_dims": lambda x: x.diagonal(-1, 1, 0),
    "unfold": lambda x: x.unfold(1, 2, 2),  # windows apart: an in-place op on overlaps is undefined
    "as_strided": lambda x: x.as_strided((2, 2), (1, 3), 1),
    "movedim": lambda x: x.movedim(0, 1),
    "moveaxis": lambda x: x.moveaxis((0, 1), (1, 0)),
    "swapaxes": lambda x: x.swapaxes(0, 1),
    "swapdims": lambda x: x.swapdims(0, 1),
    "narrow_of_transpose": lambda x: x.t().narrow(0, 1, 2),
    "diagonal_of_narrow": lambda x: x.narrow(0, 1, 2).diagonal(),
}


@pytest.mark.parametrize("make_view", VIEWS.values(), ids=VIEWS.keys())
def test_a_write_through_the_view_changes_the_base(make_view: Callable) -> None:
    def program(m: Any) -> Any:
        base = _grid(m, 3, 4)
        view = make_view(base)
        view.mul_(-1)
        return base, view, view._version == base._version

    _both(program)


@pytest.mark.parametrize("make_view", VIEWS.values(), ids=VIEWS.keys())
def test_a_write_to_the_base_shows_in_the_view(make_view: Callable) -> None:
    def program(m: Any) -> Any:
        base = _grid(m, 3, 4)
        view = make_view(base)
        base.add_(100)
        return view, view._version

    _both(program)


def test_flip_and_rot90_copy_instead_of_aliasing() -> None:
    def program(m: Any) -> Any:
        base = _grid(m, 3, 4)
        flipped, turned, lr = base.flip(0), base.rot90(1, (0, 1)), base.fliplr()
        for t in (flipped, turned, lr):
            t.zero_()
        return base

    _both(program)


def test_as_strided_counts_storage_offset_from_the_base() -> None:
    def program(m: Any) -> Any:
        base = _grid(m, 12)
        view = base[2:].view(2, 5)  # starts at element 2 of base's memory
        return (
            view.as_strided((2, 2), (1, 2)),  # default offset: the view's own (2)
            view.as_strided((2, 2), (1, 2), 0),  # an explicit offset counts from the base
            view.t().as_strided((3,), (4,), 1),
            base.unfold(0, 3, 3).as_strided((2,), (5,)),  # a view of a strided view: still base
        )

    _both(program)


def test_as_strided_gradient_adds_over_overlapping_elements() -> None:
    def program(m: Any) -> Any:
        x = _grid(m, 2, 3, requires_grad=True)
        y = (x * 1).t().as_strided((3, 2), (1, 0), 1)  # each element read twice
        y.backward(_grid(m, 3, 2))
        return x.grad

    _both(program)


# ---- the in-place scatter family ------------------------------------------------------------------
def _index(m: Any, values: list) -> Any:
    return m.tensor(values, dtype=m.int64)


INPLACE: dict[str, Callable[[Any, Any, Any], Any]] = {
    "scatter_": lambda m, t, src: t.scatter_(0, _index(m, [[2, 0, 1, 0]]), src),
    "scatter_value_": lambda m, t, src: t.scatter_(1, _index(m, [[3], [0], [1]]), value=-1.0),
    "scatter_add_": lambda m, t, src: t.scatter_add_(0, _index(m, [[2, 2, 0, 0]]), src),
    "scatter_reduce_": lambda m, t, src: t.scatter_reduce_(0, _index(m, [[1, 1, 1, 2]]), src, "prod",
                                                           include_self=False),
    "index_fill_": lambda m, t, src: t.index_fill_(1, _index(m, [0, -1]), 7.0),
    "index_add_": lambda m, t, src: t.index_add_(0, _index(m, [2]), src, alpha=2),
    "index_copy_": lambda m, t, src: t.index_copy_(0, _index(m, [1]), src),
    "index_put_": lambda m, t, src: t.index_put_((_index(m, [0, 0]),), src[0, :1], accumulate=True),
    "masked_scatter_": lambda m, t, src: t.masked_scatter_(t > 5, src.reshape(-1).repeat(3)),
}


@pytest.mark.parametrize("op", INPLACE.values(), ids=INPLACE.keys())
def test_inplace_returns_self_and_writes_its_memory(op: Callable) -> None:
    def program(m: Any) -> Any:
        t = _grid(m, 3, 4)
        alias = t.view(12)
        out = op(m, t, _grid(m, 1, 4) - 10)
        return t, alias, out is t

    _both(program)


@pytest.mark.parametrize("op", INPLACE.values(), ids=INPLACE.keys())
def test_inplace_after_a_save_for_backward_is_detected(op: Callable) -> None:
    """The version bump: a backward that saved the old value refuses instead of going wrong."""
    for m in LIBRARIES:
        y = _grid(m, 3, 4, requires_grad=True) * 1
        product = y * y  # saves y
        op(m, y, _grid(m, 1, 4) - 10)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            product.sum().backward()


@pytest.mark.parametrize("op", INPLACE.values(), ids=INPLACE.keys())
def test_inplace_on_a_view_of_a_non_leaf_under_autograd(op: Callable) -> None:
    """`y[1:].op_(...)` rewrites y, and gradients reach both the leaf and the source."""

    def program(m: Any) -> Any:
        x = _grid(m, 4, 4, requires_grad=True)
        src = (_grid(m, 1, 4) - 10).requires_grad_()
        y = x * 2
        view = y[1:]
        op(m, view, src * 1)
        (y * _grid(m, 4, 4)).sum().backward()
        return y, x.grad, src.grad if src.grad is not None else m.zeros(1, 4, dtype=m.float64)

    _both(program)


VIEW_WRITES: dict[str, Callable[[Any], None]] = {
    "diagonal_add_": lambda y: y.diagonal(1).add_(10),
    "diagonal_dims_mul_": lambda y: y.diagonal(-1, 1, 0).mul_(3),
    "movedim_mul_": lambda y: y.movedim(0, 1).mul_(2),
    "swapaxes_index_add_": lambda y: y.swapaxes(0, 1).index_add_(0, y.new_tensor([3], dtype=y.dtype).long(),
                                                                    y.t()[:1] * 1),
    "swapdims_scatter_": lambda y: y.swapdims(1, 0).scatter_(0, y.new_zeros(1, 3).long(), 1.0),
    "unfold_sub_": lambda y: y.unfold(1, 2, 2).sub_(1),
    "narrow_exp_": lambda y: y.narrow(1, 1, 2).exp_(),
    "select_masked_scatter_": lambda y: y.select(0, 2).masked_scatter_(y[2] > 9, y[0] * 1),
}


@pytest.mark.parametrize("write", VIEW_WRITES.values(), ids=VIEW_WRITES.keys())
def test_inplace_through_a_view_of_a_non_leaf_reaches_the_leaf(write: Callable) -> None:
    """An in-place op on a diagonal/movedim/swapaxes/unfold/narrow/select view rewrites the base."""

    def program(m: Any) -> Any:
        x = _grid(m, 3, 4, requires_grad=True)
        y = x * 1
        write(y)
        (y * _grid(m, 3, 4)).sum().backward()
        return y, x.grad

    _both(program)


def test_inplace_on_overlapping_windows_under_autograd_is_refused() -> None:
    """torch adds once per window; antorcha has no index that writes overlapping windows back, so it
    refuses with a RuntimeError rather than give a wrong value or gradient."""
    y = _grid(antorcha, 5, requires_grad=True) * 1
    with pytest.raises(RuntimeError):
        y.unfold(0, 2, 1).add_(1)


def test_inplace_on_a_leaf_that_requires_grad_is_refused() -> None:
    for m in LIBRARIES:
        leaf = _grid(m, 3, 4, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            leaf.scatter_(0, _index(m, [[0]]), 1.0)


def test_a_saved_tensor_changed_by_scatter_is_detected() -> None:
    for m in LIBRARIES:
        y = _grid(m, 3, 4, requires_grad=True) * 1
        z = y.exp()  # saves its output
        z.index_fill_(0, _index(m, [0]), 0.0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            z.sum().backward()


def test_legacy_scatter_reduce_has_no_derivative() -> None:
    for m in LIBRARIES:
        x = _grid(m, 3, 4, requires_grad=True)
        out = x.scatter(0, _index(m, [[0, 1]]), _grid(m, 1, 2), reduce="add")
        with pytest.raises(RuntimeError, match="derivative for aten::scatter is not implemented"):
            out.sum().backward()


def test_meshgrid_warns_only_without_indexing() -> None:
    for m in LIBRARIES:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m.meshgrid(m.zeros(2), m.zeros(3), indexing="xy")
        assert not caught
    # torch warns once per process (TORCH_WARN_ONCE), so only antorcha's repeat can be caught here
    with pytest.warns(UserWarning, match="it will be required to pass the indexing argument"):
        grids = antorcha.meshgrid(antorcha.zeros(2), antorcha.zeros(3))
    assert [tuple(g.shape) for g in grids] == [(2, 3), (2, 3)]  # 'ij', torch's current default


# ---- refusals: torch's exception class, and its message where antorcha copies it ----------------------
def _x(m: Any) -> Any:
    return _grid(m, 3, 4)


REFUSALS: dict[str, Callable[[Any], Any]] = {
    "scatter_index_too_large": lambda m: _x(m).scatter(0, _index(m, [[5]]), 2.0),
    "scatter_negative_index": lambda m: _x(m).scatter(0, _index(m, [[-1]]), 2.0),
    "scatter_src_dtype": lambda m: _x(m).scatter(0, _index(m, [[0]]), _x(m).float()),
    "scatter_float_index": lambda m: _x(m).scatter(0, m.zeros(1, 1), 2.0),
    "scatter_index_ndim": lambda m: _x(m).scatter(0, _index(m, [0]), 2.0),
    "scatter_index_larger_than_self": lambda m: _x(m).scatter(1, m.zeros(4, 1, dtype=m.int64), 2.0),
    "scatter_index_larger_than_src": lambda m: _x(m).scatter(0, _index(m, [[0, 1]]), _x(m)[:1, :1]),
    "scatter_bad_reduce": lambda m: _x(m).scatter(0, _index(m, [[0]]), 2.0, reduce="max"),
    "scatter_add_out_of_range": lambda m: _x(m).scatter_add(0, _index(m, [[3]]), _x(m)[:1, :1]),
    "scatter_add_src_dtype": lambda m: _x(m).scatter_add(0, _index(m, [[0]]), _x(m).float()),
    "scatter_reduce_unknown": lambda m: _x(m).scatter_reduce(0, _index(m, [[0]]), _x(m), "median"),
    "scatter_reduce_out_of_range": lambda m: _x(m).scatter_reduce(1, _index(m, [[4]]), _x(m), "amax"),
    "index_add_out_of_range": lambda m: _x(m).index_add(0, _index(m, [3]), _x(m)[:1]),
    "index_add_negative": lambda m: _x(m).index_add(0, _index(m, [-1]), _x(m)[:1]),
    "index_add_count": lambda m: _x(m).index_add(0, _index(m, [1, 2]), _x(m)[:1]),
    "index_add_shape": lambda m: _x(m).index_add(0, _index(m, [1]), _x(m)[:1, :3]),
    "index_add_dtype": lambda m: _x(m).index_add(0, _index(m, [1]), _x(m)[:1].float()),
    "index_copy_out_of_range": lambda m: _x(m).index_copy(0, _index(m, [3]), _x(m)[:1]),
    "index_copy_negative": lambda m: _x(m).index_copy(0, _index(m, [-1]), _x(m)[:1]),
    "index_copy_dtype": lambda m: _x(m).index_copy(0, _index(m, [1]), _x(m)[:1].float()),
    "index_fill_out_of_range": lambda m: _x(m).index_fill(0, _index(m, [3]), 1.0),
    "index_fill_matrix_index": lambda m: _x(m).index_fill(0, _index(m, [[1]]), 1.0),
    "index_fill_vector_value": lambda m: _x(m).index_fill(0, _index(m, [1]), m.tensor([2.0])),
    "index_put_not_a_tuple": lambda m: _x(m).index_put(_index(m, [0]), m.tensor(1.0)),
    "index_put_dtype": lambda m: _x(m).index_put((_index(m, [0]),), m.tensor(1.0)),
    "index_put_out_of_range": lambda m: _x(m).index_put((_index(m, [5]),), m.tensor(1.0, dtype=m.float64)),
    "masked_scatter_short_source": lambda m: _x(m).masked_scatter(_x(m) > -1, m.zeros(5, dtype=m.float64)),
    "masked_scatter_dtype": lambda m: _x(m).masked_scatter(_x(m) > 0, m.zeros(12)),
    "masked_scatter_float_mask": lambda m: _x(m).masked_scatter(_x(m), m.zeros(12, dtype=m.float64)),
    "masked_scatter__grows_self": lambda m: _x(m).masked_scatter_(m.ones(2, 3, 4, dtype=m.bool),
                                                                  m.zeros(24, dtype=m.float64)),
    "take_out_of_range": lambda m: _x(m).take(_index(m, [12])),
    "take_along_dim_ndim": lambda m: _x(m).take_along_dim(_index(m, [0]), dim=1),
    "take_along_dim_flat_negative": lambda m: _x(m).take_along_dim(_index(m, [-1])),
    "narrow_past_the_end": lambda m: _x(m).narrow(0, 2, 2),
    "narrow_negative_length": lambda m: _x(m).narrow(0, 0, -1),
    "narrow_start_out_of_range": lambda m: _x(m).narrow(0, 4, 0),
    "narrow_0_dim": lambda m: m.tensor(1.0).narrow(0, 0, 1),
    "select_out_of_range": lambda m: _x(m).select(0, 3),
    "select_negative_out_of_range": lambda m: _x(m).select(1, -5),
    "select_0_dim": lambda m: m.tensor(1.0).select(0, 0),
    "movedim_lengths": lambda m: _x(m).movedim((0, 1), (0,)),
    "movedim_repeated_source": lambda m: _x(m).movedim((0, 0), (0, 1)),
    "movedim_repeated_destination": lambda m: _x(m).movedim((0, 1), (1, 1)),
    "movedim_out_of_range": lambda m: _x(m).movedim(2, 0),
    "roll_unaligned": lambda m: _x(m).roll((1, 2), 0),
    "roll_flat_with_two_shifts": lambda m: _x(m).roll((1, 2)),
    "meshgrid_bad_indexing": lambda m: m.meshgrid(m.zeros(2), indexing="yx"),
    "meshgrid_matrix": lambda m: m.meshgrid(m.zeros(2, 2), m.zeros(3), indexing="ij"),
    "meshgrid_dtypes": lambda m: m.meshgrid(m.zeros(2), m.zeros(3, dtype=m.float64), indexing="ij"),
    "meshgrid_nothing": lambda m: m.meshgrid(indexing="ij"),
    "diag_3d": lambda m: m.diag(m.zeros(2, 2, 2)),
    "diag_0d": lambda m: m.diag(m.tensor(1.0)),
    "diagonal_same_dims": lambda m: _x(m).diagonal(0, 1, -1),
    "diag_embed_same_dims": lambda m: m.diag_embed(_x(m), 0, 1, 1),
    "trace_3d": lambda m: m.trace(m.zeros(2, 2, 2)),
    "unfold_too_big": lambda m: _x(m).unfold(1, 5, 1),
    "unfold_step_0": lambda m: _x(m).unfold(1, 2, 0),
    "as_strided_out_of_bounds": lambda m: _x(m).as_strided((2, 2), (4, 20)),
    "as_strided_negative_stride": lambda m: _x(m).as_strided((2, 2), (-1, 2)),
    "as_strided_lengths": lambda m: _x(m).as_strided((2, 2), (1,)),
    "rot90_one_dim": lambda m: m.rot90(_x(m), 1, (0,)),
    "rot90_vector": lambda m: m.rot90(m.zeros(3), 1, (0, 0)),
    "rot90_same_dims": lambda m: m.rot90(_x(m), 1, (1, 1)),
    "rot90_out_of_range": lambda m: m.rot90(_x(m), 1, (0, 2)),
    "fliplr_vector": lambda m: m.fliplr(m.zeros(3)),
    "flipud_scalar": lambda m: m.flipud(m.tensor(1.0)),
    "tile_negative": lambda m: _x(m).tile((-1,)),
    "repeat_interleave_negative": lambda m: _x(m).repeat_interleave(-1),
    "repeat_interleave_negative_tensor": lambda m: _x(m).repeat_interleave(_index(m, [1, -1, 1]), dim=0),
    "repeat_interleave_lengths": lambda m: _x(m).repeat_interleave(_index(m, [1, 2]), dim=0),
    "repeat_interleave_matrix": lambda m: _x(m).repeat_interleave(_index(m, [[1, 2]]), dim=0),
    "repeat_interleave_output_size": lambda m: _x(m).repeat_interleave(2, dim=0, output_size=5),
    "repeat_interleave_float_repeats": lambda m: m.repeat_interleave(m.tensor([1.0, 2.0])),
    "repeat_interleave_dim_of_scalar": lambda m: m.tensor(1.0).repeat_interleave(2, dim=0),
    "repeat_interleave_counts_of_scalar": lambda m: m.repeat_interleave(m.tensor(3)),
    "put_count": lambda m: m.put(_x(m), _index(m, [0]), m.zeros(2, dtype=m.float64)),
    "put_dtype": lambda m: m.put(_x(m), _index(m, [0]), m.zeros(1)),
    "put_out_of_range": lambda m: m.put(_x(m), _index(m, [12]), m.zeros(1, dtype=m.float64)),
    "index_reduce_sum": lambda m: _x(m).index_reduce(0, _index(m, [0]), _x(m)[:1], "sum"),
    "masked_select_float_mask": lambda m: m.masked_select(_x(m), _x(m)),
    "tensor_split_no_sections": lambda m: m.tensor_split(_x(m), 0, 1),
    "tensor_split_float_indices": lambda m: m.tensor_split(_x(m), m.tensor([1.0]), 1),
    "hsplit_scalar": lambda m: m.hsplit(m.tensor(1.0), 1),
    "hsplit_uneven": lambda m: m.hsplit(_x(m), 3),
    "vsplit_vector": lambda m: m.vsplit(m.zeros(4), 2),
    "dsplit_matrix": lambda m: m.dsplit(_x(m), 2),
    "select_scatter_shape": lambda m: m.select_scatter(_x(m), m.zeros(3, dtype=m.float64), 0, 0),
    "slice_scatter_shape": lambda m: m.slice_scatter(_x(m), m.zeros(3, 3, dtype=m.float64), 1, 0, 4, 2),
    "diagonal_scatter_shape": lambda m: m.diagonal_scatter(_x(m), m.zeros(2, dtype=m.float64), 0),
}
# where antorcha's message is worded differently from torch's (torch prints the tensor itself)
OWN_WORDING = {"meshgrid_matrix", "masked_scatter__grows_self"}


@pytest.mark.parametrize("name", REFUSALS.keys())
def test_bad_arguments_are_refused_as_torch_refuses_them(name: str) -> None:
    errors = []
    for m in LIBRARIES:
        with pytest.raises(Exception) as caught:
            REFUSALS[name](m)
        errors.append(caught.value)
    mine, torchs = errors
    assert type(mine) is type(torchs), f"antorcha raises {type(mine).__name__}({mine}); torch: {torchs!r}"
    if name not in OWN_WORDING:
        assert str(mine) == str(torchs)


# ---- scalars, empty tensors and integer dtypes: the same result or the same refusal ---------------------
def _scalar(m: Any) -> Any:
    return m.tensor(2.0)


def _vector(m: Any) -> Any:
    return m.tensor([1.0, 2.0, 3.0])


def _ints(m: Any) -> Any:
    return m.tensor([1, 2, 3])


ODD_INPUTS: dict[str, Callable[[Any], Any]] = {
    "diag_embed_0d": lambda m: m.diag_embed(_scalar(m)),
    "index_fill_0d": lambda m: _scalar(m).index_fill(0, m.tensor(0), 5.0),
    "index_add_0d": lambda m: _scalar(m).index_add(0, m.tensor(0), m.tensor(1.0)),
    "index_copy_0d": lambda m: _scalar(m).index_copy(0, m.tensor([0]), m.tensor([1.0])),
    "take_0d": lambda m: _scalar(m).take(m.tensor(0)),
    "take_along_dim_0d": lambda m: _scalar(m).take_along_dim(m.tensor(0)),
    "masked_scatter_0d": lambda m: _scalar(m).masked_scatter(m.tensor(True), m.tensor([7.0])),
    "roll_0d": lambda m: _scalar(m).roll(1),
    "roll_0d_dim": lambda m: _scalar(m).roll(1, 0),
    "tile_0d": lambda m: _scalar(m).tile((2, 2)),
    "narrow_empty_at_the_end": lambda m: _vector(m).narrow(0, 3, 0),
    "diagonal_1d": lambda m: _vector(m).diagonal(),
    "trace_empty": lambda m: m.trace(m.zeros(0, 3)),
    "as_strided_0d": lambda m: _scalar(m).as_strided((), ()),
    "as_strided_empty": lambda m: m.zeros(0).as_strided((0, 2), (1, 1)),
    "unfold_empty": lambda m: m.zeros(0, 3).unfold(0, 0, 1),
    "meshgrid_empty_vector": lambda m: m.meshgrid(m.zeros(0), _vector(m), indexing="ij"),
    "rot90_negative_k": lambda m: m.rot90(m.tensor([[1.0, 2], [3, 4]]), -1),
    "scatter_reduce_int_mean": lambda m: _ints(m).scatter_reduce(0, m.tensor([0, 0]), m.tensor([4, 4]),
                                                                 "mean"),
    "scatter_reduce_int_amax": lambda m: _ints(m).scatter_reduce(0, m.tensor([0]), m.tensor([-4]), "amax",
                                                                 include_self=False),
    "scatter_int_float_value": lambda m: m.tensor([1, 2, 3]).scatter(0, m.tensor([0]), 2.7),
    "index_fill_int_float_value": lambda m: m.tensor([1, 2, 3]).index_fill(0, m.tensor([0]), 2.7),
    "index_add_int_alpha": lambda m: _ints(m).index_add(0, m.tensor([0]), m.tensor([5]), alpha=2),
    "put_int": lambda m: m.tensor([1, 2, 3]).put(m.tensor([0]), m.tensor([5])),
    "index_put_mask": lambda m: _vector(m).index_put((m.tensor([True, False, True]),), m.tensor(9.0)),
    "index_put_mask_accumulate": lambda m: _vector(m).index_put((m.tensor([True, False, True]),),
                                                                m.tensor(9.0), accumulate=True),
    "repeat_interleave_bool": lambda m: m.tensor([True, False]).repeat_interleave(2),
    "hstack_promotes": lambda m: m.hstack([_vector(m), m.tensor([1, 2])]),
    "tensor_split_0d": lambda m: m.tensor_split(_scalar(m), 2),
    "scatter_bool": lambda m: m.tensor([True, False]).scatter(0, m.tensor([1]), True),
    "masked_select_0d": lambda m: m.masked_select(_scalar(m), m.tensor(True)),
    "scatter_add_int32_index": lambda m: _vector(m).scatter_add(0, m.tensor([0], dtype=m.int32),
                                                                 m.tensor([1.0])),
    "repeat_interleave_empty": lambda m: m.zeros(0, 2).repeat_interleave(m.tensor([], dtype=m.int64), dim=0),
    "diag_negative_offset": lambda m: m.diag(_vector(m), -2),
}


@pytest.mark.parametrize("name", ODD_INPUTS.keys())
def test_odd_inputs_give_torchs_result_or_its_refusal(name: str) -> None:
    outcomes = []
    for m in LIBRARIES:
        try:
            outcomes.append((ODD_INPUTS[name](m), None))
        except Exception as error:  # compared with torch's below
            outcomes.append((None, error))
    (mine, my_error), (torchs, torch_error) = outcomes
    if torch_error is not None:
        assert type(my_error) is type(torch_error), f"antorcha: {my_error!r}; torch: {torch_error!r}"
        return
    assert my_error is None, f"antorcha raises {my_error!r}; torch gives {torchs}"
    mine, torchs = (list(r) if isinstance(r, (tuple, list)) else [r] for r in (mine, torchs))
    for a, t in zip(mine, torchs, strict=True):
        assert str(a.dtype).rsplit(".", 1)[-1] == str(t.dtype).rsplit(".", 1)[-1]
        np.testing.assert_array_equal(_numpy(a), _numpy(t))

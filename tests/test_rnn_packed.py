"""nn.utils.rnn (pad_sequence, pack_padded_sequence, pad_packed_sequence, pack_sequence, ...) and the
recurrent layers on PackedSequence input, against torch: the same fields, values and gradients."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.utils.rnn as torch_rnn

import antorcha
import antorcha.nn.utils.rnn as our_rnn
from antorcha.nn.utils.rnn import PackedSequence, pad_sequence
from tests.nn_helpers import DTYPES, assert_close, copy_weights, to_antorcha

LENGTHS = [2, 5, 1, 5, 3]  # unsorted, with a tie


def _sequences(dtype: Any, lengths: list[int] = LENGTHS, features: int = 4, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, features)).astype(dtype) for n in lengths]


def _leaves(arrays: list) -> tuple[list, list]:
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    return [to_antorcha(t, True) for t in theirs], theirs


def _backward_both(ours: Any, theirs: Any, seed: int = 1) -> None:
    weight = (
        np.random.default_rng(seed).standard_normal(tuple(theirs.shape)).astype(theirs.detach().numpy().dtype)
    )
    (theirs * torch.from_numpy(weight)).sum().backward()
    (ours * antorcha.from_numpy(weight)).sum().backward()


def _same_packed(ours: PackedSequence, theirs: Any, dtype: Any) -> None:
    assert isinstance(ours, tuple) and len(ours) == 4
    assert_close(ours.data, theirs.data, dtype)
    assert ours.batch_sizes.tolist() == theirs.batch_sizes.tolist()
    for mine, reference in [
        (ours.sorted_indices, theirs.sorted_indices),
        (ours.unsorted_indices, theirs.unsorted_indices),
    ]:
        assert (mine is None) == (reference is None)
        if mine is not None:
            assert mine.tolist() == reference.tolist()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_pad_sequence(batch_first: bool, padding_side: str, dtype: Any) -> None:
    ours, theirs = _leaves(_sequences(dtype))
    expected = torch_rnn.pad_sequence(theirs, batch_first, -2.5, padding_side)
    result = pad_sequence(ours, batch_first=batch_first, padding_value=-2.5, padding_side=padding_side)
    assert_close(result, expected, dtype)
    _backward_both(result, expected)
    for mine, reference in zip(ours, theirs):
        assert_close(mine.grad, reference.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pack_and_pad_round_trip(enforce_sorted: bool, batch_first: bool, dtype: Any) -> None:
    lengths = sorted(LENGTHS, reverse=True) if enforce_sorted else LENGTHS
    padded = torch_rnn.pad_sequence([torch.tensor(a) for a in _sequences(dtype, lengths)], batch_first)
    torch_input = padded.clone().requires_grad_()
    our_input = to_antorcha(torch_input, True)
    theirs = torch_rnn.pack_padded_sequence(torch_input, torch.tensor(lengths), batch_first, enforce_sorted)
    ours = our_rnn.pack_padded_sequence(our_input, lengths, batch_first, enforce_sorted)
    _same_packed(ours, theirs, dtype)
    for total in (None, 7):
        expected, expected_lengths = torch_rnn.pad_packed_sequence(theirs, batch_first, 0.5, total)
        result, result_lengths = our_rnn.pad_packed_sequence(ours, batch_first, 0.5, total)
        assert_close(result, expected, dtype)
        assert result_lengths.tolist() == expected_lengths.tolist()
        assert result_lengths.dtype == antorcha.int64
    _backward_both(result, expected)
    assert_close(our_input.grad, torch_input.grad, dtype)


@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pack_sequence_and_unpack(enforce_sorted: bool) -> None:
    lengths = sorted(LENGTHS, reverse=True) if enforce_sorted else LENGTHS
    arrays = _sequences(np.float64, lengths)
    theirs = torch_rnn.pack_sequence([torch.tensor(a) for a in arrays], enforce_sorted)
    ours = our_rnn.pack_sequence([antorcha.tensor(a) for a in arrays], enforce_sorted)
    _same_packed(ours, theirs, np.float64)
    for mine, reference in zip(our_rnn.unpack_sequence(ours), torch_rnn.unpack_sequence(theirs), strict=True):
        assert_close(mine, reference, np.float64)
    padded = torch_rnn.pad_sequence([torch.tensor(a) for a in arrays])
    pieces = torch_rnn.unpad_sequence(padded.clone(), torch.tensor(lengths))  # torch transposes in place
    mine = our_rnn.unpad_sequence(to_antorcha(padded), antorcha.tensor(lengths))
    for a, b in zip(mine, pieces, strict=True):
        assert_close(a, b, np.float64)
    assert repr(ours).startswith("PackedSequence(data=tensor(")


def test_invert_permutation_and_tuple_construction() -> None:
    permutation = [3, 0, 2, 1]
    expected = torch_rnn.invert_permutation(torch.tensor(permutation))
    assert our_rnn.invert_permutation(antorcha.tensor(permutation)).tolist() == expected.tolist()
    assert our_rnn.invert_permutation(None) is None
    packed = our_rnn.pack_sequence([antorcha.ones(3, 2), antorcha.ones(1, 2)])
    again = PackedSequence(packed.data, packed.batch_sizes)
    assert again.sorted_indices is None and again.unsorted_indices is None
    data, batch_sizes, _, _ = packed
    assert data is packed.data and batch_sizes is packed.batch_sizes
    assert packed.to(antorcha.float64).data.dtype == antorcha.float64


@pytest.mark.parametrize(
    "call",
    [
        lambda rnn, lib: rnn.pack_padded_sequence(lib.randn(5, 3, 2), [2, 4, 5]),
        lambda rnn, lib: rnn.pack_padded_sequence(lib.randn(5, 3, 2), [2, 4]),
        lambda rnn, lib: rnn.pack_padded_sequence(lib.randn(5, 3, 2), [5, 4, 0]),
        lambda rnn, lib: rnn.pack_padded_sequence(lib.randn(3, 2), lib.tensor([[1, 2]])),
        lambda rnn, lib: rnn.pad_packed_sequence(
            rnn.pack_padded_sequence(lib.randn(5, 3, 2), [5, 4, 1]), total_length=3
        ),
        lambda rnn, lib: rnn.pad_sequence([lib.zeros(2)], padding_side="up"),
        lambda rnn, lib: rnn.pad_sequence([]),
    ],
)
def test_errors_match_torch(call: Any) -> None:
    found = []
    for rnn, lib in [(torch_rnn, torch), (our_rnn, antorcha)]:
        with pytest.raises(Exception) as info:
            call(rnn, lib)
        found.append((type(info.value).__name__, str(info.value)))
    assert found[0] == found[1]


# ---- the layers on packed input ---------------------------------------------------------------

KINDS = {
    "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
    "rnn_tanh": ("RNN", {}),
    "lstm": ("LSTM", {}),
    "gru": ("GRU", {}),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_hidden", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", list(KINDS))
def test_layers_on_packed_input(
    kind: str, num_layers: int, bidirectional: bool, with_hidden: bool, dtype: Any
) -> None:
    name, extra = KINDS[kind]
    torch_dtype = getattr(torch, np.dtype(dtype).name)
    settings = {"num_layers": num_layers, "bidirectional": bidirectional, "batch_first": True, **extra}
    theirs = getattr(torch.nn, name)(4, 6, **settings, dtype=torch_dtype)
    ours = getattr(antorcha.nn, name)(4, 6, **settings, dtype=getattr(antorcha, np.dtype(dtype).name))
    copy_weights(theirs, ours)
    our_inputs, torch_inputs = _leaves(_sequences(dtype))
    rng = np.random.default_rng(3)
    state_shape = (num_layers * (2 if bidirectional else 1), len(LENGTHS), 6)
    states = [rng.standard_normal(state_shape).astype(dtype) for _ in range(2 if kind == "lstm" else 1)]
    our_states, torch_states = _leaves(states) if with_hidden else ([], [])

    def run(rnn: Any, module: Any, inputs: list, hidden: list) -> list:
        packed = rnn.pack_sequence(inputs, enforce_sorted=False)
        hx = None if not hidden else (tuple(hidden) if kind == "lstm" else hidden[0])
        output, h_n = module(packed, hx)
        assert type(output).__name__ == "PackedSequence"
        padded, _ = rnn.pad_packed_sequence(output, batch_first=True)
        return [padded, *(h_n if kind == "lstm" else (h_n,))]

    expected = run(torch_rnn, theirs, torch_inputs, torch_states)
    result = run(our_rnn, ours, our_inputs, our_states)
    torch_loss, our_loss = 0, 0
    for mine, reference in zip(result, expected, strict=True):
        assert_close(mine, reference, dtype)
        weight = rng.standard_normal(tuple(reference.shape)).astype(dtype)
        torch_loss = torch_loss + (reference * torch.from_numpy(weight)).sum()
        our_loss = our_loss + (mine * antorcha.from_numpy(weight)).sum()
    torch_loss.backward()
    our_loss.backward()
    for mine, reference in zip(our_inputs + our_states, torch_inputs + torch_states):
        assert_close(mine.grad, reference.grad, dtype)
    our_params = dict(ours.named_parameters())
    for param_name, reference in theirs.named_parameters():
        assert_close(our_params[param_name].grad, reference.grad, dtype)

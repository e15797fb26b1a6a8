"""antorcha.nn.utils.rnn: padding and packing variable-length sequences (torch.nn.utils.rnn).

A PackedSequence holds the sequences sorted by decreasing length, time-major: `data` is
(sum(batch_sizes), *) with the `batch_sizes[t]` sequences still running at step t one after the
other. Every conversion is one gather (`index_select`) over index arrays built from the lengths,
so gradients flow through packing and padding.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from antorcha._creation import full
from antorcha._tensor import Tensor, wrap
from antorcha.ops.indexing import index_select
from antorcha.ops.movement import cat, stack

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pack_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpack_sequence",
    "unpad_sequence",
]


def _index(positions: Any, like: Tensor) -> Tensor:
    return wrap(np.asarray(positions, dtype=np.int64)).to(like.device)


class _PackedFields(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedFields):
    """(data, batch_sizes, sorted_indices, unsorted_indices), as torch's namedtuple."""

    def __new__(
        cls,
        data: Any,
        batch_sizes: Tensor | None = None,
        sorted_indices: Tensor | None = None,
        unsorted_indices: Tensor | None = None,
    ) -> PackedSequence:
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:  # PackedSequence(tuple) from a tuple of the four fields
            data, batch_sizes = data[0], data[1]
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        device = data.device

        def move(indices: Tensor | None) -> Tensor | None:
            return None if indices is None else indices.to(device)

        return type(self)(data, self.batch_sizes, move(self.sorted_indices), move(self.unsorted_indices))

    def cuda(self, *args: Any, **kwargs: Any) -> PackedSequence:
        return self.to(self.data.cuda(*args, **kwargs).device)

    def cpu(self) -> PackedSequence:
        return self.to("cpu")

    def double(self) -> PackedSequence:
        return self.to(dtype=self.data.new_empty(0).double().dtype)

    def float(self) -> PackedSequence:
        return self.to(dtype=self.data.new_empty(0).float().dtype)

    @property
    def is_cuda(self) -> bool:
        return self.data.is_cuda

    def is_pinned(self) -> bool:
        return False


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    if permutation is None:
        return None
    order = permutation.cpu().numpy()
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size, dtype=order.dtype)
    return wrap(inverse).to(permutation.device)


def _batch_sizes(lengths: np.ndarray) -> np.ndarray:
    """How many sequences are still running at each step, for lengths in decreasing order."""
    steps = np.arange(int(lengths[0]))
    return (lengths[None, :] > steps[:, None]).sum(axis=1).astype(np.int64)


def _packed_positions(batch_sizes: tuple, batch: int) -> np.ndarray:
    """Flat (t * batch + b) positions, in packed order, of the entries a (T, batch) grid keeps."""
    return np.concatenate([t * batch + np.arange(b) for t, b in enumerate(batch_sizes)])


def padded_to_packed(padded: Tensor, batch_sizes: tuple) -> Tensor:
    """A (T, N, *) grid to its packed rows (sum(batch_sizes), *)."""
    steps, batch = padded.shape[0], padded.shape[1]
    flat = padded.reshape(steps * batch, *padded.shape[2:])
    return index_select(flat, 0, _index(_packed_positions(batch_sizes, batch), padded))


def _lengths_array(lengths: Any) -> np.ndarray:
    if isinstance(lengths, Tensor):
        if lengths.dim() != 1:
            raise RuntimeError(
                "'lengths' argument should be a 1D CPU int64 tensor, but got "
                f"{lengths.dim()}D {lengths.device.type} {lengths.dtype.scalar_name} tensor"
            )
        return lengths.cpu().numpy().astype(np.int64)
    return np.asarray(list(lengths), dtype=np.int64)


def pack_padded_sequence(
    input: Tensor, lengths: Tensor | list[int], batch_first: bool = False, enforce_sorted: bool = True
) -> PackedSequence:
    """Pack a padded (T, B, *) batch (or (B, T, *) with batch_first) of sequences of the given lengths."""
    lengths_np = _lengths_array(lengths)
    batch_dim = 0 if batch_first else 1
    if lengths_np.shape[0] != input.shape[batch_dim]:
        raise RuntimeError(
            f"Expected `len(lengths)` to be equal to batch_size, but got {lengths_np.shape[0]} "
            f"(batch_size={input.shape[batch_dim]})"
        )
    sorted_indices = None
    if enforce_sorted:
        if np.any(lengths_np[1:] > lengths_np[:-1]):
            raise RuntimeError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You "
                "can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to "
                "sidestep this requirement if you do not need ONNX exportability."
            )
    else:
        order = np.argsort(-lengths_np, kind="stable")
        lengths_np = lengths_np[order]
        sorted_indices = _index(order, input)
        input = index_select(input, batch_dim, sorted_indices)  # noqa: A001 - torch's parameter name
    if lengths_np.size and lengths_np[-1] <= 0:
        raise RuntimeError(
            "Length of all samples has to be greater than 0, but found an element in 'lengths' that is <= 0"
        )
    steps = input.shape[1 - batch_dim]
    if lengths_np.size and lengths_np[0] > steps:
        raise RuntimeError(
            f"pack_padded_sequence: a length of {int(lengths_np[0])} is longer than the padded "
            f"sequences ({steps} steps)"
        )
    if batch_first:
        input = input.transpose(0, 1)  # noqa: A001 - torch's parameter name
    batch_sizes = _batch_sizes(lengths_np)
    data = padded_to_packed(input[: len(batch_sizes)], tuple(batch_sizes.tolist()))
    return PackedSequence(data, wrap(batch_sizes), sorted_indices, None)


def pad_packed_sequence(
    sequence: PackedSequence,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Undo pack_padded_sequence: (padded (T, B, *) or (B, T, *), lengths) in the original order."""
    batch_sizes = sequence.batch_sizes.cpu().numpy().astype(np.int64)
    steps = len(batch_sizes)
    if total_length is not None:
        if total_length < steps:
            raise ValueError(
                "Expected total_length to be at least the length of the longest sequence in input, but "
                f"got total_length={total_length} and max sequence length being {steps}"
            )
        steps = total_length
    data = sequence.data
    batch = int(batch_sizes[0])
    filler = full((1, *data.shape[1:]), padding_value, dtype=data.dtype, device=data.device)
    source = np.full(steps * batch, data.shape[0], dtype=np.int64)
    source[_packed_positions(tuple(batch_sizes.tolist()), batch)] = np.arange(data.shape[0])
    lengths = (batch_sizes[None, :] > np.arange(batch)[:, None]).sum(axis=1)  # per sorted sequence
    if sequence.unsorted_indices is not None:  # columns back in the caller's order
        unsorted = sequence.unsorted_indices.cpu().numpy()
        source = source.reshape(steps, batch)[:, unsorted].reshape(-1)
        lengths = lengths[unsorted]
    padded = index_select(cat([data, filler]), 0, _index(source, data)).reshape(steps, batch, *data.shape[1:])
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, wrap(lengths.astype(np.int64))


def pad_sequence(
    sequences: Tensor | list[Tensor],
    batch_first: bool = False,
    padding_value: float = 0.0,
    padding_side: str = "right",
) -> Tensor:
    """Stack sequences (L_i, *) into (max L, B, *) (or (B, max L, *)), padding with padding_value."""
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    if isinstance(sequences, Tensor):
        sequences = list(sequences.unbind(0))
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        missing = longest - s.shape[0]
        if missing:
            filler = full((missing, *s.shape[1:]), padding_value, dtype=s.dtype, device=s.device)
            s = cat([s, filler] if padding_side == "right" else [filler, s])
        padded.append(s)
    return stack(padded, 0 if batch_first else 1)


def pack_sequence(sequences: list[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences (L_i, *)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The list of sequences a PackedSequence holds, in the original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return [padded[i, :length] for i, length in enumerate(lengths.tolist())]


def unpad_sequence(padded_sequences: Tensor, lengths: Tensor, batch_first: bool = False) -> list[Tensor]:
    """The list of sequences in a padded batch, each cut to its length."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [padded_sequences[i, :length] for i, length in enumerate(_lengths_array(lengths).tolist())]

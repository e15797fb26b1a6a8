"""Characters in, batches out: the text of `antorcha gpt`, its vocabulary, splits and batches.

As nanoGPT's shakespeare_char: the vocabulary is every distinct character of the text (sorted),
the first 90% of the encoded text is the training split and the last 10% validation, and a
batch is `batch_size` random windows of `block_size + 1` characters, drawn with a seeded
`torch.Generator` so a run (and a resumed run) sees the same batches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import antorcha as torch

TRAIN_FRACTION = 0.9


class InputError(Exception):
    """Bad input to `antorcha gpt` (a file, a flag, a checkpoint): one line for the user, exit 2."""


def read_text(path: str) -> str:
    """The UTF-8 text of `path`, or an InputError that says what is wrong with the file."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"--text {path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"--text {path}: is a directory, not a text file") from None
    except OSError as error:
        raise InputError(f"--text {path}: cannot read it ({error.strerror})") from None
    if not raw:
        raise InputError(f"--text {path}: the file is empty")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            f"--text {path}: not UTF-8 text (byte 0x{raw[error.start]:02x} at offset {error.start})"
        ) from None


class Vocabulary:
    """The characters a model knows, in id order, and the maps between text and ids."""

    def __init__(self, chars: str) -> None:
        self.chars = chars
        self.stoi = {ch: i for i, ch in enumerate(chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> Any:
        """The ids of `text`, an int64 tensor (N,); a character outside the vocabulary is an InputError."""
        try:
            ids = np.fromiter((self.stoi[ch] for ch in text), dtype=np.int64, count=len(text))
        except KeyError as error:
            raise InputError(f"the character {error.args[0]!r} is not in the vocabulary") from None
        return torch.from_numpy(ids)

    def decode(self, ids: Any) -> str:
        return "".join(self.chars[i] for i in ids.tolist())


class CharData:
    """A text as token ids: its vocabulary (every distinct character, sorted) and train/val splits."""

    def __init__(self, text: str) -> None:
        self.vocabulary = Vocabulary("".join(sorted(set(text))))
        ids = self.vocabulary.encode(text)
        cut = int(TRAIN_FRACTION * len(ids))
        self.train, self.val = ids[:cut], ids[cut:]  # (N_train,), (N_val,) int64

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    def check_block_size(self, block_size: int) -> None:
        """Each split must hold at least one window of block_size + 1 characters."""
        shortest = min(len(self.train), len(self.val))
        if shortest < block_size + 1:
            raise InputError(
                f"the text is too short for --block-size {block_size}: its {len(self.train) + len(self.val)} "
                f"characters split into {len(self.train)} train and {len(self.val)} val, and each split "
                f"needs at least {block_size + 1}"
            )

    def batch(self, split: str, batch_size: int, block_size: int, generator: Any, device: Any) -> tuple:
        """Inputs and next-character targets, both (B, T), from `generator`'s random windows."""
        data = self.train if split == "train" else self.val
        starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)  # (B,)
        window = starts[:, None] + torch.arange(block_size)  # (B, T)
        return data[window].to(device), data[window + 1].to(device)

    def unigram_baseline(self) -> float:
        """The cross-entropy, in nats, on the val split of the train split's character frequencies.

        A model that has learnt only how often each character occurs scores this; one that
        learnt anything about order scores less. Add-one smoothing keeps a character seen only
        in val from making it infinite.
        """
        train_counts = np.bincount(self.train.numpy(), minlength=self.vocab_size) + 1  # (V,)
        log_p = np.log(train_counts / train_counts.sum())  # (V,)
        val_counts = np.bincount(self.val.numpy(), minlength=self.vocab_size)  # (V,)
        return float(-(val_counts * log_p).sum() / len(self.val))

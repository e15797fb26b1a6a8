"""`antorcha gpt`'s checkpoint: one file, `<out>/ckpt.pt`, written atomically, read with antorcha.load.

It holds what resuming needs to continue exactly as if the run had never stopped:

    model_args   the GPTConfig fields          model       the weights (state_dict)
    optimizer    AdamW's state_dict            iteration   the next step to take
    rng          the batch generator's state and the default generator's (dropout)
    vocabulary   the characters, in id order   settings    the run's flags; history: its losses

The file is written to a temporary name in the same directory and renamed over the old one
(`os.replace`), so an interrupted save leaves the previous checkpoint whole.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import antorcha as torch
from antorcha.gpt.data import InputError

CHECKPOINT_NAME = "ckpt.pt"
SHAPE_FIELDS = ("n_layer", "n_head", "n_embd", "block_size", "vocab_size", "bias")
_REQUIRED = ("model_args", "model", "optimizer", "iteration", "rng", "vocabulary", "settings", "history")


def checkpoint_path(out_dir: str | os.PathLike) -> Path:
    return Path(out_dir) / CHECKPOINT_NAME


def save_checkpoint(path: Path, payload: dict) -> None:
    """Write payload to a temporary file beside `path`, sync it, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temporary, _mode_for(path))
        with os.fdopen(descriptor, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _mode_for(path: Path) -> int:
    """An existing checkpoint's permissions, else what open() would give (mkstemp's are 0o600)."""
    if path.exists():
        return stat.S_IMODE(path.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def load_checkpoint(path: Path) -> dict:
    """The checkpoint at `path` (tensors on the cpu), or an InputError saying why there is none."""
    if not path.is_file():
        raise InputError(f"no checkpoint at {path}: train once with --out {path.parent} first")
    try:
        checkpoint = torch.load(path, map_location="cpu")
    except (RuntimeError, OSError) as error:
        raise InputError(f"cannot load {path}: {error}") from None
    missing = [key for key in _REQUIRED if not isinstance(checkpoint, dict) or key not in checkpoint]
    if missing:
        raise InputError(f"{path} is not a checkpoint of `antorcha gpt` (it lacks {', '.join(missing)})")
    return checkpoint


def check_shape(checkpoint: dict, given: dict[str, Any], path: Path) -> None:
    """The model flags given on the command line must describe the checkpoint's model."""
    saved = checkpoint["model_args"]
    for name, value in given.items():
        if name in SHAPE_FIELDS and value is not None and saved.get(name) != value:
            flag = "--" + name.replace("_", "-")
            raise InputError(
                f"{path} holds a model with {name}={saved.get(name)}, but {flag} {value} was given "
                "(a checkpoint only loads into a model of its own shape)"
            )


def check_vocabulary(checkpoint: dict, chars: str, path: Path) -> None:
    """The text must encode to the same ids as the text the checkpoint was trained on."""
    saved = checkpoint["vocabulary"]
    if saved != chars:
        extra = sorted(set(chars) - set(saved))
        detail = f"; this text adds {''.join(extra)[:20]!r}" if extra else ""
        raise InputError(
            f"{path} was trained on another vocabulary ({len(saved)} characters, this text has "
            f"{len(chars)}{detail}); resume with the text it was trained on"
        )

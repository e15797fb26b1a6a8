"""`antorcha digits`: train examples/digits_cnn.py's CNN on the 8x8 digits, report accuracy and confusions.

    antorcha digits                                  # 12 epochs, well under a minute on a laptop CPU
    antorcha digits --epochs 5 --json run.json --plot run.png

Needs scikit-learn (pip install 'antorcha[digits]'); --plot needs matplotlib. Bad input: one line, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


class _InputError(Exception):
    """Input the command cannot run with: printed as one line, exit code 2."""


def add_digits_parser(commands: Any) -> None:
    """The `digits` subcommand and its flags, on the `antorcha` parser's subcommands."""
    from antorcha.cli import _positive
    from antorcha.digits import DigitsConfig

    defaults = DigitsConfig()
    digits = commands.add_parser(
        "digits",
        help="train a small CNN on scikit-learn's 8x8 handwritten digits; accuracy and confusion matrix",
        description=__doc__.split("\n\n")[0],
    )
    digits.add_argument(
        "--epochs", type=_positive(int), default=defaults.epochs, help=f"default {defaults.epochs}"
    )
    digits.add_argument(
        "--batch-size",
        type=_positive(int),
        default=defaults.batch_size,
        help=f"default {defaults.batch_size}",
    )
    digits.add_argument(
        "--lr",
        type=_positive(float),
        default=defaults.lr,
        help=f"Adam's learning rate (default {defaults.lr})",
    )
    digits.add_argument(
        "--seed",
        type=int,
        default=defaults.seed,
        help=f"the split, weights and shuffling (default {defaults.seed})",
    )
    digits.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    digits.add_argument("--json", metavar="FILE", help="write accuracy, confusion matrix and losses as JSON")
    digits.add_argument(
        "--plot", metavar="FILE.png", help="write the loss curve and misclassified digits (needs matplotlib)"
    )
    digits.add_argument("--tensorboard", metavar="DIR", help="write the curves as TensorBoard events")


def run_digits_command(args: argparse.Namespace) -> int:
    from antorcha.digits import MissingDependencyError

    try:
        return _run(args)
    except (_InputError, MissingDependencyError) as error:
        print(f"antorcha digits: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("antorcha digits: interrupted", file=sys.stderr)
        return 130


def _device(spec: str | None) -> Any:
    import antorcha as torch
    from antorcha.cli import _devices

    if spec is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return _devices(spec)[0]
    except ValueError as error:
        raise _InputError(str(error)) from None


def _run(args: argparse.Namespace) -> int:
    from antorcha.digits import DigitsConfig, format_confusion, load_digits_tensors, train_digits
    from antorcha.utils.tensorboard import tensorboard_unavailable

    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise _InputError("--plot needs matplotlib: pip install 'antorcha[plot]'") from None
    if args.tensorboard and (reason := tensorboard_unavailable()):
        raise _InputError(reason)
    for path in (args.json, args.plot):
        if path and not Path(path).absolute().parent.is_dir():
            raise _InputError(f"cannot write {path}: its directory does not exist")
    device = _device(args.device)
    load_digits_tensors()  # fails early, in one line, when scikit-learn is missing
    config = DigitsConfig(args.epochs, args.batch_size, args.lr, args.seed)
    print(
        f"antorcha digits: CNN on scikit-learn's 8x8 digits, Adam lr={config.lr}, batch {config.batch_size}, "
        f"{config.epochs} epochs, seed {config.seed}, on {device}",
        flush=True,
    )
    run = train_digits(config, device)
    wrong = int((run.test_predictions != run.test_labels).sum())
    print(
        f"trained on {run.train_size} images in {run.train_seconds:.1f} s; final epoch loss "
        f"{run.epoch_losses[-1]:.4f}"
    )
    print(f"test accuracy: {100 * run.accuracy:.2f}% ({wrong} of {len(run.test_labels)} test digits wrong)")
    print("confusion matrix (rows: true digit, columns: predicted):")
    print(format_confusion(run.confusion))
    _write_reports(args, config, run, device)
    return 0


def _write_reports(args: argparse.Namespace, config: Any, run: Any, device: Any) -> None:
    from antorcha.digits import plot, to_json, write_tensorboard

    try:
        if args.json:
            Path(args.json).write_text(json.dumps(to_json(config, run, device), indent=2))
            print(f"wrote {args.json}")
        if args.plot:
            plot(run, args.plot)
            print(f"wrote {args.plot}")
        if args.tensorboard:
            write_tensorboard(run, args.tensorboard)
            print(f"wrote TensorBoard events to {args.tensorboard}")
    except OSError as error:
        raise _InputError(f"cannot write {error.filename}: {error.strerror}") from None
    except ValueError as error:  # matplotlib's answer to an image format it does not know
        raise _InputError(f"cannot write {args.plot}: {error}") from None

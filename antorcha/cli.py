"""The `antorcha` command: `antorcha lesson` runs the seed lesson end to end; `antorcha gpt` trains a GPT;
`antorcha digits` trains a CNN on scikit-learn's 8x8 digits."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument prints one clear line (and exits with 2)."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    from antorcha.digits_cli import add_digits_parser
    from antorcha.distributed.run import add_run_parser
    from antorcha.gpt.cli import add_gpt_parser
    from antorcha.lesson import OPTIMIZERS

    parser = _Parser(prog="antorcha", description="antorcha: PyTorch's API on NumPy")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    lesson = commands.add_parser("lesson", help="train the lesson's MLP on every device and time it")
    lesson.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    lesson.add_argument("--lr", type=_positive(float), default=0.01)
    lesson.add_argument("--samples", type=_positive(int), default=2_000_000)
    lesson.add_argument("--epochs", type=_positive(int), default=10)
    lesson.add_argument("--batch-size", type=_positive(int), default=None, help="default: the full batch")
    lesson.add_argument(
        "--device", default=None, help="cpu, cuda or cuda:N (default: every available device)"
    )
    lesson.add_argument("--seed", type=int, default=0)
    lesson.add_argument(
        "--compile", action="store_true", help="model = torch.compile(model): the fused MLP op (CPU)"
    )
    lesson.add_argument("--plot", metavar="FILE.png", help="write loss curves and timings (needs matplotlib)")
    lesson.add_argument("--json", metavar="FILE", help="write the numbers as JSON")
    lesson.add_argument("--tensorboard", metavar="DIR", help="write the loss curves as TensorBoard events")
    add_gpt_parser(commands)
    add_digits_parser(commands)
    add_run_parser(commands)
    return parser


def _fail(message: str) -> int:
    print(f"antorcha lesson: error: {message}", file=sys.stderr)
    return 2


def _devices(spec: str | None) -> Any:
    import antorcha as torch
    from antorcha.lesson import available_devices

    if spec is None:
        return available_devices()
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ValueError(f"unknown device {spec!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but CUDA is not available (no GPU or no CuPy)")
    return [device]


def run_lesson_command(args: argparse.Namespace) -> int:
    from antorcha._world import join_world
    from antorcha.lesson import LessonConfig, format_table, plot, run_lesson, to_json, write_tensorboard
    from antorcha.utils.tensorboard import tensorboard_unavailable

    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            return _fail("--plot needs matplotlib: pip install 'antorcha[plot]'")
    if args.tensorboard and (reason := tensorboard_unavailable()):
        return _fail(reason)
    try:
        devices = _devices(args.device)
    except ValueError as error:
        return _fail(str(error))
    config = LessonConfig(
        args.optimizer, args.lr, args.samples, args.epochs, args.batch_size, args.seed, args.compile
    )
    world = join_world()  # under `antorcha run -n N`: each process trains a share, rank 0 reports
    batch = config.batch_size or config.samples
    if world.is_main:
        print(
            f"Lesson MLP(10, 100, 1){', compiled' if config.compile else ''}, MSE, {config.optimizer} "
            f"lr={config.lr}: {config.samples:,} samples, batch {batch:,}, {config.epochs} epochs"
        )
    runs = run_lesson(config, devices, world)
    if not world.is_main:
        return 0
    print(format_table(runs, world.size))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(to_json(config, runs), handle, indent=2)
        print(f"wrote {args.json}")
    if args.plot:
        plot(runs, args.plot)
        print(f"wrote {args.plot}")
    if args.tensorboard:
        write_tensorboard(runs, args.tensorboard)
        print(f"wrote TensorBoard events to {args.tensorboard} (tensorboard --logdir {args.tensorboard})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "lesson":
        return run_lesson_command(args)
    if args.command == "gpt":
        from antorcha.gpt.cli import run_gpt_command

        return run_gpt_command(args)
    if args.command == "digits":
        from antorcha.digits_cli import run_digits_command

        return run_digits_command(args)
    if args.command == "run":
        from antorcha.distributed.run import run_run_command

        return run_run_command(args)
    return 2

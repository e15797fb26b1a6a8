"""`antorcha gpt`: train a character-level GPT on a text, then sample from it.

    antorcha gpt                           # on antorcha's own source and docs, about two minutes
    antorcha gpt --text input.txt --out run --max-iters 2000
    antorcha gpt --out run --resume --max-iters 4000
    antorcha gpt --out run --sample-only --sample-tokens 1000 --temperature 0.8

Flags take nanoGPT's names. A model or training flag left out takes its default, or, with
--resume/--sample-only, the value the checkpoint was trained with; a model-shape flag that
contradicts the checkpoint is an error, as is every other bad input: one line, exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

SHAPE_DEFAULTS = {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64}
TRAIN_FLAGS = (
    "batch_size",
    "max_iters",
    "lr",
    "warmup_iters",
    "lr_decay_iters",
    "eval_interval",
    "eval_iters",
)


def _number(kind: type, low: float, low_inclusive: bool, high: float | None = None) -> Any:
    """An argparse type: a `kind` at least (or above) `low` and below `high`."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        too_low = value is None or value < low or (value == low and not low_inclusive)
        if too_low or (high is not None and value >= high):
            bound = f"{'>=' if low_inclusive else '>'} {low}" + (f" and < {high}" if high is not None else "")
            noun = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {noun} {bound}, got {text!r}")
        return value

    return parse


def add_gpt_parser(commands: Any) -> None:
    """The `gpt` subcommand and its flags, on the `antorcha` parser's subcommands."""
    from antorcha.gpt.train import TrainConfig

    gpt = commands.add_parser(
        "gpt",
        help="train a character-level GPT on a text (default: antorcha's own source) and sample from it",
        description=__doc__.split("\n\n")[0],
    )
    positive_int, positive_float = _number(int, 0, False), _number(float, 0.0, False)
    count, train = _number(int, 0, True), TrainConfig()
    gpt.add_argument("--text", metavar="FILE", help="a UTF-8 text (default: antorcha's own source and docs)")
    model = gpt.add_argument_group("model (default, or the checkpoint's with --resume/--sample-only)")
    for name, default in SHAPE_DEFAULTS.items():
        model.add_argument(
            f"--{name.replace('_', '-')}", type=positive_int, metavar="N", help=f"default {default}"
        )
    model.add_argument("--dropout", type=_number(float, 0.0, True, 1.0), metavar="P", help="default 0.0")
    training = gpt.add_argument_group("training (default, or the checkpoint's with --resume)")
    for flag, kind, text in (
        ("--batch-size", positive_int, f"default {train.batch_size}"),
        ("--max-iters", count, f"steps in all, a resumed run's included (default {train.max_iters})"),
        ("--lr", positive_float, f"peak learning rate (default {train.lr:g}), decayed to a tenth"),
        ("--warmup-iters", count, "linear warmup (default min(100, lr-decay-iters / 10))"),
        ("--lr-decay-iters", positive_int, "length of the cosine decay (default max-iters)"),
        (
            "--eval-interval",
            positive_int,
            f"evaluate and checkpoint every N steps (default {train.eval_interval})",
        ),
        ("--eval-iters", positive_int, f"batches per evaluation and split (default {train.eval_iters})"),
        ("--seed", int, f"weights, batches, dropout and sampling (default {train.seed})"),
    ):
        training.add_argument(flag, type=kind, metavar="X" if kind is positive_float else "N", help=text)
    training.add_argument("--compile", action="store_true", help="train torch.compile(model)")
    training.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available, else cpu)")
    sampling = gpt.add_argument_group("sampling")
    sampling.add_argument("--sample-tokens", type=count, default=300, metavar="N", help="default 300")
    sampling.add_argument(
        "--temperature",
        type=_number(float, 0.0, True),
        default=0.8,
        metavar="T",
        help="default 0.8; 0: greedy",
    )
    sampling.add_argument("--top-k", type=positive_int, metavar="K", help="default: no cut-off")
    output = gpt.add_argument_group("checkpoint and reports")
    output.add_argument("--out", metavar="DIR", help="write DIR/ckpt.pt at every evaluation")
    resume = output.add_mutually_exclusive_group()
    resume.add_argument("--resume", action="store_true", help="continue the run in --out DIR")
    resume.add_argument("--sample-only", action="store_true", help="sample from --out DIR's checkpoint")
    output.add_argument("--json", metavar="FILE", help="write losses, config, timings and the sample as JSON")
    output.add_argument("--plot", metavar="FILE.png", help="write the loss curves (needs matplotlib)")
    output.add_argument("--tensorboard", metavar="DIR", help="log the losses and lr as TensorBoard events")


def run_gpt_command(args: argparse.Namespace) -> int:
    from antorcha.gpt.data import InputError

    try:
        return _run(args)
    except InputError as error:
        print(f"antorcha gpt: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        where = f"; --out {args.out} --resume continues from its last checkpoint" if args.out else ""
        print(f"antorcha gpt: interrupted{where}", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    from antorcha.gpt.checkpoint import check_shape, checkpoint_path, load_checkpoint
    from antorcha.gpt.data import InputError
    from antorcha.utils.tensorboard import tensorboard_unavailable

    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise InputError("--plot needs matplotlib: pip install 'antorcha[plot]'") from None
    if args.tensorboard and (reason := tensorboard_unavailable()):
        raise InputError(reason)
    device = _device(args.device)
    checkpoint = None
    if args.resume or args.sample_only:
        if not args.out:
            raise InputError(
                f"--{'resume' if args.resume else 'sample-only'} needs --out DIR, the run's directory"
            )
        checkpoint = load_checkpoint(checkpoint_path(args.out))
        check_shape(
            checkpoint, {name: getattr(args, name) for name in SHAPE_DEFAULTS}, checkpoint_path(args.out)
        )
    if args.sample_only:
        return _sample_only(args, checkpoint, device)
    return _train_and_sample(args, checkpoint, device)


def _device(spec: str | None) -> Any:
    import antorcha as torch
    from antorcha.cli import _devices
    from antorcha.gpt.data import InputError

    if spec is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return _devices(spec)[0]
    except ValueError as error:
        raise InputError(str(error)) from None


def _model_config(args: argparse.Namespace, checkpoint: dict | None, vocab_size: int) -> Any:
    from antorcha.gpt.data import InputError
    from antorcha.gpt.model import GPTConfig

    if checkpoint is not None:
        saved = dict(checkpoint["model_args"])
        if args.dropout is not None:
            saved["dropout"] = args.dropout  # dropout changes the training, not the shape
        try:
            return GPTConfig(**saved)
        except TypeError as error:
            raise InputError(f"the checkpoint's model_args do not describe a GPT: {error}") from None
    shape = {name: getattr(args, name) or default for name, default in SHAPE_DEFAULTS.items()}
    if shape["n_embd"] % shape["n_head"]:
        raise InputError(f"--n-embd {shape['n_embd']} is not divisible by --n-head {shape['n_head']}")
    return GPTConfig(**shape, vocab_size=vocab_size, dropout=args.dropout or 0.0)


@contextlib.contextmanager
def _checkpoint_errors(args: argparse.Namespace) -> Iterator[None]:
    """A checkpoint whose weights or state do not fit its own model args is damaged: one line."""
    from antorcha.gpt.checkpoint import checkpoint_path
    from antorcha.gpt.data import InputError

    try:
        yield
    except (RuntimeError, KeyError, TypeError, ValueError) as error:
        detail = " ".join(line.strip() for line in str(error).splitlines())  # load_state_dict's are many
        raise InputError(f"{checkpoint_path(args.out)} does not fit its own model: {detail}") from None


def _train_config(args: argparse.Namespace, checkpoint: dict | None) -> Any:
    from antorcha.gpt.train import TrainConfig

    saved = checkpoint["settings"] if checkpoint is not None else {}
    defaults = TrainConfig()
    chosen = {}
    for name in (*TRAIN_FLAGS, "seed"):
        given = getattr(args, name)
        chosen[name] = given if given is not None else saved.get(name, getattr(defaults, name))
    return TrainConfig(**chosen, compile=args.compile)


def _train_and_sample(args: argparse.Namespace, checkpoint: dict | None, device: Any) -> int:
    from antorcha._world import join_world
    from antorcha.gpt.checkpoint import check_vocabulary, checkpoint_path, save_checkpoint
    from antorcha.gpt.corpus import DEFAULT_CORPUS_NAME, default_corpus
    from antorcha.gpt.data import CharData, InputError, read_text
    from antorcha.gpt.train import checkpoint_payload, new_run, restore_run, train

    began = time.perf_counter()
    given = str(Path(args.text).absolute()) if args.text else None  # so a resume may run from elsewhere
    text_path = given or (checkpoint["settings"].get("text") if checkpoint is not None else None)
    data = CharData(read_text(text_path) if text_path else default_corpus())
    if checkpoint is not None:
        check_vocabulary(checkpoint, data.vocabulary.chars, checkpoint_path(args.out))
    model_config = _model_config(args, checkpoint, data.vocab_size)
    data.check_block_size(model_config.block_size)
    config = _train_config(args, checkpoint)
    if checkpoint is None:
        run = new_run(model_config, config, device)
    else:
        with _checkpoint_errors(args):
            run = restore_run(checkpoint, model_config, config, device)
    settings = {"text": text_path, **{name: getattr(config, name) for name in (*TRAIN_FLAGS, "seed")}}
    path = checkpoint_path(args.out) if args.out else None

    def save(current: Any) -> None:
        try:
            save_checkpoint(path, checkpoint_payload(current, data.vocabulary, settings))
        except OSError as error:  # the previous checkpoint, if any, is still whole
            raise InputError(f"cannot write the checkpoint {path}: {error.strerror or error}") from None

    world = join_world()  # under `antorcha run -n N`: each process steps a share, rank 0 reports
    if not world.is_main:
        train(run, data, config, device, progress=False, world=world)
        return 0
    print(_describe(run, data, config, text_path or DEFAULT_CORPUS_NAME, device, world.size), flush=True)
    writer = _tensorboard_writer(args.tensorboard, run.iteration)
    try:
        train(run, data, config, device, save if path else None, tensorboard=writer, world=world)
    finally:
        if writer is not None:
            writer.close()
    baseline = data.unigram_baseline()
    last = run.history.evals[-1]
    tokens_per_second = run.history.tokens / max(run.history.train_seconds, 1e-9)
    print(
        f"after {run.iteration} steps: val loss {last['val']:.4f}, unigram baseline {baseline:.4f} "
        f"(train loss {last['train']:.4f}; {run.history.train_seconds:.1f} s training, "
        f"{tokens_per_second:,.0f} tokens/s)"
    )
    if path:
        print(f"checkpoint: {path}")
    text, sample_seconds = _timed_sample(args, run.model, data.vocabulary, config.seed, device)
    report = {
        "config": {
            "model": asdict(model_config),
            "train": asdict(config),
            "text": text_path,
            "device": str(device),
            "processes": world.size,
        },
        "data": {"vocab_size": data.vocab_size, "train_tokens": len(data.train), "val_tokens": len(data.val)},
        "unigram_baseline": baseline,
        "final": last,
        **run.history.to_dict(),
        "timings": {
            "train_seconds": run.history.train_seconds,
            "tokens_per_second": tokens_per_second,
            "sample_seconds": sample_seconds,
            "total_seconds": time.perf_counter() - began,
        },
        "sample": text,
    }
    _write_reports(args, report, baseline)
    return 0


def _tensorboard_writer(log_dir: str | None, start: int) -> Any:
    """A run resumed at step `start` purges what the stopped run logged after its checkpoint: events at
    step > start (the evaluation at `start` was logged and is not repeated)."""
    if log_dir is None:
        return None
    from antorcha.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir, purge_step=start + 1 if start > 0 else None)


def _sample_only(args: argparse.Namespace, checkpoint: dict, device: Any) -> int:
    from antorcha.gpt.checkpoint import checkpoint_path
    from antorcha.gpt.data import Vocabulary
    from antorcha.gpt.model import GPT

    model_config = _model_config(args, checkpoint, len(checkpoint["vocabulary"]))
    model = GPT(model_config).to(device)
    with _checkpoint_errors(args):
        model.load_state_dict(checkpoint["model"])
    seed = args.seed if args.seed is not None else checkpoint["settings"].get("seed", 1337)
    print(
        f"antorcha gpt: sampling from {checkpoint_path(args.out)} (trained {checkpoint['iteration']} steps)"
    )
    text, sample_seconds = _timed_sample(args, model, Vocabulary(checkpoint["vocabulary"]), seed, device)
    report = {
        "config": {"model": asdict(model_config), "device": str(device)},
        "iteration": int(checkpoint["iteration"]),
        **checkpoint["history"],
        "timings": {"sample_seconds": sample_seconds},
        "sample": text,
    }
    _write_reports(args, report, None)
    return 0


def _timed_sample(args: argparse.Namespace, model: Any, vocabulary: Any, seed: int, device: Any) -> tuple:
    from antorcha.gpt.train import sample

    start = time.perf_counter()
    text = sample(model, vocabulary, args.sample_tokens, args.temperature, args.top_k, seed, device)
    seconds = time.perf_counter() - start
    if args.sample_tokens:
        top_k = f", top-k {args.top_k}" if args.top_k else ""
        print(
            f"--- sample: {args.sample_tokens} characters, temperature {args.temperature}{top_k}, "
            f"{1000 * seconds / args.sample_tokens:.1f} ms/character (key/value cache) ---"
        )
        print(text)
        print("---")
    return text, seconds


def _describe(run: Any, data: Any, config: Any, source: str, device: Any, processes: int = 1) -> str:
    c = run.model.config
    millions = sum(p.numel() for p in run.model.parameters()) / 1e6
    resumed = f", resuming at step {run.iteration}" if run.iteration else ""
    parallel = f", data-parallel over {processes} processes" if processes > 1 else ""
    return (
        f"antorcha gpt: {c.n_layer} layers, {c.n_head} heads, n_embd {c.n_embd}, block {c.block_size} "
        f"({millions:.2f}M parameters) on {source}: {len(data.train) + len(data.val):,} characters, "
        f"vocabulary {data.vocab_size}, {len(data.train):,} train / {len(data.val):,} val; "
        f"{config.max_iters} steps of {config.batch_size}x{c.block_size} tokens on {device}"
        f"{', compiled' if config.compile else ''}{parallel}{resumed}"
    )


def _write_reports(args: argparse.Namespace, report: dict, baseline: float | None) -> None:
    from antorcha.gpt.data import InputError

    try:
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2))
            print(f"wrote {args.json}")
        if args.plot:
            plot_losses(report, baseline, args.plot)
            print(f"wrote {args.plot}")
    except OSError as error:
        raise InputError(f"cannot write {error.filename}: {error.strerror}") from None


def plot_losses(report: dict, baseline: float | None, path: str) -> None:
    """The train loss of every step, the evaluated train and val losses, and the unigram baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(figsize=(8, 4.5))
    steps = range(len(report["train_losses"]))
    axes.plot(
        steps, report["train_losses"], color="tab:blue", alpha=0.35, linewidth=0.8, label="train (step)"
    )
    evals = report["evals"]
    for split, color in (("train", "tab:blue"), ("val", "tab:orange")):
        axes.plot(
            [e["iter"] for e in evals], [e[split] for e in evals], "o-", color=color, label=f"{split} (eval)"
        )
    if baseline is not None:
        axes.axhline(baseline, color="gray", linestyle="--", label=f"unigram baseline {baseline:.3f}")
    axes.set(title="antorcha gpt: cross-entropy (nats per character)", xlabel="step", ylabel="loss")
    axes.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

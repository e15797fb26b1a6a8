"""The training loop of `antorcha gpt`, written as nanoGPT's train.py writes it.

AdamW from `GPT.configure_optimizers` (decay on matrices only), a linear warmup then a cosine
decay of the learning rate to a tenth of it, `clip_grad_norm_`, and every `eval_interval` steps
the mean train and val loss over `eval_iters` fixed batches. A run is resumable exactly: its
checkpoint holds the weights, AdamW's moments, the batch generator and the dropout generator.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import antorcha as torch
from antorcha._world import SINGLE_PROCESS, World
from antorcha.gpt.data import CharData, Vocabulary
from antorcha.gpt.model import GPT, GPTConfig

EVAL_SEED_OFFSET = 1  # the eval batches come from their own generator, so evaluating draws nothing


@dataclass
class TrainConfig:
    batch_size: int = 12
    max_iters: int = 600
    lr: float = 1e-3
    warmup_iters: int | None = None  # None: a tenth of the decay, at most 100 steps
    lr_decay_iters: int | None = None  # None: max_iters
    eval_interval: int = 100
    eval_iters: int = 20
    seed: int = 1337
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99  # nanoGPT's choice for small character models
    grad_clip: float = 1.0
    compile: bool = False

    def decay_iters(self) -> int:
        return self.lr_decay_iters if self.lr_decay_iters is not None else self.max_iters

    def warmup(self) -> int:
        return self.warmup_iters if self.warmup_iters is not None else min(100, self.decay_iters() // 10)


def lr_at(iteration: int, config: TrainConfig) -> float:
    """Linear warmup to config.lr, then cosine decay to config.lr / 10 at decay_iters, then flat."""
    warmup, decay, min_lr = config.warmup(), config.decay_iters(), config.lr / 10
    if iteration < warmup:
        return config.lr * (iteration + 1) / (warmup + 1)
    if iteration >= decay:
        return min_lr
    progress = (iteration - warmup) / max(1, decay - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (config.lr - min_lr)


@dataclass
class History:
    """What a run has produced so far; it travels in the checkpoint, so a resumed run extends it."""

    train_losses: list[float] = field(default_factory=list)  # one per step
    evals: list[dict] = field(default_factory=list)  # {"iter", "train", "val"}
    train_seconds: float = 0.0  # in steps only, not in evaluation or checkpointing
    tokens: int = 0

    def to_dict(self) -> dict:
        return {
            "train_losses": self.train_losses,
            "evals": self.evals,
            "train_seconds": self.train_seconds,
            "tokens": self.tokens,
        }

    @classmethod
    def from_dict(cls, saved: dict) -> History:
        return cls(
            train_losses=[float(value) for value in saved["train_losses"]],
            evals=[dict(entry) for entry in saved["evals"]],
            train_seconds=float(saved["train_seconds"]),
            tokens=int(saved["tokens"]),
        )


@dataclass
class Run:
    """The state a training run carries from step to step (and into its checkpoint)."""

    model: GPT
    optimizer: Any
    batches: Any  # the torch.Generator the training batches are drawn with
    iteration: int = 0
    history: History = field(default_factory=History)
    world: World = SINGLE_PROCESS  # the processes stepping it together; not part of the checkpoint


def new_run(model_config: GPTConfig, config: TrainConfig, device: Any) -> Run:
    torch.manual_seed(config.seed)  # the initial weights, then dropout, draw from the default generator
    model = GPT(model_config).to(device)
    optimizer = model.configure_optimizers(config.weight_decay, config.lr, (config.beta1, config.beta2))
    _seed_cuda_dropout(config.seed, 0, device)
    return Run(model, optimizer, torch.Generator().manual_seed(config.seed))


def restore_run(checkpoint: dict, model_config: GPTConfig, config: TrainConfig, device: Any) -> Run:
    """A run at the checkpoint's iteration, with its weights, moments and both generators' states."""
    run = new_run(model_config, config, device)
    run.model.load_state_dict(checkpoint["model"])
    run.optimizer.load_state_dict(checkpoint["optimizer"])
    run.batches.set_state(checkpoint["rng"]["batches"])
    torch.set_rng_state(checkpoint["rng"]["dropout"])
    run.iteration = int(checkpoint["iteration"])
    run.history = History.from_dict(checkpoint["history"])
    _seed_cuda_dropout(config.seed, run.iteration, device)
    return run


def _seed_cuda_dropout(seed: int, iteration: int, device: Any) -> None:
    """On a GPU, dropout draws from the cuda generator, whose state CuPy cannot save: reseed it
    from the step instead. A resumed cuda run is then reproducible, and exact when dropout is 0."""
    if torch.device(device).type == "cuda":
        torch.cuda.manual_seed(seed + iteration)


def checkpoint_payload(run: Run, vocabulary: Vocabulary, settings: dict) -> dict:
    return {
        "model_args": dict(vars(run.model.config)),
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "iteration": run.iteration,
        "rng": {"batches": run.batches.get_state(), "dropout": torch.get_rng_state()},
        "vocabulary": vocabulary.chars,
        "settings": settings,
        "history": run.history.to_dict(),
    }


def eval_batches(data: CharData, config: TrainConfig, block_size: int, device: Any) -> dict[str, list]:
    """The same eval_iters batches per split at every evaluation, so the curves compare like with like."""
    generator = torch.Generator().manual_seed(config.seed + EVAL_SEED_OFFSET)
    return {
        split: [
            data.batch(split, config.batch_size, block_size, generator, device)
            for _ in range(config.eval_iters)
        ]
        for split in ("train", "val")
    }


@torch.no_grad()
def evaluate(model: GPT, batches: dict[str, list]) -> dict[str, float]:
    model.eval()  # no dropout: evaluating draws no random numbers, so it cannot shift a resumed run
    losses = {
        split: sum(model(x, y)[1].item() for x, y in pairs) / len(pairs) for split, pairs in batches.items()
    }
    model.train()
    return losses


class Progress:
    """A tqdm bar with the train loss, the last val loss and tokens/s; plain lines without tqdm."""

    def __init__(self, total: int, start: int, enabled: bool, quiet: bool = False) -> None:
        self.bar = None
        self.quiet = quiet  # another rank than 0 of several: rank 0 reports
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:  # progress is a nicety; the command runs without tqdm
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True, leave=True)
        self.postfix = {"loss": "-", "val": "-", "tok_s": "-"}

    def step(self, loss: float, tokens_per_second: float) -> None:
        self.postfix.update(loss=f"{loss:.4f}", tok_s=f"{tokens_per_second:,.0f}")
        if self.bar is not None:
            self.bar.set_postfix(self.postfix, refresh=False)
            self.bar.update(1)

    def line(self, text: str, val: float | None = None) -> None:
        if self.quiet:
            return
        if val is not None:
            self.postfix["val"] = f"{val:.4f}"
        if self.bar is not None:
            self.bar.set_postfix(self.postfix)  # the bar left on screen shows the last val loss
            self.bar.write(text)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def train(
    run: Run,
    data: CharData,
    config: TrainConfig,
    device: Any,
    save: Callable[[Run], None] | None = None,
    progress: bool = True,
    tensorboard: Any = None,
    world: World = SINGLE_PROCESS,
) -> None:
    """Step `run` up to config.max_iters, evaluating (and saving) every eval_interval steps and at the end.
    `tensorboard`, a SummaryWriter, gets loss/train and lr per step and loss/val per evaluation, each at
    the number of steps taken when it was measured (a step's loss at 1 after the first step).
    With several processes (`world`) each steps a DistributedDataParallel replica on its share of
    every batch; all draw the same batches and evaluate alike, so their runs stay identical."""
    run.world = world
    block_size = run.model.config.block_size
    step_model = world.wrap(torch.compile(run.model) if config.compile else run.model)
    fixed = eval_batches(data, config, block_size, device)
    baseline = data.unigram_baseline()
    bar = Progress(config.max_iters, run.iteration, progress and world.is_main, quiet=not world.is_main)
    tokens_per_step = config.batch_size * block_size
    try:
        for iteration in range(run.iteration, config.max_iters + 1):
            run.iteration = iteration
            already_evaluated = bool(run.history.evals) and run.history.evals[-1]["iter"] == iteration
            due = iteration % config.eval_interval == 0 or iteration == config.max_iters
            if due and not already_evaluated:  # a resumed run evaluated its first step before it stopped
                losses = evaluate(run.model, fixed)
                run.history.evals.append({"iter": iteration, **losses})
                bar.line(
                    f"step {iteration}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f} "
                    f"(unigram baseline {baseline:.4f})",
                    val=losses["val"],
                )
                if tensorboard is not None:
                    tensorboard.add_scalar("loss/val", losses["val"], iteration)
                    tensorboard.flush()
                if save is not None:
                    save(run)
            if iteration == config.max_iters:
                break
            loss = _step(run, step_model, data, config, device, iteration)
            if tensorboard is not None:
                tensorboard.add_scalar("loss/train", loss, iteration + 1)
                tensorboard.add_scalar("lr", lr_at(iteration, config), iteration + 1)
            bar.step(
                loss, tokens_per_step * len(run.history.train_losses) / max(run.history.train_seconds, 1e-9)
            )
    finally:
        bar.close()


def _step(
    run: Run, step_model: Any, data: CharData, config: TrainConfig, device: Any, iteration: int
) -> float:
    for group in run.optimizer.param_groups:
        group["lr"] = lr_at(iteration, config)
    _synchronize(device)
    start = time.perf_counter()
    x, y = data.batch("train", config.batch_size, run.model.config.block_size, run.batches, device)  # (B, T)
    mine = run.world.shard(slice(0, config.batch_size))  # this process's rows: all of them when alone
    _, loss = step_model(x[mine], y[mine])
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), config.grad_clip)
    run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    value = loss.item()  # .item() waits for the device, so the clock below is honest
    run.history.train_seconds += time.perf_counter() - start
    value = run.world.mean(value)  # the whole batch's loss (the ranks' shares are equal or one row apart)
    run.history.train_losses.append(value)
    run.history.tokens += x.numel()
    return value


def _synchronize(device: Any) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


@torch.no_grad()
def sample(
    model: GPT,
    vocabulary: Vocabulary,
    tokens: int,
    temperature: float,
    top_k: int | None,
    seed: int,
    device: Any,
) -> str:
    """`tokens` characters generated (with the key/value cache) after a newline, decoded."""
    start = vocabulary.stoi.get("\n", 0)
    prompt = torch.tensor([[start]], dtype=torch.long, device=device)  # (1, 1)
    generator = torch.Generator(device=device).manual_seed(seed)
    model.eval()
    out = model.generate(prompt, tokens, temperature=temperature, top_k=top_k, generator=generator)
    return vocabulary.decode(out[0, 1:])

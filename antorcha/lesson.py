"""The seed lesson as a program: an MLP(10, 100, 1) trained with MSE on random data, timed per device.

The model and training loop are written exactly as the lesson writes them in
PyTorch (`nn.Module`, `F.relu`, `nn.MSELoss`, `optim.Adam`), with antorcha in
torch's place. Timings are honest: one warm-up step on a throwaway copy of the
model, and a GPU `synchronize()` before every clock read.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import antorcha as torch
import antorcha.nn as nn
import antorcha.nn.functional as F
import antorcha.optim as optim
from antorcha._world import SINGLE_PROCESS, World

OPTIMIZERS = ("adam", "adamax", "adamw", "adamz", "sgd")


class MLP(nn.Module):
    """The lesson's network: Linear(10, 100) -> ReLU -> Linear(100, 1)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int) -> None:
        super().__init__()
        self.layer1 = nn.Linear(input_dim, hidden_dim)
        self.layer2 = nn.Linear(hidden_dim, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.layer1(x))
        x = self.layer2(x)
        return x


@dataclass
class LessonConfig:
    optimizer: str = "adam"
    lr: float = 0.01
    samples: int = 2_000_000
    epochs: int = 10
    batch_size: int | None = None  # None: the whole data set in one step, as in the lesson
    seed: int = 0
    compile: bool = False  # model = torch.compile(model): the fused MLP op (antorcha/speed/)


@dataclass
class DeviceRun:
    """What one device's training produced."""

    device: str
    seconds_per_epoch: float
    samples_per_second: float
    final_loss: float
    losses: list[float] = field(default_factory=list)


def make_data(samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Dummy data with a learnable target: a fixed random linear map plus a little noise."""
    torch.manual_seed(seed)
    x = torch.randn(samples, 10)  # (N, 10)
    true_weight = torch.randn(10, 1)  # (10, 1)
    y = x @ true_weight + 0.5 + 0.1 * torch.randn(samples, 1)  # (N, 1)
    return x, y


def make_optimizer(name: str, params: Any, lr: float) -> optim.Optimizer:
    if name == "adam":
        return optim.Adam(params, lr=lr)
    if name == "adamax":
        return optim.Adamax(params, lr=lr)
    if name == "adamw":
        return optim.AdamW(params, lr=lr)
    if name == "adamz":
        return optim.AdamZ(params, lr=lr)
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=0.9)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def _train_step(
    model: nn.Module, criterion: nn.Module, optimizer: optim.Optimizer, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """One optimisation step; AdamZ receives the loss it adapts its learning rate to."""

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        return loss

    if isinstance(optimizer, optim.AdamZ):
        return optimizer.step(closure)
    loss = closure()
    optimizer.step()
    return loss


def _batches(samples: int, batch_size: int | None) -> list[slice]:
    size = batch_size or samples
    return [slice(start, min(start + size, samples)) for start in range(0, samples, size)]


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _progress(total: int, label: str) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:  # progress is a nicety; the lesson runs without tqdm
        return None
    return tqdm(total=total, desc=label, unit="epoch", leave=True, dynamic_ncols=True)


def _model(config: LessonConfig, device: torch.device) -> nn.Module:
    model = MLP(10, 100, 1).to(device)
    return torch.compile(model) if config.compile else model


def train_on(
    device: torch.device,
    config: LessonConfig,
    x_cpu: torch.Tensor,
    y_cpu: torch.Tensor,
    world: World = SINGLE_PROCESS,
) -> DeviceRun:
    """Train a fresh, identically initialised model on `device` and time its epochs. With several
    processes (`world`), each trains a DistributedDataParallel replica on its share of every batch."""
    x, y = x_cpu.to(device), y_cpu.to(device)
    batches = [world.shard(batch) for batch in _batches(config.samples, config.batch_size)]
    criterion = nn.MSELoss()

    torch.manual_seed(config.seed + 1)
    warmup_model = world.wrap(_model(config, device))
    _train_step(
        warmup_model,
        criterion,
        make_optimizer(config.optimizer, warmup_model.parameters(), config.lr),
        x[batches[0]],
        y[batches[0]],
    )

    torch.manual_seed(config.seed + 1)
    model = world.wrap(_model(config, device))
    optimizer = make_optimizer(config.optimizer, model.parameters(), config.lr)
    bar = _progress(config.epochs, f"{device}") if world.is_main else None
    losses: list[float] = []
    elapsed = 0.0
    for _ in range(config.epochs):
        _synchronize(device)
        start = time.perf_counter()
        for batch in batches:
            loss = _train_step(model, criterion, optimizer, x[batch], y[batch])
        _synchronize(device)
        elapsed += time.perf_counter() - start
        losses.append(world.mean(loss.item()))  # with several processes: the whole batch's loss
        if bar is not None:
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
            bar.update(1)
    if bar is not None:
        bar.close()
    per_epoch = elapsed / config.epochs
    return DeviceRun(str(device), per_epoch, config.samples / per_epoch, losses[-1], losses)


def available_devices() -> list[torch.device]:
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    return devices


def run_lesson(
    config: LessonConfig, devices: list[torch.device], world: World = SINGLE_PROCESS
) -> list[DeviceRun]:
    x, y = make_data(config.samples, config.seed)  # every process makes all of it, then takes its share
    return [train_on(device, config, x, y, world) for device in devices]


def format_table(runs: list[DeviceRun], processes: int = 1) -> str:
    """A plain-text table: one row per device, plus the GPU's speed-up over the CPU, and with
    several processes a row saying how many shared each batch."""
    header = f"{'device':<8} {'s/epoch':>10} {'samples/s':>14} {'final loss':>12} {'speed-up':>9}"
    cpu = next((r for r in runs if r.device == "cpu"), None)
    rows = [header, "-" * len(header)]
    for run in runs:
        speedup = f"{cpu.seconds_per_epoch / run.seconds_per_epoch:.1f}x" if cpu else "-"
        rows.append(
            f"{run.device:<8} {run.seconds_per_epoch:>10.4f} {run.samples_per_second:>14,.0f} "
            f"{run.final_loss:>12.6f} {speedup:>9}"
        )
    if processes > 1:
        share = f"(data-parallel: each trained on 1/{processes} of every batch)"
        rows.append(f"{'processes':<9}{processes:>10} {share}")
    return "\n".join(rows)


def to_json(config: LessonConfig, runs: list[DeviceRun]) -> dict:
    return {"config": asdict(config), "runs": [asdict(r) for r in runs]}


def write_tensorboard(runs: list[DeviceRun], log_dir: str) -> None:
    """One TensorBoard run per device (log_dir/cpu, log_dir/cuda): the loss at the end of each epoch."""
    import os

    from antorcha.utils.tensorboard import SummaryWriter

    for run in runs:
        with SummaryWriter(os.path.join(log_dir, run.device.replace(":", "_"))) as writer:
            for epoch, loss in enumerate(run.losses, start=1):
                writer.add_scalar("loss/train", loss, epoch)
            writer.add_scalar("seconds_per_epoch", run.seconds_per_epoch, len(run.losses))


def plot(runs: list[DeviceRun], path: str) -> None:
    """Loss curves and a bar chart of seconds per epoch, one colour per device."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (curves, bars) = plt.subplots(1, 2, figsize=(11, 4))
    for run in runs:
        curves.plot(range(1, len(run.losses) + 1), run.losses, marker="o", label=run.device)
    curves.set(title="Training loss (MSE)", xlabel="epoch", ylabel="loss", yscale="log")
    curves.legend()
    bars.bar(
        [r.device for r in runs],
        [r.seconds_per_epoch for r in runs],
        color=["tab:blue", "tab:orange"][: len(runs)],
    )
    bars.set(title="Seconds per epoch (lower is better)", ylabel="seconds")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

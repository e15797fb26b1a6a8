"""The program behind `antorcha digits`: examples/digits_cnn.py's CNN on scikit-learn's 8x8 digits.

The data set (1,797 images, 10 classes) ships inside scikit-learn's wheel, so nothing is downloaded.
The training is the example's, step for step: a seeded 80/20 `random_split`, a shuffling
`DataLoader`, Adam on the cross-entropy; on top of it this module keeps every step's loss, the test
set's confusion matrix and its misclassified images, for the command's report and plots.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

import antorcha as torch
from antorcha import nn
from antorcha.utils.data import DataLoader, TensorDataset, random_split

NUM_CLASSES = 10
TEST_FRACTION = 0.2
INSTALL_HINT = "the digits data set comes with scikit-learn: pip install 'antorcha[digits]'"


class MissingDependencyError(RuntimeError):
    """An optional package the command needs is not installed (the message says how to install it)."""


@dataclass
class DigitsConfig:
    epochs: int = 12
    batch_size: int = 32
    lr: float = 0.005
    seed: int = 0


@dataclass
class DigitsRun:
    """What one training run produced: losses, the test set's predictions and the time taken."""

    step_losses: list[float] = field(default_factory=list)
    epoch_losses: list[float] = field(default_factory=list)
    train_size: int = 0
    test_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    test_predictions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    test_images: np.ndarray = field(default_factory=lambda: np.zeros((0, 8, 8), dtype=np.float32))
    train_seconds: float = 0.0

    @property
    def accuracy(self) -> float:
        return float((self.test_predictions == self.test_labels).mean())

    @property
    def confusion(self) -> np.ndarray:
        return confusion_matrix(self.test_labels, self.test_predictions)


class DigitsCNN(nn.Module):
    """examples/digits_cnn.py's model: two 3x3 convolutions, BatchNorm, max pooling, a linear head."""

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=3, padding=1),  # (B, 16, 8, 8)
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 16, 4, 4)
            nn.Conv2d(16, 32, kernel_size=3, padding=1),  # (B, 32, 4, 4)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 32, 2, 2)
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * 2 * 2, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))  # (B, 10) logits


def load_digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 images as (N, 1, 8, 8) float32 in [0, 1], and their labels as (N,) int64."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise MissingDependencyError(INSTALL_HINT) from None
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # pixels are 0..16
    return images, torch.tensor(digits.target, dtype=torch.long)


def split_digits(seed: int) -> tuple[Any, Any]:
    """The example's seeded 80/20 train/test split of the digits, as two `Subset`s."""
    images, labels = load_digits_tensors()
    dataset = TensorDataset(images, labels)
    test_size = int(len(dataset) * TEST_FRACTION)
    generator = torch.Generator().manual_seed(seed)
    return random_split(dataset, [len(dataset) - test_size, test_size], generator=generator)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """(10, 10) counts: row = the true digit, column = the predicted one."""
    matrix = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def _progress(total: int) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:  # the bar is a nicety; training runs without tqdm
        return None
    return tqdm(total=total, desc="digits", unit="step", dynamic_ncols=True)


def _train_epoch(model: nn.Module, loader: Any, optimizer: Any, device: torch.device, bar: Any) -> list:
    model.train()
    criterion = nn.CrossEntropyLoss()
    losses = []
    for images, labels in loader:
        optimizer.zero_grad()
        loss = criterion(model(images.to(device)), labels.to(device))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
    return losses


def _predict(model: nn.Module, loader: Any, device: torch.device) -> tuple[np.ndarray, ...]:
    """The test images (N, 8, 8), their labels and the model's predictions, in the loader's order."""
    model.eval()
    images, labels, predictions = [], [], []
    with torch.no_grad():
        for batch, batch_labels in loader:
            predictions.append(model(batch.to(device)).argmax(dim=1).cpu().numpy())
            images.append(batch[:, 0].numpy())
            labels.append(batch_labels.numpy())
    return np.concatenate(images), np.concatenate(labels), np.concatenate(predictions)


def train_digits(config: DigitsConfig, device: torch.device, progress: bool = True) -> DigitsRun:
    """Train the CNN as examples/digits_cnn.py does and evaluate it on the held-out fifth."""
    train_set, test_set = split_digits(config.seed)
    torch.manual_seed(config.seed)
    train_loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True)
    model = DigitsCNN().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    run = DigitsRun(train_size=len(train_set))
    bar = _progress(config.epochs * len(train_loader)) if progress else None
    start = time.perf_counter()
    try:
        for _ in range(config.epochs):
            losses = _train_epoch(model, train_loader, optimizer, device, bar)
            run.step_losses.extend(losses)
            run.epoch_losses.append(float(np.mean(losses)))
    finally:
        if bar is not None:
            bar.close()
    run.train_seconds = time.perf_counter() - start
    run.test_images, run.test_labels, run.test_predictions = _predict(
        model, DataLoader(test_set, batch_size=256), device
    )
    return run


def format_confusion(matrix: np.ndarray) -> str:
    """The confusion matrix as a table: one row per true digit, one column per prediction."""
    width = max(3, len(str(matrix.max())) + 1)
    header = "true\\pred" + "".join(f"{digit:>{width}}" for digit in range(NUM_CLASSES))
    rows = [f"{digit:>9}" + "".join(f"{count:>{width}}" for count in row) for digit, row in enumerate(matrix)]
    return "\n".join([header, *rows])


def misclassified(run: DigitsRun) -> list[dict]:
    """Each wrong test prediction: its position in the test set, the true and the predicted digit."""
    wrong = np.flatnonzero(run.test_predictions != run.test_labels)
    return [
        {"index": int(i), "label": int(run.test_labels[i]), "predicted": int(run.test_predictions[i])}
        for i in wrong
    ]


def to_json(config: DigitsConfig, run: DigitsRun, device: torch.device) -> dict:
    return {
        "config": {**asdict(config), "device": str(device)},
        "train_size": run.train_size,
        "test_size": len(run.test_labels),
        "accuracy": run.accuracy,
        "confusion_matrix": run.confusion.tolist(),
        "test_class_counts": np.bincount(run.test_labels, minlength=NUM_CLASSES).tolist(),
        "epoch_losses": run.epoch_losses,
        "step_losses": run.step_losses,
        "misclassified": misclassified(run),
        "train_seconds": run.train_seconds,
    }


def write_tensorboard(run: DigitsRun, log_dir: str) -> None:
    """TensorBoard events, steps counted in optimiser steps: every step's loss, each epoch's mean loss
    at the epoch's last step, and the test accuracy at the end."""
    from antorcha.utils.tensorboard import SummaryWriter

    steps_per_epoch = len(run.step_losses) // max(1, len(run.epoch_losses))
    with SummaryWriter(log_dir) as writer:
        for step, loss in enumerate(run.step_losses, start=1):
            writer.add_scalar("loss/train_step", loss, step)
        for epoch, loss in enumerate(run.epoch_losses, start=1):
            writer.add_scalar("loss/train_epoch", loss, epoch * steps_per_epoch)
        writer.add_scalar("accuracy/test", run.accuracy, len(run.step_losses))


def plot(run: DigitsRun, path: str, max_images: int = 24) -> None:
    """The loss curve (every step, and each epoch's mean) beside up to `max_images` misclassified digits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wrong = misclassified(run)[:max_images]
    columns = 6
    rows = max(1, -(-len(wrong) // columns))
    fig = plt.figure(figsize=(12, max(4.0, 1.6 * rows)))
    grid = fig.add_gridspec(rows, 2 * columns)
    curve = fig.add_subplot(grid[:, :columns])
    steps_per_epoch = len(run.step_losses) / max(1, len(run.epoch_losses))
    curve.plot(run.step_losses, color="tab:blue", alpha=0.35, linewidth=0.8, label="train (step)")
    epoch_ends = [steps_per_epoch * (epoch + 1) - 1 for epoch in range(len(run.epoch_losses))]
    curve.plot(epoch_ends, run.epoch_losses, "o-", color="tab:blue", label="train (epoch mean)")
    curve.set(title=f"loss; test accuracy {100 * run.accuracy:.2f}%", xlabel="step", ylabel="cross-entropy")
    curve.legend()
    for k, item in enumerate(wrong):
        axes = fig.add_subplot(grid[k // columns, columns + k % columns])
        axes.imshow(run.test_images[item["index"]], cmap="gray_r", vmin=0.0, vmax=1.0)
        axes.set_title(f"{item['label']} as {item['predicted']}", fontsize=9)
        axes.axis("off")
    if not wrong:
        fig.text(0.75, 0.5, "no misclassified test digits", ha="center")
    fig.suptitle(
        f"antorcha digits: {len(misclassified(run))} of {len(run.test_labels)} test digits wrong "
        "(each titled: true digit as predicted)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

"""A small CNN on scikit-learn's 8x8 handwritten digits, as ordinary PyTorch code run on antorcha.

Only the imports differ from PyTorch: `import antorcha as torch` (and `from antorcha import nn`, ...).
The 1,797 images ship inside scikit-learn's wheel, so nothing is downloaded.
Run: python examples/digits_cnn.py [--epochs E] [--batch-size B] [--lr LR]
(needs scikit-learn: pip install 'antorcha[digits]'). `antorcha digits` runs the same training with a
progress bar, a confusion matrix and plots.
"""

import argparse
import time

from sklearn.datasets import load_digits

import antorcha as torch
from antorcha import nn
from antorcha.utils.data import DataLoader, TensorDataset, random_split


class DigitsCNN(nn.Module):
    def __init__(self, num_classes=10):
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

    def forward(self, x):
        return self.classifier(self.features(x))


def load_data(seed):
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8) in [0, 1]
    labels = torch.tensor(digits.target, dtype=torch.long)  # (N,)
    dataset = TensorDataset(images, labels)
    test_size = len(dataset) // 5
    return random_split(
        dataset, [len(dataset) - test_size, test_size], generator=torch.Generator().manual_seed(seed)
    )


def evaluate(model, loader):
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in loader:
            predictions = model(images).argmax(dim=1)
            correct += (predictions == labels).sum().item()
            total += labels.numel()
    return correct / total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.005)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    train_set, test_set = load_data(args.seed)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=256)

    model = DigitsCNN()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        running = 0.0
        for images, labels in train_loader:
            optimizer.zero_grad()
            loss = criterion(model(images), labels)
            loss.backward()
            optimizer.step()
            running += loss.item() * labels.numel()
        print(f"epoch {epoch + 1:2d}: train loss {running / len(train_set):.4f}")
    print(f"trained {args.epochs} epochs in {time.time() - start:.1f} s")
    print(f"test accuracy: {100 * evaluate(model, test_loader):.2f}% on {len(test_set)} images")


if __name__ == "__main__":
    main()

"""The seed lesson (class 6, "Fundamentos de PyTorch") as PyTorch code, run on antorcha.

Only the first import differs from the lesson: `import antorcha as torch`.
Run: python examples/lesson_mlp.py [--samples N] [--epochs E]
"""

import argparse
import time

import antorcha as torch
import antorcha.nn as nn
import antorcha.nn.functional as F
import antorcha.optim as optim


class MLP(nn.Module):
    def __init__(self, input_dim, hidden_dim, output_dim):
        super().__init__()
        self.layer1 = nn.Linear(input_dim, hidden_dim)
        self.layer2 = nn.Linear(hidden_dim, output_dim)

    def forward(self, x):
        x = F.relu(self.layer1(x))
        x = self.layer2(x)
        return x


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=2000000)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()

    torch.manual_seed(0)
    model = MLP(10, 100, 1)
    criterion = nn.MSELoss()
    optimizer = optim.Adam(model.parameters(), lr=0.01)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = model.to(device)

    # dummy data; the target is a fixed linear map of x plus noise, so there is something to learn
    x = torch.randn(args.samples, 10).to(device)
    y = (x @ torch.randn(10, 1).to(device) + 0.1 * torch.randn(args.samples, 1).to(device)).to(device)

    start = time.time()
    for epoch in range(args.epochs):
        optimizer.zero_grad()
        outputs = model(x)
        loss = criterion(outputs, y)
        loss.backward()
        optimizer.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.6f}")
    print(f"device {device}: {time.time() - start:.2f} s")


if __name__ == "__main__":
    main()

"""The lesson's MLP seen from inside: its summary, a profile of a few training steps, its graph.

Run: `python examples/seeing_inside.py` (`docs/graph.png` is made by `python -m antorcha.viz.demo`).
"""

import antorcha as torch
from antorcha import nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(10, 100), nn.ReLU(), nn.Linear(100, 1))
torch.summary(model, input_size=(64, 10))

optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
x, y = torch.randn(1024, 10), torch.randn(1024, 1)
with torch.profiler.profile(record_shapes=True, profile_memory=True) as prof:
    for _ in range(10):
        with torch.profiler.record_function("step"):
            loss = nn.functional.mse_loss(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))

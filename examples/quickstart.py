import antorcha as torch

x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
w = torch.randn(2, 1, requires_grad=True)
y = (x @ w).relu().sum()          # a tiny graph: MmBackward0 -> ReluBackward0 -> SumBackward0
y.backward()                      # reverse-mode autograd fills .grad of the leaves
print(x.grad.shape, w.grad.shape) # antorcha.Size([2, 2]) antorcha.Size([2, 1])
print(y.grad_fn)                  # <SumBackward0 object at ...>

a = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
(g,) = torch.autograd.grad((a ** 3).sum(), a, create_graph=True)
(gg,) = torch.autograd.grad(g.sum(), a)  # second derivative: 6a
print(g, gg)
print(torch.tensor([1, 2]) / 2, torch.tensor([1, 2]) + 0.5)  # torch's promotion rules
with torch.no_grad():
    print((a * 2).requires_grad)

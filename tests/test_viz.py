"""antorcha.viz: the autograd graph's picture against torch's own graph for the same computation."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

import antorcha
import antorcha.nn as ann

graphviz = pytest.importorskip("graphviz")
from antorcha import viz  # noqa: E402

HAS_DOT = shutil.which("dot") is not None
CHROMIUM = "/usr/bin/chromium"


def _torch_names(fn) -> Counter:
    """Counts of torch's backward node names reachable from fn, each node once."""
    seen, stack, names = {fn}, [fn], Counter()
    while stack:
        node = stack.pop()
        names[type(node).__name__] += 1
        for nxt, _ in node.next_functions:
            if nxt is not None and nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return names


def _mlp_pair(seed: int = 0):
    """The same MLP and input in torch and antorcha (antorcha's weights copied from torch's)."""
    torch.manual_seed(seed)
    tm = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    am = ann.Sequential(ann.Linear(8, 16), ann.Tanh(), ann.Linear(16, 1))
    for (_, tp), (_, ap) in zip(tm.named_parameters(), am.named_parameters()):
        ap.data = antorcha.tensor(tp.detach().numpy())
    x = np.random.default_rng(seed).standard_normal((4, 8)).astype(np.float32)
    return tm, am, torch.tensor(x), antorcha.tensor(x)


def _node_lines(source: str) -> list[str]:
    return re.findall(r"^\t(\w+) \[label=(?:\"(.*?)\"|(\w+))", source, flags=re.M | re.S)


def _backward_names(graph) -> Counter:
    return Counter(n.name for n in graph.nodes.values() if n.kind == "backward")


COMPUTATIONS = {
    "mlp_mean": lambda t, m, x: m(x).mean(),
    "mlp_mse": lambda t, m, x: ((m(x) - 1.0) ** 2).sum(),
    "shared_input": lambda t, m, x: (t.relu(x) * x).sum() + x.exp().mean(),
}


@pytest.mark.parametrize("case", list(COMPUTATIONS))
def test_backward_nodes_match_torch(case):
    tm, am, tx, ax = _mlp_pair()
    tx.requires_grad_(True)
    ax.requires_grad_(True)
    t_out = COMPUTATIONS[case](torch, tm, tx)
    a_out = COMPUTATIONS[case](antorcha, am, ax)
    graph = viz._graph.walk(a_out)
    assert _backward_names(graph) == _torch_names(t_out.grad_fn)
    # the DOT text holds one node per backward node, per leaf tensor, and the output
    source = viz.make_dot(a_out).source
    names = Counter(label or bare for _, label, bare in _node_lines(source))
    torch_names = _torch_names(t_out.grad_fn)
    for name, count in torch_names.items():
        assert names[name] == count, name
    leaves = torch_names["AccumulateGrad"]
    assert len(_node_lines(source)) == sum(torch_names.values()) + leaves + 1


def test_params_named_and_shaped_as_torchviz():
    _, am, _, ax = _mlp_pair()
    params = dict(am.named_parameters())
    source = viz.make_dot(am(ax).mean(), params=params).source
    for name, p in params.items():
        shape = "(" + ", ".join(str(d) for d in p.shape) + ")"
        assert f'[label="{name}\n {shape}" fillcolor=lightblue]' in source
    assert "fillcolor=darkolivegreen1" in source  # the output tensor
    assert source.count("fillcolor=lightblue") == len(params)


def test_show_saved_lists_shapes_and_dtypes():
    _, am, _, ax = _mlp_pair()
    out = am(ax).mean()
    plain = viz.make_dot(out).source
    assert "orange" not in plain
    saved = viz.make_dot(out, show_saved=True).source
    labels = re.findall(r"\[label=\"([^\"]*)\" fillcolor=orange\]", saved)
    # torch saves for Linear(8,16)'s addmm: the input (4, 8) and weight.t() (8, 16); tanh its
    # result (4, 16), which the second addmm also saves; and weight.t() (16, 1)
    shapes = sorted(re.search(r"\((.*)\) float32$", label).group(1) for label in labels)
    assert shapes == sorted(["4, 8", "8, 16", "4, 16", "16, 1"])
    attrs = viz.make_dot(out, show_attrs=True).source
    assert "[saved tensor]" in attrs


def test_show_saved_float64_dtype():
    x = antorcha.randn(3, 2, dtype=antorcha.float64, requires_grad=True)
    source = viz.make_dot(x.exp().sum(), show_saved=True).source
    assert '"result\n (3, 2) float64" fillcolor=orange' in source


def test_view_output_shows_its_base():
    x = antorcha.randn(3, 4, requires_grad=True)
    source = viz.make_dot((x * 2)[0]).source
    assert "darkolivegreen3" in source and "style=dotted" in source


def test_missing_dot_message(monkeypatch):
    dot = viz.make_dot(antorcha.randn(2, requires_grad=True).sum())
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RuntimeError, match=r"Graphviz's `dot` program.*apt-get install graphviz.*\.source"):
        viz.render(dot, "/tmp/never.svg")
    with pytest.raises(graphviz.ExecutableNotFound, match="apt-get install graphviz"):
        dot.render("never", format="svg")
    assert dot.source.startswith("digraph")


NO_DOT = "Graphviz's `dot` program is not installed (apt-get install graphviz)"


@pytest.mark.skipif(not HAS_DOT, reason=NO_DOT)
@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_render_writes_a_picture(tmp_path, fmt):
    _, am, _, ax = _mlp_pair()
    path = viz.render(viz.make_dot(am(ax).mean(), dict(am.named_parameters())), tmp_path / f"g.{fmt}", fmt)
    data = Path(path).read_bytes()
    assert data.startswith(b"\x89PNG") if fmt == "png" else b"AddmmBackward0" in data

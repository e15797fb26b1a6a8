"""antorcha.viz: look inside the autograd graph.

- `make_dot(output, params=dict(model.named_parameters()))`: torchviz's graph, a graphviz.Digraph.
- `render(dot, "graph.svg")`: draw it (needs Graphviz's `dot` program; says so when missing).
- `watch(loss)` before `loss.backward()`, then `to_html(loss, "graph.html")`: one self-contained
  page where clicking a node shows its inputs, saved tensors and the gradient that reached it.
"""

from antorcha.viz.dot import DOT_MISSING, make_dot, render
from antorcha.viz.html import Watch, to_html, watch

__all__ = ["DOT_MISSING", "Watch", "make_dot", "render", "to_html", "watch"]

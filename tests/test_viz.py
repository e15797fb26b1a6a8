"""antorcha.viz: the autograd graph's picture against torch's own graph for the same computation."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
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


def test_missing_dot_message(monkeypatch, tmp_path):
    dot = viz.make_dot(antorcha.randn(2, requires_grad=True).sum())
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RuntimeError, match=r"Graphviz's `dot` program.*apt-get install graphviz.*\.source"):
        viz.render(dot, str(tmp_path / "never.svg"))
    with pytest.raises(graphviz.ExecutableNotFound, match="apt-get install graphviz"):
        dot.render(str(tmp_path / "never"), format="svg")  # graphviz writes the DOT source first
    assert dot.source.startswith("digraph")


NO_DOT = "Graphviz's `dot` program is not installed (apt-get install graphviz)"


@pytest.mark.skipif(not HAS_DOT, reason=NO_DOT)
@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_render_writes_a_picture(tmp_path, fmt):
    _, am, _, ax = _mlp_pair()
    path = viz.render(viz.make_dot(am(ax).mean(), dict(am.named_parameters())), tmp_path / f"g.{fmt}", fmt)
    data = Path(path).read_bytes()
    assert data.startswith(b"\x89PNG") if fmt == "png" else b"AddmmBackward0" in data


# ---- to_html -------------------------------------------------------------------------------------


def _page_parts(path: Path) -> tuple[dict, str, list[str]]:
    """The page's embedded JSON, its script, and the keys of the nodes drawn in its SVG."""
    page = path.read_text(encoding="utf-8")
    data_block = r'<script type="application/json" id="graph-data">(.*?)</script>'
    data = json.loads(re.search(data_block, page, re.S)[1])
    script = re.search(r"<script>(.*?)</script>", page, re.S)[1]
    graphviz_node = r'<g id="\w+" class="node">\s*<title>(\w+)</title>'
    our_node = r'<g class="node" id="\w+"><title>(\w+)'
    drawn = re.findall(f"{graphviz_node}|{our_node}", page)
    return data, script, [a or b for a, b in drawn]


@pytest.fixture(params=["graphviz", "fallback"] if HAS_DOT else ["fallback"])
def layout(request, monkeypatch):
    if request.param == "fallback":  # as on a machine without Graphviz's dot
        monkeypatch.setattr(viz.html.shutil, "which", lambda name: None)
    return request.param


def _watched_mlp_page(tmp_path: Path):
    tm, am, tx, ax = _mlp_pair()
    t_loss, a_loss = tm(tx).mean(), am(ax).mean()
    viz.watch(a_loss)
    a_loss.backward()
    t_loss.backward()
    path = viz.to_html(a_loss, tmp_path / "graph.html", params=dict(am.named_parameters()))
    return tm, am, t_loss, Path(path)


def test_to_html_embeds_the_graph(tmp_path, layout):
    tm, am, t_loss, path = _watched_mlp_page(tmp_path)
    data, _, drawn = _page_parts(path)
    backward = Counter(n["name"] for n in data["nodes"] if n["kind"] == "backward")
    assert backward == _torch_names(t_loss.grad_fn)
    leaves = {n["name"]: n for n in data["nodes"] if n["kind"] == "param"}
    assert set(leaves) == set(dict(am.named_parameters()))
    assert sorted(drawn) == sorted(n["key"] for n in data["nodes"])  # every node drawn, once
    assert "http://" not in path.read_text().replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        "http://www.w3.org/1999/xlink", ""
    ).replace("http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd", "")  # nothing fetched
    # gradients: the leaves' .grad equals torch's; watch() recorded what reached each node
    for name, tp in tm.named_parameters():
        grad = leaves[name]["grad"]
        np.testing.assert_allclose(grad["mean"], tp.grad.double().mean().item(), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(grad["max"], tp.grad.max().item(), rtol=1e-5, atol=1e-7)
        assert grad["shape"] == list(tp.shape)
    first_addmm = next(n for n in data["nodes"] if n["name"] == "AddmmBackward0")
    assert first_addmm["grad"]["shape"] == [4, 1]  # d loss / d (the last Linear's output)
    np.testing.assert_allclose(first_addmm["grad"]["mean"], 0.25)  # mean over 4 rows
    # saved tensors were freed by backward; watch() kept their statistics
    assert sorted(s["shape"] for s in first_addmm["saved"]) == [[4, 16], [16, 1]]


def test_to_html_without_watch_notes_freed_saved(tmp_path):
    _, am, _, ax = _mlp_pair()
    loss = am(ax).mean()
    before = viz.to_html(loss, tmp_path / "before.html")
    data, _, _ = _page_parts(Path(before))
    tanh = next(n for n in data["nodes"] if n["name"] == "TanhBackward0")
    saved = tanh["saved"][0]
    assert saved["label"] == "result" and saved["shape"] == [4, 16] and saved["dtype"] == "float32"
    assert -1 <= saved["min"] <= saved["mean"] <= saved["max"] <= 1
    loss.backward()
    data, _, _ = _page_parts(Path(viz.to_html(loss, tmp_path / "after.html")))
    tanh = next(n for n in data["nodes"] if n["name"] == "TanhBackward0")
    assert tanh["saved"] == [] and "freed" in tanh["saved_note"]
    assert tanh["grad"] is None and data["grad_note"]


def test_to_html_keeps_nan_readable(tmp_path):
    x = antorcha.tensor([1.0, float("nan")], requires_grad=True)
    data, _, _ = _page_parts(Path(viz.to_html(x.exp().sum(), tmp_path / "nan.html")))
    exp = next(n for n in data["nodes"] if n["name"] == "ExpBackward0")
    assert exp["saved"][0]["max"] == "nan"  # JSON has no NaN: the page would not parse


_DOM_SHIM = r"""
class El {
  constructor(tag) { this.tagName = tag; this.children = []; this._text = ""; this.className = "";
    this.dataset = {}; this.listeners = {}; this.style = {}; const s = new Set(); this.cls = s;
    this.classList = { add: (c) => s.add(c), remove: (c) => s.delete(c) }; }
  set textContent(t) { this._text = String(t); this.children = []; }
  get textContent() { return this._text + this.children.map((c) => c.textContent + " ").join(""); }
  appendChild(c) { this.children.push(c); return c; }
  replaceChildren() { this.children = []; this._text = ""; }
  addEventListener(ev, f) { this.listeners[ev] = f; }
  click() { this.listeners.click({ preventDefault() {} }); }
  querySelector(sel) { return sel === "title" ? this.title : null; }
}
const byId = { "graph-data": new El("script"), details: new El("div"), "node-count": new El("span") };
byId["graph-data"].textContent = DATA;
const gNodes = KEYS.map((k) => {
  const g = new El("g"); g.title = new El("title"); g.title.textContent = k; return g;
});
globalThis.window = { location: { hash: "" } };
globalThis.document = {
  getElementById: (id) => byId[id],
  createElement: (tag) => new El(tag),
  querySelectorAll: (sel) => sel === "#graph g.node" ? gNodes : gNodes.filter((g) => g.cls.has("selected")),
  querySelector: (sel) => gNodes.find((g) => sel.includes('"' + g.dataset.key + '"')) || null,
};
SCRIPT
const target = gNodes.find((g) => g.dataset.key === CLICK);
target.click();
console.log(JSON.stringify({ count: byId["node-count"].textContent, details: byId.details.textContent,
  selected: gNodes.filter((g) => g.cls.has("selected")).map((g) => g.dataset.key) }));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: the script cannot run")
def test_page_script_shows_a_clicked_node(tmp_path, layout):
    """The page's own script on a minimal DOM: the node count, and a click fills the details."""
    _, _, _, path = _watched_mlp_page(tmp_path)
    data, script, drawn = _page_parts(path)
    addmm = next(n for n in data["nodes"] if n["name"] == "AddmmBackward0")
    harness = _DOM_SHIM.replace("DATA", json.dumps(json.dumps(data))).replace("KEYS", json.dumps(drawn))
    harness = harness.replace("CLICK", json.dumps(addmm["key"])).replace("SCRIPT", script)
    (tmp_path / "harness.js").write_text(harness)
    run = subprocess.run(["node", str(tmp_path / "harness.js")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["count"] == f"{len(data['nodes'])} nodes"
    assert result["selected"] == [addmm["key"]]
    details = result["details"]
    for text in ("AddmmBackward0", "Inputs", "AccumulateGrad", "TanhBackward0", "Saved tensors",
                 "(4, 16)", "(16, 1)", "Gradient", "(4, 1)"):
        assert text in details, text


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no {CHROMIUM} (Debian: apt-get install chromium)")
def test_page_in_headless_chromium(tmp_path, layout):
    _, _, _, path = _watched_mlp_page(tmp_path)
    data, _, _ = _page_parts(path)
    addmm = next(n for n in data["nodes"] if n["name"] == "AddmmBackward0")
    url = f"file://{path}#node={addmm['key']}"  # the page opens the node named in its hash
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"]
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr
    assert "Uncaught" not in dom.stderr and "CONSOLE" not in dom.stderr, dom.stderr
    assert f'<span id="node-count">{len(data["nodes"])} nodes</span>' in dom.stdout
    drawn = re.findall(r'<g [^>]*data-key="', dom.stdout)  # elements, not the script's own text
    assert len(drawn) == len(data["nodes"])
    assert "<h3>AddmmBackward0</h3>" in dom.stdout and "Saved tensors" in dom.stdout
    shot = tmp_path / "page.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1400,900", url], timeout=120, check=True)
    assert shot.read_bytes().startswith(b"\x89PNG")


def test_demo_writes_the_lesson_graph(tmp_path):
    from antorcha.viz import demo

    demo.main([str(tmp_path / "graph.dot")])
    source = (tmp_path / "graph.dot").read_text()
    for label in ("MseLossBackward0", "ReluBackward0", "layer1.weight\n (100, 10)", "layer2.bias\n (1)"):
        assert label in source
    demo.main([str(tmp_path / "graph.html")])
    data, _, _ = _page_parts(tmp_path / "graph.html")
    assert Counter(n["kind"] for n in data["nodes"]) == {"backward": 10, "param": 4, "output": 1}
    if HAS_DOT:
        demo.main([str(tmp_path / "graph.png")])
        assert (tmp_path / "graph.png").read_bytes().startswith(b"\x89PNG")


def _square_function(lib):
    class Square(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            ctx.power = 2
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return 2 * x * grad

    return Square


def test_custom_function_and_several_outputs_match_torch():
    x = np.arange(6.0).reshape(2, 3)
    outs = {}
    for lib in (torch, antorcha):
        t = lib.tensor(x, requires_grad=True)
        y = _square_function(lib).apply(t)
        outs[lib.__name__] = (y[1:] * 2).sum() + y.sum(0).mean()
    graph = viz._graph.walk(outs["antorcha"])
    assert _backward_names(graph) == _torch_names(outs["torch"].grad_fn)
    square = next(n for n in graph.nodes.values() if n.name == "SquareBackward")
    assert square.attrs == {"power": "2"}
    assert [(label, tuple(t.shape)) for label, t in square.saved] == [("input[0]", (2, 3))]
    with pytest.raises(TypeError, match="antorcha Tensor"):
        viz.make_dot(outs["torch"])
    # a tuple of outputs: each gets its own green node over one shared graph
    a = antorcha.randn(3, requires_grad=True)
    source = viz.make_dot((a.sin(), a.cos())).source
    assert source.count("darkolivegreen1") == 2 and source.count("AccumulateGrad") == 1


def test_to_html_without_the_graphviz_package(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "graphviz", None)  # import graphviz now raises ImportError
    _, am, _, ax = _mlp_pair()
    data, _, drawn = _page_parts(Path(viz.to_html(am(ax).mean(), tmp_path / "page.html")))
    assert sorted(drawn) == sorted(n["key"] for n in data["nodes"])
    with pytest.raises(ImportError, match=r"antorcha\[viz\]"):
        viz.make_dot(am(ax).mean())


def test_watch_remove_takes_the_hooks_off():
    _, am, _, ax = _mlp_pair()
    loss = am(ax).mean()
    handle = viz.watch(loss)
    handle.remove()
    loss.backward()
    tanh = next(n for n in viz._graph.walk(loss).nodes.values() if n.name == "TanhBackward0")
    assert tanh.ref not in viz.html._GRADS

"""The HTML page to_html writes: inline SVG, the node data as JSON, and a small script.

Nothing is fetched: the page must open from a file with no network.
"""

from __future__ import annotations

PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>__TITLE__</title>
<style>
body { margin: 0; font-family: sans-serif; display: flex; height: 100vh; }
#graph { flex: 3; overflow: auto; padding: 8px; border-right: 1px solid #ccc; }
#side { flex: 2; overflow: auto; padding: 8px 14px; font-size: 13px; }
#side table { border-collapse: collapse; margin-bottom: 10px; }
#side td, #side th { border: 1px solid #ddd; padding: 2px 6px; font-family: monospace; text-align: left; }
g.node { cursor: pointer; }
g.node.selected polygon, g.node.selected rect { stroke: red; stroke-width: 3px; }
.note { color: #666; }
</style>
</head>
<body>
<div id="graph">
<p><b>__TITLE__</b> &mdash; <span id="node-count"></span>; click a node.</p>
__SVG__
</div>
<div id="side"><div id="details"><p class="note">Click a node to see its inputs, saved tensors
and the gradient that reached it during backward().</p></div></div>
<script type="application/json" id="graph-data">__DATA__</script>
<script>
"use strict";
const data = JSON.parse(document.getElementById("graph-data").textContent);
const byKey = new Map(data.nodes.map((n) => [n.key, n]));
const STATS = ["shape", "dtype", "min", "max", "mean", "norm"];

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function fmt(v) {
  if (Array.isArray(v)) return "(" + v.join(", ") + ")";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(5);
  return v === null || v === undefined ? "" : String(v);
}

function statsTable(rows, firstHeader) {
  const table = el("table");
  const head = el("tr");
  [firstHeader].concat(STATS).forEach((h) => head.appendChild(el("th", h)));
  table.appendChild(head);
  rows.forEach((r) => {
    const tr = el("tr");
    tr.appendChild(el("td", r.label));
    STATS.forEach((s) => tr.appendChild(el("td", fmt(r[s]))));
    table.appendChild(tr);
  });
  return table;
}

function show(key) {
  const n = byKey.get(key);
  const box = document.getElementById("details");
  box.replaceChildren();
  document.querySelectorAll("g.node.selected").forEach((g) => g.classList.remove("selected"));
  const g = document.querySelector('g.node[data-key="' + key + '"]');
  if (g) g.classList.add("selected");
  box.appendChild(el("h3", n.name || "(unnamed tensor)"));
  box.appendChild(el("p", n.kind + (n.shape ? "  shape " + fmt(n.shape) + "  " + n.dtype : ""), "kind"));
  box.appendChild(el("h4", "Inputs"));
  const inputs = el("ul", undefined, "inputs");
  n.inputs.forEach((k) => {
    const li = el("li");
    const a = el("a", byKey.get(k).name || "(tensor " + fmt(byKey.get(k).shape) + ")");
    a.href = "#";
    a.addEventListener("click", (ev) => { ev.preventDefault(); show(k); });
    li.appendChild(a);
    inputs.appendChild(li);
  });
  if (!n.inputs.length) inputs.appendChild(el("li", "none", "note"));
  box.appendChild(inputs);
  if (Object.keys(n.attrs).length) {
    box.appendChild(el("h4", "Attributes"));
    const t = el("table");
    Object.entries(n.attrs).forEach(([k, v]) => {
      const tr = el("tr");
      tr.appendChild(el("td", k));
      tr.appendChild(el("td", v));
      t.appendChild(tr);
    });
    box.appendChild(t);
  }
  if (n.kind === "backward") {
    box.appendChild(el("h4", "Saved tensors"));
    if (n.saved.length) box.appendChild(statsTable(n.saved, "saved"));
    else box.appendChild(el("p", n.saved_note || "none", "note"));
  }
  box.appendChild(el("h4", "Gradient"));
  if (n.grad) box.appendChild(statsTable([Object.assign({label: n.grad_label}, n.grad)], "grad"));
  else box.appendChild(el("p", data.grad_note, "note"));
}

const drawn = document.querySelectorAll("#graph g.node");
drawn.forEach((g) => {
  const key = g.querySelector("title").textContent.trim();
  g.dataset.key = key;
  g.addEventListener("click", () => show(key));
});
document.getElementById("node-count").textContent = drawn.length + " nodes";
const linked = /^#node=(\w+)$/.exec(window.location.hash);  // page.html#node=n3 opens that node
if (linked && byKey.has(linked[1])) show(linked[1]);
</script>
</body>
</html>
"""

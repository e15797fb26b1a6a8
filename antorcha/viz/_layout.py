"""A plain layered drawing of the graph, for pages made where Graphviz's `dot` is missing.

Rows by depth (the longest path down to an output), inputs on top and the output at the
bottom as `dot` draws it, straight edges, one <g class="node"><title>key</title> per node:
the same shape as Graphviz's SVG, so the page's script handles both the same way.
"""

from __future__ import annotations

from html import escape

from antorcha.viz._graph import Graph

_CHAR_W, _LINE_H, _PAD, _GAP_X, _GAP_Y = 7.0, 14.0, 8.0, 18.0, 36.0
_FILL = {"backward": "lightgrey", "param": "lightblue", "output": "#caff70", "base": "#a2cd5a"}


def depths(graph: Graph) -> dict[str, int]:
    """Each node's longest distance to an output (0 for the outputs)."""
    users = {key: 0 for key in graph.nodes}  # edges leaving each node, not yet walked back
    for tail, _, kind in graph.edges:
        if kind != "saved":
            users[tail] += 1
    depth = {key: 0 for key in graph.nodes}
    ready = [key for key, count in users.items() if count == 0]
    while ready:
        key = ready.pop()
        for tail in graph.nodes[key].inputs:
            depth[tail] = max(depth[tail], depth[key] + 1)
            users[tail] -= 1
            if users[tail] == 0:
                ready.append(tail)
    return depth


def _order_by_users(graph: Graph, rows: list[list[str]]) -> None:
    """From the output row up, sort each row under the mean place of its nodes' users.

    One barycentre sweep: it removes most edge crossings, with discovery order breaking ties.
    """
    users: dict[str, list[str]] = {key: [] for key in graph.nodes}
    for tail, head, kind in graph.edges:
        if kind != "saved":
            users[tail].append(head)
    place: dict[str, float] = {}  # key -> where in its row, 0..1
    for row in reversed(rows):
        def under(key: str) -> float:
            spots = [place[u] for u in users[key] if u in place]
            return sum(spots) / len(spots) if spots else 0.5

        row.sort(key=under)  # stable: ties keep discovery order
        place.update({key: (i + 0.5) / len(row) for i, key in enumerate(row)})


def _box(label: str) -> tuple[float, float]:
    lines = label.split("\n")
    return max(len(line) for line in lines) * _CHAR_W + 2 * _PAD, len(lines) * _LINE_H + _PAD


def layered_svg(graph: Graph, labels: dict[str, str]) -> str:
    depth = depths(graph)
    deepest = max(depth.values(), default=0)
    rows: list[list[str]] = [[] for _ in range(deepest + 1)]
    for key in graph.nodes:  # discovery order keeps an op's inputs next to each other
        rows[deepest - depth[key]].append(key)
    _order_by_users(graph, rows)
    sizes = {key: _box(labels[key]) for key in graph.nodes}
    row_widths = [sum(sizes[k][0] for k in row) + _GAP_X * (len(row) - 1) for row in rows]
    width = max(row_widths, default=0) + 2 * _GAP_X
    place: dict[str, tuple[float, float, float, float]] = {}  # key -> (x, y, w, h)
    y = _GAP_Y / 2
    for row, row_width in zip(rows, row_widths):
        x = (width - row_width) / 2
        height = max((sizes[k][1] for k in row), default=0)
        for key in row:
            w, h = sizes[key]
            place[key] = (x, y, w, h)
            x += w + _GAP_X
        y += height + _GAP_Y
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{y:.0f}" '
        f'viewBox="0 0 {width:.0f} {y:.0f}" font-family="monospace" font-size="11">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>',
    ]
    parts += [_edge_svg(place[t], place[h], kind) for t, h, kind in graph.edges if kind != "saved"]
    parts += [_node_svg(key, graph.nodes[key].kind, labels[key], place[key]) for key in graph.nodes]
    parts.append("</svg>")
    return "\n".join(parts)


def _edge_svg(tail: tuple, head: tuple, kind: str) -> str:
    x1, y1 = tail[0] + tail[2] / 2, tail[1] + tail[3]
    x2, y2 = head[0] + head[2] / 2, head[1]
    dash = ' stroke-dasharray="3,3"' if kind == "view" else ""
    return (
        f'<g class="edge"><line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
        f'stroke="black"{dash} marker-end="url(#arrow)"/></g>'
    )


def _node_svg(key: str, kind: str, label: str, box: tuple) -> str:
    x, y, w, h = box
    lines = "".join(
        f'<tspan x="{x + _PAD:.1f}" dy="{_LINE_H if i else _LINE_H - 2:.0f}">{escape(line)}</tspan>'
        for i, line in enumerate(label.split("\n"))
    )
    return (
        f'<g class="node" id="{key}"><title>{key}</title>'
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{_FILL[kind]}" '
        f'stroke="black"/><text y="{y + 2:.1f}" xml:space="preserve">{lines}</text></g>'
    )

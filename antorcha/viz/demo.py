"""Draw the lesson MLP's autograd graph: `python -m antorcha.viz.demo docs/graph.png`.

The path's suffix picks the output: .png or .svg (Graphviz's `dot` needed), .dot (the DOT
text, no Graphviz needed) or .html (to_html's page, after one backward with watch()).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import antorcha as torch
import antorcha.nn as nn
from antorcha.lesson import MLP, make_data
from antorcha.viz.dot import make_dot, render
from antorcha.viz.html import to_html, watch


def lesson_loss(samples: int = 64) -> tuple[torch.Tensor, MLP]:
    """One forward pass of the lesson: MLP(10, 100, 1) and MSE on the lesson's data."""
    x, y = make_data(samples, seed=0)  # (N, 10), (N, 1)
    model = MLP(10, 100, 1)
    return nn.MSELoss()(model(x), y), model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="where to write: .png, .svg, .dot or .html")
    parser.add_argument("--show-saved", action="store_true", help="add the tensors saved for backward")
    args = parser.parse_args(argv)
    loss, model = lesson_loss()
    params = dict(model.named_parameters())
    suffix = args.path.suffix.lower().lstrip(".")
    if suffix == "html":
        watch(loss)
        loss.backward()
        to_html(loss, args.path, params)
        return
    dot = make_dot(loss, params=params, show_saved=args.show_saved)
    if suffix == "dot":
        args.path.write_text(dot.source)
    elif suffix in ("png", "svg"):
        render(dot, args.path, suffix)
    else:
        parser.error(f"unknown suffix {args.path.suffix!r}: use .png, .svg, .dot or .html")
    print(f"wrote {args.path}")


if __name__ == "__main__":
    main()

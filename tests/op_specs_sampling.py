"""Op-spec rows for nn.functional's shape and sampling layers (joined into `op_specs.SPECS`):
`_interpolate.py` (interpolate, upsample), `_sampling_layers.py` (unfold, fold, pixel and channel
shuffles, the dropouts in eval) and `_bilinear.py`. Their modules, reprs and errors are in
tests/test_nn_more.py."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from op_spec import ACCUMULATE, OpSpec
from strategies import Case, ShapeConfig, custom, elementwise, make_case, real, shapes

E = elementwise


def _interpolate_args(draw: Any, cfg: ShapeConfig) -> Case:
    spatial = draw(st.integers(1, 3))
    side = st.integers(max(cfg.min_side, 1), cfg.max_side + 1)
    shape = (draw(side), draw(side), *(draw(side) for _ in range(spatial)))
    linear = {1: "linear", 2: "bilinear", 3: "trilinear"}[spatial]
    cubic = ["bicubic"] if spatial == 2 else []
    mode = draw(st.sampled_from(["nearest", "nearest-exact", linear, *cubic]))  # area: tests/test_nn_more.py
    kwargs: dict[str, Any] = {"mode": mode}
    if draw(st.booleans()):
        kwargs["size"] = draw(st.one_of(st.integers(1, 6), st.tuples(*[st.integers(1, 6)] * spatial)))
    else:
        kwargs["scale_factor"] = draw(st.sampled_from([2, 0.5, 1.7, 3.0, (2.5,) * spatial]))
        kwargs["recompute_scale_factor"] = draw(st.sampled_from([None, True]))
    if mode in (linear, "bicubic"):
        kwargs["align_corners"] = draw(st.booleans())
    return make_case(draw, (shape,), (real,), **kwargs)


def _valid_sizes(case: Case) -> bool:
    x, kw = case.arrays[0], case.kwargs
    factors = kw.get("scale_factor")
    if factors is None:
        return True
    factors = factors if isinstance(factors, tuple) else (factors,) * (x.ndim - 2)
    return all(int(n * f) > 0 for n, f in zip(x.shape[2:], factors))


def _geometry(draw: Any) -> dict[str, Any]:
    def pair(low: int, high: int) -> st.SearchStrategy[Any]:
        one = st.integers(low, high)
        return st.one_of(one, st.tuples(one, one))

    return {
        "kernel_size": draw(pair(1, 3)),
        "dilation": draw(pair(1, 2)),
        "padding": draw(pair(0, 1)),
        "stride": draw(pair(1, 3)),
    }


def _two(value: Any) -> tuple[int, int]:
    return tuple(value) if isinstance(value, tuple) else (value, value)  # type: ignore[return-value]


def _blocks(size: tuple, g: dict[str, Any]) -> tuple[int, int]:
    k, d, p, s = (_two(g[n]) for n in ("kernel_size", "dilation", "padding", "stride"))
    return tuple((size[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(2))  # type: ignore


def _unfold_args(draw: Any, cfg: ShapeConfig) -> Case:
    geometry = _geometry(draw)
    side = st.integers(2, 6)
    batch = draw(st.sampled_from([(), (draw(st.integers(1, 2)),)]))
    shape = (*batch, draw(st.integers(1, 3)), draw(side), draw(side))
    return make_case(draw, (shape,), (real,), **geometry)


def _unfold_valid(case: Case) -> bool:
    return min(_blocks(case.arrays[0].shape[-2:], case.kwargs)) >= 1


def _fold_args(draw: Any, cfg: ShapeConfig) -> Case:
    geometry = _geometry(draw)
    size = (draw(st.integers(2, 6)), draw(st.integers(2, 6)))
    rows, cols = _blocks(size, geometry)
    k = _two(geometry["kernel_size"])
    batch = draw(st.sampled_from([(), (draw(st.integers(1, 2)),)]))
    shape = (*batch, draw(st.integers(1, 2)) * k[0] * k[1], max(rows, 1) * max(cols, 1))
    return make_case(
        draw, (shape,), (real,), output_size=size, valid_blocks=rows >= 1 and cols >= 1, **geometry
    )


def _fold(m: Any, x: Any, output_size: Any, valid_blocks: bool, **geometry: Any) -> Any:
    return m.nn.functional.fold(x, output_size, **geometry)


def _shuffle_args(draw: Any, cfg: ShapeConfig) -> Case:
    factor = draw(st.integers(1, 3))
    lead = draw(st.sampled_from([(), (2,), (1, 2)]))
    kind = draw(st.sampled_from(["shuffle", "unshuffle"]))
    if kind == "shuffle":
        shape = (
            *lead,
            draw(st.integers(1, 2)) * factor * factor,
            draw(st.integers(1, 3)),
            draw(st.integers(1, 3)),
        )
    else:
        shape = (
            *lead,
            draw(st.integers(1, 2)),
            factor * draw(st.integers(1, 2)),
            factor * draw(st.integers(1, 2)),
        )
    return make_case(draw, (shape,), (real,), factor=factor, kind=kind)


def _shuffle(m: Any, x: Any, factor: int, kind: str) -> Any:
    F = m.nn.functional
    return F.pixel_shuffle(x, factor) if kind == "shuffle" else F.pixel_unshuffle(x, factor)


def _channel_shuffle_args(draw: Any, cfg: ShapeConfig) -> Case:
    groups = draw(st.integers(1, 3))
    shape = (draw(st.integers(1, 2)), groups * draw(st.integers(1, 3)), *draw(shapes(ShapeConfig(1, 2))))
    return make_case(draw, (shape,), (real,), groups=groups)


def _eval_dropouts(m: Any, x: Any) -> Any:
    """Outside training (and at p = 0) every dropout is the identity."""
    F = m.nn.functional
    return (
        F.alpha_dropout(x, 0.3),
        F.feature_alpha_dropout(x, 0.3, training=False),
        F.dropout1d(x, 0.4, training=False),
        F.dropout2d(x[None], 0.0),
        F.dropout3d(x[None, None], 0.2, training=False),
    )


def _bilinear_args(draw: Any, cfg: ShapeConfig) -> Case:
    side = st.integers(max(cfg.min_side, 1), cfg.max_side)
    batch = tuple(draw(st.lists(side, max_size=2)))
    in1, in2, out = draw(side), draw(side), draw(side)
    bias = draw(st.booleans())
    shapes_ = ((*batch, in1), (*batch, in2), (out, in1, in2), (out,))
    return make_case(draw, shapes_ if bias else shapes_[:3], (real, real, real, real)[: 4 if bias else 3])


def _sampling_rows() -> list[OpSpec]:
    F = lambda m: m.nn.functional  # noqa: E731
    return [
        OpSpec(
            "F.interpolate",
            custom(_interpolate_args),
            functional="interpolate",
            valid=_valid_sizes,
            tol=ACCUMULATE,
            edge=False,
            second_order=True,
            examples=40,  # four modes per spatial rank
        ),
        OpSpec(
            "F.upsample",
            custom(_interpolate_args),
            valid=_valid_sizes,
            tol=ACCUMULATE,
            edge=False,
            call=lambda m, x, recompute_scale_factor=None, **kw: F(m).upsample(x, kw.pop("size", None), **kw),
            covers=("F.upsample",),
        ),
        OpSpec(
            "F.upsample_nearest",
            E(real, min_dims=4),
            call=lambda m, x: F(m).upsample_nearest(x, scale_factor=2),
            covers=("F.upsample_nearest",),
            edge=False,
        ),
        OpSpec(
            "F.upsample_bilinear",
            custom(lambda draw, cfg: make_case(draw, (draw(shapes(cfg, 4, 4)),), (real,))),
            call=lambda m, x: F(m).upsample_bilinear(x, size=(3, 5)),
            covers=("F.upsample_bilinear",),
            edge=False,
            tol=ACCUMULATE,
        ),
        OpSpec(
            "F.unfold",
            custom(_unfold_args),
            functional="unfold",
            valid=_unfold_valid,
            edge=False,
            second_order=True,
        ),
        OpSpec(
            "F.fold",
            custom(_fold_args),
            call=_fold,
            covers=("F.fold",),
            edge=False,
            tol=ACCUMULATE,
            valid=lambda case: case.kwargs["valid_blocks"],
            second_order=True,
        ),
        OpSpec(
            "F.pixel_shuffle",
            custom(_shuffle_args),
            call=_shuffle,
            covers=("F.pixel_shuffle", "F.pixel_unshuffle"),
            edge=False,
        ),
        OpSpec("F.channel_shuffle", custom(_channel_shuffle_args), functional="channel_shuffle", edge=False),
        OpSpec(
            "F.dropout_eval_forms",
            E(real, min_dims=3),
            call=_eval_dropouts,
            edge=False,
            covers=(
                "F.alpha_dropout",
                "F.feature_alpha_dropout",
                "F.dropout1d",
                "F.dropout2d",
                "F.dropout3d",
            ),
        ),
    ]


def rows() -> list[OpSpec]:
    bilinear = OpSpec(
        "F.bilinear",
        custom(_bilinear_args),
        functional="bilinear",
        tol=ACCUMULATE,
        edge=False,
        second_order=True,
    )
    return [*_sampling_rows(), bilinear]

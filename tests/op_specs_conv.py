"""Op-spec rows for convolution, padding and pooling (`antorcha/nn/functional/_conv.py`, `_pad.py`,
`_pooling.py`, `_max_pooling.py`), joined into `op_specs.SPECS`. Each builder draws a geometry torch
accepts (odd sizes, stride > kernel, dilation, groups up to depthwise, 'same'/'valid', ceil_mode,
batch 1, and on the edge config an empty batch); the layers, ties, errors and reprs are in
tests/test_conv.py, tests/test_pooling.py and tests/test_pad.py. Only the convolutions are
second-order rows: pooling and padding are linear in their input, so their gradient's gradient with
respect to the input is zero, which torch returns as zeros (its backward formulas read the input)
and antorcha as None; their double backward, with respect to the cotangent, is compared in those
files."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from op_spec import ACCUMULATE, OpSpec
from strategies import Case, ShapeConfig, custom, make_case, real

from antorcha.nn.functional._pooling import pooled_size

# public names of this area that are not ops, or are compared with torch elsewhere: name -> why
NOT_OPS: dict[str, str] = {}


def _batch(draw: Any, cfg: ShapeConfig) -> int:
    return draw(st.integers(0 if cfg.min_side == 0 else 1, 2))


def _spatial(draw: Any, d: int, kernel: tuple, dilation: tuple, padding: tuple) -> tuple[int, ...]:
    """Sizes at least the dilated kernel once padded, plus a few."""
    return tuple(
        max(dl * (k - 1) + 1 - 2 * p, 1) + draw(st.integers(0, 3))
        for k, dl, p in zip(kernel, dilation, padding)
    )


def _conv_args(d: int, transposed: bool) -> Any:
    def draw_case(draw: Any, cfg: ShapeConfig) -> Case:
        groups = draw(st.sampled_from([1, 1, 2, 3]))
        per_in, per_out = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        kernel = tuple(draw(st.integers(1, 3)) for _ in range(d))
        stride = tuple(draw(st.integers(1, 3)) for _ in range(d))
        dilation = tuple(draw(st.integers(1, 2)) for _ in range(d))
        padding: Any = tuple(draw(st.integers(0, 2)) for _ in range(d))
        kwargs: dict[str, Any] = {"stride": stride, "dilation": dilation, "groups": groups}
        if transposed:
            kwargs["output_padding"] = tuple(
                draw(st.integers(0, max(s, dl) - 1)) for s, dl in zip(stride, dilation)
            )
            size = tuple(draw(st.integers(1, 4)) for _ in range(d))
            # the output must have at least one position: (i - 1) s - 2 p + dl (k - 1) + e + 1 >= 1
            extra = kwargs["output_padding"]
            padding = tuple(
                min(p, ((i - 1) * s + dl * (k - 1) + e) // 2)
                for p, i, s, dl, k, e in zip(padding, size, stride, dilation, kernel, extra)
            )
            shapes = ((_batch(draw, cfg), groups * per_in, *size), (groups * per_in, per_out, *kernel))
        else:
            if draw(st.booleans()):
                padding = draw(st.sampled_from(["valid", "same"]))
                if padding == "same":
                    kwargs["stride"] = stride = (1,) * d
            pads = (0,) * d if isinstance(padding, str) else padding
            size = _spatial(draw, d, kernel, dilation, pads)
            shapes = ((_batch(draw, cfg), groups * per_in, *size), (groups * per_out, per_in, *kernel))
        bias_size = groups * per_out
        kwargs["padding"] = padding
        kwargs["use_bias"] = draw(st.booleans())
        return make_case(draw, (*shapes, (bias_size,)), (real, real, real), **kwargs)

    return custom(draw_case)


def _conv_call(name: str) -> Any:
    def call(m: Any, x: Any, w: Any, b: Any, use_bias: bool, **kwargs: Any) -> Any:
        return getattr(m.nn.functional, name)(x, w, b if use_bias else None, **kwargs)

    return call


def _pad_args(draw: Any, cfg: ShapeConfig) -> Case:
    mode = draw(st.sampled_from(["constant", "reflect", "replicate", "circular"]))
    dims = draw(st.integers(1, 2))
    batched = draw(st.booleans())
    spatial = tuple(draw(st.integers(2, 5)) for _ in range(dims))
    shape = ((_batch(draw, cfg),) if batched else ()) + (draw(st.integers(1, 2)),) + spatial
    pad: list[int] = []
    for size in reversed(spatial):  # torch's order: the last dim first
        if mode == "reflect":
            limit = size - 1
        elif mode == "circular":
            limit = size // 2  # wraps within what is left after a crop on the other side
        else:
            limit = 3
        low = -1 if mode != "constant" else -(size // 2)
        pad += [draw(st.integers(low, limit)), draw(st.integers(max(low, 0), limit))]
    kwargs: dict[str, Any] = {"pad": tuple(pad), "mode": mode}
    if mode == "constant" and draw(st.booleans()):
        kwargs["value"] = 1.5
    return make_case(draw, (shape,), (real,), **kwargs)


def _pool_args(d: int, kind: str) -> Any:
    def draw_case(draw: Any, cfg: ShapeConfig) -> Case:
        kernel = tuple(draw(st.integers(1, 3)) for _ in range(d))
        stride = tuple(draw(st.integers(1, 4)) for _ in range(d))
        dilation = tuple(draw(st.integers(1, 2)) for _ in range(d)) if kind == "max" else (1,) * d
        padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)  # torch: at most half the kernel
        size = _spatial(draw, d, kernel, dilation, padding)
        kwargs: dict[str, Any] = {"kernel_size": kernel, "stride": stride, "padding": padding,
                                  "ceil_mode": draw(st.booleans())}
        if kind == "max":
            kwargs["dilation"] = dilation
        else:
            kwargs["count_include_pad"] = draw(st.booleans())
            if d == 2 and draw(st.booleans()):
                kwargs["divisor_override"] = draw(st.integers(1, 5))
        lead = (_batch(draw, cfg), 2) if draw(st.booleans()) else (2,)
        return make_case(draw, ((*lead, *size),), (real,), **kwargs)

    return custom(draw_case)


def _windows_touch_input(case: Case) -> bool:
    """Every window holds at least one input element: torch's max pooling of a window that lies
    wholly in the padding returns -inf and sends its gradient to a neighbouring element's memory."""
    kw = case.kwargs
    sizes = case.arrays[0].shape[-len(kw["kernel_size"]) :]
    for n, k, s, p, dl in zip(sizes, kw["kernel_size"], kw["stride"], kw["padding"], kw["dilation"]):
        out = pooled_size(n, k, s, p, dl, kw["ceil_mode"])
        for o in range(out):
            if not any(0 <= o * s - p + j * dl < n for j in range(k)):
                return False
    return True


def _adaptive_args(d: int) -> Any:
    def draw_case(draw: Any, cfg: ShapeConfig) -> Case:
        size = tuple(draw(st.integers(1, 7)) for _ in range(d))
        out = tuple(draw(st.integers(1, 5)) for _ in range(d))
        output_size: Any = out[0] if d == 1 else out
        if d == 2 and draw(st.booleans()):
            output_size = (None, out[1])
        lead = (_batch(draw, cfg), 2) if draw(st.booleans()) else (2,)
        return make_case(draw, ((*lead, *size),), (real,), output_size=output_size)

    return custom(draw_case)


def _unpool_args(d: int) -> Any:
    def draw_case(draw: Any, cfg: ShapeConfig) -> Case:
        kernel = tuple(draw(st.integers(1, 3)) for _ in range(d))
        stride = tuple(draw(st.integers(k, 3)) for k in kernel)  # no overlap: each index appears once
        size = tuple(k + draw(st.integers(0, 4)) for k in kernel)
        return make_case(draw, ((_batch(draw, cfg), 2, *size),), (real,), kernel_size=kernel, stride=stride)

    return custom(draw_case)


def _unpool_call(d: int) -> Any:
    def call(m: Any, x: Any, kernel_size: tuple, stride: tuple) -> Any:
        F = m.nn.functional
        pool = F.max_pool2d if d == 2 else F.max_pool1d
        unpool = F.max_unpool2d if d == 2 else F.max_unpool1d
        values, indices = pool(x, kernel_size, stride, return_indices=True)
        return unpool(values, indices, kernel_size, stride, output_size=x.shape[-d:])

    return call


def _indices_call(name: str) -> Any:
    return lambda m, x, **kwargs: getattr(m.nn.functional, name)(x, return_indices=True, **kwargs)


def rows() -> list[OpSpec]:
    convs = [
        OpSpec(f"F.{name}", _conv_args(d, transposed), call=_conv_call(name), covers=(f"F.{name}",),
               tol=ACCUMULATE, second_order=True, examples=10)
        for name, d, transposed in (("conv1d", 1, False), ("conv2d", 2, False),
                                    ("conv_transpose1d", 1, True), ("conv_transpose2d", 2, True))
    ]
    pools = [
        OpSpec(f"F.max_pool{d}d", _pool_args(d, "max"), functional=f"max_pool{d}d",
               valid=_windows_touch_input, examples=10)
        for d in (1, 2)
    ] + [
        OpSpec(f"F.max_pool{d}d_with_indices", _pool_args(d, "max"),
               call=_indices_call(f"max_pool{d}d_with_indices"), covers=(f"F.max_pool{d}d_with_indices",),
               valid=_windows_touch_input, examples=5)
        for d in (1, 2)
    ] + [
        OpSpec(f"F.avg_pool{d}d", _pool_args(d, "avg"), functional=f"avg_pool{d}d", tol=ACCUMULATE,
               examples=10)
        for d in (1, 2)
    ] + [
        OpSpec(f"F.adaptive_avg_pool{d}d", _adaptive_args(d), functional=f"adaptive_avg_pool{d}d",
               tol=ACCUMULATE, examples=10)
        for d in (1, 2)
    ] + [
        OpSpec(f"F.adaptive_max_pool{d}d", _adaptive_args(d), call=_indices_call(f"adaptive_max_pool{d}d"),
               covers=(f"F.adaptive_max_pool{d}d",), examples=10)
        for d in (1, 2)
    ] + [
        OpSpec(f"F.max_unpool{d}d", _unpool_args(d), call=_unpool_call(d), covers=(f"F.max_unpool{d}d",),
               examples=10)
        for d in (1, 2)
    ]
    pad = OpSpec("F.pad", custom(_pad_args), functional="pad", examples=20)
    return [*convs, *pools, pad]

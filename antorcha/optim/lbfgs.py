"""L-BFGS with an optional strong-Wolfe line search (torch.optim.LBFGS).

The parameters are handled as one flat vector (`x`, the gradient `g`, the direction `d`).
Where torch holds a 0-dim tensor (dot products, `ro`, `H_diag`, often the step `t`), this
module holds a NumPy scalar of the parameters' dtype, and where torch holds a Python float
(the losses), a Python float: NumPy's promotion rules then round every mixed expression as
torch's do, so a float32 run takes torch's float32 branches too. In the state those scalars
appear as 0-dim Tensors, so that `state_dict()` has torch's layout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from antorcha._device import xp_of
from antorcha._grad_mode import enable_grad, no_grad
from antorcha._tensor import Tensor, wrap
from antorcha.optim.optimizer import Optimizer, bump_version, group_lr, validate_lr

__all__ = ["LBFGS"]

Array = Any
Scalar = Any  # a NumPy scalar of the parameters' dtype (torch: a 0-dim tensor) or a Python number


def _cubic_interpolate(
    x1: Scalar, f1: Scalar, g1: Scalar, x2: Scalar, f2: Scalar, g2: Scalar, bounds: Any = None
) -> Scalar:
    """The minimizer of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped to `bounds`."""
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square >= 0:
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


# Up to this many elements the vector arithmetic follows torch's roundings (see `fused_axpy`
# and `dot`); beyond it, where torch's BLAS dot has an order of its own anyway, the plain
# NumPy forms are used: the float64 emulation costs ~40 array passes instead of two.
EXACT_MAX_NUMEL = 1 << 12


def fused_axpy(y: Array, alpha: Any, x: Array) -> Array:
    """y + alpha * x rounded once, as torch's `y.add(x, alpha=alpha)` (its CPU kernel uses FMA).

    L-BFGS on an ill-conditioned function amplifies a one-ulp difference in its updates by
    orders of magnitude per iteration, so here the fused rounding is emulated: float32 through
    float64 (the product is exact there), float64 by Dekker's exact product and Knuth's exact
    sum, whose error terms are added back before the one final rounding.
    """
    if y.size > EXACT_MAX_NUMEL:
        return y + x * y.dtype.type(alpha)
    if y.dtype == np.float32:
        wide = x.astype(np.float64)
        wide *= np.float64(alpha)
        wide += y
        return wide.astype(np.float32)
    if y.dtype != np.float64:
        return y + x * y.dtype.type(alpha)
    alpha = np.float64(alpha)
    product = x * alpha
    split = 134217729.0  # 2**27 + 1: splits a double into two 26-bit halves
    scaled = split * alpha
    alpha_hi = scaled - (scaled - alpha)
    alpha_lo = alpha - alpha_hi
    scaled = x * split
    x_hi = scaled - (scaled - x)
    x_lo = x - x_hi
    product_error = ((x_hi * alpha_hi - product) + x_lo * alpha_hi + x_hi * alpha_lo) + x_lo * alpha_lo
    total = y + product
    virtual = total - y
    sum_error = (y - (total - virtual)) + (product - virtual)
    return total + (sum_error + product_error)


def dot(a: Array, b: Array) -> Array:
    """sum(a * b): torch's BLAS dot of two elements is this plain sum, not NumPy's fused one."""
    return (a * b).sum() if a.size <= EXACT_MAX_NUMEL else a.dot(b)


class _Problem:
    """The parameters as one flat vector: gather gradients, move along a direction, restore."""

    def __init__(self, params: list[Tensor], closure: Callable[[], Any]) -> None:
        self.params = params
        self.closure = closure
        first = params[0]._data
        self.xp = xp_of(first)
        self.dtype = first.dtype

    def scalar(self, value: Any) -> Scalar:
        """A 0-dim result as a NumPy scalar of the parameters' dtype (one device sync on cuda)."""
        return self.dtype.type(float(value))

    def evaluate(self) -> float:
        with enable_grad():
            return float(self.closure())

    def flat_grad(self) -> Array:
        parts = []
        for p in self.params:
            grad = p._grad
            data = p._data
            parts.append(self.xp.zeros(data.size, data.dtype) if grad is None else grad._data.reshape(-1))
        return self.xp.concatenate(parts)

    def add(self, step_size: Scalar, direction: Array) -> None:
        """p += step_size * direction, parameter by parameter (torch's `_add_grad`)."""
        alpha = self.dtype.type(step_size)
        offset = 0
        for p in self.params:
            data = p._data
            size = data.size
            data[...] = fused_axpy(data, alpha, direction[offset : offset + size].reshape(data.shape))
            offset += size
            bump_version(p)

    def clone(self) -> list[Array]:
        return [p._data.copy() for p in self.params]

    def restore(self, saved: list[Array]) -> None:
        for p, data in zip(self.params, saved):
            p._data[...] = data
            bump_version(p)

    def directional_evaluate(self, x: list[Array], t: Scalar, d: Array) -> tuple[float, Array]:
        """Loss and flat gradient at x + t d; the parameters are put back to x afterwards."""
        self.add(t, d)
        loss = self.evaluate()
        flat_grad = self.flat_grad()
        self.restore(x)
        return loss, flat_grad


class LBFGS(Optimizer):
    """Quasi-Newton steps from the last `history_size` (s, y) pairs; one `step(closure)` runs up
    to `max_iter` iterations and `max_eval` closure evaluations. Only one param group."""

    def __init__(
        self,
        params: Any,
        lr: float = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        validate_lr(lr)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = {
            "lr": lr,
            "max_iter": max_iter,
            "max_eval": max_eval,
            "tolerance_grad": tolerance_grad,
            "tolerance_change": tolerance_change,
            "history_size": history_size,
            "line_search_fn": line_search_fn,
        }
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._params = self.param_groups[0]["params"]

    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]
        """Run up to max_iter L-BFGS iterations; returns the closure's first loss."""
        if len(self.param_groups) != 1:
            raise AssertionError(f"Expected exactly one param_group, but got {len(self.param_groups)}")
        with no_grad():
            return _Run(self, closure).run()


class _Run:
    """One `LBFGS.step`: torch's loop, with the state read at the start and written at the end."""

    def __init__(self, optimizer: LBFGS, closure: Callable[[], Any]) -> None:
        group = optimizer.param_groups[0]
        self.group = group
        self.problem = _Problem(optimizer._params, closure)
        self.state = optimizer.state[optimizer._params[0]]

    def run(self) -> Any:
        group, problem, state = self.group, self.problem, self.state
        lr = group_lr(group)
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with enable_grad():
            orig_loss = problem.closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        xp, scalar = problem.xp, problem.scalar
        flat_grad = problem.flat_grad()
        if scalar(xp.abs(flat_grad).max()) <= tolerance_grad:
            return orig_loss

        d, t = _array(state.get("d")), _value(state.get("t"))
        old_dirs = [_array(v) for v in state.get("old_dirs") or []]
        old_stps = [_array(v) for v in state.get("old_stps") or []]
        ro = [_value(v) for v in state.get("ro") or []]
        H_diag = _value(state.get("H_diag"))
        prev_flat_grad = _array(state.get("prev_flat_grad"))
        prev_loss = state.get("prev_loss")
        al = None if "al" not in state else [_value(v) for v in state["al"]]

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = scalar(dot(y, s))
                if ys > 1e-10:
                    if len(old_dirs) == history_size:  # shift the history by one (limited memory)
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / scalar(dot(y, y))
                if al is None:
                    al = [None] * history_size
                    state["al"] = al  # (where torch adds it: the state's key order is torch's)
                d = _two_loop_direction(problem, flat_grad, old_dirs, old_stps, ro, H_diag, al)

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                prev_flat_grad[...] = flat_grad
            prev_loss = loss

            # the first step is scaled down to |step| <= lr (no curvature information yet)
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / scalar(xp.abs(flat_grad).sum())) * lr
            else:
                t = lr
            gtd = scalar(dot(flat_grad, d))
            if gtd > -tolerance_change:  # not a descent direction
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                if line_search_fn != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                x_init = problem.clone()
                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    problem, x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals
                )
                problem.add(t, d)
                opt_cond = scalar(xp.abs(flat_grad).max()) <= tolerance_grad
            else:
                problem.add(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    # re-evaluate only when the loop goes on (no line search: the step is fixed)
                    loss = problem.evaluate()
                    flat_grad = problem.flat_grad()
                    opt_cond = scalar(xp.abs(flat_grad).max()) <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if scalar(xp.abs(d * problem.dtype.type(t)).max()) <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        device = problem.params[0]._device
        state["d"] = _tensor(d, device)
        state["t"] = _tensor(t, device)
        state["old_dirs"] = [_tensor(v, device) for v in old_dirs]
        state["old_stps"] = [_tensor(v, device) for v in old_stps]
        state["ro"] = [_tensor(v, device) for v in ro]
        state["H_diag"] = _tensor(H_diag, device)
        state["prev_flat_grad"] = _tensor(prev_flat_grad, device)
        state["prev_loss"] = prev_loss
        if al is not None:
            state["al"] = [_tensor(v, device) for v in al]
        return orig_loss


def _two_loop_direction(
    problem: _Problem,
    flat_grad: Array,
    old_dirs: list[Array],
    old_stps: list[Array],
    ro: list[Scalar],
    H_diag: Scalar,
    al: list[Any],
) -> Array:
    """-H g by the two-loop recursion over the history; `al` (torch keeps it in the state) is filled."""
    scalar = problem.scalar
    q = -flat_grad
    for i in range(len(old_dirs) - 1, -1, -1):
        al[i] = scalar(dot(old_stps[i], q)) * ro[i]
        q = fused_axpy(q, -al[i], old_dirs[i])
    r = q * problem.dtype.type(H_diag)
    for i in range(len(old_dirs)):
        be_i = scalar(dot(old_dirs[i], r)) * ro[i]
        r = fused_axpy(r, al[i] - be_i, old_stps[i])
    return r


def _strong_wolfe(
    problem: _Problem,
    x: list[Array],
    t: Scalar,
    d: Array,
    f: float,
    g: Array,
    gtd: Scalar,
    c1: float = 1e-4,
    c2: float = 0.9,
    tolerance_change: float = 1e-9,
    max_ls: int = 25,
) -> tuple[float, Array, Scalar, int]:
    """A step t along d meeting the strong Wolfe conditions: bracket it, then zoom by cubic
    interpolation (minFunc's algorithm, as torch). Returns (loss, flat grad, t, evaluations)."""
    xp, scalar = problem.xp, problem.scalar
    d_norm = scalar(xp.abs(d).max())
    g = g.copy()
    f_new, g_new = problem.directional_evaluate(x, t, d)
    ls_func_evals = 1
    gtd_new = scalar(dot(g_new, d))

    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    bracket: list[Any] = []
    bracket_f: list[Any] = []
    bracket_g: list[Any] = []
    bracket_gtd: list[Any] = []
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        # extrapolate
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new.copy(), gtd_new
        f_new, g_new = problem.directional_evaluate(x, t, d)
        ls_func_evals += 1
        gtd_new = scalar(dot(g_new, d))
        ls_iter += 1

    if ls_iter == max_ls:  # reached the evaluation limit while extrapolating
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom until the point meets the conditions or the bracket is too small
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(
            bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]
        )
        # keep away from the bracket's ends unless progress is being made
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = problem.directional_evaluate(x, t, d)
        ls_func_evals += 1
        gtd_new = scalar(dot(g_new, d))
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new.copy(), gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos], bracket_gtd[high_pos] = bracket_g[low_pos], bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new.copy(), gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals


# ---- the state in torch's layout: Tensors for torch's tensors, numbers for its numbers ----
def _tensor(value: Any, device: Any) -> Any:
    """A flat array or NumPy scalar as the Tensor torch would store; Python numbers and None as is."""
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, np.generic)):
        return value
    if isinstance(value, np.generic):
        return wrap(np.array(value))  # 0-dim, on the cpu
    return wrap(value, device=device)


def _array(value: Any) -> Any:
    return value._data if isinstance(value, Tensor) else value


def _value(value: Any) -> Any:
    """A saved 0-dim Tensor back as a NumPy scalar of its dtype."""
    if isinstance(value, Tensor):
        data = value._data
        return data.dtype.type(float(data))
    return value

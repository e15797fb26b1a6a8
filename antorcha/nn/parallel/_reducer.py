"""The gradient reducer behind DistributedDataParallel: buckets, hooks, overlap.

Parameters are grouped into buckets in reverse registration order (roughly the order backward
produces their gradients), at most `bucket_cap_mb` each, and, when that is left at its default,
a first bucket of 1 MiB so that the first all-reduce starts early, as torch's rebuilt buckets
are (torch reduces the first iteration in one bucket, then rebuilds them in the order gradients
arrived; antorcha keeps reverse registration order from the start). Each bucket is one flat,
contiguous buffer; each parameter owns a view of it.

In backward, a post-accumulate-grad hook on each parameter copies its `.grad`, divided by the
world size, into its view (or, with `gradient_as_bucket_view`, makes `.grad` that view). When a
bucket's last gradient has arrived, its asynchronous all-reduce (a sum) starts, in bucket order on
every rank (MPI matches collectives by order), while backward goes on computing earlier layers.
A final callback, queued to run once backward returns, waits for every bucket and copies the
averages back into `.grad`.

With `find_unused_parameters`, the forward's outputs are searched for the parameters they
depend on; the others are marked ready (a zero contribution) at the first hook, and the final
callback marks ready whatever backward did not reach. The ranks then all-reduce which
parameters were used: one used on no rank keeps its `.grad` as it was (None stays None), as in
torch.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

import numpy as np

from antorcha._device import xp_of
from antorcha._tensor import Tensor, wrap
from antorcha.autograd.engine import queue_callback
from antorcha.autograd.function import AccumulateGrad

FIRST_BUCKET_BYTES = 1024 * 1024  # torch's dist._DEFAULT_FIRST_BUCKET_BYTES
MIB = 1024 * 1024


class Bucket:
    """Some parameters' gradients side by side in one flat buffer, reduced by one all-reduce."""

    def __init__(self, indices: list[int], params: list[Tensor]) -> None:
        self.indices = indices  # positions in the reducer's parameter list
        first = params[indices[0]]
        xp = xp_of(first._data)
        sizes = [params[index]._data.size for index in indices]
        self.buffer = xp.zeros(sum(sizes), dtype=first._data.dtype)  # (total,)
        self.device = first._device
        self.views = []  # one view of the buffer per parameter, in the parameter's shape
        offset = 0
        for index, size in zip(indices, sizes):
            self.views.append(self.buffer[offset : offset + size].reshape(params[index]._data.shape))
            offset += size
        self.pending = len(indices)
        self.work: Any = None

    def as_tensor(self) -> Tensor:
        return wrap(self.buffer, device=self.device)


def assign_buckets(params: list[Tensor], cap_bytes: int, first_cap_bytes: int) -> list[list[int]]:
    """Parameter indices per bucket: reverse order, one dtype and device per bucket, the first
    bucket of each kind closed past `first_cap_bytes` and the others past `cap_bytes` (torch's
    rule: a bucket closes once it reaches its limit, so it may end one tensor past it)."""
    open_buckets: dict[tuple, list[int]] = {}
    open_sizes: dict[tuple, int] = {}
    closed_count: dict[tuple, int] = {}
    buckets: list[list[int]] = []
    for index in reversed(range(len(params))):
        param = params[index]
        kind = (param._data.dtype, str(param._device))
        open_buckets.setdefault(kind, []).append(index)
        open_sizes[kind] = open_sizes.get(kind, 0) + param._data.nbytes
        limit = first_cap_bytes if closed_count.get(kind, 0) == 0 else cap_bytes
        if open_sizes[kind] >= limit:
            buckets.append(open_buckets.pop(kind))
            open_sizes[kind] = 0
            closed_count[kind] = closed_count.get(kind, 0) + 1
    buckets.extend(indices for indices in open_buckets.values() if indices)
    return buckets


def reachable_params(outputs: Iterable[Tensor]) -> set[int]:
    """ids of the leaf tensors whose AccumulateGrad nodes the outputs' graphs reach."""
    seen: set[int] = set()
    found: set[int] = set()
    stack = [tensor.grad_fn for tensor in outputs if tensor.grad_fn is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if type(node) is AccumulateGrad:
            variable = node.variable
            if variable is not None:
                found.add(id(variable))
            continue
        stack.extend(child for child, _ in node.next_functions if child is not None)
    return found


class Reducer:
    """Averages the gradients of `params` over the process group during backward."""

    def __init__(
        self,
        params: list[Tensor],
        bucket_cap_bytes: int,
        first_bucket_cap_bytes: int,
        process_group: Any,
        find_unused_parameters: bool,
        gradient_as_bucket_view: bool,
    ) -> None:
        import antorcha.distributed as dist

        self.dist = dist
        self.params = params
        self.process_group = process_group
        self.world_size = dist.get_world_size(process_group)
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.buckets = [
            Bucket(indices, params)
            for indices in assign_buckets(params, bucket_cap_bytes, first_bucket_cap_bytes)
        ]
        self.slot_of = {  # parameter index -> (bucket, position in it)
            index: (bucket, slot) for bucket in self.buckets for slot, index in enumerate(bucket.indices)
        }
        self.local_used = np.zeros(len(params), dtype=np.int32)
        self.expect_hooks = False  # set by a forward that will be followed by a synced backward
        self.require_finalize = False  # a backward started reducing and has not finished
        self.ready = [False] * len(params)
        self.unused: list[int] = []
        self.marked_unused = False
        self.next_bucket = 0
        self.hook_handles = [self._register_hook(index, param) for index, param in enumerate(params)]

    def _register_hook(self, index: int, param: Tensor) -> Any:
        reducer = weakref.ref(self)  # the parameters must not keep a dropped wrapper alive

        def hook(variable: Tensor) -> None:
            alive = reducer()
            if alive is not None:
                alive.autograd_hook(index)

        return param.register_post_accumulate_grad_hook(hook)

    # -- each iteration ---------------------------------------------------------------------

    def ensure_prior_reduction_finished(self) -> None:
        if not self.require_finalize:
            return
        missing = " ".join(str(index) for index, ready in enumerate(self.ready) if not ready)
        rank = self.dist.get_rank(self.process_group)
        raise RuntimeError(
            "Expected to have finished reduction in the prior iteration before starting a new one. "
            "This error indicates that your module has parameters that were not used in producing "
            "loss. You can enable unused parameter detection by passing the keyword argument "
            "`find_unused_parameters=True` to `antorcha.nn.parallel.DistributedDataParallel`, and by "
            "making sure all `forward` function outputs participate in calculating loss.\n"
            f"Parameter indices which did not receive grad for rank {rank}: {missing}"
        )

    def prepare_for_backward(self, outputs: list[Tensor]) -> None:
        """Reset the per-iteration accounting; with find_unused_parameters, find the unused ones."""
        self.expect_hooks = True
        self.ready = [False] * len(self.params)
        for bucket in self.buckets:
            bucket.pending = len(bucket.indices)
            bucket.work = None
        self.next_bucket = 0
        self.marked_unused = False
        self.unused = []
        if self.find_unused_parameters:
            used = reachable_params(outputs)
            self.unused = [index for index, param in enumerate(self.params) if id(param) not in used]

    def autograd_hook(self, index: int) -> None:
        if self.find_unused_parameters and self.params[index]._grad is not None:
            self.local_used[index] = 1  # also under no_sync: used in any accumulated step counts
        if not self.expect_hooks:
            return  # no_sync, or a backward this wrapper's forward did not prepare
        if not self.require_finalize:
            self.require_finalize = True
            if self.find_unused_parameters:  # backward may not reach every output: sweep at the end
                queue_callback(self._finish_backward)
        if not self.marked_unused:
            self.marked_unused = True
            for unused in self.unused:
                self._mark_ready(unused)
        if self.ready[index]:
            raise RuntimeError(
                f"Expected to mark a variable ready only once. Parameter at index {index} has been "
                "marked as ready twice. This means that multiple autograd engine hooks have fired for "
                "this particular parameter during this iteration."
            )
        self._mark_ready(index)
        if self.next_bucket == len(self.buckets) and not self.find_unused_parameters:
            queue_callback(self._finish_backward)
        self._drive_in_flight()

    def _drive_in_flight(self) -> None:
        """Test the launched all-reduces: MPI moves a nonblocking collective on only when the
        process calls into it, so each hook lets the messages advance while backward computes."""
        for bucket in self.buckets[: self.next_bucket]:
            if not bucket.work.is_completed():
                return

    def _mark_ready(self, index: int) -> None:
        """Put the parameter's gradient (divided by the world size) into its bucket; launch every
        bucket that is now complete, in order."""
        self.ready[index] = True
        param = self.params[index]
        bucket, slot = self.slot_of[index]
        view = bucket.views[slot]
        grad = param._grad
        if grad is None:
            view[...] = 0  # no contribution from this rank
        elif grad._data is view:
            view *= 1.0 / self.world_size  # .grad is the bucket's view already
        else:
            xp_of(view).multiply(grad._data, 1.0 / self.world_size, out=view)
            if self.gradient_as_bucket_view:
                param._grad = wrap(view, device=bucket.device)
        bucket.pending -= 1
        while self.next_bucket < len(self.buckets) and self.buckets[self.next_bucket].pending == 0:
            launching = self.buckets[self.next_bucket]
            launching.work = self.dist.all_reduce(
                launching.as_tensor(), op=self.dist.ReduceOp.SUM, group=self.process_group, async_op=True
            )
            self.next_bucket += 1

    def _finish_backward(self) -> None:
        """The final callback: wait for every bucket and write the averages into `.grad`."""
        if self.find_unused_parameters:
            for index, ready in enumerate(self.ready):  # what backward never reached
                if not ready:
                    self._mark_ready(index)
        if self.next_bucket < len(self.buckets):
            return  # some parameter got no gradient: the next forward raises torch's error
        globally_used = self._globally_used()
        for bucket in self.buckets:
            bucket.work.wait()
            for slot, index in enumerate(bucket.indices):
                if globally_used is None or globally_used[index]:
                    self._write_back(index, bucket, slot)
        self.local_used[:] = 0
        self.expect_hooks = False
        self.require_finalize = False

    def _globally_used(self) -> np.ndarray | None:
        """Which parameters some rank used since the last reduction (None: all, assumed)."""
        if not self.find_unused_parameters:
            return None
        used = wrap(self.local_used.copy())
        self.dist.all_reduce(used, op=self.dist.ReduceOp.MAX, group=self.process_group)
        return used._data > 0

    def _write_back(self, index: int, bucket: Bucket, slot: int) -> None:
        param = self.params[index]
        view = bucket.views[slot]
        if param._grad is not None and param._grad._data is view:
            return  # gradient_as_bucket_view: .grad already holds the average
        if self.gradient_as_bucket_view:
            param._grad = wrap(view, device=bucket.device)
        elif param._grad is None:
            param._grad = wrap(view.copy(), device=bucket.device)
        else:
            param._grad._data[...] = view

    def remove_hooks(self) -> None:
        for handle in self.hook_handles:
            handle.remove()

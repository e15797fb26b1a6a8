"""DistributedDataParallel: one model replica per process, gradients averaged in backward.

Each process runs the same script on its own share of every batch. At construction rank 0's
parameters and buffers are broadcast, so every replica starts equal; in backward the reducer
(`_reducer.py`) averages the gradients bucket by bucket while backward is still running, so after
`optimizer.step()` every replica holds the same parameters again, those one process would have
reached on the whole batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from antorcha._device import xp_of
from antorcha._grad_mode import is_grad_enabled
from antorcha._tensor import Tensor, wrap
from antorcha.nn.module import Module
from antorcha.nn.parallel._reducer import FIRST_BUCKET_BYTES, MIB, Reducer

DEFAULT_BUCKET_CAP_MB = 25  # torch's


def _find_tensors(output: Any) -> list[Tensor]:
    """Every tensor in a forward's output: a tensor, or lists, tuples and dicts of them."""
    if isinstance(output, Tensor):
        return [output]
    if isinstance(output, (list, tuple)):
        return [tensor for item in output for tensor in _find_tensors(item)]
    if isinstance(output, dict):
        return [tensor for item in output.values() for tensor in _find_tensors(item)]
    return []


def broadcast_coalesced(tensors: list[Tensor], src: int, process_group: Any) -> None:
    """Overwrite `tensors` with rank `src`'s values: one broadcast per dtype and device, of all
    of them flattened side by side (a few large messages instead of many small ones)."""
    import antorcha.distributed as dist

    groups: dict[tuple, list[Tensor]] = {}
    for tensor in tensors:
        groups.setdefault((tensor._data.dtype, str(tensor._device)), []).append(tensor)
    for members in groups.values():
        xp = xp_of(members[0]._data)
        flat = xp.concatenate([member._data.reshape(-1) for member in members])  # (total,)
        dist.broadcast(wrap(flat, device=members[0]._device), src, group=process_group)
        offset = 0
        for member in members:
            member._data[...] = flat[offset : offset + member._data.size].reshape(member._data.shape)
            offset += member._data.size


class DistributedDataParallel(Module):
    """Wraps `module` so that backward averages its gradients over the process group."""

    def __init__(
        self,
        module: Module,
        device_ids: list[Any] | None = None,
        output_device: Any = None,
        dim: int = 0,
        broadcast_buffers: bool | None = None,
        init_sync: bool = True,
        process_group: Any = None,
        bucket_cap_mb: float | None = None,
        find_unused_parameters: bool = False,
        check_reduction: bool = False,
        gradient_as_bucket_view: bool = False,
        static_graph: bool = False,
    ) -> None:
        super().__init__()
        import antorcha.distributed as dist

        params = [param for param in module.parameters() if param.requires_grad]
        if not params:
            raise RuntimeError(
                "DistributedDataParallel is not needed when a module doesn't have any parameter "
                "that requires a gradient."
            )
        self.module = module
        self.device_ids = device_ids
        self.output_device = output_device
        self.dim = dim
        self.broadcast_buffers = True if broadcast_buffers is None else broadcast_buffers
        self.process_group = process_group
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.static_graph = static_graph
        self.bucket_bytes_cap = int((DEFAULT_BUCKET_CAP_MB if bucket_cap_mb is None else bucket_cap_mb) * MIB)
        first_bucket_cap = FIRST_BUCKET_BYTES if bucket_cap_mb is None else self.bucket_bytes_cap
        self.require_backward_grad_sync = True  # False inside no_sync()
        self.require_forward_param_sync = True  # False after a forward that will not sync
        self._authoritative_rank = 0 if process_group is None else dist.get_global_rank(process_group, 0)
        self._module_buffers = list(module.buffers())
        if init_sync:
            broadcast_coalesced(
                [param for param in module.parameters()] + self._module_buffers,
                self._authoritative_rank,
                process_group,
            )
        self.reducer = Reducer(
            params,
            self.bucket_bytes_cap,
            first_bucket_cap,
            process_group,
            find_unused_parameters,
            gradient_as_bucket_view,
        )

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        sync_backward = is_grad_enabled() and self.require_backward_grad_sync
        if is_grad_enabled():
            self.reducer.ensure_prior_reduction_finished()
        if self.require_forward_param_sync and self.broadcast_buffers and self._module_buffers:
            broadcast_coalesced(self._module_buffers, self._authoritative_rank, self.process_group)
        output = self.module(*inputs, **kwargs)
        if sync_backward:
            self.require_forward_param_sync = True
            self.reducer.prepare_for_backward(_find_tensors(output) if self.find_unused_parameters else [])
        else:
            self.require_forward_param_sync = False
        return output

    @contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes inside accumulate gradients locally; the first synced backward after
        averages the accumulated sum."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

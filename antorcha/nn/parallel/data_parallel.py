"""DataParallel in one process: antorcha runs one device per process, so it calls the module.

torch's DataParallel splits a batch over the GPUs of one process; antorcha's multi-device path
is DistributedDataParallel (one process per device). Without GPUs torch's DataParallel calls the
module as it is; so does this one, on any device, keeping torch's `module.` state_dict prefix.
"""

from __future__ import annotations

from typing import Any

from antorcha.nn.module import Module


class DataParallel(Module):
    """Holds `module` and calls it: the single-device case of torch's DataParallel."""

    def __init__(
        self, module: Module, device_ids: list[Any] | None = None, output_device: Any = None, dim: int = 0
    ) -> None:
        super().__init__()
        self.module = module
        self.device_ids = [] if device_ids is None else list(device_ids)
        self.output_device = output_device
        self.dim = dim

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        return self.module(*inputs, **kwargs)

"""torch.utils.data._utils's public corners, where programs reach for them: `collate` (the type map
that extends default_collate) and `worker` (get_worker_info, WorkerInfo)."""

from antorcha.utils.data._utils import collate, worker

__all__ = ["collate", "worker"]

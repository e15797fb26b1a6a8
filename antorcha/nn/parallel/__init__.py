"""antorcha.nn.parallel: DistributedDataParallel (one process per replica) and DataParallel."""

from antorcha.nn.parallel.data_parallel import DataParallel
from antorcha.nn.parallel.distributed import DistributedDataParallel

__all__ = ["DataParallel", "DistributedDataParallel"]

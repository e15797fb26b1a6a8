"""The data-parallel world a command runs in: one process, or N started by `antorcha run -n N`.

`antorcha lesson` and `antorcha gpt` read the launcher's environment (mpirun's
OMPI_COMM_WORLD_SIZE, a torchrun-style WORLD_SIZE): with more than one process they join the
process group, wrap the model in DistributedDataParallel and train each rank on its share of
every batch, and rank 0 alone reports. With one process every method here is the identity, so
a plain run's numbers do not change.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "WORLD_SIZE", "PMI_SIZE")


def launched_world_size() -> int:
    """How many processes the launcher started (1 when none did)."""
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name)
        if value and value.isdigit():
            return int(value)
    return 1


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        """Whether this process reports (prints, writes files, samples)."""
        return self.rank == 0

    def shard(self, rows: slice) -> slice:
        """This rank's contiguous share of the rows `start:stop` of a batch: the first
        `len % size` ranks get one row more (NumPy's array_split rule)."""
        start, stop = rows.start or 0, rows.stop
        base, extra = divmod(stop - start, self.size)
        begin = start + self.rank * base + min(self.rank, extra)
        return slice(begin, begin + base + (self.rank < extra))

    def wrap(self, model: Any) -> Any:
        """The model DistributedDataParallel-wrapped when there are several processes."""
        if self.size == 1:
            return model
        from antorcha.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model)

    def mean(self, value: float) -> float:
        """The average of `value` over the ranks (a loss measured on each rank's share)."""
        if self.size == 1:
            return value
        import antorcha
        import antorcha.distributed as dist

        total = antorcha.tensor([value], dtype=antorcha.float64)
        dist.all_reduce(total)
        return float(total.item()) / self.size


SINGLE_PROCESS = World()


def join_world() -> World:
    """The world this process belongs to, joining the process group when launched as several."""
    size = launched_world_size()
    if size == 1:
        return SINGLE_PROCESS
    import antorcha.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group()
    return World(dist.get_rank(), dist.get_world_size())

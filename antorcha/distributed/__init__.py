"""antorcha.distributed: torch.distributed's API over MPI (mpi4py + Open MPI), NCCL for cuda tensors.

Start the processes with `antorcha run -n 2 script.py`, `python -m antorcha.distributed.run
--nproc-per-node 2 script.py` (torchrun's flags; RANK, LOCAL_RANK, WORLD_SIZE, MASTER_* exported)
or `mpirun -n 2 python script.py`; each calls `init_process_group()`. Processes started one by one
(by torchrun itself, say) cannot join: Open MPI 5 singletons cannot connect without a PRRTE server,
so more than one process means one of those launchers.

- Backends: "mpi" (default); "gloo" is the same MPI path, as torch users write it on the CPU;
  "nccl" (or "cpu:gloo,cuda:nccl") runs cuda tensors through CuPy's NCCL, the rest through MPI.
- Every op and dtype: raw bytes for moving data; reductions in the tensor's dtype, float16 and
  bfloat16 in float32 rounded once, bool as OR/AND, float MAX/MIN keeping NaN. AVG and the
  bitwise ops are refused where torch refuses them. In 2 processes the results are gloo's bit for
  bit; from 3 on, the order of additions differs (rank order here, gloo's ring per chunk).
- Every operation is MPI's nonblocking form; async_op=True returns its Work, otherwise it is
  waited on. Waits poll with a deadline (`timeout=` of init_process_group, 30 minutes by default)
  and raise a RuntimeError naming the op and rank; an unhandled exception aborts every rank.
- Objects (all_gather_object & co.) travel as tagged JSON, never as pickles.
- TORCH_DISTRIBUTED_DEBUG=DETAIL checks that the ranks' collectives agree in shapes and dtypes.
"""

from antorcha.distributed._buffers import ReduceOp
from antorcha.distributed._collectives import (
    all_gather,
    all_gather_into_tensor,
    all_reduce,
    barrier,
    broadcast,
    gather,
    reduce,
    reduce_scatter_tensor,
    scatter,
)
from antorcha.distributed._exchange import all_to_all, all_to_all_single, monitored_barrier, reduce_scatter
from antorcha.distributed._objects import (
    all_gather_object,
    broadcast_object_list,
    gather_object,
    scatter_object_list,
)
from antorcha.distributed._p2p import P2POp, batch_isend_irecv, irecv, isend, recv, send
from antorcha.distributed._process_group import (
    Backend,
    GroupMember,
    ProcessGroup,
    destroy_process_group,
    get_backend,
    get_global_rank,
    get_group_rank,
    get_node_local_rank,
    get_process_group_ranks,
    get_rank,
    get_world_size,
    group,
    init_process_group,
    is_available,
    is_gloo_available,
    is_initialized,
    is_mpi_available,
    is_nccl_available,
    is_torchelastic_launched,
    new_group,
)
from antorcha.distributed._work import Work

__all__ = [
    "Backend",
    "GroupMember",
    "P2POp",
    "ProcessGroup",
    "ReduceOp",
    "Work",
    "all_gather",
    "all_gather_into_tensor",
    "all_gather_object",
    "all_reduce",
    "all_to_all",
    "all_to_all_single",
    "barrier",
    "batch_isend_irecv",
    "broadcast",
    "broadcast_object_list",
    "destroy_process_group",
    "gather",
    "gather_object",
    "get_backend",
    "get_global_rank",
    "get_group_rank",
    "get_node_local_rank",
    "get_process_group_ranks",
    "get_rank",
    "get_world_size",
    "group",
    "init_process_group",
    "irecv",
    "is_available",
    "is_gloo_available",
    "is_initialized",
    "is_mpi_available",
    "is_nccl_available",
    "is_torchelastic_launched",
    "isend",
    "monitored_barrier",
    "new_group",
    "recv",
    "reduce",
    "reduce_scatter",
    "reduce_scatter_tensor",
    "scatter",
    "scatter_object_list",
    "send",
]

"""Without the launcher: one process alone (a world of 1; asking for more is a clear error), or plain
`mpirun -n N python singleton.py plain` (no torchrun variables: the ranks come from MPI alone)."""

import json
import os
import sys

import antorcha as torch
import antorcha.distributed as dist

if sys.argv[1] == "alone":
    dist.init_process_group("gloo", world_size=1, rank=0)
    t = torch.tensor([1.0, 2.0])
    dist.all_reduce(t, op=dist.ReduceOp.AVG)
    dist.broadcast(t, src=0)
    out = [None]
    dist.all_gather_object(out, {"x": 1})
    print(
        json.dumps({"values": t.tolist(), "rank": dist.get_rank(), "size": dist.get_world_size(), "out": out})
    )
elif sys.argv[1] == "plain":
    assert "RANK" not in os.environ
    dist.init_process_group()
    t = torch.tensor([float(dist.get_rank())])
    dist.all_reduce(t)
    if dist.get_rank() == 0:
        print(json.dumps({"sum": t.item(), "size": dist.get_world_size()}))
else:
    os.environ.update(RANK="0", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT="29511")
    try:
        dist.init_process_group()
    except RuntimeError as error:
        print(json.dumps({"error": str(error)}))

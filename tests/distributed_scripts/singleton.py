"""One process, not started by mpirun: world size 1 works; asking for more is a clear error."""

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
else:
    os.environ.update(RANK="0", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT="29511")
    try:
        dist.init_process_group()
    except RuntimeError as error:
        print(json.dumps({"error": str(error)}))

"""A rank that raises, is killed or never arrives: the others must fail within the timeout, not hang.

`python faults.py MODE` under a launcher with 2+ processes; MODE is raise, kill or late. Rank 1
misbehaves; the other ranks wait in an all_reduce (timeout 3 s) and must end with the job.
"""

import datetime
import os
import signal
import sys
import time

import antorcha as torch
import antorcha.distributed as dist

dist.init_process_group(timeout=datetime.timedelta(seconds=3))
mode = sys.argv[1]
if dist.get_rank() == 1:
    if mode == "raise":
        raise ValueError("rank 1 fails on purpose")
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "late":
        time.sleep(60)
work = dist.all_reduce(torch.ones(3), async_op=True)
work.wait()
print("all_reduce completed, which it must not", flush=True)

"""A rank that raises, is killed, leaves or never arrives: the others must end within the timeout.

`python faults.py MODE` under a launcher with 2+ processes. Rank 1 misbehaves: `raise`, `kill`
(SIGKILL) and `late` (sleeps past the timeout) happen after init_process_group, while the others
wait in an all_reduce; `raise_before_init` and `exit_before_init` happen before it, while the others
wait to meet in init_process_group. The timeout is 3 s.
"""

import datetime
import os
import signal
import sys
import time

import antorcha as torch
import antorcha.distributed as dist

mode = sys.argv[1]
rank = int(os.environ["RANK"])
if rank == 1 and mode == "raise_before_init":
    raise ValueError("rank 1 fails on purpose before init_process_group")
if rank == 1 and mode == "exit_before_init":
    sys.exit(0)
dist.init_process_group(timeout=datetime.timedelta(seconds=3))
if rank == 1:
    if mode == "raise":
        raise ValueError("rank 1 fails on purpose")
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "late":
        time.sleep(60)
work = dist.all_reduce(torch.ones(3), async_op=True)
work.wait()
print("all_reduce completed, which it must not", flush=True)

"""DDP scenarios written once and run on torch (gloo) and antorcha (MPI), one process each.

usage: python tests/_ddp_torch_oracle.py OUT.json  (run by tests/test_ddp.py in a subprocess, so
neither process group touches the test process). World size 1 is enough for what is compared
here: which gradients stay None, what errors say, state_dict keys, repr, no_sync accumulation.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import traceback
from collections.abc import Callable
from typing import Any


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def branches(lib: Any) -> Any:
    nn = lib.nn

    class Branches(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = nn.Linear(3, 2)
            self.sometimes = nn.Linear(3, 2)
            self.ignored = nn.Linear(3, 2)
            self.register_buffer("count", lib.zeros(1))

        def forward(self, x: Any, use_sometimes: bool = False) -> Any:
            out = self.used(x)
            if use_sometimes:
                out = out + self.sometimes(x)
            return out, self.ignored(x)

    return Branches()


def _data(lib: Any) -> Any:
    return lib.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5], [-2.0, 1.0, 0.75], [0.1, 0.2, 0.3]])


def _copy_weights(lib: Any, module: Any) -> None:
    with lib.no_grad():
        for index, param in enumerate(module.parameters()):
            param.copy_(lib.linspace(-1, 1, param.numel()).reshape(param.shape) * (index + 1) / 7)


def find_unused_grads(lib: Any) -> dict:
    """Which .grad is None, and the gradients, over iterations that use different branches."""
    module = branches(lib)
    _copy_weights(lib, module)
    model = lib.nn.parallel.DistributedDataParallel(module, find_unused_parameters=True)
    seen = []
    for use in (False, True, False):
        model(_data(lib), use)[0].sum().backward()
        seen.append(
            {name: None if p.grad is None else p.grad.tolist() for name, p in module.named_parameters()}
        )
    return {"grads": seen}


def unused_error(lib: Any) -> dict:
    module = branches(lib)
    model = lib.nn.parallel.DistributedDataParallel(module)
    model(_data(lib))[0].sum().backward()
    try:
        model(_data(lib))
    except RuntimeError as error:
        return {"class": "RuntimeError", "first_line": str(error).splitlines()[0].split(". ")[0]}
    return {"class": None}


def no_sync_accumulates(lib: Any) -> dict:
    """Two backwards under no_sync and one outside: .grad holds the sum of all three."""
    module = branches(lib)
    _copy_weights(lib, module)
    model = lib.nn.parallel.DistributedDataParallel(module, gradient_as_bucket_view=True)
    x = _data(lib)
    with model.no_sync():
        model(x, True)[0].sum().backward()
        model(x * 2, True)[0].sum().backward()
    (model(x * 3, True)[0] + model.module.ignored(x).sum()).sum().backward()
    return {name: p.grad.tolist() for name, p in module.named_parameters()}


def structure(lib: Any) -> dict:
    module = branches(lib)
    model = lib.nn.parallel.DistributedDataParallel(module)
    return {
        "repr": repr(model),
        "state_dict": list(model.state_dict()),
        "named_parameters": [name for name, _ in model.named_parameters()],
        "module": model.module is module,
        "bucket_cap_default": model.bucket_bytes_cap,
    }


def no_parameters_error(lib: Any) -> dict:
    frozen = lib.nn.Linear(2, 2).requires_grad_(False)
    try:
        lib.nn.parallel.DistributedDataParallel(frozen)
    except RuntimeError as error:
        return {"class": "RuntimeError", "message": str(error)}
    return {"class": None}


SCENARIOS: dict[str, Callable[[Any], dict]] = {
    "find_unused_grads": find_unused_grads,
    "unused_error": unused_error,
    "no_sync_accumulates": no_sync_accumulates,
    "structure": structure,
    "no_parameters_error": no_parameters_error,
}


def run_all(lib: Any) -> dict:
    outcomes = {}
    for name, scenario in SCENARIOS.items():
        try:
            outcomes[name] = scenario(lib)
        except Exception:
            outcomes[name] = {"error": traceback.format_exc()}
    return outcomes


def main(out_path: str) -> None:
    import torch
    import torch.distributed

    import antorcha
    import antorcha.distributed

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()))
    torch.distributed.init_process_group("gloo", rank=0, world_size=1)
    theirs = run_all(torch)
    torch.distributed.destroy_process_group()
    antorcha.distributed.init_process_group("mpi", rank=0, world_size=1)
    ours = run_all(antorcha)
    antorcha.distributed.destroy_process_group()
    with open(out_path, "w") as file:
        json.dump({"torch": theirs, "antorcha": ours}, file)


if __name__ == "__main__":
    main(sys.argv[1])

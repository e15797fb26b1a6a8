"""How tensors cross process boundaries: as NumPy arrays, through multiprocessing's pickler only.

`Tensor.__reduce_ex__` refuses plain `pickle` (antorcha.save is the file format), but
multiprocessing pickles with its own `ForkingPickler`, whose dispatch table is consulted
first: registering a reducer there lets tensors travel through `multiprocessing` queues and a
spawned worker's arguments (as torch.multiprocessing registers its own), while `pickle.dumps`
still refuses. A tensor is sent as its values on the host (a cuda tensor is copied there in
the sender) with its `requires_grad` and device, and is rebuilt on that device by the
receiver: a cuda batch from a worker is moved to the GPU in the main process.
"""

from __future__ import annotations

from multiprocessing.reduction import ForkingPickler
from typing import Any

import numpy as np

from antorcha._device import CPU, as_device
from antorcha._tensor import Tensor, wrap

_NON_LEAF_ERROR = (
    "Cowardly refusing to serialize non-leaf tensor which requires_grad, since autograd does not "
    "support crossing process boundaries.  If you just want to transfer the data, call detach() "
    "on the tensor before serializing (e.g., putting it on the queue)."
)


def rebuild_tensor(kind: str, array: np.ndarray, requires_grad: bool, device: str) -> Tensor:
    """The receiver's side of `reduce_tensor`."""
    tensor = wrap(array, device=CPU)
    target = as_device(device)
    if target.type != "cpu":
        tensor = tensor.to(target)
    if kind == "parameter":
        from antorcha.nn.parameter import Parameter

        return Parameter(tensor, requires_grad)
    tensor.requires_grad_(requires_grad)
    return tensor


def reduce_tensor(tensor: Tensor) -> tuple[Any, tuple]:
    """The sender's side: (rebuild_tensor, its arguments), as pickle's reduce protocol wants."""
    if tensor.requires_grad and tensor.grad_fn is not None:
        raise RuntimeError(_NON_LEAF_ERROR)
    kind = "parameter" if type(tensor).__name__ == "Parameter" else "tensor"
    return rebuild_tensor, (kind, tensor._cpu_array(), tensor.requires_grad, str(tensor.device))


def register_reducers() -> None:
    """Teach multiprocessing's pickler tensors and parameters (its table is keyed by exact type)."""
    from antorcha.nn.parameter import Parameter

    for tensor_type in (Tensor, Parameter):
        ForkingPickler.register(tensor_type, reduce_tensor)

"""Op-spec rows for the namespace, legacy and random names (joined into `op_specs.SPECS`).

The random samplers cannot be compared with torch value by value (another PRNG): their
distributions, shapes, dtypes, errors and zero gradients are tested in test_random_sampling.py.
The factories and memory queries are compared with torch in test_namespace.py.
"""

from __future__ import annotations

from op_spec import OpSpec

_SAMPLING = "random: distribution, shape, dtype and errors against torch in test_random_sampling.py"
_FACTORY = "factory with self's dtype and device: test_namespace.py against torch"
_MEMORY = "memory metadata: test_namespace.py against torch"

# public names of this area that are not ops, or are compared with torch elsewhere: name -> why
NOT_OPS: dict[str, str] = {
    "antorcha.multinomial": _SAMPLING,
    "Tensor.multinomial": _SAMPLING,
    "antorcha.bernoulli": _SAMPLING,
    "Tensor.bernoulli": _SAMPLING,
    "antorcha.poisson": _SAMPLING,
    "Tensor.bernoulli_": _SAMPLING,
    "Tensor.cauchy_": _SAMPLING,
    "Tensor.exponential_": _SAMPLING,
    "Tensor.geometric_": _SAMPLING,
    "Tensor.log_normal_": _SAMPLING,
    "Tensor.random_": _SAMPLING,
    "Tensor.new_zeros": _FACTORY,
    "Tensor.new_ones": _FACTORY,
    "Tensor.new_empty": _FACTORY,
    "Tensor.new_full": _FACTORY,
    "Tensor.new_tensor": _FACTORY,
    "Tensor.data_ptr": _MEMORY,
    "Tensor.storage_offset": _MEMORY,
    "Tensor.pin_memory": _MEMORY + " (needs a GPU, as in torch)",
    "Tensor.is_pinned": _MEMORY,
}


def rows() -> list[OpSpec]:
    return []

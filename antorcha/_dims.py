"""Dimension arguments as torch reads them: negative dims count from the end."""

from __future__ import annotations

from typing import Any


def normalize_dim(dim: int, ndim: int) -> int:
    """A possibly negative dim as an index in [0, ndim); torch's IndexError when out of range."""
    bound = max(ndim, 1)
    if not -bound <= dim < bound:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-bound}, {bound - 1}], but got {dim})"
        )
    return dim % bound


def normalize_dims(dim: Any, ndim: int) -> tuple[int, ...]:
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (list, tuple)):
        dims = tuple(normalize_dim(d, ndim) for d in dim)
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"dim {dims} appears multiple times in the list of dims")
        return dims
    return (normalize_dim(dim, ndim),)

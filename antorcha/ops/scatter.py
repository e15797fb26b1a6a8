"""Writing by index: scatter, scatter_add, scatter_reduce, index_fill/add/copy, masked_scatter, ..."""

from __future__ import annotations

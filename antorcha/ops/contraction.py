"""Contractions and distances: einsum, cdist, cross."""

from __future__ import annotations

"""More movement: tile, repeat_interleave, narrow, select, movedim, roll, meshgrid, diag, trace, ..."""

from __future__ import annotations

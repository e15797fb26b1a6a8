"""Sorting, selection and scans: sort, topk, median, quantile, unique, cumprod, searchsorted, ...."""

from __future__ import annotations

"""Differentiable operations, one `Op` subclass per op, grouped by kind."""

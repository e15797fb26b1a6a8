"""Differentiable operations, one `Op` subclass per op, grouped by kind.

Importing this package imports every op module, and with it every op's public names
(`antorcha._registry`).
"""

from antorcha.ops import elementwise, indexing, linalg, logic, movement, reduce, softmax, unary

__all__ = ["elementwise", "indexing", "linalg", "logic", "movement", "reduce", "softmax", "unary"]

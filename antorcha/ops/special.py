"""More elementwise math: addcmul/addcdiv, logaddexp, hypot, atan2, erfinv, lgamma, digamma, ...."""

from __future__ import annotations

"""torch.backends.opt_einsum: contraction-order search for einsum, via the opt_einsum package.

`enabled` and `strategy` are accepted and readable; antorcha's einsum does not consult them.
"""

from __future__ import annotations

import importlib.util


def is_available() -> bool:
    return importlib.util.find_spec("opt_einsum") is not None


# as torch's: on where the package is installed, and its strategy then 'auto'
enabled = is_available()
strategy: str | None = "auto" if enabled else None

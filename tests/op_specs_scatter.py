"""Op-spec rows for `antorcha/ops/scatter.py` (joined into `op_specs.SPECS`)."""

from __future__ import annotations

from op_spec import OpSpec

# public names of this area that are not ops, or are compared with torch elsewhere: name -> why
NOT_OPS: dict[str, str] = {}


def rows() -> list[OpSpec]:
    return []

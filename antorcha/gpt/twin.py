"""Run antorcha.gpt.model's source on another library with torch's API (real PyTorch).

The model file imports `antorcha`, `antorcha.nn` and `antorcha.nn.functional` and nothing else
from antorcha. Executing it while those three names resolve to the other library gives the same
classes on it, from the same lines: tests and benchmarks compare one model on two frameworks.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_MODEL_SOURCE = Path(__file__).with_name("model.py")
_SWAPPED = ("antorcha", "antorcha.nn", "antorcha.nn.functional")


def load_on(library: ModuleType) -> ModuleType:
    """The model module with `antorcha` meaning `library` (e.g. `load_on(torch).GPT`)."""
    stand_ins = {"antorcha": library, "antorcha.nn": library.nn}
    stand_ins["antorcha.nn.functional"] = library.nn.functional
    saved = {name: sys.modules.get(name) for name in _SWAPPED}
    spec = importlib.util.spec_from_file_location(f"gpt_model_on_{library.__name__}", _MODEL_SOURCE)
    module = importlib.util.module_from_spec(spec)
    sys.modules.update(stand_ins)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
    finally:
        for name, original in saved.items():
            if original is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = original
    return module

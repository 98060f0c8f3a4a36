"""Optional C extensions: loaded where built, and where not, said once with what runs instead.

setup.py declares every extension optional, so an install without a C
compiler still succeeds and nothing is ever compiled at run time; each
caller keeps a pure-Python (or numpy) path that gives the same results.
``CARBON_EDGE_NO_NATIVE`` in the environment turns them all off, so tests and
benchmarks can run the fallbacks on a machine that has the extensions.
Callers cache the answer (``functools.lru_cache``), so the warning comes
once per process.
"""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType

DISABLE = "CARBON_EDGE_NO_NATIVE"
HINT = "reinstall with a C compiler (pip install -e .) to build it"


def missing(module: str) -> str | None:
    """Why ``module`` cannot be used (disabled, or not built and how to build it), or None."""
    if os.environ.get(DISABLE):
        return f"disabled by {DISABLE}"
    try:
        importlib.import_module(module)
    except ImportError as exc:
        return f"not built ({exc}); {HINT}"
    return None


def optional(module: str, what: str, fallback: str, log: logging.Logger) -> ModuleType | None:
    """The extension ``module``, or None after one warning on ``log`` (what, why, fallback)."""
    why = missing(module)
    if why is not None:
        log.warning("%s %s: %s", what, why, fallback)
        return None
    return importlib.import_module(module)

"""Optional packages, imported where they are used: a missing one is a ``MissingDependency`` naming the
extra that installs it, never a bare ``ImportError``. ``import assay`` and the core need none of them."""

from __future__ import annotations

import importlib
from types import ModuleType

from assay.errors import MissingDependency


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """``module``, imported; ``MissingDependency`` saying ``purpose`` needs ``pip install 'assay[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(f"{purpose} needs {module}: pip install 'assay[{extra}]'") from exc

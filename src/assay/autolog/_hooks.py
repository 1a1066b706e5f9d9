"""Patching, undone exactly, and patching at import: the two mechanisms every framework hook uses.

``Patches`` replaces attributes (a class's ``fit``, a module's ``train``) and remembers what was there
before: the object in the owner's own ``__dict__``, or nothing (the attribute was inherited), so ``undo``
puts back exactly that. Patching the same attribute twice is a no-op: calling ``assay.autolog()`` again
never wraps a wrapper.

``ImportWatcher`` is a ``sys.meta_path`` finder that hands each watched module to a callback once the
module has executed. ``assay.autolog()`` imports no framework (TensorFlow alone takes seconds): a framework
already imported is patched at once; one that is not is patched when the program imports it. The finder
finds nothing itself: it asks the finders after it, and wraps the loader of what they found.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

log = logging.getLogger("assay.autolog")

_MISSING = object()


@dataclass
class _Patch:
    owner: Any  # kept, so that its id stays unique while the patch lives
    name: str
    before: Any  # the value in owner.__dict__, or _MISSING when the attribute was inherited
    wrapper: Any


class Patches:
    """The attributes one framework hook replaced, restored in reverse order by ``undo``."""

    def __init__(self) -> None:
        self._done: dict[tuple[int, str], _Patch] = {}

    def __len__(self) -> int:
        return len(self._done)

    def wrap(self, owner: Any, name: str, make: Callable[[Any], Any]) -> bool:
        """Replace ``owner.name`` with ``make(current)``; False (nothing done) if already patched.
        ``current`` is the raw value in the owner's ``__dict__`` (a function, or a descriptor such as
        scikit-learn's ``available_if``), else the inherited attribute."""
        key = (id(owner), name)
        if key in self._done:
            return False
        before = vars(owner).get(name, _MISSING)
        wrapper = make(getattr(owner, name) if before is _MISSING else before)
        setattr(owner, name, wrapper)
        self._done[key] = _Patch(owner, name, before, wrapper)
        return True

    def undo(self) -> None:
        """Put back what each patched attribute was. An attribute someone replaced after us is left to
        them (our wrapper, still in their chain, passes calls straight through once autolog is off)."""
        for patch in reversed(list(self._done.values())):
            if vars(patch.owner).get(patch.name, _MISSING) is not patch.wrapper:
                log.debug("%r.%s was replaced after autolog patched it: left as is", patch.owner, patch.name)
            elif patch.before is _MISSING:
                delattr(patch.owner, patch.name)
            else:
                setattr(patch.owner, patch.name, patch.before)
        self._done.clear()


class _Loader(importlib.abc.Loader):
    """The real loader, with a callback once the module has executed. The module gets the real loader
    back before its code runs, so it (and importlib.resources) never see this wrapper."""

    def __init__(self, loader: Any, after: Callable[[ModuleType], None]) -> None:
        self._loader = loader
        self._after = after

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        create = getattr(self._loader, "create_module", None)
        return None if create is None else create(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        self._after(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class ImportWatcher(importlib.abc.MetaPathFinder):
    """Calls ``on_import(module)`` when a module that ``watches(name)`` finishes executing."""

    def __init__(self, watches: Callable[[str], bool], on_import: Callable[[ModuleType], None]) -> None:
        self._watches = watches
        self._on_import = on_import
        self._local = threading.local()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if getattr(self._local, "busy", False) or not self._watches(fullname):
            return None
        self._local.busy = True
        try:
            spec = self._find_elsewhere(fullname, path, target)
        finally:
            self._local.busy = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _Loader(spec.loader, self._after)
        return spec

    def _find_elsewhere(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None
    ) -> importlib.machinery.ModuleSpec | None:
        finders = sys.meta_path
        start = next((i + 1 for i, f in enumerate(finders) if f is self), 0)
        for finder in list(finders[start:]):
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec: importlib.machinery.ModuleSpec | None = find(fullname, path, target)
            if spec is not None:
                return spec
        return None

    def _after(self, module: ModuleType) -> None:
        try:
            self._on_import(module)
        except Exception as exc:  # a hook must never break the user's import
            log.warning("assay.autolog could not hook %s: %s: %s", module.__name__, type(exc).__name__, exc)

    def install(self) -> None:
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def remove(self) -> None:
        while self in sys.meta_path:
            sys.meta_path.remove(self)

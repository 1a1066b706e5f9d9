"""Automatic logging: ``assay.autolog()`` logs every training of scikit-learn, XGBoost, LightGBM, PyTorch
Lightning and Keras, with no other change to the code.

    import assay
    assay.autolog()                   # every installed framework; frameworks=["sklearn"] picks some
    model.fit(X_train, y_train)       # a run: params, metrics per iteration, the model
    assay.load_model(f"runs:/{assay.autolog.last_run_id()}/model")
    with assay.autolog.holdout(X_val, y_val):
        model.fit(X_train, y_train)   # ... and assay.evaluate on (X_val, y_val)
    assay.autolog(disable=True)       # every hook off, the frameworks' functions restored exactly

Each outermost training logs into the active run (and leaves it active), or into a run it starts and ends
around the training: FINISHED, or FAILED when the training raised (the exception propagates unchanged).
A fit inside another (a Pipeline's steps, a search's candidates) is not logged on its own. Logging never
breaks a training: a failure is a warning on the ``assay.autolog`` logger.

Importing ``assay.autolog`` imports no framework, and neither does ``assay.autolog()``: a framework
already imported is patched at once, one not yet imported when the program imports it (an import hook on
``sys.meta_path``), so turning autolog on costs nothing for the frameworks a program never uses.

What is logged, per framework: see ``assay.autolog.sklearn``, ``.xgboost``, ``.lightgbm``, ``.torch``
(the Lightning hook, ``AssayLogger``, and ``track`` for plain training loops) and ``.keras``
(``AssayCallback``).

This module is callable: ``assay.autolog(...)`` and ``from assay.autolog import autolog`` are the same
object, whichever of ``import assay`` or ``import assay.autolog.keras`` came first.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, cast

from assay.autolog._config import Config, holdout, last_run_id
from assay.autolog._config import disable as _off
from assay.autolog._config import enable as _on
from assay.autolog._config import settings as _settings
from assay.autolog._hooks import ImportWatcher, Patches
from assay.autolog._hooks import log as _log
from assay.errors import InvalidInput

__all__ = ["FRAMEWORKS", "Config", "autolog", "holdout", "last_run_id", "status"]


@dataclass(frozen=True)
class Framework:
    """A framework autolog hooks: its import names, the modules whose import installs the hook, and the
    module of the hook (with ``install(module, patches)``)."""

    packages: tuple[str, ...]  # top-level import names: installed when any of them is found
    modules: tuple[str, ...]  # the hook is installed when one of these has been imported
    hook: str
    submodules: bool = False  # ... or any of their submodules

    def watches(self, name: str) -> bool:
        return name in self.modules or (
            self.submodules and name.startswith(tuple(f"{m}." for m in self.modules))
        )

    def installed(self) -> bool:
        return any(importlib.util.find_spec(p) is not None for p in self.packages)


FRAMEWORKS: dict[str, Framework] = {
    "sklearn": Framework(("sklearn",), ("sklearn",), "assay.autolog.sklearn", submodules=True),
    "xgboost": Framework(("xgboost",), ("xgboost",), "assay.autolog.xgboost"),
    "lightgbm": Framework(("lightgbm",), ("lightgbm",), "assay.autolog.lightgbm"),
    "torch": Framework(
        ("lightning", "pytorch_lightning"), ("lightning.pytorch", "pytorch_lightning"), "assay.autolog.torch"
    ),
    "keras": Framework(("keras",), ("keras",), "assay.autolog.keras"),
}

_lock = threading.RLock()
_patches: dict[str, Patches] = {}


def _watches(name: str) -> bool:
    return any(f.watches(name) for n, f in FRAMEWORKS.items() if n in _patches)


def _on_import(module: ModuleType) -> None:
    with _lock:
        for name, framework in FRAMEWORKS.items():
            if name in _patches and framework.watches(module.__name__):
                _install(name, framework, module)


def _install(name: str, framework: Framework, module: ModuleType) -> None:
    try:
        hook = importlib.import_module(framework.hook)
        hook.install(module, _patches[name])
    except Exception as exc:  # a framework version the hook does not know: warn, never break the import
        config = _settings(name)
        if config is None or not config.silent:
            _log.warning(
                "assay.autolog could not hook %s (%s): %s: %s", name, module.__name__, type(exc).__name__, exc
            )


_watcher = ImportWatcher(_watches, _on_import)


def _initialized(module: ModuleType) -> bool:
    spec = getattr(module, "__spec__", None)
    return not getattr(spec, "_initializing", False)


def _autolog(
    disable: bool = False,
    log_models: bool = True,
    frameworks: Iterable[str] | None = None,
    *,
    log_input_examples: bool = True,
    log_datasets: bool = True,
    max_tuning_runs: int = 5,
    silent: bool = False,
    extra_tags: Mapping[str, Any] | None = None,
) -> None:
    """Turn automatic logging on (or, with ``disable=True``, off) for ``frameworks`` (default: all of
    "sklearn", "xgboost", "lightgbm", "torch" (PyTorch Lightning's ``Trainer.fit``), "keras"). A framework
    that is not installed is skipped; calling again updates the options and never patches twice.

    ``log_models``: log the trained model (``assay.log_model``, under "model"), with the first rows of the
    training data as its input example (``log_input_examples``). ``log_datasets``: record the training
    data as a dataset of the run (``assay.log_dataset``). ``max_tuning_runs``: for GridSearchCV and
    RandomizedSearchCV, the best candidates logged as child runs. ``silent``: no warnings from autolog.
    ``extra_tags``: set on the runs autolog starts.
    """
    if not isinstance(disable, bool) or not isinstance(log_models, bool):
        raise InvalidInput("disable and log_models are True or False; name frameworks with frameworks=[...]")
    if isinstance(frameworks, str):
        frameworks = [frameworks]
    names = list(FRAMEWORKS) if frameworks is None else [str(f) for f in frameworks]
    unknown = sorted(set(names) - set(FRAMEWORKS))
    if unknown:
        raise InvalidInput(f"autolog knows {', '.join(FRAMEWORKS)}; not {', '.join(unknown)}")
    if max_tuning_runs < 0:
        raise InvalidInput("max_tuning_runs must be 0 or more")
    config = Config(
        log_models=log_models,
        log_input_examples=log_input_examples,
        log_datasets=log_datasets,
        max_tuning_runs=max_tuning_runs,
        silent=silent,
        extra_tags={str(k): str(v) for k, v in (extra_tags or {}).items()},
    )
    with _lock:
        for name in names:
            if disable:
                _off(name)
                patches = _patches.pop(name, None)
                if patches is not None:
                    patches.undo()
                continue
            framework = FRAMEWORKS[name]
            if name not in _patches and not framework.installed():
                continue
            _on(name, config)
            if name in _patches:
                continue  # already hooked (or waiting for its import): only the options change
            _patches[name] = Patches()
            for module_name, module in sorted(sys.modules.items()):
                if module is not None and framework.watches(module_name) and _initialized(module):
                    _install(name, framework, module)
        if _patches:
            _watcher.install()
        else:
            _watcher.remove()


def status() -> dict[str, str]:
    """Each framework's hook: "on" (patched), "waiting" (on; patched when the program imports it), "off",
    or "not installed"."""
    with _lock:
        out = {}
        for name, framework in FRAMEWORKS.items():
            if name in _patches:
                imported = any(m in sys.modules for m in framework.modules)
                out[name] = "on" if imported else "waiting"
            else:
                out[name] = "off" if framework.installed() else "not installed"
        return out


class _AutologModule(ModuleType):
    """``assay.autolog`` is this module, and calling it calls ``_autolog``."""

    def __call__(
        self,
        disable: bool = False,
        log_models: bool = True,
        frameworks: Iterable[str] | None = None,
        *,
        log_input_examples: bool = True,
        log_datasets: bool = True,
        max_tuning_runs: int = 5,
        silent: bool = False,
        extra_tags: Mapping[str, Any] | None = None,
    ) -> None:
        _autolog(
            disable,
            log_models,
            frameworks,
            log_input_examples=log_input_examples,
            log_datasets=log_datasets,
            max_tuning_runs=max_tuning_runs,
            silent=silent,
            extra_tags=extra_tags,
        )

    __call__.__doc__ = _autolog.__doc__
    holdout = staticmethod(holdout)
    last_run_id = staticmethod(last_run_id)
    status = staticmethod(status)


sys.modules[__name__].__class__ = _AutologModule
#: The module itself, so that ``assay.autolog`` is the same callable object however it was reached.
autolog = cast(_AutologModule, sys.modules[__name__])

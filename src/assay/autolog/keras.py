"""Keras 3: ``AssayCallback``, and the hook that adds it to every ``keras.Model.fit``.

``AssayCallback`` records:

- params: the fit's ``epochs``, ``steps`` and (through autolog) ``batch_size``, ``validation_split``,
  ``shuffle``...; the optimizer's config as ``optimizer/<key>`` (``optimizer/name``,
  ``optimizer/learning_rate``...); the model's ``total_params``;
- per epoch, every entry of Keras' logs (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``...) at
  step = epoch (0-based); every ``log_every_n_steps`` batches, the batch logs as ``batch/<name>`` at step =
  the batch count;
- at train end, the model under "model" (with its input example when one is known).

Use it on its own (``model.fit(..., callbacks=[AssayCallback()])``): it logs into the active run, or starts
a run at train begin and ends it at train end. Keras calls no callback when fit raises, so such a run would
stay open: prefer ``with assay.start_run():`` around fit, or ``assay.autolog()``, whose hook (a wrapper of
``keras.Model.fit``) ends its run FAILED, and also logs the fit's arguments and an ``EarlyStopping``'s
``stopped_epoch`` and ``best_epoch``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import keras

from assay.autolog import _session
from assay.autolog._config import Config
from assay.autolog._hooks import Patches
from assay.autolog._session import Session
from assay.autolog.sklearn import head

FIT_PARAMS = (
    "batch_size",
    "epochs",
    "validation_split",
    "shuffle",
    "initial_epoch",
    "steps_per_epoch",
    "validation_steps",
    "validation_batch_size",
    "validation_freq",
    "class_weight",
)


class AssayCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """Logs a Keras training to assay: params, metrics per epoch (and per ``log_every_n_steps`` batches),
    and the model at train end (``log_models``; ``input_example``: a few rows of what the model takes).
    ``params``: more params to record (autolog passes the fit's arguments here)."""

    def __init__(
        self,
        log_models: bool = True,
        input_example: Any = None,
        log_every_n_steps: int | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.log_models = log_models
        self.input_example = input_example
        self.log_every_n_steps = log_every_n_steps
        self.extra_params = dict(params or {})
        self.session: Session | None = None
        self._owns = False
        self._batches = 0

    # ---- Keras' hooks ----------------------------------------------------------------------------------

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._batches = 0
        session = _session.current()
        self._owns = session is None
        if session is None:
            config = Config(log_models=self.log_models, log_datasets=False)
            session = Session.open("keras", config, _model_tags(self.model))
        self.session = session
        if session is not None:
            session.safely("params", self._log_params, session)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.session is not None and logs:
            self.session.metrics(logs, step=epoch)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._batches += 1
        n = self.log_every_n_steps
        if n and self.session is not None and logs and self._batches % n == 0:
            self.session.metrics(logs, step=self._batches, prefix="batch/")

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        session, self.session = self.session, None
        if session is None:
            return
        if self.log_models:
            session.model(self.model, self.input_example)
        if self._owns:
            session.close(None)

    # ---- what is logged --------------------------------------------------------------------------------

    def _log_params(self, session: Session) -> None:
        values: dict[str, Any] = {k: v for k, v in (self.params or {}).items() if k != "verbose"}
        values.update(self.extra_params)
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            values["optimizer"] = session.safely("the optimizer config", optimizer.get_config) or {}
        total = session.safely("the parameter count", self.model.count_params)
        if total is not None:
            values["total_params"] = total
        session.params(values, skip_none=True)


def _model_tags(model: Any) -> dict[str, str]:
    cls = type(model)
    return {"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__qualname__}"}


def install(module: ModuleType, patches: Patches) -> None:
    patches.wrap(keras.Model, "fit", _wrap_fit)


def _example(x: Any) -> Any:
    if isinstance(x, Mapping):
        rows = {k: head(v) for k, v in x.items()}
        return None if any(v is None for v in rows.values()) else rows
    return head(x)


def _prepare(bound: inspect.BoundArguments, session: Session) -> None:
    """Give the fit an AssayCallback bound to ``session`` (the user's own one, if in the list, gets the
    fit's arguments and example instead)."""
    args = bound.arguments
    params = {
        k: args.get(k, bound.signature.parameters[k].default)
        for k in FIT_PARAMS
        if k in bound.signature.parameters
    }
    if params.get("batch_size") is None and hasattr(args.get("x"), "shape"):
        params["batch_size"] = 32  # Keras' default for arrays
    example = _example(args.get("x")) if session.config.log_input_examples else None
    callbacks = list(args.get("callbacks") or [])
    mine = [c for c in callbacks if isinstance(c, AssayCallback)]
    for c in mine:
        c.extra_params = {**params, **c.extra_params}
        c.input_example = c.input_example if c.input_example is not None else example
    if not mine:
        callbacks.append(AssayCallback(session.config.log_models, example, params=params))
    args["callbacks"] = callbacks


def _log_early_stopping(session: Session, bound: inspect.BoundArguments) -> None:
    for c in bound.arguments.get("callbacks") or ():
        if isinstance(c, keras.callbacks.EarlyStopping):
            session.params(
                {
                    k: getattr(c, k, None)
                    for k in ("monitor", "patience", "min_delta", "restore_best_weights")
                },
                prefix="early_stopping",
            )
            session.metrics({"stopped_epoch": c.stopped_epoch, "best_epoch": getattr(c, "best_epoch", None)})


def _wrap_fit(original: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:
            return original(self, *args, **kwargs)  # let Keras say what is wrong with the call

        def call(session: Session | None) -> Any:
            if session is not None:
                session.safely("the callback", _prepare, bound, session)
            return original(*bound.args, **bound.kwargs)

        def after(session: Session, _history: Any) -> None:
            _log_early_stopping(session, bound)
            session.dataset(bound.arguments.get("x"), "training", "training")

        return _session.train("keras", call, after=after, tags=_model_tags(self))

    return fit

"""PyTorch: ``AssayLogger`` for Lightning, the autolog hook on ``Trainer.fit``, and ``track`` for plain loops.

``AssayLogger`` is a Lightning ``Logger`` (``Trainer(logger=AssayLogger())``): ``log_hyperparams`` records
params (nested ones as ``outer/inner``), ``log_metrics`` the points at Lightning's step, and ``finalize``
ends the run it started (FINISHED on "success", FAILED on "failed"). It logs into the run of an autologged
fit, else the active run, else a run it starts at its first use. It is built on first access (from
``lightning.pytorch``, else ``pytorch_lightning``), so importing this module imports neither.

The hook (``assay.autolog()``, framework "torch") wraps ``Trainer.fit``: it adds an ``AssayLogger`` for the
fit (unless the trainer has one), records ``epochs``, ``max_steps``, ``accumulate_grad_batches`` and the
optimizer (``optimizer/name``, ``optimizer/lr``...), and logs the module under "model" after training, with
its ``example_input_array`` as input example (exported with ``torch.export``), or its weights and
``hparams`` (``init_kwargs``) when it has none.

``track`` is for a loop of your own::

    with assay.autolog.torch.track(model, optimizer, input_example=X[:5]) as t:
        for epoch in range(10):
            for xb, yb in loader:
                loss = step(xb, yb)
                t.step(loss=loss)              # "loss" and "lr" at the step count (from 0)
            t.epoch(val_loss=validate())       # at step = epoch (from 0)

It records the model's class and parameter counts and the optimizer's settings, and logs the model at the
end of the block; an exception in the block ends the run it started FAILED.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from argparse import Namespace
from collections.abc import Callable, Mapping
from types import ModuleType, TracebackType
from typing import Any

from assay.autolog import _session
from assay.autolog._config import Config
from assay.autolog._hooks import Patches
from assay.autolog._session import Session
from assay.entities import RunStatus

__all__ = ["Tracker", "install", "logger_class", "track"]  # and AssayLogger, built on first access

# ---- plain loops ------------------------------------------------------------------------------------------


def optimizer_params(optimizer: Any) -> dict[str, Any]:
    """The optimizer's class and the settings of its first param group (lr, momentum, betas...)."""
    out: dict[str, Any] = {"name": type(optimizer).__name__}
    groups = getattr(optimizer, "param_groups", None) or []
    if groups:
        out.update({k: v for k, v in groups[0].items() if k != "params"})
    if len(groups) > 1:
        out["param_groups"] = len(groups)
    return out


def model_params(model: Any) -> dict[str, Any]:
    """The module's class and its parameter counts."""
    params = list(model.parameters())
    return {
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "total_params": sum(p.numel() for p in params),
        "trainable_params": sum(p.numel() for p in params if p.requires_grad),
    }


class Tracker:
    """What ``track`` yields: ``step(loss=..., **metrics)`` per batch, ``epoch(**metrics)`` per epoch."""

    def __init__(
        self,
        model: Any,
        optimizer: Any,
        config: Config,
        input_example: Any,
        log_every_n_steps: int,
        params: Mapping[str, Any] | None,
        model_options: Mapping[str, Any] | None,
    ) -> None:
        if log_every_n_steps < 1:
            raise ValueError("log_every_n_steps must be 1 or more")
        self.model = model
        self.optimizer = optimizer
        self.config = config
        self.input_example = input_example
        self.log_every_n_steps = log_every_n_steps
        self.extra_params = dict(params or {})
        self.model_options = model_options
        self.session: Session | None = None
        self.run_id: str | None = None  # the run logged to (kept after the block)
        self.global_step = 0  # the step the next ``step`` call logs at
        self.epochs = 0  # the step the next ``epoch`` call logs at

    def __enter__(self) -> Tracker:
        cls = type(self.model)
        tags = {"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__qualname__}"}
        self.session = Session.open("torch", self.config, tags)
        if self.session is not None:
            s = self.session
            self.run_id = s.run_id
            s.safely("params", lambda: s.params({**model_params(self.model), **self.extra_params}))
            if self.optimizer is not None:
                s.safely("params", lambda: s.params(optimizer_params(self.optimizer), prefix="optimizer"))
        return self

    def step(self, loss: Any = None, step: int | None = None, **metrics: Any) -> None:
        """Log ``loss`` and ``metrics`` (numbers or one-element tensors: ``.item()`` is called) of a batch,
        with the optimizer's learning rate as "lr", at ``step`` (default: the count of earlier calls)."""
        at = self.global_step if step is None else step
        self.global_step = at + 1
        if self.session is None or at % self.log_every_n_steps:
            return
        values = dict(metrics) if loss is None else {"loss": loss, **metrics}
        groups = getattr(self.optimizer, "param_groups", None) or []
        for i, group in enumerate(groups):
            if "lr" in group:
                values["lr" if i == 0 else f"lr/{i}"] = group["lr"]
        self.session.metrics(values, step=at)

    def epoch(self, epoch: int | None = None, **metrics: Any) -> None:
        """Log epoch-level ``metrics`` (a validation loss...) at ``epoch`` (default: the count of earlier calls)."""
        at = self.epochs if epoch is None else epoch
        self.epochs = at + 1
        if self.session is not None and metrics:
            self.session.metrics(metrics, step=at)

    def __exit__(
        self, tp: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session, self.session = self.session, None
        if session is None:
            return
        if exc is None:
            session.model(self.model, self.input_example, self.model_options)
        session.close(exc)


def track(
    model: Any,
    optimizer: Any = None,
    *,
    input_example: Any = None,
    log_model: bool = True,
    log_every_n_steps: int = 1,
    params: Mapping[str, Any] | None = None,
    model_options: Mapping[str, Any] | None = None,
) -> Tracker:
    """Log a plain PyTorch training loop: ``with track(model, optimizer) as t: ... t.step(loss=loss)``.

    Records the model's class and parameter counts, the optimizer's settings (``optimizer/lr``...) and
    ``params``; ``t.step`` logs per batch (every ``log_every_n_steps``), ``t.epoch`` per epoch. At the end of
    the block the model is logged (``log_model``) with ``input_example`` (exported with ``torch.export``;
    without one, its weights: pass ``model_options={"init_kwargs": {...}}`` for a module whose ``__init__``
    takes arguments). Logs into the active run, or a run it starts and ends (FAILED if the block raised).
    """
    config = Config(log_models=log_model, log_datasets=False)
    return Tracker(model, optimizer, config, input_example, log_every_n_steps, params, model_options)


# ---- Lightning -----------------------------------------------------------------------------------------


def _lightning() -> str:
    """The Lightning package to build on: ``lightning.pytorch``, else ``pytorch_lightning``."""
    for package, top in (("lightning.pytorch", "lightning"), ("pytorch_lightning", "pytorch_lightning")):
        if importlib.util.find_spec(top) is not None:
            return package
    from assay.errors import MissingDependency

    raise MissingDependency("AssayLogger needs PyTorch Lightning: pip install 'assay[lightning]'")


def _build_logger(package: str) -> type:
    loggers = importlib.import_module(f"{package}.loggers")
    rank_zero_only = importlib.import_module(f"{package}.utilities").rank_zero_only

    class AssayLogger(loggers.Logger):  # type: ignore[misc,name-defined]
        """A Lightning logger writing to assay: ``Trainer(logger=AssayLogger())``.

        Logs into the run of an autologged fit, else the active run, else a run it starts at first use
        and ends in ``finalize`` (FINISHED on success, FAILED on failure); after that, a new use (a later
        ``trainer.test``) starts a new run. ``log_checkpoints``: upload the best checkpoint (or the last
        one saved) as artifacts under "checkpoints/" at the end.
        """

        def __init__(self, log_checkpoints: bool = False) -> None:
            super().__init__()
            self.log_checkpoints = log_checkpoints
            self._session: Session | None = None
            self._owns = False
            self._checkpoint: Any = None

        def _run(self) -> Session | None:
            if self._session is None:
                current = _session.current()
                self._owns = current is None
                self._session = current or Session.open("torch", Config(log_datasets=False))
            return self._session

        @property
        def name(self) -> str:
            return "assay"

        @property
        def version(self) -> str:
            session = self._run()
            return "" if session is None else session.run_id

        @property
        def run_id(self) -> str | None:
            session = self._run()
            return None if session is None else session.run_id

        @property
        def experiment(self) -> Any:
            """The assay ``Client`` of the run (``logger.experiment.log_dict(logger.run_id, ...)``)."""
            session = self._run()
            return None if session is None else session.client

        @rank_zero_only  # type: ignore[untyped-decorator]
        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            session = self._run()
            if session is not None:
                values = vars(params) if isinstance(params, Namespace) else dict(params or {})
                session.params(values)

        @rank_zero_only  # type: ignore[untyped-decorator]
        def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
            session = self._run()
            if session is not None:
                session.metrics(metrics, step=step)

        def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
            self._checkpoint = checkpoint_callback

        @rank_zero_only  # type: ignore[untyped-decorator]
        def finalize(self, status: str) -> None:
            session, self._session = self._session, None
            if session is None:
                return
            if self.log_checkpoints and self._checkpoint is not None:
                session.safely("the checkpoint", _log_checkpoint, session, self._checkpoint)
            if self._owns:
                session.end(RunStatus.FAILED if status == "failed" else RunStatus.FINISHED)

    AssayLogger.__module__ = __name__
    return AssayLogger


def _log_checkpoint(session: Session, callback: Any) -> None:
    path = getattr(callback, "best_model_path", "") or getattr(callback, "last_model_path", "")
    if path:
        session.client.log_artifact(session.run_id, path, "checkpoints")


_classes: dict[str, type] = {}


def logger_class(package: str | None = None) -> type:
    """``AssayLogger`` built on ``package``'s Logger ("lightning.pytorch" or "pytorch_lightning")."""
    package = package or _lightning()
    if package not in _classes:
        _classes[package] = _build_logger(package)
    return _classes[package]


def __getattr__(name: str) -> Any:
    if name == "AssayLogger":
        return logger_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def install(module: ModuleType, patches: Patches) -> None:
    """Wrap ``Trainer.fit`` of ``module`` (``lightning.pytorch`` or ``pytorch_lightning``)."""
    trainer = module.Trainer
    patches.wrap(trainer, "fit", functools.partial(_wrap_fit, module.__name__))


def _wrap_fit(package: str, original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def fit(self: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
        def call(session: Session | None) -> Any:
            loggers = list(self.loggers)
            ours = logger_class(package)
            added = session is not None and not any(isinstance(lg, ours) for lg in loggers)
            if added:
                self.loggers = [*loggers, ours()]
            try:
                return original(self, model, *args, **kwargs)
            finally:
                if added:
                    self.loggers = loggers

        def before(session: Session) -> None:
            session.params(
                {
                    **model_params(model),
                    "epochs": self.max_epochs,
                    "max_steps": self.max_steps,
                    "accumulate_grad_batches": self.accumulate_grad_batches,
                },
                skip_none=True,
            )

        def after(session: Session, _result: Any) -> None:
            if self.optimizers:
                session.params(optimizer_params(self.optimizers[0]), prefix="optimizer")
            example = getattr(model, "example_input_array", None)
            session.model(model, _numpy(example), _init_kwargs(model) if example is None else None)

        cls = type(model)
        tags = {"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__qualname__}"}
        return _session.train("torch", call, before, after, tags=tags)

    return fit


def _numpy(example: Any) -> Any:
    """A tensor example as a numpy array (what a logged model's signature describes), else as is."""
    if hasattr(example, "detach") and hasattr(example, "numpy"):
        return example.detach().cpu().numpy()
    return example


def _init_kwargs(model: Any) -> dict[str, Any] | None:
    """``{"init_kwargs": hparams}`` when the module's saved hyperparameters are plain data (then the
    weights-only model can be rebuilt), else None."""
    hparams = dict(getattr(model, "hparams", None) or {})
    if hparams and all(_is_plain(v) for v in hparams.values()):
        return {"init_kwargs": hparams}
    return None


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, int, float)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False

"""One autologged training: the run it logs to, and logging that never breaks the training.

``train`` is what every hook calls. A training that starts while another is being logged (a Pipeline's
steps, GridSearchCV's candidates, XGBClassifier.fit's call to ``xgboost.train``) is an inner one: it runs
as is, and only the outermost is logged. "While" is process-wide, not per thread: joblib's threading
backend fits the candidates of a search on worker threads, and they are still inner fits.

The run is the active one (the user's: autolog logs into it and never ends it) or, with none active, a run
autolog starts and ends around the training: FINISHED, or FAILED when the training raised (with the error
and its traceback, as ``with assay.start_run()`` records them), the exception propagating unchanged.

Logging goes through the run's ``Client`` with an explicit run id, so a hook may log from any thread (a
framework's callback) and the user's own nested runs do not redirect it. Every logging step is wrapped in
``Session.safely``: a failure is a warning on the ``assay.autolog`` logger (once per kind and session),
and the training goes on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from assay.autolog import _clean
from assay.autolog._config import Config, current_holdout, remember_run, settings
from assay.entities import RunStatus
from assay.errors import Conflict
from assay.sdk import fluent
from assay.sdk.client import Client
from assay.sdk.models import log_model

log = logging.getLogger("assay.autolog")
T = TypeVar("T")

#: Artifact paths tried in turn for the model, when the user's run already has one from an earlier fit.
MODEL_NAMES = ["model", *(f"model-{i}" for i in range(2, 21))]
#: The packages whose tables and arrays are recorded as datasets.
DATA_MODULES = ("numpy", "pandas", "polars", "pyarrow")


class Session:
    """The run one outermost training logs to, with logging helpers that warn instead of raising."""

    def __init__(
        self,
        framework: str,
        config: Config,
        client: Client,
        run_id: str,
        experiment_id: str,
        owned: fluent.ActiveRun | None,
    ) -> None:
        self.framework = framework
        self.config = config
        self.client = client
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.owned = owned  # the run autolog started (ended by close), or None for the user's run
        self.data: dict[str, Any] = {}  # the hook's own notes, e.g. that a wrapper wants live metrics
        self._warned: set[str] = set()
        self._step: dict[str, int] = {}

    @classmethod
    def open(cls, framework: str, config: Config, tags: Mapping[str, Any] | None = None) -> Session | None:
        """A session on the active run, or on a run started now; None (and a warning) if none can be had."""
        all_tags = {"assay.autolog.framework": framework, **(tags or {})}
        try:
            active = fluent.active_run()
            if active is not None:
                session = cls(framework, config, active.client, active.id, active.info.experiment_id, None)
                session.safely("tags", session.client.set_tags, session.run_id, all_tags)
            else:
                run = fluent.start_run(tags={**all_tags, **config.extra_tags})
                session = cls(framework, config, run.client, run.id, run.info.experiment_id, run)
            remember_run(session.run_id)
            return session
        except Exception as exc:
            if not config.silent:
                log.warning(
                    "assay.autolog could not start a run for this %s training (it goes on, unlogged): %s: %s",
                    framework,
                    type(exc).__name__,
                    exc,
                )
            return None

    def close(self, error: BaseException | None) -> None:
        """End the run autolog started: FINISHED, or FAILED/KILLED after ``error`` (the user's run stays)."""
        run = self.owned
        if run is None:
            return
        try:
            if error is None:
                fluent.end_run(RunStatus.FINISHED, run_id=run.id)
            else:
                run.__exit__(type(error), error, error.__traceback__)
        except Exception as exc:
            self.warn("the end of the run", exc)

    def end(self, status: RunStatus) -> None:
        """End the run autolog started with ``status`` (for frameworks that report a status, not an error)."""
        if self.owned is not None:
            self.safely("the end of the run", fluent.end_run, status, run_id=self.owned.id)

    # ---- logging that never raises ---------------------------------------------------------------------

    def warn(self, what: str, exc: BaseException) -> None:
        if what in self._warned or self.config.silent:
            return
        self._warned.add(what)
        log.warning(
            "assay.autolog could not log %s to run %s (training goes on): %s: %s",
            what,
            self.run_id,
            type(exc).__name__,
            exc,
        )

    def safely(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """``fn(*args, **kwargs)``, or None and a warning if it raised."""
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            self.warn(what, exc)
            return None

    def params(self, values: Mapping[str, Any], prefix: str = "", skip_none: bool = False) -> None:
        self.safely("params", self._params, _clean.params(values, prefix, skip_none))

    def _params(self, values: dict[str, str]) -> None:
        if not values:
            return
        try:
            self.client.log_params(self.run_id, values)
        except Conflict:
            # The run has some of these params with other values (an earlier fit in the user's run):
            # keep those, log the rest.
            clashes = []
            for k, value in values.items():
                try:
                    self.client.log_params(self.run_id, {k: value})
                except Conflict:
                    clashes.append(k)
            if clashes and not self.config.silent:
                log.warning(
                    "assay.autolog: run %s already has params %s with other values; kept those. Log each "
                    "training in its own run (or a nested one) to keep all of them",
                    self.run_id,
                    ", ".join(sorted(clashes)[:10]),
                )

    def metrics(self, values: Mapping[str, Any], step: int | None = None, prefix: str = "") -> None:
        self.safely("metrics", self._metrics, _clean.metrics(values, prefix), step)

    def _metrics(self, values: dict[str, float], step: int | None) -> None:
        if values:
            self.client.log_metrics(self.run_id, values, step)

    def tags(self, values: Mapping[str, Any]) -> None:
        self.safely("tags", self.client.set_tags, self.run_id, {_clean.key(k): v for k, v in values.items()})

    def log_dict(self, data: Mapping[str, Any], path: str) -> None:
        self.safely(path, self.client.log_dict, self.run_id, data, path)

    def dataset(self, data: Any, context: str, name: str) -> None:
        """Record ``data`` as a dataset of the run (``log_datasets``); only tables and arrays (numpy,
        pandas, polars, Arrow), not a framework's own data objects (a tf.data pipeline, a DMatrix)."""
        if self.config.log_datasets and type(data).__module__.split(".")[0] in DATA_MODULES:
            self.safely("the dataset", self.client.log_dataset, self.run_id, data, name, context)

    def model(self, model: Any, input_example: Any = None, options: Mapping[str, Any] | None = None) -> None:
        """Log ``model`` under "model" (or "model-2"... when the run has one already), if log_models."""
        if self.config.log_models:
            example = input_example if self.config.log_input_examples else None
            self.safely("the model", self._model, model, example, options)

    def _model(self, model: Any, example: Any, options: Mapping[str, Any] | None) -> None:
        for name in MODEL_NAMES:
            try:
                info = log_model(
                    model,
                    name,
                    input_example=example,
                    options=options,
                    run_id=self.run_id,
                    client=self.client,
                )
            except Conflict:
                continue
            except Exception as exc:
                if example is None:
                    raise
                # Perhaps an example no signature can be inferred from (sparse rows, odd types): the model
                # matters more than its signature, so try without it.
                info = log_model(model, name, options=options, run_id=self.run_id, client=self.client)
                self.warn("the model's input example", exc)
            self.client.set_tags(self.run_id, {"assay.autolog.model": info.uri})
            return
        raise Conflict(f"the run has models under {MODEL_NAMES[0]!r} to {MODEL_NAMES[-1]!r} already")

    def holdout(self, model: Any) -> None:
        """``assay.evaluate`` on the data of the enclosing ``assay.autolog.holdout`` block, if any."""
        data = current_holdout()
        if data is not None and hasattr(model, "predict"):
            dataset = data.name if self.config.log_datasets else None
            self.safely(
                "the holdout evaluation",
                self.client.evaluate,
                self.run_id,
                model,
                data.X,
                data.y,
                data.name,
                None,
                dataset,
            )

    def child_run(self, name: str, params: Mapping[str, Any], metrics: Mapping[str, Any]) -> str | None:
        """A finished child run of this session's run, with ``params`` and ``metrics`` (a search candidate)."""
        return self.safely("a child run", self._child_run, name, params, metrics)

    def _child_run(self, name: str, params: Mapping[str, Any], metrics: Mapping[str, Any]) -> str:
        info = self.client.create_run(
            self.experiment_id,
            name=name,
            params=_clean.params(params),
            tags={"assay.autolog.framework": self.framework, **self.config.extra_tags},
            parent_run_id=self.run_id,
            capture_git=False,
            capture_environment=False,
            log_system_metrics=False,
        )
        self.client.log_metrics(info.run_id, _clean.metrics(metrics))
        self.client.set_terminated(info.run_id, RunStatus.FINISHED)
        return info.run_id


_lock = threading.Lock()
_busy = False  # a training is being logged (or its run being opened) in this process
_open: Session | None = None


def current() -> Session | None:
    """The session of the training being logged in this process, if any."""
    return _open


def train(
    framework: str,
    call: Callable[[Session | None], T],
    before: Callable[[Session], None] | None = None,
    after: Callable[[Session, T], None] | None = None,
    tags: Mapping[str, Any] | None = None,
) -> T:
    """Run one training: ``call(session)`` runs it (``call(None)``: as is, unlogged), ``before`` and
    ``after`` log around it and never raise. Unlogged when autolog is off for ``framework`` or another
    training is being logged (this one is inside it)."""
    global _busy, _open
    config = settings(framework)
    with _lock:
        inner = _busy
        if config is not None and not inner:
            _busy = True
    if config is None or inner:
        return call(None)
    try:
        session = Session.open(framework, config, tags)
        if session is None:
            return call(None)
        _open = session
        try:
            if before is not None:
                session.safely("params", before, session)
            result = call(session)
            if after is not None:
                session.safely("the results", after, session, result)
        except BaseException as exc:
            _open = None
            session.close(exc)
            raise
        _open = None
        session.close(None)
        return result
    finally:
        _open = None
        _busy = False

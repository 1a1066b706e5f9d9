"""A stand-in for ``assay.runner.execute.run_task`` (branch exec) until it lands on main: Python tasks only,
the run created with the task's id, parent and tags, the function's returned number or dict logged as
metrics. Remove it when the real one is merged."""

from __future__ import annotations

import importlib
import os
from typing import Any

from assay.entities import RunStatus
from assay.runner.entities import Result
from assay.runner.task import Task, TaskResult


def run_task(task: Task) -> TaskResult:
    from assay.sdk import fluent, session
    from assay.sdk.client import Client

    os.environ["ASSAY_TRACKING_URI"] = task.tracking_uri
    fluent.set_tracking_uri(task.tracking_uri)
    client = Client(task.tracking_uri)
    exp = client.get_or_create_experiment(task.experiment or "Default", task.project)
    client.backend.create_run(
        exp.experiment_id,
        name=task.name,
        params=dict(task.params),
        tags=dict(task.tags),
        parent_run_id=task.parent_run_id,
        run_id=task.run_id,
    )
    os.environ["ASSAY_RUN_ID"] = task.run_id
    fn: Any = task.function
    if fn is None:
        module, _, attr = task.target.partition(":")
        fn = getattr(importlib.import_module(module), attr)
    status, error = RunStatus.FINISHED, None
    try:
        out = fn(**task.params)
        if isinstance(out, int | float):
            client.log_metric(task.run_id, task.target.rsplit(":", 1)[-1], float(out))
        elif isinstance(out, dict):
            for k, v in out.items():
                client.log_metric(task.run_id, k, float(v))
    except Exception as exc:
        status, error = RunStatus.FAILED, f"{type(exc).__name__}: {exc}"
    finally:
        del os.environ["ASSAY_RUN_ID"]
    session.SESSION.flush_pending(client.backend)
    client.backend.end_run(task.run_id, status)
    run = client.get_run(task.run_id)
    metrics = {k: s.last for k, s in run.metric_summaries.items()}
    return TaskResult(
        task.run_id, Result.SUCCEEDED if status is RunStatus.FINISHED else Result.FAILED, error, metrics
    )

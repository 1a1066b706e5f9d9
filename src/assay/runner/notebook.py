"""A notebook task through the notebook runtime (``assay.notebooks.execute``), for ``run_task``.

Loaded only for notebook tasks: a worker that only ever runs functions never imports papermill.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager

from assay.entities import RunStatus
from assay.notebooks import kernels, sources
from assay.notebooks.execute import Launch, Options, execute
from assay.notebooks.schema import schema_of
from assay.runner.entities import Result
from assay.runner.task import Task
from assay.sdk.client import Client


class JobKernels(kernels.ColdKernels):
    """Cold kernels (a new one per task) whose stdout and stderr go to the attempt's output file, and
    whose process group is reported to ``started`` (the local engine kills it with the task)."""

    def __init__(self, log: Path, started: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self.log = log
        self.started = started

    def launch(
        self, kernel_name: str, cwd: str, env: Mapping[str, str], imports: Sequence[str]
    ) -> AsyncKernelManager:
        km = super().launch(kernel_name, cwd, env, imports)
        pgid = getattr(km.provisioner, "pgid", None)
        if self.started is not None and pgid:
            self.started(int(pgid))
        return km

    def log_of(self, km: AsyncKernelManager) -> Path:
        return self.log

    def release(self, km: AsyncKernelManager) -> None:
        kernels.shutdown(km)  # the output file stays: it is the attempt's


def run_notebook(
    task: Task,
    client: Client,
    log: Path,
    experiment_id: Callable[[Client, Task], str],
    kernel_started: Callable[[int], None] | None = None,
) -> tuple[Result, str | None, bool]:
    """Execute the task's notebook in its run; how it ended, why, and whether metrics may have been logged."""
    if task.source is not None:
        where = task.target if "://" in task.target else sources.location(task.target)
        nb = sources.parse(task.source.decode("utf-8", errors="replace"), where)
    else:
        nb, where = sources.load(task.target)
    schema = schema_of(nb, where)
    launch = Launch(nb, where, schema, schema.bind(task.params))
    options = Options(
        name=task.name,
        timeout=task.timeout_s,
        cwd=task.cwd if task.cwd and Path(task.cwd).is_dir() else None,
        tags=dict(task.tags),
        tracking_uri=task.tracking_uri,
        experiment_id=experiment_id(client, task),
        run_id=task.run_id,
        parent_run_id=task.parent_run_id,
        # run_task's capture: what cells print joins the attempt's output (its live log) as it comes
        stdout=sys.stdout,
        stderr=sys.stderr,
    )
    source = JobKernels(log, kernel_started)
    try:
        run, outcome = execute(launch, options, source)
    finally:
        source.close()
    if run.info.status is RunStatus.FINISHED:
        return Result.SUCCEEDED, None, True
    message: Any = outcome.message or f"the notebook run ended {run.info.status.value}"
    if outcome.cell_status == "timeout":
        return Result.TIMED_OUT, str(message), True
    return Result.FAILED, str(message), True

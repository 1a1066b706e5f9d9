"""``assay.run_notebook``: a notebook executed with papermill inside a tracked run.

The order matters for what it costs and what it guarantees:

1. ``prepare``: read the notebook (a path or any fsspec URL, never written to), parse its schema and
   check the parameters: a bad launch is refused before any kernel starts or any run exists.
2. The kernel is launched (cold, or forked from a warm template), and boots while the run is created
   with its params and tags, so the two waits overlap.
3. papermill injects the parameters (its ``injected-parameters`` cell) and ``AssayEngine`` runs the cells;
   the kernel learns its run (``ASSAY_RUN_ID``) before the first cell, so ``assay.log_*`` inside it lands
   in this run. This process keeps the run alive meanwhile: its writer heartbeats it.
4. What the kernel buffered is written, then the kernel is shut down while the output notebook, its HTML
   and ``notebook/cells.json`` are stored; then the run ends FINISHED, FAILED or KILLED (``outcome``),
   with the reason in the ``assay.error`` tag. The run is never ended by the kernel.
"""

from __future__ import annotations

import contextlib
import copy
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from papermill.exceptions import PapermillExecutionError  # type: ignore[import-untyped]
from papermill.execute import (  # type: ignore[import-untyped]
    prepare_notebook_metadata,
    raise_for_execution_errors,
    remove_error_markers,
)
from papermill.parameterize import parameterize_notebook  # type: ignore[import-untyped]

from assay.entities import Run, RunStatus
from assay.errors import AssayError
from assay.notebooks import engine, kernels, sources
from assay.notebooks.launch import Launch, Options, Started, prepare, start_kernel
from assay.notebooks.outcome import Outcome, cell_rows, classify, plain
from assay.notebooks.progress import CellTracker
from assay.sdk import handover, lifecycle
from assay.sdk.client import Client

ARTIFACTS = "notebook"

__all__ = ["Launch", "NotebookFailed", "Options", "Started", "execute", "prepare", "start_kernel"]


class NotebookFailed(AssayError):
    """A notebook run ended FAILED or KILLED; ``run`` is the ended run, the message says where and why."""

    code = "NOTEBOOK_FAILED"

    def __init__(self, message: str, run: Run) -> None:
        super().__init__(message)
        self.run = run


#: run id -> (client, kernel) of executions under way, ended KILLED if this process is stopped.
_live: dict[str, tuple[Client, AsyncKernelManager]] = {}
_hooked: list[bool] = []


def _on_shutdown(_status: RunStatus) -> None:
    for run_id, (client, km) in list(_live.items()):
        try:
            pgid = getattr(km.provisioner, "pgid", None)
            if pgid:
                os.killpg(pgid, 9)
        except OSError:
            pass
        client.set_tags(run_id, {"assay.error": "the process running the notebook was stopped"})
        client.set_terminated(run_id, RunStatus.KILLED)


def _tags(launch: Launch, kernel_name: str, warm: bool, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    tags = {
        "assay.notebook": launch.location,
        "assay.notebook.kernel": kernel_name,
        "assay.notebook.schema": launch.schema.digest,
        "assay.notebook.warm": "true" if warm else "false",
    }
    tags.update(extra or {})
    return tags


def _parameterized(launch: Launch, kernel_name: str) -> NotebookNode:
    nb = copy.deepcopy(launch.nb)
    if launch.values:
        language = nb.metadata.get("kernelspec", {}).get("language") or "python"
        nb = parameterize_notebook(nb, launch.values, kernel_name=kernel_name, language=language)
    nb = prepare_notebook_metadata(nb, launch.location, None)
    clean: NotebookNode = remove_error_markers(nb)
    return clean


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    keep = [ln for ln in text.splitlines() if "without encryption" not in ln and ln.strip()]
    return "\n".join(keep[-lines:])


def execute(
    launch: Launch, options: Options, source: kernels.KernelSource, started: Started | None = None
) -> tuple[Run, Outcome]:
    """Execute a prepared launch in a new run (see the module docstring); returns the ended run and how it
    ended. ``started`` is its kernel if ``start_kernel`` started it already (else it starts here).
    Raises KeyboardInterrupt after ending the run KILLED if interrupted."""
    if started is None:
        started = start_kernel(launch, options, source)
    km, kernel_name, uri = started.km, started.kernel_name, started.tracking_uri
    warm = not isinstance(source, kernels.ColdKernels)
    try:
        nb = _parameterized(launch, kernel_name)
        client = Client(uri)
        experiment_id = options.experiment_id
        if options.experiment is not None or experiment_id is None:
            name = options.experiment or os.environ.get("ASSAY_EXPERIMENT", "Default")
            experiment_id = client.get_or_create_experiment(name).experiment_id
        info = client.create_run(
            experiment_id,
            name=options.name or Path(launch.location).stem,
            params=launch.schema.effective(launch.values),
            tags=_tags(launch, kernel_name, warm, options.tags),
            parent_run_id=options.parent_run_id,
            run_id=options.run_id,
        )
        client.flush()  # the kernel reads the run before its first log call
    except BaseException:
        kernels.shutdown(km, now=True)
        raise
    run_id = info.run_id
    if not _hooked:
        _hooked.append(True)
        lifecycle.on_shutdown(_on_shutdown)
    _live[run_id] = (client, km)
    try:
        return _run(launch, options, source, client, run_id, nb, km, kernel_name)
    finally:
        _live.pop(run_id, None)


def _run(
    launch: Launch,
    options: Options,
    source: kernels.KernelSource,
    client: Client,
    run_id: str,
    nb: NotebookNode,
    km: AsyncKernelManager,
    kernel_name: str,
) -> tuple[Run, Outcome]:
    tracker = CellTracker(client, run_id, nb.cells, Path(launch.location).name, options.progress)
    deadline = None if options.timeout is None else time.monotonic() + options.timeout
    execution: engine.Execution | None = None
    interrupted, dead, error = False, False, None
    with tracker:
        try:
            kc = kernels.connect(km, options.startup_timeout)
            execution = engine.Execution(
                km,
                kc,
                tracker,
                handover.handover(run_id),
                deadline,
                options.cell_timeout,
                stdout=options.stdout,
                stderr=options.stderr,
            )
            engine.AssayEngine.execute_notebook(nb, kernel_name, execution, options.startup_timeout)
        except KeyboardInterrupt:
            interrupted = True
        except DeadKernelError:
            dead = True
        except CellTimeoutError:
            if execution is not None and execution.timed_out is None:
                execution.timed_out = "the cell time limit"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
    executed = execution.nb_man.nb if execution is not None and execution.nb_man is not None else nb
    status = kernels.exit_status(km)
    limit = None
    if execution is not None and execution.timed_out is not None:
        limit = options.timeout if "run" in execution.timed_out else options.cell_timeout
    outcome = classify(
        executed.cells,
        timed_out=execution.timed_out if execution is not None else None,
        limit=limit,
        current=execution.current if execution is not None else None,
        died=(True if status is None else status)
        if dead or (status is not None and not interrupted)
        else False,
        interrupted=interrupted,
        error=error,
        log_tail=_log_tail(source.log_of(km)) if dead or status is not None else "",
    )
    if execution is not None and status is None and not interrupted:
        # A kernel stuck in a cell it would not leave keeps what it buffered: that is lost.
        with contextlib.suppress(Exception):
            engine.flush_kernel(execution.kc)
    rows = cell_rows(executed.cells, execution.finished if execution is not None else {}, outcome)
    if outcome.status is not RunStatus.FINISHED:
        # papermill's error markers in the output (after the rows: they shift the cells)
        with contextlib.suppress(PapermillExecutionError):
            raise_for_execution_errors(executed, None)
    stored = _store_in_background(client, run_id, launch, executed, rows)
    try:
        if execution is not None:
            execution.kc.stop_channels()
        if outcome.cell_status in ("timeout", "interrupted"):
            kernels.shutdown(km, now=True)  # a cell that may not have stopped: no polite request
        source.release(km)
    finally:
        stored.join()
    if options.output:
        sources.save(executed, options.output)
    _finish(client, run_id, outcome)
    run = client.get_run(run_id)
    if interrupted:
        raise KeyboardInterrupt
    return run, outcome


def _store_in_background(
    client: Client, run_id: str, launch: Launch, nb: NotebookNode, rows: list[dict[str, Any]]
) -> threading.Thread:
    """Store the output notebook, its HTML, the cells' table and the schema, on a thread: it overlaps the
    kernel's shutdown. A failure is logged as the run's ``assay.notebook.store_error`` tag."""

    def store() -> None:
        try:
            text = nbformat.writes(nb)  # type: ignore[no-untyped-call]
            client.log_text(run_id, text, f"{ARTIFACTS}/output.ipynb")
            client.log_dict(run_id, {"cells": rows}, f"{ARTIFACTS}/cells.json")
            client.log_dict(run_id, launch.schema.to_dict(), f"{ARTIFACTS}/parameters.json")
        except Exception as exc:
            client.set_tag(run_id, "assay.notebook.store_error", f"{type(exc).__name__}: {exc}"[:4000])

    thread = threading.Thread(target=store, name="assay-notebook-store", daemon=True)
    thread.start()
    return thread


def _finish(client: Client, run_id: str, outcome: Outcome) -> None:
    tags: dict[str, Any] = {}
    if outcome.message is not None:
        tags["assay.error"] = outcome.message[:8000]
    if outcome.cell is not None:
        tags["assay.notebook.stopped_at"] = str(outcome.cell)
    if outcome.note is not None:
        tags["assay.notebook.note"] = outcome.note
    if tags:
        client.set_tags(run_id, tags)
    if outcome.traceback:
        client.log_text(run_id, plain(outcome.traceback), "error/traceback.txt")
    client.set_terminated(run_id, outcome.status)
    client.flush()

"""papermill's engine, with what a tracked execution adds: per-cell hooks, time limits, the run handover.

``AssayEngine`` is papermill's ``NBClientEngine`` shape (``Engine.execute_notebook`` wraps the managed
execution in a ``NotebookExecutionManager``, which records each cell's start, end, duration and status in
``cell.metadata.papermill``, as in any papermill output), with three changes:

- the kernel is the caller's, already started (cold or warm, see ``kernels``), and is not shut down here;
- before the first cell, a silent request sets ``ASSAY_RUN_ID`` in the kernel's environment, so
  ``assay.log_*`` in the notebook logs into the execution's run (``assay.sdk.attach``); after the last, one
  writes what the kernel's assay buffered, so it is stored before the run ends;
- a run-wide time limit besides papermill's per-cell one: a cell that passes either is interrupted (its
  traceback stays in the output) and the execution stops;
- the cells' stream outputs can be copied, as they arrive, to files (``Execution.stdout``/``stderr``: a
  job's live log), through papermill's own ``stdout_file``/``stderr_file``. What a cell prints reaches
  the executor as kernel messages, never through the kernel process's output, so this is the only way it
  can be followed while the notebook runs. Raw streams rather than papermill's ``log_output`` (its
  logger): the text arrives as the cell wrote it, with no logging prefix nor extra line breaks, and a
  cell's displayed values (``log_output`` logs them too) stay in the output notebook only.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from queue import Empty
from typing import Any, Protocol, TextIO

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbformat import NotebookNode
from papermill.clientwrap import PapermillNotebookClient  # type: ignore[import-untyped]
from papermill.engines import NBClientEngine, NotebookExecutionManager  # type: ignore[import-untyped]

#: nbclient logs a timeout or a dead kernel as errors; the execution reports them itself.
quiet = logging.getLogger("assay.notebooks.nbclient")
quiet.addHandler(logging.NullHandler())
quiet.propagate = False

_FLUSH = (
    "import sys\n"
    "if 'assay.sdk.session' in sys.modules:\n"
    "    import assay.sdk.attach\n"
    "    assay.sdk.attach.flush_all()\n"
)


class CellObserver(Protocol):
    """Told as each cell starts and ends (``seconds``: papermill's measure of it)."""

    def cell_started(self, index: int, cell: NotebookNode) -> None: ...

    def cell_finished(self, index: int, cell: NotebookNode, seconds: float) -> None: ...


@dataclass
class Execution:
    """What the executor and the engine share about one execution."""

    km: AsyncKernelManager
    kc: AsyncKernelClient
    observer: CellObserver
    handover: dict[str, str]
    deadline: float | None = None  # time.monotonic() when the run's time limit is reached
    cell_timeout: float | None = None
    current: int | None = None  # the cell running now
    timed_out: str | None = None  # which limit stopped it
    nb_man: NotebookExecutionManager | None = None
    finished: dict[int, float] = field(default_factory=dict)  # cell index -> seconds
    stdout: TextIO | None = None  # where the cells' stdout is copied as it arrives
    stderr: TextIO | None = None  # and their stderr

    def limit(self) -> float | None:
        """The time the running cell may take (nbclient's ``timeout_func``)."""
        limits = [self.cell_timeout] if self.cell_timeout else []
        if self.deadline is not None:
            limits.append(max(self.deadline - time.monotonic(), 0.001))
        return min(limits) if limits else None


class TrackedManager(NotebookExecutionManager):  # type: ignore[misc]
    """papermill's execution manager, telling an observer about cells; nothing is written to a path."""

    def __init__(self, nb: NotebookNode, execution: Execution) -> None:
        super().__init__(nb, output_path=None, log_output=False, progress_bar=False, autosave_cell_every=0)
        self.execution = execution

    def cell_start(self, cell: NotebookNode, cell_index: int | None = None, **kwargs: Any) -> None:
        super().cell_start(cell, cell_index, **kwargs)
        if cell_index is not None:
            self.execution.current = cell_index
            self.execution.observer.cell_started(cell_index, cell)

    def cell_complete(self, cell: NotebookNode, cell_index: int | None = None, **kwargs: Any) -> None:
        super().cell_complete(cell, cell_index, **kwargs)
        if cell_index is not None:
            seconds = float(cell.metadata.papermill.get("duration") or 0.0)
            self.execution.finished[cell_index] = seconds
            self.execution.observer.cell_finished(cell_index, cell, seconds)


class AssayNotebookClient(PapermillNotebookClient):  # type: ignore[misc]
    """papermill's client on a kernel that is already running (the executor starts and stops it)."""

    def __init__(self, nb_man: TrackedManager, execution: Execution, **kw: Any) -> None:
        super().__init__(nb_man, km=execution.km, **kw)
        self.execution = execution
        self.timeout_func = lambda _cell: execution.limit()

    def execute(self, **kwargs: Any) -> NotebookNode:
        self.reset_execution_trackers()
        self.kc = self.execution.kc
        handover(self.kc, self.execution.handover)
        self.papermill_execute_cells()
        info = self.wait_for_reply(self.kc.kernel_info())
        if info is not None and "language_info" in info["content"]:
            self.nb.metadata["language_info"] = info["content"]["language_info"]
        self.set_widgets_metadata()
        executed: NotebookNode = self.nb
        return executed

    async def _async_handle_timeout(self, timeout: int, cell: NotebookNode | None = None) -> Any:
        ex = self.execution
        if ex.deadline is not None and time.monotonic() >= ex.deadline - 0.01:
            ex.timed_out = "the run's time limit"
        else:
            ex.timed_out = "the cell time limit"
        return await super()._async_handle_timeout(timeout, cell)


async def _run_silently(kc: AsyncKernelClient, code: str, timeout: float) -> None:
    msg_id = kc.execute(code, silent=True, store_history=False, allow_stdin=False)
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"the kernel did not answer within {timeout:g} s")
        try:
            msg: dict[str, Any] = await kc.get_shell_msg(timeout=remaining)
        except Empty:
            continue
        if msg["parent_header"].get("msg_id") == msg_id:
            content = msg["content"]
            if content.get("status") != "ok":
                raise RuntimeError(f"{content.get('ename')}: {content.get('evalue')}")
            return


def run_silently(kc: AsyncKernelClient, code: str, timeout: float) -> None:
    """Run ``code`` in the kernel without output, history or execution count; raises on an error."""
    run_sync(_run_silently)(kc, code, timeout)


def handover(kc: AsyncKernelClient, variables: dict[str, str]) -> None:
    """Set ``variables`` in the kernel's environment, before any cell runs."""
    run_silently(kc, f"__import__('os').environ.update({json.dumps(variables)})", 30)


def flush_kernel(kc: AsyncKernelClient, timeout: float = 10.0) -> None:
    """Write what assay buffered in the kernel (nothing is imported where the notebook never used assay)."""
    run_silently(kc, f"exec({_FLUSH!r}, {{}})", timeout)


class AssayEngine(NBClientEngine):  # type: ignore[misc]
    """papermill's nbclient engine on the executor's kernel (see the module docstring)."""

    @classmethod
    def execute_notebook(
        cls, nb: NotebookNode, kernel_name: str, execution: Execution, start_timeout: float = 60
    ) -> NotebookNode:
        """Run every cell of ``nb`` (papermill's loop: stops at the first failing cell) and return the
        executed notebook; exceptions other than a failing cell (a dead kernel, a cell that would not stop)
        propagate, and ``execution.nb_man.nb`` still holds what ran."""
        nb_man = TrackedManager(nb, execution)
        execution.nb_man = nb_man
        client = AssayNotebookClient(
            nb_man,
            execution,
            kernel_name=kernel_name,
            startup_timeout=start_timeout,
            interrupt_on_timeout=True,
            error_on_timeout={"ename": "CellTimeoutError", "evalue": "", "traceback": []},
            log=quiet,
            stdout_file=execution.stdout,
            stderr_file=execution.stderr,
        )
        nb_man.notebook_start()
        try:
            client.execute()
        finally:
            nb_man.notebook_complete()
        executed: NotebookNode = nb_man.nb
        return executed

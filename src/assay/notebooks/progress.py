"""What happens as cells run: each cell's time goes to the run (``notebook/cell_seconds``, step = cell
index) as soon as it ends, and, on a terminal, a live progress bar (rich) names the running cell."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from nbformat import NotebookNode

from assay.notebooks.outcome import first_lines
from assay.sdk.client import Client

METRIC = "notebook/cell_seconds"


class CellTracker:
    """The execution's ``CellObserver``: logs each code cell's time, draws the progress bar if asked."""

    def __init__(self, client: Client, run_id: str, cells: list[Any], title: str, show: bool) -> None:
        self.client = client
        self.run_id = run_id
        self.code = [i for i, c in enumerate(cells) if c.get("cell_type") == "code"]
        self._bar: Any = None
        self._task: Any = None
        if show:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("[bold]{task.fields[title]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.description}"),
                console=Console(stderr=True),
                transient=True,
            )
            self._task = self._bar.add_task("starting the kernel", total=len(self.code), title=title)

    def __enter__(self) -> CellTracker:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(
        self, tp: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def cell_started(self, index: int, cell: NotebookNode) -> None:
        if self._bar is not None and cell.get("cell_type") == "code":
            lines = first_lines(cell, 1, 60)
            self._bar.update(self._task, description=f"cell {index}: {lines[0] if lines else ''}")

    def cell_finished(self, index: int, cell: NotebookNode, seconds: float) -> None:
        if cell.get("cell_type") != "code":
            return
        self.client.log_metric(self.run_id, METRIC, seconds, step=index)
        if self._bar is not None:
            self._bar.advance(self._task)

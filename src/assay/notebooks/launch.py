"""A notebook launch, from reading it to a started kernel: the light half of ``assay.notebooks.execute``.

Nothing here loads the store, papermill or nbconvert, so ``assay run`` can read and check a notebook and
start its kernel first, and load the rest while the kernel boots (a kernel takes ~0.5 s to answer: time the
command would otherwise spend waiting).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from jupyter_client.manager import AsyncKernelManager
from nbformat import NotebookNode

from assay.notebooks import kernels, sources
from assay.notebooks.schema import NotebookSchema, declared_imports, schema_of
from assay.sdk import handover


@dataclass(frozen=True)
class Launch:
    """A notebook read and a launch of it checked against its schema, ready to execute."""

    nb: NotebookNode
    location: str
    schema: NotebookSchema
    values: dict[str, Any]  # the checked values given for this launch (defaults are the notebook's)


@dataclass(frozen=True)
class Options:
    """How to execute: see ``run_notebook``."""

    experiment: str | None = None
    name: str | None = None
    timeout: float | None = None
    cell_timeout: float | None = None
    kernel: str | None = None
    cwd: str | None = None
    tags: Mapping[str, Any] | None = None
    progress: bool = False
    tracking_uri: str | None = None
    output: str | None = None
    startup_timeout: float = 60.0
    #: The experiment by id, when ``experiment`` (a name) is not given: ``assay.set_experiment``'s choice.
    experiment_id: str | None = None
    #: The run's id when it was decided beforehand (a job's attempt); default: a fresh one.
    run_id: str | None = None
    #: The run becomes a child of this one (a sweep's trial).
    parent_run_id: str | None = None
    #: Where the cells' printed output (stream outputs: stdout, stderr) is also written as it arrives,
    #: besides the output notebook: a job's live log. The kernel's own process output is not in it (the
    #: kernel source decides where that goes); None: the output notebook only.
    stdout: TextIO | None = None
    stderr: TextIO | None = None


def prepare(
    notebook: str | os.PathLike[str], parameters: Mapping[str, Any] | None = None, texts: Iterable[str] = ()
) -> Launch:
    """Read ``notebook`` and check ``parameters`` against its schema (InvalidInput, NotFound)."""
    nb, where = sources.load(notebook)
    schema = schema_of(nb, where)
    return Launch(nb, where, schema, schema.bind(parameters or {}, texts))


@dataclass(frozen=True)
class Started:
    """A kernel started for a launch: what ``execute`` continues from."""

    km: AsyncKernelManager
    kernel_name: str
    cwd: str
    tracking_uri: str


def default_tracking_uri() -> str:
    """The store a launch logs into when none is given: ``assay.bundle``'s default, without loading it."""
    from assay import bundle

    return bundle.default_tracking_uri()


def start_kernel(launch: Launch, options: Options, source: kernels.KernelSource) -> Started:
    """Start the kernel of ``launch`` from ``source``, with the store's location in its environment (the
    run it logs into is handed over later, before its first cell). InvalidInput for an unknown kernel."""
    kernel_name = options.kernel or launch.nb.metadata.get("kernelspec", {}).get("name") or "python3"
    uri = options.tracking_uri or default_tracking_uri()
    cwd = str(Path(options.cwd or os.getcwd()).resolve())
    km = source.launch(kernel_name, cwd, handover.worker_environment(uri), declared_imports(launch.nb))
    return Started(km, kernel_name, cwd, uri)

"""An executed notebook as one HTML page (nbconvert's ``HTMLExporter``, its default "lab" template), for
the run's ``notebook/output.html``: what the UI shows, in a sandboxed frame, without a Jupyter server."""

from __future__ import annotations

import threading
from typing import Any

from nbformat import NotebookNode

_lock = threading.Lock()
_exporter: list[Any] = []


def to_html(nb: NotebookNode) -> str:
    """The notebook with its outputs as a standalone HTML page (images embedded)."""
    with _lock:  # one exporter, reused: building one loads its templates (~0.5 s the first time)
        if not _exporter:
            from nbconvert import HTMLExporter

            _exporter.append(HTMLExporter())  # type: ignore[no-untyped-call]
        body, _resources = _exporter[0].from_notebook_node(nb)
    return str(body)

"""An executed notebook as one HTML page (nbconvert's ``HTMLExporter``, its default "lab" template): what the
UI shows, in a sandboxed frame, without a Jupyter server, and what ``assay notebook html`` writes.

Rendered when it is looked at, not when the notebook runs: the first rendering in a process costs ~0.45 s
(nbconvert compiles its templates and CSS selectors), a quarter of a one-command ``assay run`` of a short
notebook; the next ones cost milliseconds. The output notebook (``notebook/output.ipynb``) is the record;
its HTML is a view of it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import nbformat
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


class RenderCache:
    """Rendered pages of stored notebooks, keyed by the notebook's bytes, the least recently used dropped
    first once their total size passes ``max_chars``: an executed notebook never changes, so a page is
    rendered once per server process, however many people open its link."""

    def __init__(self, max_chars: int = 64 << 20) -> None:
        self.max_chars = max_chars
        self._pages: OrderedDict[tuple[str, int, int], str] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def html(self, key: str, data: bytes) -> str:
        """The page of the notebook file ``data`` (stored under ``key``, e.g. its run and path)."""
        entry = (key, len(data), hash(data))
        with self._lock:
            page = self._pages.get(entry)
            if page is not None:
                self._pages.move_to_end(entry)
                return page
        page = to_html(nbformat.reads(data.decode(), as_version=4))  # type: ignore[no-untyped-call]
        with self._lock:
            if entry not in self._pages:
                self._pages[entry] = page
                self._size += len(page)
            while self._size > self.max_chars and len(self._pages) > 1:
                _, dropped = self._pages.popitem(last=False)
                self._size -= len(dropped)
        return page

"""Reading and writing notebooks: local paths or any fsspec URL (``s3://bucket/nb.ipynb``).

A notebook read here has what papermill's ``load_notebook_node`` gives one (nbformat v4, ``papermill``
metadata, tags on every cell), so papermill's ``parameterize_notebook`` and engines take it as is. It is a
copy in memory: the input notebook is never written to.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from assay.errors import InvalidInput, MissingDependency, NotFound


def location(ref: str | os.PathLike[str]) -> str:
    """How a notebook is named in the run's ``assay.notebook`` tag: an absolute path, or the URL as given."""
    text = os.fspath(ref)
    return text if "://" in text else str(Path(text).expanduser().resolve())


def _read(where: str) -> str:
    if "://" not in where:
        try:
            return Path(where).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotFound(f"no notebook at {where}") from None
    import fsspec

    try:
        with fsspec.open(where, "r", encoding="utf-8") as f:
            return str(f.read())
    except FileNotFoundError:
        raise NotFound(f"no notebook at {where}") from None
    except ImportError as exc:
        scheme = where.split("://", 1)[0]
        extra = "s3" if scheme in ("s3", "s3a") else "all"
        raise MissingDependency(
            f"reading {where} needs the {scheme}:// filesystem ({exc}): pip install 'assay[{extra}]'"
        ) from exc


def load(ref: str | os.PathLike[str]) -> tuple[NotebookNode, str]:
    """The notebook at ``ref`` and its location; NotFound, or InvalidInput if it is not a notebook."""
    where = location(ref)
    return parse(_read(where), where), where


def parse(text: str, where: str) -> NotebookNode:
    """The notebook whose JSON is ``text`` (read from ``where``, or a copy of it: a job's), as ``load``
    gives it; InvalidInput if it is not a notebook."""
    try:
        nb: NotebookNode = nbformat.reads(text, as_version=4)  # type: ignore[no-untyped-call]
    except Exception as exc:  # nbformat raises several types for a file that is not a notebook
        raise InvalidInput(f"{where} is not a Jupyter notebook: {exc}") from None
    nb = nbformat.v4.upgrade(nb) or nb  # type: ignore[no-untyped-call]
    nb.metadata.setdefault(
        "papermill", {"default_parameters": {}, "parameters": {}, "environment_variables": {}}
    )
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
        cell.metadata.setdefault("papermill", {})
    return nb


def save(nb: NotebookNode, ref: str | os.PathLike[str]) -> None:
    """Write ``nb`` to a local path or an fsspec URL."""
    where = os.fspath(ref)
    text = nbformat.writes(nb)  # type: ignore[no-untyped-call]
    if "://" not in where:
        Path(where).write_text(text, encoding="utf-8")
        return
    import fsspec

    with fsspec.open(where, "w", encoding="utf-8") as f:
        f.write(text)

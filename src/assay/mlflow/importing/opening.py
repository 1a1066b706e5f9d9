"""Which reader opens which MLflow tracking URI: one public, ordered registry, in this one visible place.

``open_source(uri)`` tries each registered ``(accepts, opener)`` in order and opens the first reader whose
``accepts(uri)`` holds; ``register_source`` adds one (a reader for another store, a test double).
"""

from __future__ import annotations

from collections.abc import Callable

from assay.errors import InvalidInput
from assay.mlflow.importing import file_source, rest_source, sql_source
from assay.mlflow.importing.sources import MlflowSource

Opener = Callable[[str], MlflowSource]
_openers: list[tuple[Callable[[str], bool], Opener]] = []


def register_source(accepts: Callable[[str], bool], opener: Opener) -> None:
    """Make ``opener(uri)`` read the MLflow stores whose URI ``accepts`` (tried in registration order)."""
    _openers.append((accepts, opener))


def open_source(uri: str) -> MlflowSource:
    """The reader of the MLflow store at ``uri``: ``sqlite:///...``, ``postgresql://...``,
    ``http(s)://...`` (a server), or an ``mlruns`` directory (a path or ``file:`` URI). ``InvalidInput``
    in one line when ``uri`` is none of these, or not an MLflow store the reader understands."""
    for accepts, opener in _openers:
        if accepts(uri):
            return opener(uri)
    raise InvalidInput(
        f"{uri!r} is not an MLflow tracking URI: give an mlruns directory, sqlite:///path/mlflow.db, "
        "postgresql://..., or http://host:port of an MLflow server"
    )


register_source(sql_source.accepts, sql_source.SqlSource)
register_source(rest_source.accepts, rest_source.RestSource)
register_source(file_source.accepts, file_source.FileSource)

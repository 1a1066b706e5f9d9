"""What ``assay import mlflow`` reads from an MLflow tracking store, behind one small interface.

``MlflowSource`` is what the importer sees, whatever holds the history: MLflow's SQL schema on SQLite or
PostgreSQL (``sql_source``), its ``mlruns`` directory (``file_source``), or a running MLflow server
(``rest_source``). Each yields the same plain records below, so deciding what is new (``plan``) and
writing it (``writer``) are written once. ``opening.open_source(uri)`` picks the reader by the URI's form.
No reader imports MLflow: assay never depends on it.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class MlflowExperiment:
    experiment_id: str
    name: str
    artifact_location: str
    deleted: bool = False
    creation_time: int | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MlflowRun:
    """One MLflow run with its params and tags (its metric points come apart, by ``MlflowSource.series``)."""

    run_id: str
    experiment_id: str
    name: str
    status: str
    start_time: int
    end_time: int | None
    user: str
    artifact_uri: str
    deleted: bool = False
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def parent_run_id(self) -> str | None:
        return self.tags.get("mlflow.parentRunId") or None


@dataclass(frozen=True, slots=True)
class MlflowSeries:
    """Every point of one metric of one run, ordered by (step, timestamp)."""

    run_id: str
    key: str
    steps: npt.NDArray[np.int64]
    timestamps: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.values.shape[0])


@dataclass(frozen=True, slots=True)
class MlflowDatasetInput:
    """A dataset a run used (MLflow's ``log_input``), with the context it was logged in."""

    run_id: str
    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None
    profile: str | None
    context: str


@dataclass(frozen=True, slots=True)
class MlflowModelVersion:
    version: int
    source: str
    run_id: str | None
    description: str
    #: Where the version's files are: MLflow 3's logged model directory, else None (MLflow 2 sources
    #: are ``runs:/<run_id>/<path>`` inside the run's artifacts).
    storage_location: str | None
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None


@dataclass(frozen=True, slots=True)
class MlflowModel:
    name: str
    description: str
    tags: dict[str, str] = field(default_factory=dict)
    #: alias -> MLflow version number
    aliases: dict[str, int] = field(default_factory=dict)
    versions: list[MlflowModelVersion] = field(default_factory=list)


class MlflowSource(ABC):
    """An MLflow tracking store, read only. Not thread-safe: one importer reads it at a time.

    Errors: ``InvalidInput`` with a one-line message when the URI does not name an MLflow store this
    reader understands (checked when it is opened, before anything is written anywhere).
    """

    #: How the source is named in messages and the summary ("MLflow SQLite store /path/mlflow.db").
    description: str = "MLflow store"

    @abstractmethod
    def experiments(self) -> list[MlflowExperiment]:
        """Every experiment, deleted ones included (marked)."""

    @abstractmethod
    def runs(self, experiment_id: str) -> list[MlflowRun]:
        """The experiment's runs (deleted ones marked) with params and tags, parents before children."""

    @abstractmethod
    def series(self, runs: Sequence[MlflowRun]) -> Iterator[MlflowSeries]:
        """Every metric point of ``runs``, one series per (run, key)."""

    @abstractmethod
    def dataset_inputs(self, runs: Sequence[MlflowRun]) -> list[MlflowDatasetInput]:
        """The datasets ``runs`` used (empty for stores older than MLflow's datasets)."""

    @abstractmethod
    def models(self) -> list[MlflowModel]:
        """Registered models with their versions, tags and aliases."""

    @contextmanager
    def artifacts(self, uri: str) -> Iterator[Path | None]:
        """A local directory holding the artifact tree at ``uri`` for the time of the ``with`` (it may not
        exist: no artifacts), or None when ``uri`` is on a storage this reader cannot reach (the importer
        counts it skipped). The default reads local paths and ``file:`` URIs in place."""
        yield local_dir(uri)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


def local_dir(uri: str) -> Path | None:
    """The local directory an artifact URI names (a path or ``file:`` URI), or None for another scheme."""
    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
    elif parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        path = Path(uri)
    else:
        return None
    return path


def run_order(runs: list[MlflowRun]) -> list[MlflowRun]:
    """Runs oldest first (the order they are created in assay; a parent needs no order, it is an id)."""
    return sorted(runs, key=lambda r: (r.start_time, r.run_id))

"""MLflow's file store (an ``mlruns`` directory) read from its layout, without MLflow.

The layout, as MLflow's ``FileStore`` writes it::

    mlruns/<experiment id>/meta.yaml                  name, artifact_location, lifecycle_stage
    mlruns/<experiment id>/tags/<key>                 experiment tags (a key with '/' is nested dirs)
    mlruns/<experiment id>/<run id>/meta.yaml         run_name, status (a number), times, user_id, ...
    mlruns/<experiment id>/<run id>/params/<key>      the value
    mlruns/<experiment id>/<run id>/metrics/<key>     one point a line: "<timestamp> <value> <step>"
    mlruns/<experiment id>/<run id>/tags/<key>        the value
    mlruns/<experiment id>/<run id>/inputs/<id>/meta.yaml   a dataset input (source_id = dataset id)
    mlruns/<experiment id>/datasets/<id>/meta.yaml    name, digest, source, schema, profile
    mlruns/.trash/<experiment id>/...                 deleted experiments
    mlruns/models/<name>/meta.yaml, tags/, aliases/<alias>, version-<n>/meta.yaml, version-<n>/tags/
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import yaml

from assay.errors import InvalidInput
from assay.mlflow.importing.sources import (
    MlflowDatasetInput,
    MlflowExperiment,
    MlflowModel,
    MlflowModelVersion,
    MlflowRun,
    MlflowSeries,
    MlflowSource,
    run_order,
)

#: MLflow's RunStatus numbers as the file store writes them.
STATUS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _meta(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.load(path.read_bytes(), Loader=_LOADER)
    except (OSError, yaml.YAMLError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _kv_dir(path: Path) -> dict[str, str]:
    """Files under ``path`` as {key: content}; a key holding '/' is a nested directory."""
    if not path.is_dir():
        return {}
    return {f.relative_to(path).as_posix(): f.read_text() for f in sorted(path.rglob("*")) if f.is_file()}


class FileSource(MlflowSource):
    """An ``mlruns`` directory (``InvalidInput`` when the directory is not one)."""

    def __init__(self, uri: str) -> None:
        parsed = urlparse(uri)
        self.root = Path(unquote(parsed.path) if parsed.scheme == "file" else uri).expanduser()
        self.description = f"MLflow file store {self.root}"
        if not self.root.is_dir():
            raise InvalidInput(f"{uri}: no such directory: give the mlruns directory MLflow wrote")
        if not any(p.name != "models" and (p / "meta.yaml").is_file() for p in self._experiment_dirs()):
            raise InvalidInput(
                f"{self.root} is not an MLflow file store (no <experiment id>/meta.yaml in it): give "
                "the mlruns directory"
            )
        self._exp_dirs: dict[str, Path] = {}

    def _experiment_dirs(self) -> list[Path]:
        trash = self.root / ".trash"
        dirs = [p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")]
        if trash.is_dir():
            dirs += [p for p in trash.iterdir() if p.is_dir()]
        return [p for p in dirs if p.name != "models"]

    def experiments(self) -> list[MlflowExperiment]:
        out = []
        for d in self._experiment_dirs():
            meta = _meta(d / "meta.yaml")
            if "name" not in meta:
                continue
            eid = str(meta.get("experiment_id", d.name))
            self._exp_dirs[eid] = d
            out.append(
                MlflowExperiment(
                    experiment_id=eid,
                    name=str(meta["name"]),
                    artifact_location=str(meta.get("artifact_location") or ""),
                    deleted=meta.get("lifecycle_stage") == "deleted" or d.parent.name == ".trash",
                    creation_time=meta.get("creation_time"),
                    tags=_kv_dir(d / "tags"),
                )
            )
        return sorted(out, key=lambda e: (len(e.experiment_id), e.experiment_id))

    def _exp_dir(self, experiment_id: str) -> Path:
        if not self._exp_dirs:
            self.experiments()
        return self._exp_dirs[experiment_id]

    def runs(self, experiment_id: str) -> list[MlflowRun]:
        out = []
        for d in self._exp_dir(experiment_id).iterdir():
            meta = _meta(d / "meta.yaml") if d.is_dir() else {}
            rid = meta.get("run_id") or meta.get("run_uuid")
            if not rid:
                continue
            run_tags = _kv_dir(d / "tags")
            status = meta.get("status", 1)
            out.append(
                MlflowRun(
                    run_id=str(rid),
                    experiment_id=experiment_id,
                    name=str(meta.get("run_name") or run_tags.get("mlflow.runName") or ""),
                    status=STATUS.get(status, "RUNNING") if isinstance(status, int) else str(status),
                    start_time=int(meta.get("start_time") or 0),
                    end_time=None if meta.get("end_time") is None else int(meta["end_time"]),
                    user=str(meta.get("user_id") or ""),
                    artifact_uri=str(meta.get("artifact_uri") or ""),
                    deleted=meta.get("lifecycle_stage") == "deleted",
                    params=_kv_dir(d / "params"),
                    tags=run_tags,
                )
            )
        return run_order(out)

    def series(self, runs: Sequence[MlflowRun]) -> Iterator[MlflowSeries]:
        for run in runs:
            metrics = self._exp_dir(run.experiment_id) / run.run_id / "metrics"
            if not metrics.is_dir():
                continue
            for f in sorted(p for p in metrics.rglob("*") if p.is_file()):
                found = _read_points(run.run_id, f.relative_to(metrics).as_posix(), f)
                if found is not None:
                    yield found

    def dataset_inputs(self, runs: Sequence[MlflowRun]) -> list[MlflowDatasetInput]:
        out = []
        for run in runs:
            exp = self._exp_dir(run.experiment_id)
            inputs = exp / run.run_id / "inputs"
            if not inputs.is_dir():
                continue
            for d in sorted(inputs.iterdir()):
                meta = _meta(d / "meta.yaml")
                if meta.get("source_type") != "DATASET":
                    continue
                ds = _meta(exp / "datasets" / str(meta.get("source_id")) / "meta.yaml")
                if not ds:
                    continue
                context = (meta.get("tags") or {}).get("mlflow.data.context") or "training"
                out.append(
                    MlflowDatasetInput(
                        run_id=run.run_id,
                        name=str(ds.get("name") or ""),
                        digest=str(ds.get("digest") or ""),
                        source_type=str(ds.get("source_type") or ""),
                        source=str(ds.get("source") or ""),
                        schema=ds.get("schema"),
                        profile=ds.get("profile"),
                        context=str(context),
                    )
                )
        return out

    def models(self) -> list[MlflowModel]:
        root = self.root / "models"
        if not root.is_dir():
            return []
        out = []
        for d in sorted(p for p in root.iterdir() if (p / "meta.yaml").is_file()):
            meta = _meta(d / "meta.yaml")
            versions = []
            for vd in d.glob("version-*"):
                vm = _meta(vd / "meta.yaml")
                if not vm or vm.get("current_stage") == "Deleted_Internal":
                    continue
                versions.append(
                    MlflowModelVersion(
                        version=int(vm.get("version") or vd.name.split("-", 1)[1]),
                        source=str(vm.get("source") or ""),
                        run_id=vm.get("run_id") or None,
                        description=str(vm.get("description") or ""),
                        storage_location=vm.get("storage_location") or None,
                        tags=_kv_dir(vd / "tags"),
                        creation_time=vm.get("creation_timestamp"),
                    )
                )
            aliases = {k: int(v.strip()) for k, v in _kv_dir(d / "aliases").items() if v.strip().isdigit()}
            out.append(
                MlflowModel(
                    name=str(meta.get("name") or d.name),
                    description=str(meta.get("description") or ""),
                    tags=_kv_dir(d / "tags"),
                    aliases=aliases,
                    versions=sorted(versions, key=lambda v: v.version),
                )
            )
        return out


def _read_points(run_id: str, key: str, path: Path) -> MlflowSeries | None:
    """A metric file's points ("<timestamp> <value> <step>" a line; old files lack the step)."""
    stamps: list[int] = []
    values: list[float] = []
    steps: list[int] = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        stamps.append(int(parts[0]))
        values.append(float(parts[1]))
        steps.append(int(parts[2]) if len(parts) > 2 else 0)
    if not values:
        return None
    step_a = np.array(steps, dtype=np.int64)
    time_a = np.array(stamps, dtype=np.int64)
    value_a = np.array(values, dtype=np.float64)
    order = np.lexsort((time_a, step_a))  # by step, then timestamp
    return MlflowSeries(run_id, key, step_a[order], time_a[order], value_a[order])


def accepts(uri: str) -> bool:
    """Whether ``uri`` is an mlruns directory (a path or file: URI)."""
    if uri.startswith("file:"):
        return True
    return "://" not in uri and not uri.startswith(("sqlite:", "postgresql:", "postgres:"))

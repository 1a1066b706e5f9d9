"""An MLflow tracking server read through its REST API (``/api/2.0/mlflow/...``) with httpx, without MLflow.

Experiments and runs come from the search endpoints (a page at a time), every point of a series from
``metrics/get-history`` (asked without a page size, which MLflow answers with the whole history), models
and versions from the registry's search endpoints, and a version's MLflow 3 logged model from
``logged-models/<id>``. Artifacts the server proxies (``mlflow-artifacts:`` URIs) are downloaded through
``/api/2.0/mlflow-artifacts/artifacts`` into a temporary directory; local paths are read in place.
``MLFLOW_TRACKING_TOKEN`` (or ``MLFLOW_TRACKING_USERNAME``/``PASSWORD``) authenticate, as with MLflow.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import httpx
import numpy as np

from assay.errors import InvalidInput, Unavailable
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

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
PAGE = 1000


def _kv(items: list[dict[str, Any]] | None) -> dict[str, str]:
    return {i["key"]: str(i.get("value", "")) for i in items or []}


def _number(value: Any) -> float:
    """A metric value as MLflow's JSON gives it (a number, or "NaN"/"Infinity" as text)."""
    return float(value)


class RestSource(MlflowSource):
    """An MLflow server at ``uri`` (``InvalidInput`` when it does not answer as one)."""

    def __init__(self, uri: str, transport: httpx.BaseTransport | None = None) -> None:
        self.base = uri.rstrip("/")
        self.description = f"MLflow server {self.base}"
        headers = {}
        auth: tuple[str, str] | None = None
        if token := os.environ.get("MLFLOW_TRACKING_TOKEN"):
            headers["Authorization"] = f"Bearer {token}"
        elif user := os.environ.get("MLFLOW_TRACKING_USERNAME"):
            auth = (user, os.environ.get("MLFLOW_TRACKING_PASSWORD", ""))
        self.http = httpx.Client(
            base_url=self.base, headers=headers, auth=auth, timeout=60, transport=transport
        )
        #: Filled by ``runs``: each run's metric keys and dataset inputs (runs/search answers them).
        self._keys: dict[str, list[str]] = {}
        self._inputs: dict[str, list[MlflowDatasetInput]] = {}
        try:
            self._get(f"{API}/experiments/search", {"max_results": 1})
        except InvalidInput:
            self.http.close()
            raise

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Unavailable(f"{self.description} does not answer ({exc}): is it running?") from None
        if response.status_code == 404 and path.startswith(API):
            raise InvalidInput(f"{self.base} is not an MLflow server ({path} answered 404)")
        if response.status_code >= 400:
            detail = " ".join(response.text.split())[:300]
            raise InvalidInput(f"{self.description} refused {path}: {response.status_code} {detail}")
        try:
            return response.json()
        except ValueError:
            raise InvalidInput(f"{self.base} is not an MLflow server ({path} did not answer JSON)") from None

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._call("GET", path, params=params)

    def _pages(self, method: str, path: str, field: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        token = None
        while True:
            args = {**body, **({"page_token": token} if token else {})}
            page = self._call(method, path, **({"json": args} if method == "POST" else {"params": args}))
            yield from page.get(field, [])
            token = page.get("next_page_token")
            if not token:
                return

    def experiments(self) -> list[MlflowExperiment]:
        body = {"max_results": PAGE, "view_type": "ALL"}
        out = []
        for e in self._pages("POST", f"{API}/experiments/search", "experiments", body):
            out.append(
                MlflowExperiment(
                    experiment_id=str(e["experiment_id"]),
                    name=e["name"],
                    artifact_location=e.get("artifact_location", ""),
                    deleted=e.get("lifecycle_stage") == "deleted",
                    creation_time=_int(e.get("creation_time")),
                    tags=_kv(e.get("tags")),
                )
            )
        return out

    def runs(self, experiment_id: str) -> list[MlflowRun]:
        body = {"experiment_ids": [experiment_id], "run_view_type": "ALL", "max_results": PAGE}
        out = []
        for r in self._pages("POST", f"{API}/runs/search", "runs", body):
            info, data = r["info"], r.get("data", {})
            run_id = info.get("run_id") or info["run_uuid"]
            tags = _kv(data.get("tags"))
            out.append(
                MlflowRun(
                    run_id=run_id,
                    experiment_id=str(info.get("experiment_id", experiment_id)),
                    name=info.get("run_name") or tags.get("mlflow.runName") or "",
                    status=info.get("status", "RUNNING"),
                    start_time=_int(info.get("start_time")) or 0,
                    end_time=_int(info.get("end_time")),
                    user=info.get("user_id", ""),
                    artifact_uri=info.get("artifact_uri", ""),
                    deleted=info.get("lifecycle_stage") == "deleted",
                    params=_kv(data.get("params")),
                    tags=tags,
                )
            )
            self._keys[run_id] = sorted({m["key"] for m in data.get("metrics", [])})
            self._inputs[run_id] = [
                _dataset_input(run_id, d) for d in (r.get("inputs") or {}).get("dataset_inputs", [])
            ]
        return run_order(out)

    def series(self, runs: Sequence[MlflowRun]) -> Iterator[MlflowSeries]:
        for run in runs:
            for key in self._keys.get(run.run_id, []):
                got = self._get(f"{API}/metrics/get-history", {"run_id": run.run_id, "metric_key": key})
                points = got.get("metrics", [])
                if not points:
                    continue
                steps = np.array([_int(p.get("step")) or 0 for p in points], dtype=np.int64)
                stamps = np.array([_int(p.get("timestamp")) or 0 for p in points], dtype=np.int64)
                values = np.array([_number(p.get("value", "NaN")) for p in points], dtype=np.float64)
                order = np.lexsort((stamps, steps))
                yield MlflowSeries(run.run_id, key, steps[order], stamps[order], values[order])

    def dataset_inputs(self, runs: Sequence[MlflowRun]) -> list[MlflowDatasetInput]:
        return [d for r in runs for d in self._inputs.get(r.run_id, [])]

    def models(self) -> list[MlflowModel]:
        out = []
        for m in self._pages(
            "GET", f"{API}/registered-models/search", "registered_models", {"max_results": PAGE}
        ):
            name = m["name"]
            filter_ = "name='{}'".format(name.replace("'", "\\'"))
            versions = []
            for mv in self._pages(
                "GET",
                f"{API}/model-versions/search",
                "model_versions",
                {"filter": filter_, "max_results": PAGE},
            ):
                if mv.get("current_stage") == "Deleted_Internal":
                    continue
                versions.append(
                    MlflowModelVersion(
                        version=int(mv["version"]),
                        source=mv.get("source", ""),
                        run_id=mv.get("run_id") or None,
                        description=mv.get("description", ""),
                        storage_location=self._logged_model_uri(mv.get("model_id") or _model_id(mv)),
                        tags=_kv(mv.get("tags")),
                        creation_time=_int(mv.get("creation_timestamp")),
                    )
                )
            aliases = {a["alias"]: int(a["version"]) for a in m.get("aliases", [])}
            versions.sort(key=lambda v: v.version)
            out.append(MlflowModel(name, m.get("description", ""), _kv(m.get("tags")), aliases, versions))
        return out

    def _logged_model_uri(self, model_id: str | None) -> str | None:
        if not model_id:
            return None
        got = self._get(f"{API}/logged-models/{quote(model_id, safe='')}")
        uri = ((got.get("model") or {}).get("info") or {}).get("artifact_uri")
        return str(uri) if uri else None

    @contextmanager
    def artifacts(self, uri: str) -> Iterator[Path | None]:
        parsed = urlparse(uri)
        if parsed.scheme != "mlflow-artifacts":
            with super().artifacts(uri) as local:
                yield local
            return
        with tempfile.TemporaryDirectory(prefix="assay-mlflow-") as tmp:
            self._download(parsed.path.strip("/"), Path(tmp), "")
            yield Path(tmp)

    def _download(self, root: str, into: Path, rel: str) -> None:
        """Copy the tree under ``root`` (a path on the server's artifact store) into ``into``."""
        listing = self._get(ARTIFACTS, {"path": f"{root}/{rel}".rstrip("/")})
        for f in listing.get("files", []):
            name = f"{rel}/{f['path']}".lstrip("/")
            if f.get("is_dir"):
                self._download(root, into, name)
                continue
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            url = f"{ARTIFACTS}/{quote(f'{root}/{name}')}"
            with self.http.stream("GET", url) as response:
                if response.status_code >= 400:
                    raise InvalidInput(
                        f"{self.description} refused to send artifact {name}: {response.status_code}"
                    )
                with target.open("wb") as out:
                    for block in response.iter_bytes():
                        out.write(block)


def _dataset_input(run_id: str, d: dict[str, Any]) -> MlflowDatasetInput:
    ds = d.get("dataset", {})
    return MlflowDatasetInput(
        run_id=run_id,
        name=ds.get("name", ""),
        digest=ds.get("digest", ""),
        source_type=ds.get("source_type", ""),
        source=ds.get("source", ""),
        schema=ds.get("schema"),
        profile=ds.get("profile"),
        context=_kv(d.get("tags")).get("mlflow.data.context") or "training",
    )


def _model_id(version: dict[str, Any]) -> str | None:
    """The logged model an MLflow 3 version was registered from (``models:/<model id>``), if any."""
    source = str(version.get("source", ""))
    rest = source[len("models:/") :] if source.startswith("models:/") else ""
    return rest if rest.startswith("m-") and "/" not in rest else None


def _int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def accepts(uri: str) -> bool:
    """Whether ``uri`` is an MLflow server URL (http://, https://)."""
    return uri.startswith(("http://", "https://"))

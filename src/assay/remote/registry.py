"""``RemoteRegistry``: the ``Registry`` interface over the server's REST API (team mode).

It shares the HTTP client of the ``RemoteTracking`` it is built from, so it sends the same token; the
server records that token's owner in the audit trail. Entities come back as the same frozen dataclasses
(validated by pydantic from the JSON the server wrote with the same definitions).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlencode

import httpx
import orjson
from pydantic import TypeAdapter

from assay.api import registry as s
from assay.artifacts.uri import clean_path
from assay.registry.entities import (
    AliasEvent,
    AliasPolicy,
    Dataset,
    DatasetUse,
    Lineage,
    ModelVersion,
    PerformanceRecord,
    Promotion,
    RegisteredModel,
)
from assay.registry.uris import check_version, split_model_name
from assay.remote.errors import check
from assay.remote.urls import API, key_segment, run_path, segment
from assay.services.registry import Registry, check_report_kind, check_setting_key

T = TypeVar("T")


_adapters: dict[Any, TypeAdapter[Any]] = {}


def _adapter(cls: Any) -> TypeAdapter[Any]:
    found = _adapters.get(cls)
    if found is None:
        found = _adapters[cls] = TypeAdapter(cls)
    return found


def _model(name: str, tail: str = "") -> str:
    """The URL of model ``name`` (or ``project/name``), then ``tail``. The project travels as
    ``?project=``: a '/' in the path would address another route once the server decodes it."""
    project, plain = split_model_name(name)
    query = "" if project is None else "?" + urlencode({"project": project})
    return f"/models/{segment(plain, 'model')}{tail}{query}"


def _version(name: str, version: int, tail: str = "") -> str:
    return _model(name, f"/versions/{check_version(version)}{tail}")


def _dump(value: Any) -> Any:
    return _adapter(type(value)).dump_python(value, mode="json")


class RemoteRegistry(Registry):
    """``Registry`` as the caller whose token ``http`` sends."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def _send(
        self, method: str, path: str, params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> httpx.Response:
        # httpx replaces a URL's query with ``params``: merge the one ``_model`` wrote (?project=) in.
        path, _, query = path.partition("?")
        merged = {**dict(parse_qsl(query)), **(params or {})}
        response = self._http.request(method, API + path, params=merged or None, **kwargs)
        check(response)
        return response

    def _get(self, cls: type[T], path: str, method: str = "GET", **kwargs: Any) -> T:
        result: T = _adapter(cls).validate_json(self._send(method, path, **kwargs).content)
        return result

    # ---- models -----------------------------------------------------------------------------------------

    def create_model(
        self,
        name: str,
        project: str | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> RegisteredModel:
        body = {"name": name, "project": project, "description": description, "tags": dict(tags or {})}
        return self._get(RegisteredModel, "/models", "POST", json=body)

    def get_model(self, name: str) -> RegisteredModel:
        return self._get(RegisteredModel, _model(name))

    def list_models(self, project: str | None = None, name: str | None = None) -> list[RegisteredModel]:
        params = {k: v for k, v in (("project", project), ("name", name)) if v is not None}
        return self._get(s.ModelList, "/models", params=params).models

    def update_model(self, name: str, description: str) -> RegisteredModel:
        return self._get(RegisteredModel, _model(name), "PATCH", json={"description": description})

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        self._send("PUT", _model(name, f"/tags/{key_segment(key)}"), json={"value": value})

    def delete_model_tag(self, name: str, key: str) -> None:
        self._send("DELETE", _model(name, f"/tags/{key_segment(key)}"))

    def delete_model(self, name: str) -> None:
        self._send("DELETE", _model(name))

    # ---- versions ---------------------------------------------------------------------------------------

    def create_version(
        self,
        name: str,
        source: str,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        project: str | None = None,
    ) -> ModelVersion:
        body = {"source": source, "description": description, "tags": dict(tags or {}), "project": project}
        return self._get(ModelVersion, _model(name, "/versions"), "POST", json=body)

    def get_version(self, name: str, version: int) -> ModelVersion:
        return self._get(ModelVersion, _version(name, version))

    def list_versions(self, name: str) -> list[ModelVersion]:
        return self._get(s.VersionList, _model(name, "/versions")).versions

    def update_version(self, name: str, version: int, description: str) -> ModelVersion:
        return self._get(ModelVersion, _version(name, version), "PATCH", json={"description": description})

    def set_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        self._send("PUT", _version(name, version, f"/tags/{key_segment(key)}"), json={"value": value})

    def delete_version_tag(self, name: str, version: int, key: str) -> None:
        self._send("DELETE", _version(name, version, f"/tags/{key_segment(key)}"))

    def delete_version(self, name: str, version: int) -> None:
        self._send("DELETE", _version(name, version))

    # ---- aliases ----------------------------------------------------------------------------------------

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self._get(ModelVersion, _model(name, f"/aliases/{segment(alias, 'alias')}"))

    def set_alias(
        self, name: str, alias: str, version: int, reason: str = "", force: bool = False
    ) -> AliasEvent:
        path = _model(name, f"/aliases/{segment(alias, 'alias')}")
        body = {"version": version, "reason": reason, "force": force}
        return self._get(AliasEvent, path, "PUT", json=body)

    def delete_alias(self, name: str, alias: str, reason: str = "") -> AliasEvent:
        path = _model(name, f"/aliases/{segment(alias, 'alias')}")
        return self._get(AliasEvent, path, "DELETE", params={"reason": reason})

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        params = {} if alias is None else {"alias": alias}
        return self._get(s.EventList, _model(name, "/audit"), params=params).events

    def promote(
        self,
        name: str,
        version: int,
        alias: str,
        rule: str | None = None,
        reason: str = "",
        force: bool = False,
    ) -> Promotion:
        body = {"alias": alias, "rule": rule, "reason": reason, "force": force}
        return self._get(Promotion, _version(name, version, "/promote"), "POST", json=body)

    def set_alias_policy(
        self, project: str | None, alias: str, protected: bool, rule: str | None = None
    ) -> AliasPolicy:
        path = f"/alias-policies/{segment(project or 'default', 'project')}/{segment(alias, 'alias')}"
        return self._get(AliasPolicy, path, "PUT", json={"protected": protected, "rule": rule})

    def list_alias_policies(self, project: str | None = None) -> list[AliasPolicy]:
        params = {} if project is None else {"project": project}
        return self._get(s.PolicyList, "/alias-policies", params=params).policies

    # ---- performance and lineage ------------------------------------------------------------------------

    def record_performance(
        self,
        name: str,
        version: int,
        metrics: Mapping[str, float],
        evaluation: str = "",
        run_id: str | None = None,
        dataset: Dataset | None = None,
    ) -> PerformanceRecord:
        body = {
            "metrics": dict(metrics),
            "evaluation": evaluation,
            "run_id": run_id,
            "dataset": None if dataset is None else _dump(dataset),
        }
        return self._get(PerformanceRecord, _version(name, version, "/performance"), "POST", json=body)

    def performance_history(self, name: str, version: int | None = None) -> list[PerformanceRecord]:
        params = {} if version is None else {"version": version}
        return self._get(s.RecordList, _model(name, "/performance"), params=params).records

    def version_metrics(self, name: str, version: int) -> dict[str, float]:
        return self._get(s.Metrics, _version(name, version, "/metrics")).metrics

    def lineage(self, name: str, version: int) -> Lineage:
        return self._get(Lineage, _version(name, version, "/lineage"))

    # ---- project settings -------------------------------------------------------------------------------

    def _setting_path(self, project: str | None, key: str) -> str:
        name = segment(project or "default", "project")
        return f"/projects/{name}/settings/{segment(check_setting_key(key), 'setting')}"

    def set_project_setting(self, project: str | None, key: str, value: Mapping[str, Any]) -> None:
        self._send("PUT", self._setting_path(project, key), json=dict(value))

    def project_setting(self, project: str | None, key: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = orjson.loads(
            self._send("GET", self._setting_path(project, key)).content
        )
        return found

    # ---- files and reports kept with a version --------------------------------------------------------

    def put_version_file(self, name: str, version: int, path: str, data: bytes) -> None:
        url = _version(name, version, f"/files/{quote(clean_path(path), safe='/')}")
        self._send("PUT", url, content=data, headers={"Content-Type": "application/octet-stream"})

    def read_version_file(self, name: str, version: int, path: str) -> bytes:
        return self._send(
            "GET", _version(name, version, f"/files/{quote(clean_path(path), safe='/')}")
        ).content

    def set_version_report(self, name: str, version: int, kind: str, report: Mapping[str, Any]) -> None:
        path = _version(name, version, f"/reports/{segment(check_report_kind(kind), 'report')}")
        self._send(
            "PUT",
            path,
            content=orjson.dumps(dict(report), option=orjson.OPT_SERIALIZE_NUMPY),
            headers={"Content-Type": "application/json"},
        )

    def version_reports(self, name: str, version: int) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = orjson.loads(
            self._send("GET", _version(name, version, "/reports")).content
        )
        return found

    # ---- datasets ---------------------------------------------------------------------------------------

    def log_dataset(self, run_id: str, dataset: Dataset, context: str = "training") -> DatasetUse:
        body = {"dataset": _dump(dataset), "context": context}
        return self._get(DatasetUse, f"{run_path(run_id)}/datasets", "POST", json=body)

    def list_datasets(self, project: str | None = None) -> list[Dataset]:
        params = {} if project is None else {"project": project}
        return self._get(s.DatasetList, "/datasets", params=params).datasets

    def get_dataset(self, dataset_id: int) -> Dataset:
        return self._get(Dataset, f"/datasets/{int(dataset_id)}")

    def run_datasets(self, run_id: str) -> list[DatasetUse]:
        return self._get(s.UseList, f"{run_path(run_id)}/datasets").uses

    def dataset_usage(self, dataset_id: int) -> tuple[list[DatasetUse], list[ModelVersion]]:
        usage = self._get(s.DatasetUsage, f"/datasets/{int(dataset_id)}/usage")
        return usage.uses, usage.versions

"""``AuthorizedRegistry``: the ``Registry`` interface as one caller, every operation checked first.

The rules, by the project a model (or dataset, or run) belongs to:

- viewer (reading): models, versions, aliases and their audit trail, performance history, lineage,
  datasets; listings show only the projects the caller holds a role in;
- editor (writing): creating models, registering versions (also viewer on the source run's project),
  descriptions and tags, moving aliases that the project does not mark protected, recording
  performance, logging datasets to runs;
- owner (managing): moving, promoting to or deleting a protected alias (such as ``champion``), deleting
  models and versions, setting alias policies.

A model named by a plain name is looked up among the projects the caller may read only, so a model of
a project it cannot read is neither found, nor refused, nor named as a candidate of an ambiguous name;
``project/name`` in such a project is ``NotFound`` with the message of a model that does not exist
(``assay.registry.names``). The wrapped registry is then called with the model's ``project/name``, so it
never looks further. Creating a model, or registering under a name, names its project, whose role is
checked as for any write.

The audit trail records the caller's name (``acting_as``). Refusals raise ``PermissionDenied`` naming the
role missing; the wrapped registry is not called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assay.access import DEFAULT_PROJECT, Principal, Role
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
from assay.registry.names import check_same_project, no_model, pick_project
from assay.registry.uris import parse_runs_uri, split_model_name
from assay.services.access import Authorizer
from assay.services.registry import Registry


class AuthorizedRegistry(Registry):
    """``inner`` as ``caller``: roles checked by ``authorizer`` before each call (see the module docstring)."""

    def __init__(self, inner: Registry, authorizer: Authorizer, caller: Principal) -> None:
        self.inner = inner.acting_as(caller.name)
        self.authorizer = authorizer
        self.caller = caller

    # ---- the checks -------------------------------------------------------------------------------------

    def _project(self, role: Role, project: str | None, action: str) -> None:
        self.authorizer.require_project(self.caller, role, project or DEFAULT_PROJECT, action)

    def _find(self, name: str) -> RegisteredModel:
        """The model ``name`` (or ``project/name``) designates among those the caller may read."""
        project, plain = split_model_name(name)
        readable = self._readable()
        if project is not None:
            if readable is not None and project not in readable:
                raise no_model(plain, project)  # as for a model that does not exist: nothing revealed
            return self.inner.get_model(name)
        found = {
            m.project: m
            for m in self.inner.list_models(name=plain)
            if readable is None or m.project in readable
        }
        return found[pick_project(plain, list(found))]

    def _model(self, role: Role, name: str, action: str) -> str:
        """The ``project/name`` of the model ``name`` designates, once the caller holds ``role`` there."""
        model = self._find(name)
        self._project(role, model.project, action)
        return model.qualified_name

    def _alias_role(self, model: RegisteredModel, alias: str) -> Role:
        protected = any(
            p.protected for p in self.inner.list_alias_policies(model.project) if p.alias == alias
        )
        return Role.OWNER if protected else Role.EDITOR

    def _alias(self, name: str, alias: str, action: str) -> str:
        model = self._find(name)
        self._project(Role.VIEWER, model.project, action)
        self._project(self._alias_role(model, alias), model.project, f"{action} (alias {alias!r})")
        return model.qualified_name

    def _readable(self) -> set[str] | None:
        if self.caller.is_admin:
            return None
        return {self.authorizer.project_name(pid) for pid in self.caller.roles}

    # ---- models -----------------------------------------------------------------------------------------

    def create_model(
        self,
        name: str,
        project: str | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> RegisteredModel:
        named, _ = split_model_name(name)
        self._project(Role.EDITOR, check_same_project(name, named, project), "creating models")
        return self.inner.create_model(name, project, description, tags)

    def get_model(self, name: str) -> RegisteredModel:
        model = self._find(name)
        self._project(Role.VIEWER, model.project, "reading models")
        return model

    def list_models(self, project: str | None = None, name: str | None = None) -> list[RegisteredModel]:
        if project is not None:
            self._project(Role.VIEWER, project, "reading models")
        readable = self._readable()
        found = self.inner.list_models(project, name)
        return [m for m in found if readable is None or m.project in readable]

    def update_model(self, name: str, description: str) -> RegisteredModel:
        model = self._model(Role.EDITOR, name, "editing models")
        return self.inner.update_model(model, description)

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        model = self._model(Role.EDITOR, name, "tagging models")
        self.inner.set_model_tag(model, key, value)

    def delete_model_tag(self, name: str, key: str) -> None:
        model = self._model(Role.EDITOR, name, "tagging models")
        self.inner.delete_model_tag(model, key)

    def delete_model(self, name: str) -> None:
        model = self._model(Role.OWNER, name, "deleting models")
        self.inner.delete_model(model)

    # ---- versions ---------------------------------------------------------------------------------------

    def create_version(
        self,
        name: str,
        source: str,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        project: str | None = None,
    ) -> ModelVersion:
        run_id, _ = parse_runs_uri(source)
        self.authorizer.require_run(self.caller, Role.VIEWER, [run_id], "registering its models")
        named, _ = split_model_name(name)
        target = check_same_project(name, named, project)
        if target is not None:
            self._project(Role.EDITOR, target, "registering models")
        else:  # the run's project, as the wrapped registry decides
            pid = self.authorizer.project_of_run(run_id)
            self.authorizer.require(self.caller, Role.EDITOR, pid, "registering models")
        return self.inner.create_version(name, source, description, tags, project)

    def get_version(self, name: str, version: int) -> ModelVersion:
        model = self._model(Role.VIEWER, name, "reading models")
        return self.inner.get_version(model, version)

    def list_versions(self, name: str) -> list[ModelVersion]:
        model = self._model(Role.VIEWER, name, "reading models")
        return self.inner.list_versions(model)

    def update_version(self, name: str, version: int, description: str) -> ModelVersion:
        model = self._model(Role.EDITOR, name, "editing versions")
        return self.inner.update_version(model, version, description)

    def set_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        model = self._model(Role.EDITOR, name, "tagging versions")
        self.inner.set_version_tag(model, version, key, value)

    def delete_version_tag(self, name: str, version: int, key: str) -> None:
        model = self._model(Role.EDITOR, name, "tagging versions")
        self.inner.delete_version_tag(model, version, key)

    def delete_version(self, name: str, version: int) -> None:
        model = self._model(Role.OWNER, name, "deleting versions")
        self.inner.delete_version(model, version)

    # ---- aliases ----------------------------------------------------------------------------------------

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        model = self._model(Role.VIEWER, name, "reading models")
        return self.inner.get_version_by_alias(model, alias)

    def set_alias(
        self, name: str, alias: str, version: int, reason: str = "", force: bool = False
    ) -> AliasEvent:
        model = self._alias(name, alias, "moving aliases")
        return self.inner.set_alias(model, alias, version, reason, force)

    def delete_alias(self, name: str, alias: str, reason: str = "") -> AliasEvent:
        model = self._alias(name, alias, "deleting aliases")
        return self.inner.delete_alias(model, alias, reason)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        model = self._model(Role.VIEWER, name, "reading models")
        return self.inner.alias_history(model, alias)

    def promote(
        self,
        name: str,
        version: int,
        alias: str,
        rule: str | None = None,
        reason: str = "",
        force: bool = False,
    ) -> Promotion:
        model = self._alias(name, alias, "promoting versions")
        return self.inner.promote(model, version, alias, rule, reason, force)

    def set_alias_policy(
        self, project: str | None, alias: str, protected: bool, rule: str | None = None
    ) -> AliasPolicy:
        self._project(Role.OWNER, project, "setting alias policies")
        return self.inner.set_alias_policy(project, alias, protected, rule)

    def list_alias_policies(self, project: str | None = None) -> list[AliasPolicy]:
        if project is not None:
            self._project(Role.VIEWER, project, "reading alias policies")
        readable = self._readable()
        return [
            p for p in self.inner.list_alias_policies(project) if readable is None or p.project in readable
        ]

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
        model = self._model(Role.EDITOR, name, "recording performance")
        if run_id is not None:
            self.authorizer.require_run(self.caller, Role.VIEWER, [run_id], "linking evaluations")
        return self.inner.record_performance(model, version, metrics, evaluation, run_id, dataset)

    def performance_history(self, name: str, version: int | None = None) -> list[PerformanceRecord]:
        model = self._model(Role.VIEWER, name, "reading models")
        return self.inner.performance_history(model, version)

    def version_metrics(self, name: str, version: int) -> dict[str, float]:
        model = self._model(Role.VIEWER, name, "reading models")
        return self.inner.version_metrics(model, version)

    def lineage(self, name: str, version: int) -> Lineage:
        model = self._model(Role.VIEWER, name, "reading models")
        return self.inner.lineage(model, version)

    # ---- project settings -------------------------------------------------------------------------------

    def set_project_setting(self, project: str | None, key: str, value: Mapping[str, Any]) -> None:
        self._project(Role.OWNER, project, "changing project settings")
        self.inner.set_project_setting(project, key, value)

    def project_setting(self, project: str | None, key: str) -> dict[str, Any] | None:
        self._project(Role.VIEWER, project, "reading project settings")
        return self.inner.project_setting(project, key)

    # ---- files and reports kept with a version --------------------------------------------------------

    def put_version_file(self, name: str, version: int, path: str, data: bytes) -> None:
        model = self._model(Role.EDITOR, name, "adding files to versions")
        self.inner.put_version_file(model, version, path, data)

    def read_version_file(self, name: str, version: int, path: str) -> bytes:
        model = self._model(Role.VIEWER, name, "reading models")
        return self.inner.read_version_file(model, version, path)

    def set_version_report(self, name: str, version: int, kind: str, report: Mapping[str, Any]) -> None:
        model = self._model(Role.EDITOR, name, "adding reports to versions")
        self.inner.set_version_report(model, version, kind, report)

    def version_reports(self, name: str, version: int) -> dict[str, dict[str, Any]]:
        model = self._model(Role.VIEWER, name, "reading models")
        return self.inner.version_reports(model, version)

    # ---- datasets ---------------------------------------------------------------------------------------

    def log_dataset(self, run_id: str, dataset: Dataset, context: str = "training") -> DatasetUse:
        self.authorizer.require_run(self.caller, Role.EDITOR, [run_id], "logging datasets")
        return self.inner.log_dataset(run_id, dataset, context)

    def list_datasets(self, project: str | None = None) -> list[Dataset]:
        if project is not None:
            self._project(Role.VIEWER, project, "reading datasets")
        readable = self._readable()
        return [d for d in self.inner.list_datasets(project) if readable is None or d.project in readable]

    def _dataset(self, dataset_id: int) -> Dataset:
        ds = self.inner.get_dataset(dataset_id)
        self._project(Role.VIEWER, ds.project, "reading datasets")
        return ds

    def get_dataset(self, dataset_id: int) -> Dataset:
        return self._dataset(dataset_id)

    def run_datasets(self, run_id: str) -> list[DatasetUse]:
        self.authorizer.require_run(self.caller, Role.VIEWER, [run_id], "reading runs")
        return self.inner.run_datasets(run_id)

    def dataset_usage(self, dataset_id: int) -> tuple[list[DatasetUse], list[ModelVersion]]:
        self._dataset(dataset_id)
        uses, versions = self.inner.dataset_usage(dataset_id)
        readable = self._readable()
        return uses, [mv for mv in versions if readable is None or mv.project in readable]

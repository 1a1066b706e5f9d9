"""``RegistryService``: the ``Registry`` interface in-process, over the SQL store and the tracking service.

Validation happens here once (names, aliases, versions, rules, descriptions); the store writes in single
transactions. Registration reads the logged model's descriptor through the tracking service's artifacts
before anything is written, so a source that is not a model leaves no trace. Rules are parsed and checked
by the pure ``assay.registry.rules``.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from assay.access import DEFAULT_PROJECT
from assay.artifacts import ArtifactRepository
from assay.artifacts.uri import clean_path
from assay.entities import Lifecycle
from assay.errors import InvalidInput, InvalidState, NotFound
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
from assay.registry.names import check_same_project, pick_project
from assay.registry.rules import aliases_in, evaluate_rule, parse_rule
from assay.registry.uris import MAX_ID, check_alias, check_version, parse_runs_uri, split_model_name
from assay.services import validation as v
from assay.services.registry import (
    DESCRIPTOR_FILE,
    Registry,
    check_context,
    check_description,
    check_report_kind,
    check_setting_key,
    overlay,
    training_record,
)
from assay.services.tracking import Tracking, now_ms
from assay.store.sql.registry import ModelKey, RegistryStore


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"


def _dataset_id(dataset_id: object) -> int:
    if isinstance(dataset_id, bool) or not isinstance(dataset_id, int) or not 1 <= dataset_id <= MAX_ID:
        raise NotFound(f"no dataset with id {dataset_id!r}: list them with `assay datasets ls`")
    return dataset_id


def _tags(tags: Mapping[str, object] | None, what: str) -> dict[str, str]:
    return {v.check_key(k, what): v.tag_value(k, val) for k, val in (tags or {}).items()}


class RegistryService(Registry):
    """The registry in-process. ``actor`` is the name written in the audit trail and on new versions.

    Every project is readable here: a plain model name is looked up across all of them
    (``AuthorizedRegistry`` narrows the lookup to the caller's projects before it calls this one)."""

    def __init__(
        self, store: RegistryStore, tracking: Tracking, artifact_root: str, actor: str | None = None
    ) -> None:
        self.store = store
        self.tracking = tracking
        self.artifact_root = artifact_root.rstrip("/")
        self.actor = actor or _local_user()

    def acting_as(self, actor: str) -> RegistryService:
        return RegistryService(self.store, self.tracking, self.artifact_root, actor)

    def _project_id(self, project: str | None) -> int:
        return self.store.project_id(project or DEFAULT_PROJECT)

    def _key(self, name: str) -> ModelKey:
        """The live model ``name`` (or ``project/name``) designates (``assay.registry.names``); for
        ``project/name`` the key of that project's name, whether the model exists or not (the store says)."""
        project, plain = split_model_name(name)
        if project is not None:
            return self.store.model_key(project, plain)
        keys = {k.project: k for k in self.store.models_named(plain)}
        return keys[pick_project(plain, list(keys))]

    # ---- models -----------------------------------------------------------------------------------------

    def create_model(
        self,
        name: str,
        project: str | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> RegisteredModel:
        named, plain = split_model_name(name)
        model = self.store.model_key(check_same_project(name, named, project) or DEFAULT_PROJECT, plain)
        self.store.create_model(
            plain, model.project_id, check_description(description), _tags(tags, "model tag"), now_ms()
        )
        return self.store.get_model(model)

    def get_model(self, name: str) -> RegisteredModel:
        return self.store.get_model(self._key(name))

    def list_models(self, project: str | None = None, name: str | None = None) -> list[RegisteredModel]:
        if name is not None:
            named, plain = split_model_name(name)
            project, name = check_same_project(name, named, project), plain
        pid = None if project is None else self._project_id(project)
        return self.store.list_models(pid, name)

    def update_model(self, name: str, description: str) -> RegisteredModel:
        model = self._key(name)
        self.store.update_model(model, check_description(description), now_ms())
        return self.store.get_model(model)

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        model = self._key(name)
        self.store.set_model_tag(model, v.check_key(key, "model tag"), v.tag_value(key, value), now_ms())

    def delete_model_tag(self, name: str, key: str) -> None:
        model = self._key(name)
        if not self.store.delete_model_tag(model, key, now_ms()):
            raise NotFound(f"model {str(model)!r} has no tag {key!r}")

    def delete_model(self, name: str) -> None:
        self.store.delete_model(self._key(name), now_ms(), self.actor)

    # ---- versions ---------------------------------------------------------------------------------------

    def create_version(
        self,
        name: str,
        source: str,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        project: str | None = None,
    ) -> ModelVersion:
        named, plain = split_model_name(name)
        target = check_same_project(name, named, project)
        check_description(description)
        version_tags = _tags(tags, "version tag")
        run_id, path = parse_runs_uri(source)
        if not path:
            raise InvalidInput(f"{source!r} names a run but no model in it: use runs:/{run_id}/<model path>")
        _, run_pid, artifact_uri, run_project = self.store.run_location(run_id)
        model = self.store.model_key(target, plain) if target else ModelKey(run_pid, plain, run_project)
        flavor, signature = self._read_descriptor(
            ArtifactRepository(artifact_uri, f"run {run_id}"), run_id, path, source
        )
        return self.store.create_version(
            model,
            f"runs:/{run_id}/{path}",
            run_id,
            path,
            flavor,
            signature,
            description,
            version_tags,
            now_ms(),
            self.actor,
        )

    def _read_descriptor(
        self, repo: ArtifactRepository, run_id: str, path: str, source: str
    ) -> tuple[str, Mapping[str, object] | None]:
        """The flavor and signature of the logged model at ``source``, from its descriptor (only those two
        keys are needed here, so the registry does not import the model flavors)."""
        import yaml

        try:
            raw = repo.read_bytes(f"{path}/{DESCRIPTOR_FILE}")
        except NotFound:
            raise InvalidInput(
                f"{source} is not a model logged with assay.log_model (it has no {DESCRIPTOR_FILE}): "
                f"log one with assay.log_model(model, {path!r}) in run {run_id}"
            ) from None
        try:
            doc = yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml when present
        except yaml.YAMLError:
            doc = None
        flavor = doc.get("flavor") if isinstance(doc, dict) else None
        signature = doc.get("signature") if isinstance(doc, dict) else None
        if (
            not isinstance(flavor, str)
            or not flavor
            or not (signature is None or isinstance(signature, dict))
        ):
            raise InvalidInput(
                f"{source}: its {DESCRIPTOR_FILE} is not a model descriptor (no flavor): log the model again "
                "with assay.log_model"
            )
        return flavor, signature

    def get_version(self, name: str, version: int) -> ModelVersion:
        return self.store.get_version(self._key(name), check_version(version))

    def list_versions(self, name: str) -> list[ModelVersion]:
        return self.store.list_versions(self._key(name))

    def update_version(self, name: str, version: int, description: str) -> ModelVersion:
        model = self._key(name)
        self.store.update_version(model, check_version(version), check_description(description), now_ms())
        return self.store.get_version(model, version)

    def set_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        self.store.set_version_tag(
            self._key(name),
            check_version(version),
            v.check_key(key, "version tag"),
            v.tag_value(key, value),
            now_ms(),
        )

    def delete_version_tag(self, name: str, version: int, key: str) -> None:
        model = self._key(name)
        if not self.store.delete_version_tag(model, check_version(version), key, now_ms()):
            raise NotFound(f"version {version} of {str(model)!r} has no tag {key!r}")

    def delete_version(self, name: str, version: int) -> None:
        self.store.delete_version(self._key(name), check_version(version), now_ms(), self.actor)

    # ---- aliases and promotion --------------------------------------------------------------------------

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        model = self._key(name)
        found = self.store.version_by_alias(model, check_alias(alias))
        if found is None:
            aliases = self.store.get_model(model).aliases
            known = ", ".join(f"{a} (v{n})" for a, n in aliases.items()) or "none"
            raise NotFound(
                f"model {name!r} has no alias {alias!r} (its aliases: {known}): set one with "
                f"`assay models alias {name} {alias} <version>`"
            )
        return found

    def set_alias(
        self, name: str, alias: str, version: int, reason: str = "", force: bool = False
    ) -> AliasEvent:
        model = self._key(name)
        check_alias(alias)
        check_version(version)
        check_description(reason)
        gate = None
        policy = self.store.policy_of(model, alias)
        if policy is not None and policy[0]:  # protected: the parity gate needs the version itself
            mv = self.store.get_version(model, version)
            gate = self._parity_gate(model, mv, alias, force, reason, rule=None)
        return self.store.move_alias(model, alias, version, now_ms(), self.actor, reason, None, gate)

    def _parity_gate(
        self,
        model: ModelKey,
        mv: ModelVersion,
        alias: str,
        force: bool,
        reason: str,
        rule: str | None,
        detail: str = "",
    ) -> str | None:
        """For an alias the project marks protected: the version's parity report must have passed
        (``assay onnx convert``), or the move be forced with a reason. A refusal is audited. Returns the
        verdict to record (None when the alias is not protected)."""
        policy = self.store.policy_of(model, alias)
        if policy is None or not policy[0]:
            return detail or None
        parity = self.store.reports(model, mv.version).get("parity")
        if parity is not None and parity.get("passed") is True:
            return "; ".join(x for x in (detail, "parity passed") if x)
        problem = (
            "its ONNX parity check failed" if parity is not None else "its ONNX parity was never checked"
        )
        if force:
            if not reason.strip():
                raise InvalidInput(
                    f"forcing @{alias} onto {mv.name} v{mv.version} needs a reason for the audit trail "
                    "(reason=..., or -m '...' on the command line)"
                )
            return "; ".join(x for x in (detail, f"forced: {problem}") if x)
        verdict = "; ".join(x for x in (detail, f"refused: {problem}") if x)
        self.store.move_alias(
            model, alias, mv.version, now_ms(), self.actor, reason, rule, verdict, refused=True
        )
        raise InvalidState(
            f"@{alias} is protected and {mv.name} v{mv.version}: {problem}: run `assay onnx convert "
            f"{mv.uri}` first, or force the move with a reason (--force -m '...')"
        )

    def delete_alias(self, name: str, alias: str, reason: str = "") -> AliasEvent:
        return self.store.move_alias(
            self._key(name), check_alias(alias), None, now_ms(), self.actor, check_description(reason)
        )

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        return self.store.alias_history(self._key(name), None if alias is None else check_alias(alias))

    def promote(
        self,
        name: str,
        version: int,
        alias: str,
        rule: str | None = None,
        reason: str = "",
        force: bool = False,
    ) -> Promotion:
        model = self._key(name)
        candidate = self.store.get_version(model, check_version(version))
        check_alias(alias)
        check_description(reason)
        if rule is None:
            policy = self.store.policy_of(model, alias)
            rule = policy[1] if policy is not None else None
        if not rule:
            gate = self._parity_gate(model, candidate, alias, force, reason, None, "no rule")
            event = self.store.move_alias(model, alias, version, now_ms(), self.actor, reason, None, gate)
            return Promotion(True, gate or "no rule to check", event)
        parsed = parse_rule(rule)
        current = self.store.alias_version(model, alias)
        others: dict[str, dict[str, float] | None] = {}
        for ref in aliases_in(parsed):
            at = current if ref == alias else self.store.alias_version(model, ref)
            others[ref] = None if at is None else self._metrics(model, at)
        verdict = evaluate_rule(parsed, self._metrics(model, version), others)
        if not verdict.passed:
            self.store.move_alias(
                model, alias, version, now_ms(), self.actor, reason, rule, verdict.detail, refused=True
            )
            raise InvalidState(f"promotion of {model.name} v{version} to @{alias} refused: {verdict.detail}")
        gate = self._parity_gate(model, candidate, alias, force, reason, rule, verdict.detail)
        detail = gate or verdict.detail
        event = self.store.move_alias(
            model, alias, version, now_ms(), self.actor, reason, rule, detail, expect_from=current
        )
        return Promotion(True, detail, event)

    def set_alias_policy(
        self, project: str | None, alias: str, protected: bool, rule: str | None = None
    ) -> AliasPolicy:
        check_alias(alias)
        if rule:
            parse_rule(rule)
        name = project or DEFAULT_PROJECT
        self.store.set_policy(self.store.project_id(name), alias, bool(protected), rule or None)
        return AliasPolicy(name, alias, bool(protected), rule or None)

    def list_alias_policies(self, project: str | None = None) -> list[AliasPolicy]:
        return self.store.policies(None if project is None else self._project_id(project))

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
        model = self._key(name)
        self.store.get_version(model, check_version(version))
        clean = {v.check_key(k, "metric"): v.metric_value(k, val) for k, val in metrics.items()}
        if not clean:
            raise InvalidInput("a performance record needs at least one metric")
        if evaluation:
            v.check_key(evaluation, "evaluation")
        if run_id is not None:
            self.store.run_project(run_id)
        record = PerformanceRecord(
            name=model.name,
            version=version,
            at=now_ms(),
            metrics=clean,
            source="evaluation",
            evaluation=evaluation,
            run_id=run_id,
            dataset_name=None if dataset is None else dataset.name,
            dataset_digest=None if dataset is None else dataset.digest,
        )
        self.store.add_record(model, record)
        return record

    def _training(self, version: ModelVersion) -> list[PerformanceRecord]:
        if version.run_id is None:
            return []
        try:
            run = self.tracking.get_run(version.run_id)
        except NotFound:
            return []
        return [training_record(version.name, version.version, run)]

    def performance_history(self, name: str, version: int | None = None) -> list[PerformanceRecord]:
        model = self._key(name)
        versions = (
            [self.store.get_version(model, check_version(version))]
            if version is not None
            else self.store.list_versions(model)
        )
        records = [r for mv in versions for r in self._training(mv)]
        records += self.store.records(model, version)
        return sorted(records, key=lambda r: (r.at, r.version, r.source != "training"))

    def version_metrics(self, name: str, version: int) -> dict[str, float]:
        return self._metrics(self._key(name), check_version(version))

    def _metrics(self, model: ModelKey, version: int) -> dict[str, float]:
        mv = self.store.get_version(model, version)
        return overlay(self._training(mv) + self.store.records(model, version))

    def lineage(self, name: str, version: int) -> Lineage:
        mv = self.get_version(name, version)
        if mv.run_id is None:
            return Lineage(mv, None)
        try:
            run = self.tracking.get_run(mv.run_id)
        except NotFound:
            return Lineage(mv, mv.run_id)
        return Lineage(
            version=mv,
            run_id=mv.run_id,
            run_name=run.info.name,
            experiment_id=run.info.experiment_id,
            params=dict(run.params),
            git_commit=run.tags.get("assay.git.commit"),
            notebook=run.tags.get("assay.notebook"),
            datasets=self.store.run_datasets(mv.run_id),
        )

    # ---- project settings -------------------------------------------------------------------------------

    def set_project_setting(self, project: str | None, key: str, value: Mapping[str, Any]) -> None:
        if not isinstance(value, Mapping):
            raise InvalidInput(f"setting {key!r} must be a JSON object, got {type(value).__name__}")
        self.store.set_setting(self._project_id(project), check_setting_key(key), value, now_ms())

    def project_setting(self, project: str | None, key: str) -> dict[str, Any] | None:
        return self.store.setting(self._project_id(project), check_setting_key(key))

    # ---- files and reports kept with a version --------------------------------------------------------

    def _files(self, name: str, version: int) -> ArtifactRepository:
        """Where a version's own files live: under the artifact root, by the version's permanent id."""
        key = self.store.version_key(self._key(name), check_version(version))
        return ArtifactRepository(f"{self.artifact_root}/registry/versions/{key}", f"{name} v{version}")

    def put_version_file(self, name: str, version: int, path: str, data: bytes) -> None:
        self._files(name, version).write_bytes(data, clean_path(path))

    def read_version_file(self, name: str, version: int, path: str) -> bytes:
        return self._files(name, version).read_bytes(clean_path(path))

    def set_version_report(self, name: str, version: int, kind: str, report: Mapping[str, Any]) -> None:
        if not isinstance(report, Mapping):
            raise InvalidInput(f"a {kind} report must be a JSON object, got {type(report).__name__}")
        self.store.set_report(
            self._key(name), check_version(version), check_report_kind(kind), report, now_ms()
        )

    def version_reports(self, name: str, version: int) -> dict[str, dict[str, Any]]:
        return self.store.reports(self._key(name), check_version(version))

    # ---- datasets ---------------------------------------------------------------------------------------

    def log_dataset(self, run_id: str, dataset: Dataset, context: str = "training") -> DatasetUse:
        v.check_name(dataset.name, "dataset")
        if not isinstance(dataset.digest, str) or not dataset.digest or len(dataset.digest) > 128:
            raise InvalidInput(
                f"dataset {dataset.name!r} has no valid digest: fingerprint it with assay.log_dataset"
            )
        if self.tracking.get_run_info(run_id).lifecycle is Lifecycle.DELETED:
            raise InvalidState(f"run {run_id} is deleted: restore it before logging datasets to it")
        named = replace(dataset, name=dataset.name.strip())
        return self.store.log_dataset(run_id, named, check_context(context), now_ms())

    def list_datasets(self, project: str | None = None) -> list[Dataset]:
        return self.store.list_datasets(None if project is None else self._project_id(project))

    def get_dataset(self, dataset_id: int) -> Dataset:
        return self.store.get_dataset(_dataset_id(dataset_id))

    def run_datasets(self, run_id: str) -> list[DatasetUse]:
        return self.store.run_datasets(run_id)

    def dataset_usage(self, dataset_id: int) -> tuple[list[DatasetUse], list[ModelVersion]]:
        uses = self.store.dataset_runs(_dataset_id(dataset_id))
        return uses, self.store.versions_of_runs({u.run_id for u in uses})

"""The ``Registry`` interface: registered models, their versions and aliases, promotion, performance
history, lineage, and datasets. Implemented in-process over the SQL store (``assay.embedded.registry``),
over HTTP (``assay.remote.registry``), and checked against roles (``assay.services.authorized_registry``).

The contract every implementation keeps (``assay.testing.registry`` checks it on each):

- **Version numbers** start at 1 per model and are never reused, even after versions or the whole model
  are deleted; concurrent registrations under one name (threads, processes, servers) get distinct numbers.
- **Registration is one transaction**: the source must be a model a run logged (its ``assay-model.yaml``
  is read for the flavor and signature) before anything is written, so a failed registration leaves no
  version behind.
- **An alias names at most one version** of its model; setting it moves it. Every move (and deletion,
  and every promotion a rule refused) is an ``AliasEvent`` in the audit trail, kept forever.
- **Promotion**: ``promote`` checks a rule (the caller's, else the project's policy for that alias) with
  the candidate's metrics and those of the version the rule's aliases point at, then moves the alias or
  refuses with ``InvalidState`` whose message shows both values. Either way the decision is audited.
- **Performance history** of a version: its training run's metrics first, then every evaluation recorded
  against it, oldest first.
- **Model names are unique within a project**, not across the store: two projects may both have "churn".
  Every method that takes a model's ``name`` also takes ``project/name`` (``vision/churn``), which names
  it in one project; a plain name names the one model of that name the caller may read, and when several
  projects hold it, ``InvalidInput`` lists them as ``project/name``. A project the caller cannot read is
  never revealed: ``project/name`` in it is ``NotFound`` like a model that does not exist
  (``assay.registry.names``). ``models:/`` URIs take ``project/name`` as well (``assay.registry.uris``).
- A model belongs to one project, whose roles apply to its versions, aliases and history. Creating one
  (or registering the first version under a name) takes a project, never a lookup across projects.

Errors: ``NotFound`` (unknown model, version, alias, dataset or run), ``InvalidInput`` (bad names, a source
that is not a logged model, a rule that does not parse), ``InvalidState`` (a refused promotion),
``PermissionDenied`` (a role missing). Implementations are thread-safe.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from assay.entities import Run
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
from assay.registry.uris import ModelRef, parse_model_uri

#: Where a logged model's descriptor sits in its directory (``assay.models.descriptor`` writes it).
DESCRIPTOR_FILE = "assay-model.yaml"
MAX_DESCRIPTION = 5000


class Registry(ABC):
    """Models, versions, aliases, promotion, performance history, lineage and datasets (see module doc)."""

    # ---- models -------------------------------------------------------------------------------------------

    @abstractmethod
    def create_model(
        self,
        name: str,
        project: str | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> RegisteredModel:
        """A new model in ``project`` (or the one ``name`` gives as ``project/name``; default "default");
        ``Conflict`` if that project has a model of the name already. A deleted model's name may be
        created again in its project: its numbering goes on where it stopped."""

    @abstractmethod
    def get_model(self, name: str) -> RegisteredModel:
        """The model ``name`` (or ``project/name``) designates; see the module docstring."""

    @abstractmethod
    def list_models(self, project: str | None = None, name: str | None = None) -> list[RegisteredModel]:
        """Models by name, then project (of ``project`` only, and called exactly ``name``, when given)."""

    @abstractmethod
    def update_model(self, name: str, description: str) -> RegisteredModel: ...

    @abstractmethod
    def set_model_tag(self, name: str, key: str, value: str) -> None: ...

    @abstractmethod
    def delete_model_tag(self, name: str, key: str) -> None: ...

    @abstractmethod
    def delete_model(self, name: str) -> None:
        """Delete the model with its versions and aliases (the audit trail stays)."""

    # ---- versions -----------------------------------------------------------------------------------------

    @abstractmethod
    def create_version(
        self,
        name: str,
        source: str,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        project: str | None = None,
    ) -> ModelVersion:
        """Register the model at ``source`` (``runs:/<run_id>/<path>``) as the next version of the model
        ``name`` in ``project`` (or the project ``name`` gives as ``project/name``; default the run's
        project), creating it there if it does not exist."""

    @abstractmethod
    def get_version(self, name: str, version: int) -> ModelVersion: ...

    @abstractmethod
    def list_versions(self, name: str) -> list[ModelVersion]:
        """The model's versions, newest first."""

    @abstractmethod
    def update_version(self, name: str, version: int, description: str) -> ModelVersion: ...

    @abstractmethod
    def set_version_tag(self, name: str, version: int, key: str, value: str) -> None: ...

    @abstractmethod
    def delete_version_tag(self, name: str, version: int, key: str) -> None: ...

    @abstractmethod
    def delete_version(self, name: str, version: int) -> None:
        """Delete a version; aliases on it are removed (audited). Its number is never given again."""

    def resolve(self, ref: ModelRef) -> ModelVersion:
        """The version ``ref`` names: by number, by alias, or the latest."""
        if ref.alias is not None:
            return self.get_version_by_alias(ref.model, ref.alias)
        if ref.version is not None:
            return self.get_version(ref.model, ref.version)
        versions = self.list_versions(ref.model)
        if not versions:
            from assay.errors import NotFound

            raise NotFound(f"model {ref.model!r} has no versions: register one with assay.register_model")
        return versions[0]

    def resolve_uri(self, uri: str) -> ModelVersion:
        """The version a ``models:/`` URI names."""
        return self.resolve(parse_model_uri(uri))

    # ---- aliases and promotion ----------------------------------------------------------------------------

    @abstractmethod
    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion: ...

    @abstractmethod
    def set_alias(
        self, name: str, alias: str, version: int, reason: str = "", force: bool = False
    ) -> AliasEvent:
        """Point ``alias`` at ``version`` (moving it if set), audited. A protected alias: owners only, and
        only onto a version whose ONNX parity check passed, unless ``force`` with a ``reason``
        (``InvalidState`` otherwise, the refusal audited)."""

    @abstractmethod
    def delete_alias(self, name: str, alias: str, reason: str = "") -> AliasEvent: ...

    @abstractmethod
    def alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        """The audit trail of the model's aliases (of one alias when given), newest first."""

    @abstractmethod
    def promote(
        self,
        name: str,
        version: int,
        alias: str,
        rule: str | None = None,
        reason: str = "",
        force: bool = False,
    ) -> Promotion:
        """Move ``alias`` to ``version`` if ``rule`` holds (see the module doc); ``InvalidState`` when it
        does not, after recording the refusal. A protected alias also needs the version's parity to have
        passed, as ``set_alias`` (``force`` with a ``reason`` overrides that, not the rule)."""

    @abstractmethod
    def set_alias_policy(
        self, project: str | None, alias: str, protected: bool, rule: str | None = None
    ) -> AliasPolicy:
        """A project's policy for an alias (owners): protected or not, and its default promotion rule."""

    @abstractmethod
    def list_alias_policies(self, project: str | None = None) -> list[AliasPolicy]: ...

    # ---- performance and lineage --------------------------------------------------------------------------

    @abstractmethod
    def record_performance(
        self,
        name: str,
        version: int,
        metrics: Mapping[str, float],
        evaluation: str = "",
        run_id: str | None = None,
        dataset: Dataset | None = None,
    ) -> PerformanceRecord:
        """Keep ``metrics`` from an evaluation of the version on new data, with the run and dataset."""

    @abstractmethod
    def performance_history(self, name: str, version: int | None = None) -> list[PerformanceRecord]:
        """Training metrics then evaluations, oldest first; of every version when ``version`` is None."""

    @abstractmethod
    def version_metrics(self, name: str, version: int) -> dict[str, float]:
        """The version's metrics as promotion rules see them: its training run's, overlaid by evaluations
        recorded against it (newest wins)."""

    @abstractmethod
    def lineage(self, name: str, version: int) -> Lineage: ...

    # ---- project settings ---------------------------------------------------------------------------------

    @abstractmethod
    def set_project_setting(self, project: str | None, key: str, value: Mapping[str, Any]) -> None:
        """Keep a JSON object under ``key`` for the project (owners), such as "onnx.tolerances", the parity
        tolerances every conversion of the project's models starts from."""

    @abstractmethod
    def project_setting(self, project: str | None, key: str) -> dict[str, Any] | None:
        """The project's setting ``key``, or None."""

    # ---- files and reports kept with a version ------------------------------------------------------------

    @abstractmethod
    def put_version_file(self, name: str, version: int, path: str, data: bytes) -> None:
        """Keep a file with the version (such as ``onnx/model.onnx``), replacing one at the same path. The
        version's source run is left as it was."""

    @abstractmethod
    def read_version_file(self, name: str, version: int, path: str) -> bytes: ...

    @abstractmethod
    def set_version_report(self, name: str, version: int, kind: str, report: Mapping[str, Any]) -> None:
        """Keep a JSON document of ``kind`` with the version ("onnx", "parity", "latency"...), replacing
        the previous one of that kind."""

    @abstractmethod
    def version_reports(self, name: str, version: int) -> dict[str, dict[str, Any]]:
        """The version's reports by kind."""

    # ---- datasets -----------------------------------------------------------------------------------------

    @abstractmethod
    def log_dataset(self, run_id: str, dataset: Dataset, context: str = "training") -> DatasetUse:
        """Record that the run used ``dataset`` (identified by project, name and digest) in ``context``.
        Logging the same dataset twice in one context records it once."""

    @abstractmethod
    def list_datasets(self, project: str | None = None) -> list[Dataset]: ...

    @abstractmethod
    def get_dataset(self, dataset_id: int) -> Dataset: ...

    @abstractmethod
    def run_datasets(self, run_id: str) -> list[DatasetUse]: ...

    @abstractmethod
    def dataset_usage(self, dataset_id: int) -> tuple[list[DatasetUse], list[ModelVersion]]:
        """The runs that used the dataset, and the versions registered from those runs."""

    def acting_as(self, actor: str) -> Registry:
        """This registry recording ``actor`` in the audit trail (where the implementation records one
        itself: in-process; a server records the caller of each request)."""
        return self

    def close(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release what the implementation holds."""


# ---- pure helpers shared by the implementations --------------------------------------------------------


def check_description(text: object) -> str:
    from assay.errors import InvalidInput

    if not isinstance(text, str):
        raise InvalidInput(f"description must be text, got {type(text).__name__}")
    if len(text) > MAX_DESCRIPTION:
        raise InvalidInput(f"description is {len(text)} characters long; the limit is {MAX_DESCRIPTION}")
    return text


def check_context(context: object) -> str:
    from assay.errors import InvalidInput

    if not isinstance(context, str) or not context.strip() or len(context) > 64:
        raise InvalidInput(f"dataset context must be a short word such as 'training', got {context!r}")
    return context


def training_record(name: str, version: int, run: Run) -> PerformanceRecord:
    """The first point of a version's history: its training run's last value of each metric."""
    info = run.info
    return PerformanceRecord(
        name=name,
        version=version,
        at=info.end_time or info.start_time,
        metrics=run.metrics,
        source="training",
        run_id=info.run_id,
    )


def overlay(records: Sequence[PerformanceRecord]) -> dict[str, float]:
    """Metrics of ``records`` (oldest first) merged, later values winning."""
    merged: dict[str, float] = {}
    for r in records:
        merged.update(r.metrics)
    return merged


def check_report_kind(kind: object) -> str:
    import re

    from assay.errors import InvalidInput

    if not isinstance(kind, str) or not re.fullmatch(r"[a-z][a-z0-9_\-]{0,63}", kind):
        raise InvalidInput(f"report kind {kind!r} is not valid: use a short lowercase word such as 'parity'")
    return kind


def check_setting_key(key: object) -> str:
    import re

    from assay.errors import InvalidInput

    if not isinstance(key, str) or not re.fullmatch(r"[a-z][a-z0-9_.\-]{0,127}", key):
        raise InvalidInput(
            f"setting {key!r} is not valid: use a lowercase dotted name such as 'onnx.tolerances'"
        )
    return key

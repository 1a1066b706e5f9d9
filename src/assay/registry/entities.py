"""What the registry stores, as frozen dataclasses: models, versions, aliases and their audit trail,
performance records, alias policies, and datasets with the runs that used them.

Pure module: no I/O. Times are integer milliseconds since the Unix epoch (UTC).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

#: The one status a version has once registered: registration is one transaction, so a version is never
#: seen half-written. (MLflow clients poll for READY; the name is kept for them.)
READY = "READY"


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A name under which versions of a model are registered, in one project."""

    name: str
    project: str = "default"
    description: str = ""
    created_at: int = 0
    updated_at: int = 0
    tags: Mapping[str, str] = field(default_factory=dict)
    #: alias -> version number
    aliases: Mapping[str, int] = field(default_factory=dict)
    latest_version: int | None = None
    #: versions not deleted
    version_count: int = 0

    @property
    def qualified_name(self) -> str:
        """``project/name``: names the model whichever projects the caller reads (names are unique per
        project only)."""
        return f"{self.project}/{self.name}"


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One registered version: a model logged by a run (``source`` = ``runs:/<run_id>/<source_path>``)."""

    name: str
    version: int
    source: str
    run_id: str | None
    source_path: str
    flavor: str
    signature: Mapping[str, Any] | None = None
    description: str = ""
    status: str = READY
    created_at: int = 0
    created_by: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    project: str = "default"

    @property
    def qualified_name(self) -> str:
        """``project/name`` of the version's model (see ``RegisteredModel.qualified_name``)."""
        return f"{self.project}/{self.name}"

    @property
    def uri(self) -> str:
        """``models:/<project>/<name>/<version>``: this version, whatever else other projects hold."""
        return f"models:/{self.project}/{self.name}/{self.version}"


@dataclass(frozen=True, slots=True)
class AliasEvent:
    """One move of an alias, kept forever: who moved it, when, from which version to which, and why."""

    name: str
    alias: str
    from_version: int | None
    to_version: int | None
    actor: str
    at: int
    reason: str = ""
    #: The promotion rule checked, if any, and what it found (``verdict``).
    rule: str | None = None
    verdict: str | None = None
    #: A promotion the rule refused is recorded too; the alias did not move.
    refused: bool = False


@dataclass(frozen=True, slots=True)
class AliasPolicy:
    """A project's policy for one alias: only owners move a protected alias; ``rule`` is checked by
    ``promote`` when the caller gives none."""

    project: str
    alias: str
    protected: bool = False
    rule: str | None = None


@dataclass(frozen=True, slots=True)
class PerformanceRecord:
    """A version's metrics at one time: from its training run (``source="training"``) or from a later
    ``assay.evaluate(model="models:/...")`` on new data (``source="evaluation"``)."""

    name: str
    version: int
    at: int
    metrics: Mapping[str, float]
    source: str = "evaluation"
    evaluation: str = ""
    run_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


@dataclass(frozen=True, slots=True)
class Dataset:
    """A dataset as logged: its whole-content digest, schema, row count, statistics and source."""

    name: str
    digest: str
    kind: str = ""
    source: str | None = None
    rows: int | None = None
    size_bytes: int | None = None
    schema: Sequence[Mapping[str, Any]] = ()
    stats: Mapping[str, Any] = field(default_factory=dict)
    created_at: int = 0
    project: str = "default"
    dataset_id: int = 0


@dataclass(frozen=True, slots=True)
class DatasetUse:
    """A run's use of a dataset, in a context such as "training" or "evaluation"."""

    dataset: Dataset
    run_id: str
    context: str
    logged_at: int


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where a version came from: its run, that run's params and code, its notebook, its datasets."""

    version: ModelVersion
    run_id: str | None
    run_name: str | None = None
    experiment_id: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    git_commit: str | None = None
    notebook: str | None = None
    datasets: Sequence[DatasetUse] = ()


@dataclass(frozen=True, slots=True)
class Promotion:
    """What ``promote`` decided: whether the alias moved, the rule's verdict, and the audit event."""

    moved: bool
    verdict: str
    event: AliasEvent | None = None


def to_json(value: object) -> dict[str, Any]:
    """An entity as JSON-ready data (nested entities as objects), for ``--json`` output and pages."""
    return asdict(value)  # type: ignore[call-overload, no-any-return]


def signature_columns(part: object) -> list[dict[str, Any]]:
    """One side of a model signature (``inputs`` or ``outputs``, as ``assay.models`` writes it: DataFrame
    columns, one tensor, or several) as rows of name, dtype and shape, for pages and the CLI."""
    if isinstance(part, list):
        return [dict(c) for c in part if isinstance(c, Mapping)]
    if not isinstance(part, Mapping):
        return []
    if part.get("type") == "dataframe":
        return [dict(c) for c in part.get("columns", []) if isinstance(c, Mapping)]
    found = part.get("tensors") if part.get("type") == "tensors" else [part]
    tensors: list[Any] = list(found) if isinstance(found, list) else []
    rows = []
    for i, t in enumerate(tensors):
        if isinstance(t, Mapping):
            default = f"tensor {i}" if len(tensors) > 1 else "(tensor)"
            rows.append(
                {"name": t.get("name") or default, "dtype": t.get("dtype", "?"), "shape": t.get("shape")}
            )
    return rows

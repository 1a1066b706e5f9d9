"""Wire schemas of the registry routes: request bodies, and the list envelopes around the registry's
entities (``assay.registry.entities``, frozen dataclasses that pydantic validates and serializes as they
are, so the server, the OpenAPI description and the remote client share one definition)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from assay.registry.entities import (
    AliasEvent,
    AliasPolicy,
    Dataset,
    DatasetUse,
    ModelVersion,
    PerformanceRecord,
    RegisteredModel,
)


class CreateModel(BaseModel):
    name: str
    project: str | None = None
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)


class CreateVersion(BaseModel):
    source: str = Field(description="runs:/<run_id>/<model path>")
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    project: str | None = None


class Describe(BaseModel):
    description: str


class TagValue(BaseModel):
    value: str


class MoveAlias(BaseModel):
    version: int
    reason: str = ""
    force: bool = Field(False, description="move a protected alias onto a version without passed parity")


class Promote(BaseModel):
    alias: str
    rule: str | None = None
    reason: str = ""
    force: bool = Field(False, description="override the parity gate of a protected alias (with a reason)")


class SetPolicy(BaseModel):
    protected: bool = False
    rule: str | None = None


class RecordPerformance(BaseModel):
    metrics: dict[str, float]
    evaluation: str = ""
    run_id: str | None = None
    dataset: Dataset | None = None


class LogDataset(BaseModel):
    dataset: Dataset
    context: str = "training"


class ModelList(BaseModel):
    models: list[RegisteredModel]


class VersionList(BaseModel):
    versions: list[ModelVersion]


class EventList(BaseModel):
    events: list[AliasEvent]


class PolicyList(BaseModel):
    policies: list[AliasPolicy]


class RecordList(BaseModel):
    records: list[PerformanceRecord]


class Metrics(BaseModel):
    metrics: dict[str, float]


class DatasetList(BaseModel):
    datasets: list[Dataset]


class UseList(BaseModel):
    uses: list[DatasetUse]


class DatasetUsage(BaseModel):
    uses: list[DatasetUse]
    versions: list[ModelVersion]

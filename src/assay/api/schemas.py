"""Request and response bodies of the REST API, as pydantic models kept apart from the entities.

The entities are the domain's frozen dataclasses; these models are the JSON contract, and the only place
that knows how one maps to the other (``of`` builds a response from an entity, ``entity`` reads one back).
The remote client parses responses with the same models, so the two sides share one definition.
Non-finite floats (NaN, +/-inf metric summaries) travel as the strings "NaN", "Infinity" and "-Infinity",
so the JSON stays standard; pydantic reads them back as floats.
"""

from __future__ import annotations

import math
from typing import Self

import orjson
from pydantic import BaseModel, ConfigDict, Field

from assay.access import ApiToken, Member, NewToken, Project, Role, User
from assay.entities import (
    Experiment,
    FileInfo,
    Lifecycle,
    MetricHistory,
    MetricSummary,
    Run,
    RunInfo,
    RunList,
    RunStatus,
)


class Body(BaseModel):
    """A request body: unknown fields are refused, so a typo is an error rather than a silent default."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """A response body: unknown fields are ignored, so an older client reads a newer server."""

    model_config = ConfigDict(from_attributes=True, ser_json_inf_nan="strings")

    @classmethod
    def of(cls, entity: object) -> Self:
        """The body for ``entity``, read attribute by attribute: the field names are the entity's."""
        return cls.model_validate(entity, from_attributes=True)


# ---- requests ------------------------------------------------------------------------------------------


class Rename(Body):
    name: str = Field(description="the new name")


class CreateExperiment(Body):
    name: str
    project: str | None = Field(default=None, description='the owning project (default: "default")')


class CreateRun(Body):
    experiment_id: str
    name: str | None = None
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    parent_run_id: str | None = None
    run_id: str | None = None
    start_time: int | None = Field(
        default=None, ge=0, le=2**63 - 1, description="ms since the Unix epoch; default: now"
    )
    user: str | None = None


class LogParams(Body):
    params: dict[str, str]


class SetTags(Body):
    tags: dict[str, str]


class EndRun(Body):
    status: RunStatus
    end_time: int | None = Field(
        default=None, ge=0, le=2**63 - 1, description="ms since the Unix epoch; default: now"
    )


class Heartbeat(Body):
    run_ids: list[str]


class SearchRuns(Body):
    experiment_ids: list[str] = Field(default_factory=list)
    filter: str | None = None
    order_by: list[str] | None = None
    max_results: int | None = Field(default=None, ge=1, le=2**31 - 1)
    page_token: str | None = None
    include_deleted: bool = False


# ---- responses -----------------------------------------------------------------------------------------


class Health(Out):
    status: str


class ExperimentOut(Out):
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle: Lifecycle
    created_at: int
    tags: dict[str, str]
    run_count: int | None
    last_activity: int | None
    project: str = "default"
    role: str | None = None

    def entity(self) -> Experiment:
        return Experiment(**self.model_dump())


class ExperimentList(Out):
    experiments: list[ExperimentOut]


class RunInfoOut(Out):
    run_id: str
    experiment_id: str
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None
    user: str
    artifact_uri: str
    lifecycle: Lifecycle
    parent_run_id: str | None
    heartbeat_at: int | None

    def entity(self) -> RunInfo:
        return RunInfo(**self.model_dump())


class MetricSummaryOut(Out):
    key: str
    last: float
    min: float
    max: float
    last_step: int
    last_timestamp: int
    num_points: int


class RunOut(Out):
    info: RunInfoOut
    params: dict[str, str]
    tags: dict[str, str]
    metric_summaries: dict[str, MetricSummaryOut]

    def entity(self) -> Run:
        return Run(
            info=self.info.entity(),
            params=self.params,
            tags=self.tags,
            metric_summaries={k: MetricSummary(**s.model_dump()) for k, s in self.metric_summaries.items()},
        )


class RunListOut(Out):
    runs: list[RunOut]
    next_page_token: str | None = Field(description="pass it back for the next page; null after the last")
    prev_page_token: str | None = Field(
        default=None, description="pass it back for the previous page; null on the first"
    )

    @classmethod
    def of(cls, entity: object) -> Self:
        assert isinstance(entity, RunList)
        return cls.model_validate(
            {
                "runs": list(entity),
                "next_page_token": entity.next_page_token,
                "prev_page_token": entity.prev_page_token,
            },
            from_attributes=True,
        )

    def entity(self) -> RunList:
        return RunList([r.entity() for r in self.runs], self.next_page_token, self.prev_page_token)


# ---- the search answer, fast: the same JSON as RunListOut, without building pydantic models ------------------
# A page of 100 runs with 35 fields each is the API's biggest hot answer; building and validating models
# for it cost as much as the search itself. These two functions write and read exactly RunListOut's JSON
# (a test checks both against the models).

_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def _out_float(x: float) -> float | str:
    if math.isfinite(x):
        return x
    return "NaN" if math.isnan(x) else _NON_FINITE[x]


def _in_float(x: float | str) -> float:
    return float(x) if isinstance(x, str) else x  # float("NaN"), float("Infinity"), float("-Infinity")


def run_list_json(runs: RunList) -> bytes:
    """RunListOut's JSON for ``runs``."""
    out = []
    for r in runs:
        i = r.info
        out.append(
            {
                "info": {
                    "run_id": i.run_id,
                    "experiment_id": i.experiment_id,
                    "name": i.name,
                    "status": i.status.value,
                    "start_time": i.start_time,
                    "end_time": i.end_time,
                    "user": i.user,
                    "artifact_uri": i.artifact_uri,
                    "lifecycle": i.lifecycle.value,
                    "parent_run_id": i.parent_run_id,
                    "heartbeat_at": i.heartbeat_at,
                },
                "params": dict(r.params),
                "tags": dict(r.tags),
                "metric_summaries": {
                    k: {
                        "key": m.key,
                        "last": _out_float(m.last),
                        "min": _out_float(m.min),
                        "max": _out_float(m.max),
                        "last_step": m.last_step,
                        "last_timestamp": m.last_timestamp,
                        "num_points": m.num_points,
                    }
                    for k, m in r.metric_summaries.items()
                },
            }
        )
    return orjson.dumps(
        {"runs": out, "next_page_token": runs.next_page_token, "prev_page_token": runs.prev_page_token}
    )


def run_list_from_json(body: bytes) -> RunList:
    """The RunList in RunListOut's JSON."""
    data = orjson.loads(body)
    runs = []
    for r in data["runs"]:
        i = r["info"]
        info = RunInfo(
            run_id=i["run_id"],
            experiment_id=i["experiment_id"],
            name=i["name"],
            status=RunStatus(i["status"]),
            start_time=i["start_time"],
            end_time=i["end_time"],
            user=i["user"],
            artifact_uri=i["artifact_uri"],
            lifecycle=Lifecycle(i["lifecycle"]),
            parent_run_id=i["parent_run_id"],
            heartbeat_at=i["heartbeat_at"],
        )
        summaries = {
            k: MetricSummary(
                m["key"],
                _in_float(m["last"]),
                _in_float(m["min"]),
                _in_float(m["max"]),
                m["last_step"],
                m["last_timestamp"],
                m["num_points"],
            )
            for k, m in r["metric_summaries"].items()
        }
        runs.append(Run(info, r["params"], r["tags"], summaries))
    return RunList(runs, data["next_page_token"], data.get("prev_page_token"))


class MetricHistoryOut(Out):
    """A series as JSON lists (for people and browsers; the SDK asks for the msgpack form)."""

    key: str
    steps: list[int]
    timestamps: list[int]
    values: list[float]

    @classmethod
    def of(cls, entity: object) -> Self:
        assert isinstance(entity, MetricHistory)
        h = entity
        return cls(
            key=h.key, steps=h.steps.tolist(), timestamps=h.timestamps.tolist(), values=h.values.tolist()
        )


class FileInfoOut(Out):
    path: str
    is_dir: bool
    size: int | None


class FileList(Out):
    files: list[FileInfoOut]

    @classmethod
    def of(cls, entity: object) -> Self:
        return cls.model_validate({"files": entity}, from_attributes=True)

    def entity(self) -> list[FileInfo]:
        return [FileInfo(f.path, f.is_dir, f.size) for f in self.files]


class ErrorDetail(Out):
    code: str = Field(description="stable error code, e.g. NOT_FOUND (see assay.errors)")
    message: str
    details: dict[str, str | int] | None = Field(
        default=None, description="for filter syntax errors: reason, text and position of the caret"
    )


class ErrorBody(Out):
    error: ErrorDetail


# ---- team mode: users, tokens, projects ------------------------------------------------------------------


class CreateUser(Body):
    name: str
    is_admin: bool = False
    password: str | None = Field(default=None, description="to sign in to the web UI (8+ characters)")


class SetPassword(Body):
    password: str = Field(description="the new password (8 to 1024 characters)")
    current_password: str | None = Field(
        default=None, description="your current one, when changing your own (not when an admin resets)"
    )


class CreateToken(Body):
    name: str = Field(default="default", min_length=1, max_length=128)
    user: str | None = Field(default=None, description="another user's name (admins only)")
    expires: str | None = Field(
        default=None,
        description="lifetime such as 90d, 30d, 12h or never (default: the server's maximum, else never)",
    )
    read_only: bool = Field(default=False, description="the token reads only: at most viewer anywhere")
    project: str | None = Field(default=None, description="the token holds roles in this project only")


class RevokedCount(Out):
    revoked: int


class CreateProject(Body):
    name: str


class SetMember(Body):
    role: Role


class UserOut(Out):
    user_id: int
    name: str
    is_admin: bool
    created_at: int

    def entity(self) -> User:
        return User(**self.model_dump())


class UserList(Out):
    users: list[UserOut]


class TokenOut(Out):
    token_id: str
    user: str
    name: str
    created_at: int
    revoked_at: int | None
    expires_at: int | None = None
    last_used_at: int | None = Field(default=None, description="recorded about once a minute")
    read_only: bool = False
    project: str | None = None

    def entity(self) -> ApiToken:
        return ApiToken(**self.model_dump())


class TokenList(Out):
    tokens: list[TokenOut]


class NewTokenOut(Out):
    token: TokenOut
    secret: str = Field(description="the bearer token: shown once, never retrievable again")

    def entity(self) -> NewToken:
        return NewToken(self.token.entity(), self.secret)


class ProjectOut(Out):
    project_id: int
    name: str
    created_at: int
    role: Role | None

    def entity(self) -> Project:
        return Project(**self.model_dump())


class ProjectList(Out):
    projects: list[ProjectOut]


class MemberOut(Out):
    user: str
    role: Role

    def entity(self) -> Member:
        return Member(**self.model_dump())


class MemberList(Out):
    members: list[MemberOut]


class SeriesOut(Out):
    """A series downsampled for drawing: per bucket, the last point and the min/max of its values."""

    key: str
    total: int = Field(description="points in the whole series")
    downsampled: bool = Field(description="whether buckets hold more than one point")
    steps: list[int]
    timestamps: list[int]
    last: list[float | None]
    min: list[float | None]
    max: list[float | None]

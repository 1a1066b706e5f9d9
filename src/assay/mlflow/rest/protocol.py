"""MLflow's JSON shapes: reading a request's fields and writing experiments, runs and metrics as the
MLflow client parses them (protobuf's JSON mapping: 64-bit integers may come as strings, doubles that
are not finite travel as the strings "NaN", "Infinity" and "-Infinity").
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import orjson
from fastapi import Request, Response

from assay.entities import Experiment, Lifecycle, Run, RunInfo
from assay.mlflow.rest.errors import invalid
from assay.query import decode_page_token, encode_page_token

T = TypeVar("T")

#: The scheme of artifact URIs the MLflow client uploads and downloads through this server.
ARTIFACTS_SCHEME = "mlflow-artifacts:/"


class Fields:
    """The fields of one MLflow request (a JSON body, or the query string of a GET), read with their types;
    a missing or mistyped field answers INVALID_PARAMETER_VALUE naming it."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data

    @classmethod
    async def of(cls, request: Request) -> Fields:
        if request.method == "GET":
            q = request.query_params
            return cls({k: (q.getlist(k) if len(q.getlist(k)) > 1 else q[k]) for k in q})
        raw = await request.body()
        if not raw.strip():
            return cls({})
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise invalid("the request body is not JSON: MLflow's REST API takes a JSON object") from None
        if not isinstance(data, dict):
            raise invalid("the request body must be a JSON object")
        return cls(data)

    def opt_text(self, name: str, *aliases: str) -> str | None:
        for key in (name, *aliases):
            value = self.data.get(key)
            if value is not None and value != "":
                if not isinstance(value, str | int | float) or isinstance(value, bool):
                    raise invalid(f"parameter '{name}' must be a string, got {value!r}")
                return str(value)
        return None

    def text(self, name: str, *aliases: str) -> str:
        value = self.opt_text(name, *aliases)
        if value is None:
            raise invalid(f"Missing value for required parameter '{name}'")
        return value

    def opt_integer(self, name: str) -> int | None:
        value = self.data.get(name)
        if value is None or value == "":
            return None
        try:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise invalid(f"parameter '{name}' must be a whole number, got {value!r}") from None

    def integer(self, name: str) -> int:
        value = self.opt_integer(name)
        if value is None:
            raise invalid(f"Missing value for required parameter '{name}'")
        return value

    def real(self, name: str) -> float:
        value = self.data.get(name)
        if value is None:
            raise invalid(f"Missing value for required parameter '{name}'")
        return to_float(value, name)

    def items(self, name: str) -> list[Any]:
        value = self.data.get(name)
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list):
            raise invalid(f"parameter '{name}' must be a list, got {value!r}")
        return value

    def flag(self, name: str) -> bool:
        value = self.data.get(name)
        if isinstance(value, str):
            return value.lower() == "true"
        return bool(value)


def page_of(
    items: Sequence[T], f: Fields, name: str, to_json: Callable[[T], Any], default_limit: int = 100
) -> dict[str, Any]:
    """MLflow's paged answer ``{name: [...], "next_page_token": ...}`` over ``items``, from the request's
    ``page_token`` and ``max_results`` (``default_limit`` when not given); only the page is converted."""
    offset = decode_page_token(f.opt_text("page_token"))
    limit = f.opt_integer("max_results") or default_limit
    out: dict[str, Any] = {name: [to_json(x) for x in items[offset : offset + limit]]}
    if offset + limit < len(items):
        out["next_page_token"] = encode_page_token(offset + limit)
    return out


def to_float(value: Any, name: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise invalid(f"parameter '{name}' must be a number, got {value!r}")


def number(x: float) -> float | str:
    """A double as protobuf's JSON mapping writes it."""
    if math.isfinite(x):
        return x
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


EMPTY = b"{}"


def empty() -> Response:
    return Response(EMPTY, media_type="application/json")


def lifecycle(x: Lifecycle) -> str:
    return "deleted" if x is Lifecycle.DELETED else "active"


def experiment_json(e: Experiment) -> dict[str, Any]:
    return {
        "experiment_id": e.experiment_id,
        "name": e.name,
        "artifact_location": f"{ARTIFACTS_SCHEME}{e.experiment_id}",
        "lifecycle_stage": lifecycle(e.lifecycle),
        "creation_time": e.created_at,
        "last_update_time": e.last_activity if e.last_activity is not None else e.created_at,
        "tags": [{"key": k, "value": v} for k, v in e.tags.items()],
    }


def run_artifact_uri(info: RunInfo) -> str:
    """Where the MLflow client reads and writes the run's artifacts: through this server, into the run's
    own assay artifact store (``artifacts.py`` maps the path back to the run)."""
    return f"{ARTIFACTS_SCHEME}{info.experiment_id}/{info.run_id}/artifacts"


def run_info_json(info: RunInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "run_id": info.run_id,
        "run_uuid": info.run_id,
        "run_name": info.name,
        "experiment_id": info.experiment_id,
        "user_id": info.user,
        "status": info.status.value,
        "start_time": info.start_time,
        "artifact_uri": run_artifact_uri(info),
        "lifecycle_stage": lifecycle(info.lifecycle),
    }
    if info.end_time is not None:
        out["end_time"] = info.end_time
    return out


def run_json(run: Run, inputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A run as MLflow's ``Run`` message: info, data (latest value of each metric), inputs."""
    metrics = [
        {"key": k, "value": number(s.last), "timestamp": s.last_timestamp, "step": s.last_step}
        for k, s in run.metric_summaries.items()
    ]
    return {
        "info": run_info_json(run.info),
        "data": {
            "metrics": metrics,
            "params": [{"key": k, "value": v} for k, v in run.params.items()],
            "tags": [{"key": k, "value": v} for k, v in run.tags.items()],
        },
        "inputs": {"dataset_inputs": inputs or []},
    }


def runs_json(runs: list[Run]) -> list[dict[str, Any]]:
    """Many runs as ``Run`` messages, with the cyclic garbage collector paused: a page of 10,000 runs is
    ~400,000 small acyclic dicts, and the collections their allocation would trigger walk every object of
    the process, tripling the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return [run_json(r) for r in runs]
    finally:
        if enabled:
            gc.enable()

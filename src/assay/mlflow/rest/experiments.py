"""MLflow's experiment calls over assay's tracking service: create, get (by id or name), search, delete,
restore. MLflow's default experiment "0" is assay's experiment named "Default", made on first use.

assay's experiments carry no tags and keep their name: setting tags (other than ``assay.project``, which
picks the project of a new experiment) and renaming answer NOT_IMPLEMENTED naming the feature.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from assay.access import DEFAULT_PROJECT
from assay.entities import Experiment, Lifecycle
from assay.errors import Conflict, NotFound
from assay.mlflow.rest.endpoint import endpoint
from assay.mlflow.rest.errors import MlflowError, invalid, not_implemented
from assay.mlflow.rest.filters import parse_experiment_filter, parse_experiment_order, sort_experiments
from assay.mlflow.rest.protocol import Fields, empty, experiment_json
from assay.query import decode_page_token, encode_page_token
from assay.services import Services

router = APIRouter()

DEFAULT_ID = "0"
DEFAULT_NAME = "Default"
#: The one experiment tag assay takes: the project a new experiment belongs to.
PROJECT_TAG = "assay.project"


def experiment_id(svc: Services, eid: str, create: bool = False) -> str:
    """assay's id for an MLflow experiment id: itself, or for "0" the experiment named "Default" of the
    "default" project (other projects may have their own "Default": MLflow's experiment 0 is this one)."""
    if eid != DEFAULT_ID:
        return eid
    found = svc.tracking.get_experiment_by_name(DEFAULT_NAME, project=DEFAULT_PROJECT)
    if found is not None:
        return found.experiment_id
    if not create:
        raise NotFound(
            f"no experiment with id {eid!r}: the default experiment is made by the first run in it"
        )
    try:
        return svc.tracking.create_experiment(DEFAULT_NAME, project=DEFAULT_PROJECT).experiment_id
    except Conflict:
        again = svc.tracking.get_experiment_by_name(DEFAULT_NAME, project=DEFAULT_PROJECT)
        if again is None:
            raise
        return again.experiment_id


@endpoint(router, "POST", "/mlflow/experiments/create")
def create_experiment(svc: Services, f: Fields) -> dict[str, Any]:
    """A new experiment; ``RESOURCE_ALREADY_EXISTS`` when the name is taken."""
    name = f.text("name")
    if f.opt_text("artifact_location"):
        raise not_implemented(
            "choosing an experiment's artifact_location (assay keeps artifacts in its store)"
        )
    project = None
    for tag in f.items("tags"):
        if not isinstance(tag, dict) or tag.get("key") != PROJECT_TAG:
            raise not_implemented(f"experiment tags (only {PROJECT_TAG!r}, the project, is taken)")
        project = str(tag.get("value"))
    try:
        exp = svc.tracking.create_experiment(name, project)
    except Conflict:
        raise MlflowError(
            "RESOURCE_ALREADY_EXISTS", f"Experiment(name={name}) already exists. Error: {name!r} is taken"
        ) from None
    return {"experiment_id": exp.experiment_id}


@endpoint(router, "GET", "/mlflow/experiments/get")
def get_experiment(svc: Services, f: Fields) -> dict[str, Any]:
    eid = experiment_id(svc, f.text("experiment_id"))
    return {"experiment": experiment_json(svc.tracking.get_experiment(eid))}


@endpoint(router, "GET", "/mlflow/experiments/get-by-name")
def get_experiment_by_name(svc: Services, f: Fields) -> dict[str, Any]:
    name = f.text("experiment_name")
    exp = svc.tracking.get_experiment_by_name(name)
    if exp is None:
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"Could not find experiment with name '{name}'")
    return {"experiment": experiment_json(exp)}


@endpoint(router, "POST", "/mlflow/experiments/delete")
def delete_experiment(svc: Services, f: Fields) -> object:
    svc.tracking.delete_experiment(experiment_id(svc, f.text("experiment_id")))
    return empty()


@endpoint(router, "POST", "/mlflow/experiments/restore")
def restore_experiment(svc: Services, f: Fields) -> object:
    svc.tracking.restore_experiment(experiment_id(svc, f.text("experiment_id")))
    return empty()


@endpoint(router, "POST", "/mlflow/experiments/update")
def update_experiment(svc: Services, f: Fields) -> object:
    """Rename (the only thing MLflow's update changes); RESOURCE_ALREADY_EXISTS if the name is taken."""
    exp = svc.tracking.get_experiment(experiment_id(svc, f.text("experiment_id")))
    new_name = f.opt_text("new_name")
    if new_name is not None and new_name != exp.name:
        svc.tracking.rename_experiment(exp.experiment_id, new_name)
    return empty()


@endpoint(router, "POST", "/mlflow/experiments/set-experiment-tag")
def set_experiment_tag(svc: Services, f: Fields) -> object:
    svc.tracking.get_experiment(experiment_id(svc, f.text("experiment_id")))
    raise not_implemented("experiment tags (assay's experiments have none; tag runs instead)")


@endpoint(router, "POST", "/mlflow/experiments/delete-experiment-tag")
def delete_experiment_tag(svc: Services, f: Fields) -> object:
    svc.tracking.get_experiment(experiment_id(svc, f.text("experiment_id")))
    raise not_implemented("experiment tags (assay's experiments have none; tag runs instead)")


_VIEW = {"ACTIVE_ONLY": (Lifecycle.ACTIVE,), "DELETED_ONLY": (Lifecycle.DELETED,), "ALL": tuple(Lifecycle)}
MAX_EXPERIMENTS = 50_000


@endpoint(router, "POST", "/mlflow/experiments/search")
def search_experiments(svc: Services, f: Fields) -> dict[str, Any]:
    """Experiments matching MLflow's filter (name, creation_time, last_update_time), ordered and paged."""
    view = (f.opt_text("view_type") or "ACTIVE_ONLY").upper()
    if view not in _VIEW:
        raise invalid(f"view_type must be ACTIVE_ONLY, DELETED_ONLY or ALL, got {view!r}")
    limit = f.opt_integer("max_results") or 1000
    if not 0 < limit <= MAX_EXPERIMENTS:
        raise invalid(f"Invalid value {limit} for parameter 'max_results': it must be 1 to {MAX_EXPERIMENTS}")
    match = parse_experiment_filter(f.opt_text("filter"))
    order = parse_experiment_order(f.items("order_by"))
    offset = decode_page_token(f.opt_text("page_token"))
    lifecycles = _VIEW[view]
    found = [
        e
        for e in svc.tracking.list_experiments(include_deleted=Lifecycle.DELETED in lifecycles)
        if e.lifecycle in lifecycles and match(e)
    ]
    sort_experiments(found, order)
    page: list[Experiment] = found[offset : offset + limit]
    out: dict[str, Any] = {"experiments": [experiment_json(e) for e in page]}
    if offset + limit < len(found):
        out["next_page_token"] = encode_page_token(offset + limit)
    return out

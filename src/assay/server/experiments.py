"""Experiment routes: create, read (by id or name), list, soft-delete and restore."""

from __future__ import annotations

from fastapi import APIRouter

from assay.access import Role
from assay.api.schemas import CreateExperiment, ExperimentList, ExperimentOut
from assay.errors import NotFound
from assay.server.auth import CallerDep
from assay.server.deps import Service

router = APIRouter(tags=["experiments"])


@router.get("/experiments")
def list_experiments(
    service: Service, caller: CallerDep, include_deleted: bool = False, project: str | None = None
) -> ExperimentList:
    """The experiments the caller may read, with run counts and last activity (only ``project``'s if
    given; deleted ones only if asked)."""
    if project is not None:
        caller.require_project(Role.VIEWER, project, "listing experiments")
    found = caller.visible(service.list_experiments(include_deleted, project))
    return ExperimentList(experiments=[ExperimentOut.of(caller.with_role(e)) for e in found])


@router.post("/experiments", status_code=201)
def create_experiment(body: CreateExperiment, service: Service, caller: CallerDep) -> ExperimentOut:
    """Create an experiment in ``project`` (editor there); 409 CONFLICT if the name is taken."""
    caller.require_project(Role.EDITOR, body.project, "creating experiments")
    return ExperimentOut.of(service.create_experiment(body.name, body.project))


@router.get("/experiments/by-name")
def get_experiment_by_name(name: str, service: Service, caller: CallerDep) -> ExperimentOut:
    """The experiment called ``name``; 404 NOT_FOUND if there is none."""
    exp = service.get_experiment_by_name(name)
    if exp is None:
        raise NotFound(f"no experiment named {name!r}")
    caller.require_experiments(Role.VIEWER, [exp.experiment_id], "reading experiments")
    return ExperimentOut.of(caller.with_role(exp))


@router.get("/experiments/{experiment_id}")
def get_experiment(experiment_id: str, service: Service, caller: CallerDep) -> ExperimentOut:
    caller.require_experiments(Role.VIEWER, [experiment_id], "reading experiments")
    return ExperimentOut.of(caller.with_role(service.get_experiment(experiment_id)))


@router.delete("/experiments/{experiment_id}", status_code=204)
def delete_experiment(experiment_id: str, service: Service, caller: CallerDep) -> None:
    """Soft-delete (owner): hidden from lists and searches, refuses new runs, restorable."""
    caller.require_experiments(Role.OWNER, [experiment_id], "deleting experiments")
    service.delete_experiment(experiment_id)


@router.post("/experiments/{experiment_id}/restore", status_code=204)
def restore_experiment(experiment_id: str, service: Service, caller: CallerDep) -> None:
    caller.require_experiments(Role.OWNER, [experiment_id], "restoring experiments")
    service.restore_experiment(experiment_id)

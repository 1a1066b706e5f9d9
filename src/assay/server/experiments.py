"""Experiment routes: create, read (by id or name), list, soft-delete and restore."""

from __future__ import annotations

from fastapi import APIRouter

from assay.api.schemas import CreateExperiment, ExperimentList, ExperimentOut, Rename
from assay.errors import NotFound
from assay.web.auth import Svc

router = APIRouter(tags=["experiments"])


@router.get("/experiments")
def list_experiments(
    svc: Svc, include_deleted: bool = False, project: str | None = None, name: str | None = None
) -> ExperimentList:
    """The experiments the caller may read, with run counts and last activity (only ``project``'s if
    given, only those called exactly ``name`` if given; deleted ones only if asked)."""
    found = svc.tracking.list_experiments(include_deleted, project, name)
    return ExperimentList(experiments=[ExperimentOut.of(e) for e in found])


@router.post("/experiments", status_code=201)
def create_experiment(body: CreateExperiment, svc: Svc) -> ExperimentOut:
    """Create an experiment in ``project`` (editor there); 409 CONFLICT if the name is taken."""
    return ExperimentOut.of(svc.tracking.create_experiment(body.name, body.project))


@router.get("/experiments/by-name")
def get_experiment_by_name(name: str, svc: Svc, project: str | None = None) -> ExperimentOut:
    """The experiment called ``name`` in ``project``, or without it the one the caller may read (``name``
    may be ``project/name``); 404 NOT_FOUND if there is none, 400 listing the candidates if several
    projects hold the name."""
    exp = svc.tracking.get_experiment_by_name(name, project)
    if exp is None:
        where = "" if project is None else f" in project {project!r}"
        raise NotFound(f"no experiment named {name!r}{where}")
    return ExperimentOut.of(exp)


@router.get("/experiments/{experiment_id}")
def get_experiment(experiment_id: str, svc: Svc) -> ExperimentOut:
    return ExperimentOut.of(svc.tracking.get_experiment(experiment_id))


@router.delete("/experiments/{experiment_id}", status_code=204)
def delete_experiment(experiment_id: str, svc: Svc) -> None:
    """Soft-delete (owner): hidden from lists and searches, refuses new runs, restorable."""
    svc.tracking.delete_experiment(experiment_id)


@router.patch("/experiments/{experiment_id}", status_code=204)
def rename_experiment(experiment_id: str, body: Rename, svc: Svc) -> None:
    """Rename (owner): the id, runs and artifacts stay; 409 if the project has one of that name."""
    svc.tracking.rename_experiment(experiment_id, body.name)


@router.post("/experiments/{experiment_id}/restore", status_code=204)
def restore_experiment(experiment_id: str, svc: Svc) -> None:
    svc.tracking.restore_experiment(experiment_id)

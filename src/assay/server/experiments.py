"""Experiment routes: create, read (by id or name), list, soft-delete and restore."""

from __future__ import annotations

from fastapi import APIRouter

from assay.errors import NotFound
from assay.server.deps import Service
from assay.server.schemas import CreateExperiment, ExperimentList, ExperimentOut

router = APIRouter(tags=["experiments"])


@router.get("/experiments")
def list_experiments(service: Service, include_deleted: bool = False) -> ExperimentList:
    """Experiments with their run counts and last activity (deleted ones only if asked)."""
    return ExperimentList(
        experiments=[ExperimentOut.of(e) for e in service.list_experiments(include_deleted)]
    )


@router.post("/experiments", status_code=201)
def create_experiment(body: CreateExperiment, service: Service) -> ExperimentOut:
    """Create an experiment; 409 CONFLICT if the name is taken."""
    return ExperimentOut.of(service.create_experiment(body.name))


@router.get("/experiments/by-name")
def get_experiment_by_name(name: str, service: Service) -> ExperimentOut:
    """The experiment called ``name``; 404 NOT_FOUND if there is none."""
    exp = service.get_experiment_by_name(name)
    if exp is None:
        raise NotFound(f"no experiment named {name!r}")
    return ExperimentOut.of(exp)


@router.get("/experiments/{experiment_id}")
def get_experiment(experiment_id: str, service: Service) -> ExperimentOut:
    return ExperimentOut.of(service.get_experiment(experiment_id))


@router.delete("/experiments/{experiment_id}", status_code=204)
def delete_experiment(experiment_id: str, service: Service) -> None:
    """Soft-delete: hidden from lists and searches, refuses new runs, restorable."""
    service.delete_experiment(experiment_id)


@router.post("/experiments/{experiment_id}/restore", status_code=204)
def restore_experiment(experiment_id: str, service: Service) -> None:
    service.restore_experiment(experiment_id)

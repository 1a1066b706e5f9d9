"""The web UI: server-rendered pages over the services, behind the same auth as the API."""

from __future__ import annotations

from fastapi import APIRouter

from assay.ui import account, jobs, models, notebooks, sweeps, views

router = APIRouter(include_in_schema=False)
router.include_router(views.router)
router.include_router(models.router)
router.include_router(notebooks.router)
router.include_router(sweeps.router)
router.include_router(jobs.router)
router.include_router(account.router)

__all__ = ["router"]

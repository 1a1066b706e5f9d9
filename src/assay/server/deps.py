"""How a route reaches the service: ``app.state.service``, set once by ``create_app``.

The dependency is ``async`` on purpose: FastAPI runs a sync dependency in its threadpool, a thread hop per
request for a mere attribute read. Tests may swap the service with ``app.dependency_overrides``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from assay.services.tracking import Tracking


async def tracking(request: Request) -> Tracking:
    """The tracking service the app was created with."""
    service: Tracking = request.app.state.service
    return service


Service = Annotated[Tracking, Depends(tracking)]

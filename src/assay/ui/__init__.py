"""The web UI: server-rendered pages over the tracking service, behind the same auth as the API."""

from __future__ import annotations

from assay.ui.views import router

__all__ = ["router"]

"""Team mode's HTTP server: the tracking service as a REST API (FastAPI), see ``assay.server.app``.

``schemas`` (JSON bodies) and ``wire`` (msgpack bodies) are the contract the remote client shares; they do
not import FastAPI, and neither does this package until ``create_app`` is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.server.app import create_app


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from assay.server.app import create_app

        return create_app
    raise AttributeError(f"module 'assay.server' has no attribute {name!r}")


__all__ = ["create_app"]

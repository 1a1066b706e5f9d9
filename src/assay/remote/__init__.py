"""Team mode's client: the ``Tracking`` interface over the server's HTTP API.

``assay.bundle.register("http", remote_backend)`` makes ``Client(tracking_uri="http://host:port")`` and
``ASSAY_TRACKING_URI=http://...`` use it.
"""

from __future__ import annotations

from assay.remote.client import RemoteTracking, remote_backend, remote_services
from assay.remote.errors import ServerError

__all__ = ["RemoteTracking", "ServerError", "remote_backend", "remote_services"]

"""Which ``Host`` names a server without auth answers: a guard against DNS rebinding.

``assay ui`` and a server started without ``--auth`` serve every caller as the local admin and listen on
loopback. A web page on another site cannot read them directly (the browser's same-origin rule), but it
can point its own host name at 127.0.0.1 (DNS rebinding) and then read them as "itself". The request then
carries that foreign name in its ``Host`` header, so such a server answers only the loopback names, plus
any listed in ``ASSAY_ALLOWED_HOSTS`` (comma-separated) for a deliberate setup behind a proxy.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def allowed_hosts_from_env() -> list[str]:
    """The loopback names plus ``ASSAY_ALLOWED_HOSTS``."""
    extra = [h.strip().lower() for h in os.environ.get("ASSAY_ALLOWED_HOSTS", "").split(",") if h.strip()]
    return [*LOOPBACK_NAMES, *extra]


def host_name(header: str) -> str:
    """The name part of a ``Host`` header, without the port (``[::1]:5000`` -> ``::1``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _is_loopback_address(name: str) -> bool:
    """An address literal in 127.0.0.0/8 or ::1 (a server may bind any of them without auth)."""
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class AllowedHosts:
    """ASGI middleware: answer 400 in the API's error shape to a request for a host not in the list."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str]) -> None:
        self.app = app
        self.hosts = frozenset(h.lower() for h in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        name = host_name(raw)
        if name in self.hosts or _is_loopback_address(name):
            await self.app(scope, receive, send)
            return
        message = (
            f"this server answers only the names {', '.join(sorted(self.hosts))}, not {raw!r}: it has no "
            "auth, so it serves loopback only; to serve another name start it with --auth, or list the "
            "name in ASSAY_ALLOWED_HOSTS"
        )
        body = orjson.dumps({"error": {"code": "INVALID_ARGUMENT", "message": message}})
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

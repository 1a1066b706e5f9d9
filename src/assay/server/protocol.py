"""uvicorn's HTTP protocol with TCP_NODELAY set on every accepted connection.

asyncio turns Nagle's algorithm off only on sockets whose ``proto`` is IPPROTO_TCP. uvicorn's multi-worker
supervisor binds its listener with ``proto`` 0, so the connections it accepts keep Nagle on, and a
response written as headers then body waits for the client's delayed ACK: about 40 ms per request on a
keep-alive connection (uvicorn issue #3149, open in 0.54). Setting the option here is right whichever way
the listening socket was made. httptools is used when installed (faster parsing), else h11.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
from typing import TYPE_CHECKING

HAS_HTTPTOOLS = importlib.util.find_spec("httptools") is not None

if TYPE_CHECKING:
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Base
elif HAS_HTTPTOOLS:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
else:
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Base


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Send small writes at once on ``transport``'s TCP socket (a no-op for other sockets)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayProtocol(_Base):
    """The HTTP/1.1 protocol uvicorn would pick, with Nagle's algorithm off."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)

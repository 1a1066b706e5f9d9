"""A real API server on a loopback port inside the current process, for tests and notebooks.

``ServerThread(service)`` runs uvicorn on a background thread over a socket it bound itself (port 0, so no
race for a free port) and stops it on exit. Requests cross a real TCP connection and the real HTTP stack,
which FastAPI's TestClient skips; a separate process (``assay.server.main.serve``) is still the way to
test a server that dies.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from assay.server.app import create_app
from assay.server.protocol import NoDelayProtocol
from assay.services import Services


class ServerThread:
    """``with ServerThread(services) as url:`` serves ``services`` at ``url`` (``http://127.0.0.1:<port>``);
    with ``auth`` every request needs a token, as in team mode."""

    def __init__(
        self,
        services: Services | None = None,
        startup_timeout: float = 10.0,
        auth: bool = False,
        app: Any = None,
    ) -> None:
        """Serve ``services`` (the API and UI), or any ASGI ``app`` (such as a model being served)."""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        if app is None:
            assert services is not None, "give the services to serve, or an app"
            app = create_app(services, auth=auth)
        config = uvicorn.Config(app, loop="asyncio", http=NoDelayProtocol, log_level="warning")
        self.server = uvicorn.Server(config)
        self.startup_timeout = startup_timeout
        self.thread = threading.Thread(target=self.server.run, args=([self.sock],), daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the test server at {self.url} did not start")
            time.sleep(0.005)
        return self.url

    def __exit__(
        self, tp: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=10)
        self.sock.close()

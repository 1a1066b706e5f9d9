"""``serve(...)``: run the API server over the embedded tracking service of a SQL store (team mode).

The store is opened (and migrated) once in this process before uvicorn starts, so several workers never
race to migrate it. With one worker that service is served directly; with more, each worker process builds
its own from the environment (``ASSAY_SERVER_STORE``, ``ASSAY_SERVER_ARTIFACTS``) through ``app_from_env``.
"""

from __future__ import annotations

import ipaddress
import os
from typing import TYPE_CHECKING

import uvicorn
from fastapi import FastAPI

from assay import bundle
from assay.access import AccessPolicy, parse_lifetime
from assay.errors import InvalidInput, InvalidState
from assay.server.app import create_app
from assay.server.protocol import NoDelayProtocol
from assay.services import Services
from assay.store.sql.dialect import DEFAULT_SERVER_CONNECTIONS, normalize_url, pool_sizes

if TYPE_CHECKING:
    from assay.runner.scheduler import Scheduler

_STORE_ENV = "ASSAY_SERVER_STORE"
_ARTIFACTS_ENV = "ASSAY_SERVER_ARTIFACTS"
_AUTH_ENV = "ASSAY_SERVER_AUTH"
_WORKERS_ENV = "ASSAY_SERVER_WORKERS"


def build_services(store_uri: str, artifacts: str | None = None, workers: int = 1) -> Services:
    """The embedded services over ``store_uri`` (a SQLite path or postgresql:// URL), for one of
    ``workers`` server processes (its share of the PostgreSQL connections: ``dialect.pool_sizes``).

    Artifacts go to ``artifacts`` if given, else where the embedded mode puts them ($ASSAY_ARTIFACT_ROOT,
    else next to a SQLite file, else $ASSAY_HOME/artifacts).
    """
    if bundle.scheme(store_uri) not in ("sqlite", "postgresql"):
        raise InvalidInput(
            f"the server needs a SQL store (a SQLite path or postgresql:// URL), not {store_uri!r}"
        )
    total = int(os.environ.get("ASSAY_DB_POOL_SIZE", str(DEFAULT_SERVER_CONNECTIONS)))
    return bundle.embedded_services(store_uri, artifacts, pool_sizes(workers, total))


def app_from_env() -> FastAPI:
    """The app of one worker process (uvicorn's factory when ``workers > 1``)."""
    store = os.environ.get(_STORE_ENV)
    if not store:
        raise InvalidInput(f"${_STORE_ENV} names no store: start the server with assay.server.main.serve")
    workers = int(os.environ.get(_WORKERS_ENV, "1"))
    services = build_services(store, os.environ.get(_ARTIFACTS_ENV) or None, workers)
    return create_app(services, owns_services=True, auth=os.environ.get(_AUTH_ENV) == "1")


def access_policy(max_token_days: float | None, session_lifetime: str | None) -> AccessPolicy:
    """The sign-in and token rules of ``assay server --max-token-days N --session-lifetime 12h``."""
    if max_token_days is not None and not max_token_days > 0:
        raise InvalidInput(f"--max-token-days must be a positive number of days, got {max_token_days}")
    seconds = parse_lifetime(session_lifetime, "--session-lifetime") if session_lifetime else None
    if session_lifetime and seconds is None:
        raise InvalidInput("--session-lifetime cannot be never: give a lifetime such as 12h")
    return AccessPolicy(max_token_days, seconds or AccessPolicy().session_lifetime_s)


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server to this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_team_mode(services: Services, store_uri: str) -> None:
    """Refuse to start an auth-requiring server nobody could call: there must be a user first."""
    assert services.authorizer is not None
    if not services.authorizer.has_users():
        from sqlalchemy.engine import make_url

        shown = make_url(normalize_url(store_uri)).render_as_string(hide_password=True)
        raise InvalidState(
            "this server requires API tokens but its store has no users yet: create an admin first with "
            f"`assay admin create-user NAME --admin --store '{shown}'`"
        )


def serve(
    store_uri: str,
    artifacts: str | None,
    host: str,
    port: int,
    workers: int = 1,
    access_log: bool = False,
    auth: bool = False,
    policy: AccessPolicy | None = None,
    scheduler: bool = False,
) -> None:
    """Serve the API for ``store_uri`` on ``host:port`` until interrupted (blocks).

    Auth (a bearer token on every route) is on with ``auth`` and whenever ``host`` is not loopback.
    The access log is off by default: each logging client posts a batch every few tens of milliseconds.
    ``policy`` (token lifetimes, sign-in sessions) reaches every worker through the environment.
    With ``scheduler``, this process also fires due schedules (``assay.runner.scheduler``) on a thread
    over its own services, whatever the number of workers.
    """
    if workers < 1:
        raise InvalidInput(f"workers must be at least 1, got {workers}")
    auth = auth or not is_loopback(host)
    if policy is not None:
        if policy.max_token_days is not None:
            os.environ[AccessPolicy.MAX_TOKEN_DAYS_ENV] = repr(policy.max_token_days)
        os.environ[AccessPolicy.SESSION_LIFETIME_ENV] = f"{policy.session_lifetime_s}s"
    services = build_services(store_uri, artifacts, workers)
    try:
        if auth:
            check_team_mode(services, store_uri)
    except BaseException:
        services.close()
        raise
    if workers > 1 and not scheduler:
        services.close()  # each worker opens its own; this process keeps none
        _serve_workers(store_uri, artifacts, host, port, workers, access_log, auth)
        return
    loop = _scheduler(services) if scheduler else None
    try:
        if workers == 1:
            _run(create_app(services, auth=auth), host, port, 1, access_log)
        else:  # the workers open their own services; these stay for the scheduler
            _serve_workers(store_uri, artifacts, host, port, workers, access_log, auth)
    finally:
        if loop is not None:
            loop.stop()
        services.close()


def _serve_workers(
    store_uri: str, artifacts: str | None, host: str, port: int, workers: int, access_log: bool, auth: bool
) -> None:
    os.environ[_STORE_ENV] = store_uri
    os.environ[_ARTIFACTS_ENV] = artifacts or ""
    os.environ[_AUTH_ENV] = "1" if auth else "0"
    os.environ[_WORKERS_ENV] = str(workers)
    _run("assay.server.main:app_from_env", host, port, workers, access_log)


def _scheduler(services: Services) -> Scheduler:
    from assay.runner.scheduler import Scheduler

    return Scheduler(services.jobs).start()


def _run(app: FastAPI | str, host: str, port: int, workers: int, access_log: bool) -> None:
    uvicorn.run(
        app,
        host=host,
        port=port,
        workers=workers,
        factory=isinstance(app, str),
        loop="asyncio",
        http=NoDelayProtocol,  # httptools or h11, with TCP_NODELAY (see assay.server.protocol)
        # The SDK's writer reuses its connection between batches (every 50 ms or so while logging).
        timeout_keep_alive=30,
        access_log=access_log,
    )

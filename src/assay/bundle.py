"""The composition root: a URI names one bundle of services, built in this one visible place.

``services(uri)`` returns the ``Services`` of the store or server at ``uri``: ``tracking``, ``access`` and
``registry`` and ``jobs`` (the runner's queue and schedules). The URI's scheme
picks the implementations through a public registry: ``sqlite`` (and plain paths) and ``postgresql``
build the embedded services over one SQL store, ``http``/``https`` the remote ones over one HTTP client,
and ``register(scheme, factory)`` adds another. Bundles are cached per store (every spelling of a store
shares one), so every Client of a process shares one connection pool and one background writer per store.

A bundle is used as one caller: embedded, the local admin of the store; remote, the owner of the token.
A server binds the bundle to each request's caller with ``Services.as_caller``, which puts
``assay.services.authorized`` in front, so every call is checked against that caller's roles.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from assay.access import LOCAL_ADMIN
from assay.errors import InvalidInput
from assay.services import Services
from assay.services.access import Access
from assay.services.registry import Registry
from assay.services.tracking import Tracking

Factory = Callable[[str], Services]

_factories: dict[str, Factory] = {}
_cache: dict[str, Services] = {}
_lock = threading.Lock()


def register(scheme: str, factory: Factory) -> None:
    """Make ``factory(uri)`` build the services for URIs starting with ``scheme://``."""
    _factories[scheme] = factory


def assay_home() -> Path:
    """``$ASSAY_HOME``, default ``./.assay``: the embedded store and artifacts live here."""
    return Path(os.environ.get("ASSAY_HOME", ".assay")).expanduser()


def default_tracking_uri() -> str:
    """``$ASSAY_TRACKING_URI``, else the SQLite store in ``$ASSAY_HOME``."""
    return os.environ.get("ASSAY_TRACKING_URI") or str(assay_home().resolve() / "assay.db")


def scheme(uri: str) -> str:
    """The registry key of ``uri``: its scheme without a driver (``postgresql+psycopg`` -> ``postgresql``);
    a plain path is ``sqlite``."""
    if "://" not in uri:
        return "sqlite"
    scheme = uri.split("://", 1)[0].split("+", 1)[0]
    return "postgresql" if scheme == "postgres" else scheme


def embedded_services(
    uri: str, artifacts: str | None = None, pool: tuple[int, int] | None = None
) -> Services:
    """The in-process services over the SQL store at ``uri`` (one store for all of them), with artifacts
    under ``artifacts``, else ``$ASSAY_ARTIFACT_ROOT``, else next to a SQLite file, else
    ``$ASSAY_HOME/artifacts``; ``pool`` sizes a PostgreSQL connection pool (see ``dialect.pool_sizes``)."""
    from assay.embedded.access import AccessService
    from assay.embedded.jobs import JobsService
    from assay.embedded.registry import RegistryService
    from assay.embedded.tracking import TrackingService
    from assay.store.sql import SqlStore

    store = SqlStore(uri, pool)
    root = artifacts or os.environ.get("ASSAY_ARTIFACT_ROOT")
    if not root:
        if store.url.startswith("sqlite:///") and store.url != "sqlite:///:memory:":
            root = str(Path(store.url[len("sqlite:///") :]).parent / "artifacts")
        else:
            root = str((assay_home() / "artifacts").resolve())
    authorizer = AccessService(store.access)
    tracking = TrackingService(store.tracking, root)
    registry = RegistryService(store.registry, tracking, root)
    jobs = JobsService(store.jobs, tracking)
    return Services(tracking, authorizer.scoped(LOCAL_ADMIN), registry, jobs, authorizer)


def _remote(uri: str) -> Services:
    from assay.remote import remote_services  # httpx and pydantic load only for a server URI

    return remote_services(uri)


register("sqlite", embedded_services)
register("postgresql", embedded_services)
register("http", _remote)
register("https", _remote)


def _cache_key(uri: str) -> str:
    """One key for every spelling of the same store (a path, ``sqlite:///`` relative or absolute, a
    trailing slash on a server URL), so every Client of a store in a process shares its backend and writer."""
    kind = scheme(uri)
    if kind == "sqlite":
        raw = uri[len("sqlite:///") :] if uri.startswith("sqlite:///") else uri
        if raw in ("", ":memory:") or (uri.startswith("sqlite:") and not uri.startswith("sqlite:///")):
            return uri
        path = Path(raw).expanduser()
        if "://" not in uri and path.suffix != ".db":
            path = path / "assay.db"
        return f"sqlite:///{path.resolve()}"
    if kind == "postgresql":
        return "postgresql://" + uri.split("://", 1)[1]
    if kind in ("http", "https"):
        return uri.rstrip("/")
    return uri


def services(uri: str | None = None) -> Services:
    """The (cached) services of the store or server at ``uri``, default ``default_tracking_uri()``."""
    uri = uri or default_tracking_uri()
    key = _cache_key(uri)
    with _lock:
        found = _cache.get(key)
        if found is None:
            factory = _factories.get(scheme(uri))
            if factory is None:
                known = ", ".join(sorted(_factories))
                raise InvalidInput(f"no tracking backend for {uri!r}: known schemes are {known}, or a path")
            found = _cache[key] = factory(uri)
        return found


def get_backend(uri: str | None = None) -> Tracking:
    """The tracking service of ``uri`` (``services(uri).tracking``)."""
    return services(uri).tracking


def get_registry(uri: str | None = None) -> Registry:
    """The model registry of ``uri`` (``services(uri).registry``)."""
    return services(uri).registry


def get_access(uri: str | None = None) -> Access:
    """Team operations (tokens, projects, members, users) on the store or server at ``uri``: on a store
    as its local admin, on a server as the owner of the client's token."""
    return services(uri).access


def reset() -> None:
    """Forget cached bundles (closing them); tests use it after changing ASSAY_TRACKING_URI."""
    with _lock:
        for b in _cache.values():
            b.close()
        _cache.clear()

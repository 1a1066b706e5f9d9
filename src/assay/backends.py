"""Which tracking backend a URI names: a public registry of URI schemes, in one visible place.

``sqlite``/plain paths and ``postgresql`` open the embedded service over the SQL store; team mode registers
``http``/``https`` here. ``register(scheme, factory)`` adds another. Backends are cached per URI, so every
Client of a process shares one connection pool and one background writer per store.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from assay.errors import InvalidInput
from assay.services.tracking import Tracking

if TYPE_CHECKING:
    from assay.embedded.tracking import TrackingService
    from assay.services.access import Access

Factory = Callable[[str], Tracking]

_factories: dict[str, Factory] = {}
_cache: dict[str, Tracking] = {}
_lock = threading.Lock()


def register(scheme: str, factory: Factory) -> None:
    """Make ``factory(uri)`` the backend for URIs starting with ``scheme://``."""
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


def _embedded(uri: str) -> Tracking:
    return embedded_service(uri)


def embedded_service(
    uri: str, artifacts: str | None = None, pool: tuple[int, int] | None = None
) -> TrackingService:
    """The in-process service over the SQL store at ``uri``, with its artifacts under ``artifacts``, else
    ``$ASSAY_ARTIFACT_ROOT``, else next to a SQLite file, else ``$ASSAY_HOME/artifacts``."""
    from assay.embedded.tracking import TrackingService
    from assay.store.sql import SqlStore

    store = SqlStore(uri, pool)
    if artifacts:
        return TrackingService(store, artifacts)
    root = os.environ.get("ASSAY_ARTIFACT_ROOT")
    if not root:
        if store.url.startswith("sqlite:///") and store.url != "sqlite:///:memory:":
            root = str(Path(store.url[len("sqlite:///") :]).parent / "artifacts")
        else:
            root = str((assay_home() / "artifacts").resolve())
    return TrackingService(store, root)


def _remote(uri: str) -> Tracking:
    from assay.remote import remote_backend  # httpx and pydantic load only for a server URI

    return remote_backend(uri)


register("sqlite", _embedded)
register("postgresql", _embedded)
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


def get_backend(uri: str | None = None) -> Tracking:
    """The (cached) backend for ``uri``, default ``default_tracking_uri()``."""
    uri = uri or default_tracking_uri()
    key = _cache_key(uri)
    with _lock:
        backend = _cache.get(key)
        if backend is None:
            factory = _factories.get(scheme(uri))
            if factory is None:
                known = ", ".join(sorted(_factories))
                raise InvalidInput(f"no tracking backend for {uri!r}: known schemes are {known}, or a path")
            backend = _cache[key] = factory(uri)
        return backend


def get_access(uri: str | None = None) -> Access:
    """Team operations (tokens, projects, members, users) on the store or server at ``uri``.

    On a store (embedded) they run as the local admin; on a server, as the owner of the client's token.
    """
    backend = get_backend(uri)
    from assay.embedded.tracking import TrackingService

    if isinstance(backend, TrackingService):
        from assay.embedded.access import AccessService

        return AccessService(backend.store).scoped()
    from assay.remote import RemoteTracking

    if isinstance(backend, RemoteTracking):
        return backend.access()
    raise InvalidInput(f"the backend for {uri!r} has no users or projects")


def reset() -> None:
    """Forget cached backends (closing them); tests use it after changing ASSAY_TRACKING_URI."""
    with _lock:
        for b in _cache.values():
            b.close()
        _cache.clear()

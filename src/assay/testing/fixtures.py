"""The fixtures of the conformance suites: each service's tests run on every implementation.

``tracking_uri`` (and ``services``, the bundle it names) takes three values: an embedded SQLite store, the
real PostgreSQL on 127.0.0.1:5432 (a database per test session, emptied between tests), and a real server
on a loopback port, with auth on, called as a user who owns the "default" project but is no admin, so
that every role check runs. Load them with ``pytest_plugins = ["assay.testing.fixtures"]``.

``store_services`` is the store behind ``tracking_uri`` as the store itself holds it (the server's own
services over HTTP), for a test to set up what the caller under test may not see; ``caller_services`` is
the caller under test held to its roles everywhere: over HTTP the client's, embedded the store's bound to
a non-admin user made as the server's is.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from assay import bundle
from assay.access import Role
from assay.sdk import fluent, session
from assay.services import Services

#: The user the suites call as when roles are checked: owner of "default", no admin.
TESTER = "tester"
#: Where ``tracking_uri`` keeps the server's own services when it runs one (``store_services``).
_SERVER_SERVICES = pytest.StashKey[Services]()

PG_ADMIN_URL = os.environ.get("ASSAY_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
# One database per test session (pid in the name), so concurrent sessions never drop each other's.
PG_DB = f"assay_test_{os.getpid()}"
PG_URL = f"postgresql://postgres@127.0.0.1:5432/{PG_DB}"
_TABLES = (
    "ingested_batches, metric_chunks, latest_metrics, params, tags, runs, experiments, "
    "project_members, api_tokens, users, run_datasets, datasets, performance_records, alias_policies, "
    "alias_events, model_aliases, version_reports, project_settings, version_tags, model_versions, "
    "model_tags, registered_models, job_logs, jobs, schedules, login_attempts"
)


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh database for the session on the local PostgreSQL (make test starts the server)."""
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail(
                "PostgreSQL is not reachable on 127.0.0.1:5432 (scripts/ensure-postgres.sh starts it)"
            )
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_DB}")
    yield PG_URL
    reset_sdk()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")


def _truncate_pg(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('public.runs')").fetchone()
        if exists and exists[0]:
            conn.execute(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE")
            # Project 1, "default", comes with the schema and stays.
            conn.execute("DELETE FROM projects WHERE project_id <> 1")
            conn.execute("SELECT setval(pg_get_serial_sequence('projects', 'project_id'), 1)")


@pytest.fixture
def services(tracking_uri: str) -> Services:
    """The services bundle of ``tracking_uri``: what a new service's conformance suite is written against."""
    return bundle.services(tracking_uri)


@pytest.fixture
def store_services(request: pytest.FixtureRequest, tracking_uri: str) -> Services:
    """The services of the store behind ``tracking_uri``, bound to no caller (over HTTP, the server's own):
    to make what the caller under test is not to see, such as a project it holds no role in."""
    served = request.node.stash.get(_SERVER_SERVICES, None)
    return served if served is not None else bundle.services(tracking_uri)


@pytest.fixture
def caller_services(request: pytest.FixtureRequest, tracking_uri: str, store_services: Services) -> Services:
    """The services as the non-admin user ``TESTER``, owner of "default" only: over HTTP the client's
    (the server checks its roles); embedded, the store's bound to such a user (``Services.as_caller``), so
    the role rules run on SQLite and PostgreSQL too."""
    if request.node.stash.get(_SERVER_SERVICES, None) is not None:
        return bundle.services(tracking_uri)
    assert store_services.authorizer is not None
    secret = store_services.access.create_user(TESTER).secret
    store_services.access.set_member("default", TESTER, Role.OWNER)
    return store_services.as_caller(store_services.authorizer.authenticate(secret))


def reset_sdk() -> None:
    """Close writers and cached backends, and forget the fluent API's state."""
    while fluent._state.stack:
        fluent.end_run()
    session.reset()
    fluent.set_tracking_uri(None)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "http"])
def tracking_uri(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A tracking URI of an empty store, set as ASSAY_TRACKING_URI; artifacts under tmp_path."""
    if request.param == "http":
        yield from _http_uri(request, tmp_path, monkeypatch)
        return
    if request.param == "sqlite":
        uri = str(tmp_path / "store" / "assay.db")
    else:
        uri = request.getfixturevalue("pg_database")
        _truncate_pg(uri)
    monkeypatch.setenv("ASSAY_TRACKING_URI", uri)
    monkeypatch.setenv("ASSAY_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    monkeypatch.setenv("ASSAY_SYSTEM_METRICS", "0")
    monkeypatch.chdir(tmp_path)
    reset_sdk()
    yield uri
    reset_sdk()


@pytest.fixture
def sqlite_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An embedded SQLite store only (for tests about the embedded default)."""
    uri = str(tmp_path / "store" / "assay.db")
    monkeypatch.setenv("ASSAY_TRACKING_URI", uri)
    monkeypatch.setenv("ASSAY_SYSTEM_METRICS", "0")
    monkeypatch.chdir(tmp_path)
    reset_sdk()
    yield uri
    reset_sdk()


def _http_uri(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The URL of a real server (on a thread) over a fresh SQLite store, with auth on: the same tests over
    HTTP, as a user who owns the "default" project but is no admin, so every role check runs."""
    from assay.server.main import build_services
    from assay.server.testing import ServerThread

    services = build_services(str(tmp_path / "server" / "assay.db"), str(tmp_path / "server" / "artifacts"))
    request.node.stash[_SERVER_SERVICES] = services
    token = services.access.create_user(TESTER).secret
    services.access.set_member("default", TESTER, Role.OWNER)
    monkeypatch.setenv("ASSAY_SYSTEM_METRICS", "0")
    monkeypatch.setenv("ASSAY_TRACKING_TOKEN", token)
    monkeypatch.chdir(tmp_path)
    try:
        with ServerThread(services, auth=True) as url:
            monkeypatch.setenv("ASSAY_TRACKING_URI", url)
            reset_sdk()
            yield url
            reset_sdk()
    finally:
        services.close()

"""The fixtures of the conformance suites: each service's tests run on every implementation.

``tracking_uri`` (and ``services``, the bundle it names) takes three values: an embedded SQLite store, the
real PostgreSQL on 127.0.0.1:5432 (a database per test session, emptied between tests), and a real server
on a loopback port, with auth on, called as a user who owns the "default" project but is no admin, so
that every role check runs. Load them with ``pytest_plugins = ["assay.testing.fixtures"]``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from assay import bundle
from assay.sdk import fluent, session
from assay.services import Services

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
        yield from _http_uri(tmp_path, monkeypatch)
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


def _http_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The URL of a real server (on a thread) over a fresh SQLite store, with auth on: the same tests over
    HTTP, as a user who owns the "default" project but is no admin, so every role check runs."""
    from assay.access import Role
    from assay.server.main import build_services
    from assay.server.testing import ServerThread

    services = build_services(str(tmp_path / "server" / "assay.db"), str(tmp_path / "server" / "artifacts"))
    token = services.access.create_user("tester").secret
    services.access.set_member("default", "tester", Role.OWNER)
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

"""Bring a store's schema to the current revision with Alembic, cheaply when it already is.

Opening a store checks the recorded revision with one query; Alembic (a few hundred ms to load) runs only
when the schema is behind.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from assay.errors import InvalidState

#: The newest migration in ``migrations/versions``; a test checks it is Alembic's head.
HEAD_REVISION = "0010"

_SCRIPTS = Path(__file__).parent / "migrations"


def current_revision(engine: Engine) -> str | None:
    """The revision recorded in the store, or None for an empty database."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the migrations up to ``revision`` (default: the newest)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    # Take the write lock first, so two processes opening a new store migrate it once, one after the other.
    with engine.connect().execution_options(assay_write=True) as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            _sqlite_foreign_keys(conn, on=False)
        try:
            with conn.begin():
                if not sqlite:
                    conn.execute(text("SELECT pg_advisory_xact_lock(7352918)"))
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                if sqlite:
                    _check_references(conn)
        finally:
            if sqlite:
                _sqlite_foreign_keys(conn, on=True)


def _sqlite_foreign_keys(conn: Connection, on: bool) -> None:
    """Turn SQLite's foreign key checks on or off for this connection (outside a transaction only).

    A migration that recreates a table others refer to (batch mode: copy, drop, rename) would otherwise
    fail at its DROP, as if every referring row had lost its parent; SQLite's procedure for such changes is
    to turn the checks off, change, and verify with ``foreign_key_check`` before committing."""
    conn.connection.driver_connection.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")  # type: ignore[union-attr]


def _check_references(conn: Connection) -> None:
    """Refuse to commit a SQLite migration that left a row referring to a missing one."""
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").first()
    if broken is not None:
        raise InvalidState(f"a migration left table {broken[0]} referring to a missing row of {broken[2]}")


def ensure_schema(engine: Engine) -> None:
    """Create or upgrade the schema if it is not at HEAD_REVISION; refuse a store newer than this assay."""
    rev = current_revision(engine)
    if rev == HEAD_REVISION:
        return
    if rev is not None and not any((_SCRIPTS / "versions").glob(f"{rev}_*.py")):
        raise InvalidState(f"the store's schema revision {rev!r} is newer than this assay; upgrade assay")
    upgrade(engine)

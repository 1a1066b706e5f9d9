"""Everything that differs between SQLite and PostgreSQL lives here, and only here.

URL normalisation, engine set-up (SQLite: WAL, NORMAL sync, busy timeout, BEGIN IMMEDIATE for writes),
upserts, and JSON aggregation used by search.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Table, case, cast, event, func, type_coerce
from sqlalchemy.engine import Connection, Engine, create_engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import Text

from assay.errors import InvalidInput, MissingDependency

#: Execution option that makes a SQLite transaction take the write lock at BEGIN, so two writers
#: wait on the busy timeout instead of failing to upgrade a read lock.
WRITE = {"assay_write": True}


def normalize_url(uri: str) -> str:
    """Turn what a user may write (a path, ``sqlite:///x.db``, ``postgresql://...``) into a SQLAlchemy URL."""
    if uri.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + uri.split("://", 1)[1]
    if uri.startswith(("postgresql+", "sqlite:")):
        return uri
    if "://" in uri:
        raise InvalidInput(
            f"unsupported store URI {uri!r}: use a SQLite path, sqlite:///path.db or postgresql://user@host/db"
        )
    path = Path(uri).expanduser()
    if path.suffix != ".db":
        path = path / "assay.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


def create_store_engine(url: str) -> Engine:
    """An engine for ``url`` set up for assay's access pattern."""
    if url.startswith("postgresql"):
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise MissingDependency(
                "PostgreSQL needs the psycopg driver: pip install 'assay[postgres]'"
            ) from exc
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    memory = url in ("sqlite://", "sqlite:///:memory:")
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 60},
        **({"poolclass": StaticPool} if memory else {}),
    )
    _configure_sqlite(engine, memory)
    return engine


def _configure_sqlite(engine: Engine, memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _on_begin)
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA case_sensitive_like=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("assay_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _insert(engine: Engine, table: Table) -> Any:
    if is_sqlite(engine):
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    from sqlalchemy.dialects import postgresql

    return postgresql.insert(table)


def upsert(engine: Engine, table: Table, keys: Sequence[str], update: dict[str, Any]) -> Any:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE SET update`` for either backend.

    ``update`` values may be callables taking the ``excluded`` pseudo-table and the target table.
    """
    stmt = _insert(engine, table)
    values = {k: (v(stmt.excluded, table) if callable(v) else v) for k, v in update.items()}
    return stmt.on_conflict_do_update(index_elements=list(keys), set_=values)


def insert_ignore(engine: Engine, table: Table, keys: Sequence[str]) -> Any:
    """``INSERT ... ON CONFLICT (keys) DO NOTHING`` for either backend."""
    return _insert(engine, table).on_conflict_do_nothing(index_elements=list(keys))


def json_object_agg(engine: Engine, key: ColumnElement[Any], value: ColumnElement[Any]) -> ColumnElement[Any]:
    """An aggregate building a JSON object ``{key: value}`` over the group, as text."""
    if is_sqlite(engine):
        return type_coerce(func.json_group_object(key, value), Text)
    return cast(func.json_object_agg(key, value), Text)  # text, not a psycopg-parsed dict


def json_array(engine: Engine, *items: ColumnElement[Any]) -> ColumnElement[Any]:
    """A JSON array of ``items``. Infinite floats come out as the strings ``"Inf"``/``"Infinity"``."""
    if is_sqlite(engine):
        # SQLite writes a bare `Inf` token that no JSON parser accepts: make it a string instead.
        safe = [
            case((func.abs(i) > 1.7976931348623157e308, type_coerce(i, Text) + ""), else_=i) for i in items
        ]
        return func.json_array(*safe)
    return func.json_build_array(*items)


def default_sqlite_home() -> Path:
    """``$ASSAY_HOME`` or ``./.assay``: where the embedded store and artifacts live."""
    return Path(os.environ.get("ASSAY_HOME", ".assay")).expanduser()

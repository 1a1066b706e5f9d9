"""Everything that differs between SQLite and PostgreSQL lives here, and only here.

URL normalisation, engine set-up (SQLite: WAL, NORMAL sync, busy timeout, BEGIN IMMEDIATE for writes, the
functions registered on each connection; PostgreSQL: the pool's size), which driver errors mean the store
is unavailable, upserts, the one-parameter ``IN`` of a list of ids, and the LIKE used by search.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Select, Table, event, func
from sqlalchemy.engine import Connection, Engine, create_engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.elements import ColumnElement

from assay.errors import InvalidInput, MissingDependency, Unavailable


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


#: PostgreSQL connections one server may hold in all, whatever its worker count (ASSAY_DB_POOL_SIZE).
#: PostgreSQL's own default limit is 100 connections, shared with every other client of the database.
DEFAULT_SERVER_CONNECTIONS = 40


def pool_sizes(workers: int, total: int = DEFAULT_SERVER_CONNECTIONS) -> tuple[int, int]:
    """(pool size, overflow) of each of ``workers`` server processes, so that all of them together hold
    at most about ``total * 1.25`` connections: 40 + 10 for one worker, 20 + 5 each for two."""
    size = max(2, -(-total // max(1, workers)))
    return size, max(1, size // 4)


def create_store_engine(url: str, pool: tuple[int, int] | None = None) -> Engine:
    """An engine for ``url`` set up for assay's access pattern; ``pool`` is the PostgreSQL pool's
    (size, overflow): a server's share of its connections (``pool_sizes``), else SQLAlchemy's 5 + 10."""
    if url.startswith("postgresql"):
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise MissingDependency(
                "PostgreSQL needs the psycopg driver: pip install 'assay[postgres]'"
            ) from exc
        # A server's pool keeps as many idle connections as its share allows (one worker: as many as the
        # threadpool can use at once, anyio's default being 40 threads): with fewer, every burst of
        # requests opened and closed connections, and a new PostgreSQL connection (a forked backend) costs
        # more than the statements it runs. Connections are made lazily, so an idle server holds only what
        # it has needed. An SDK process needs a few at most. No ping before each checkout (a round trip per
        # transaction): a connection found dropped is discarded with the pool and the work retried once
        # (``prepared.with_retry``).
        size, overflow = pool or (5, 10)
        # No JIT and no parallel workers: JIT's compile (10-15 ms) costs more than assay's short, indexed
        # queries run, and a parallel plan sorts every row in each worker where one index walk stops after a
        # page; the planner picks both for them once a million-run table makes their cost estimates large.
        engine = create_engine(
            url,
            pool_size=size,
            max_overflow=overflow,
            connect_args={"options": "-c jit=off -c max_parallel_workers_per_gather=0"},
        )
        _translate_errors(engine)
        return engine
    memory = url in ("sqlite://", "sqlite:///:memory:")
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 60},
        **({"poolclass": StaticPool} if memory else {}),
    )
    _configure_sqlite(engine, memory)
    _translate_errors(engine)
    return engine


#: SQLite errors that mean "cannot get at the database now", as opposed to a bad statement.
_SQLITE_UNAVAILABLE = (
    "unable to open database file",
    "database is locked",
    "disk i/o error",
    "is full",
    "readonly database",
)


def unavailable(engine: Engine, exc: BaseException) -> Unavailable | None:
    """The ``Unavailable`` error for a driver error that means the store cannot be reached or opened
    (naming the store without its password and what to check), or None for any other error."""
    if engine.dialect.name == "sqlite":
        text = str(exc).lower()
        if type(exc).__name__ != "OperationalError" or not any(m in text for m in _SQLITE_UNAVAILABLE):
            return None
        path = engine.url.database or ""
        if "locked" in text:
            return Unavailable(f"the SQLite store {path} stayed locked by another writer for 60 s; try again")
        return Unavailable(
            f"cannot open or write the SQLite store {path} ({exc}): its directory must exist and be "
            "writable; create it or fix its permissions, or point --tracking-uri / ASSAY_TRACKING_URI "
            "at another file"
        )
    if type(exc).__module__.startswith("psycopg") and isinstance(
        exc, engine.dialect.loaded_dbapi.OperationalError
    ):
        shown = engine.url.set(drivername="postgresql").render_as_string(hide_password=True)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Unavailable(
            f"cannot reach the PostgreSQL store {shown} ({first}): check that the server is running and the "
            "URI is right (--tracking-uri / ASSAY_TRACKING_URI)"
        )
    return None


def _translate_errors(engine: Engine) -> None:
    """Driver errors that mean "unavailable" surface as ``assay.errors.Unavailable`` (statements and
    connection attempts made through SQLAlchemy; ``prepared.raw_transaction`` does the same for its own)."""

    @event.listens_for(engine, "handle_error")
    def _on_error(ctx: Any) -> BaseException | None:
        return unavailable(engine, ctx.original_exception)


def _lower(value: Any) -> Any:
    """``assay_lower``: Python's lower-casing, which unlike SQLite's lower() folds non-ASCII letters too.

    str.lower rather than str.casefold: like PostgreSQL's lower() it keeps a letter one letter (casefold
    makes ``ß`` ``ss``), so ``_`` in an ilike pattern still matches it on both backends.
    """
    return value.lower() if isinstance(value, str) else value


def _float_repr(value: Any) -> str | None:
    """``assay_float_repr``: the shortest text that reads back as the same double (``inf``, ``-inf``)."""
    return None if value is None else repr(float(value))


def _configure_sqlite(engine: Engine, memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _on_begin)
        dbapi_conn.create_function("assay_lower", 1, _lower, deterministic=True)
        dbapi_conn.create_function("assay_float_repr", 1, _float_repr, deterministic=True)
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


def rows_by_ids_sql(engine: Engine, columns: str, table: str, key: str) -> tuple[str, Any]:
    """SQL selecting ``columns`` of ``table`` whose ``key`` is in one bound list, and how to bind the list.

    One parameter whatever the list's length (SQLite: a JSON array read by json_each; PostgreSQL: an array
    with ``= ANY``), so a page of 10,000 runs needs no 10,000-placeholder statement.
    """
    if is_sqlite(engine):
        sql = f"SELECT {columns} FROM {table} WHERE {key} IN (SELECT value FROM json_each(?))"
        return sql, lambda ids: (orjson.dumps(list(ids)).decode(),)
    sql = f"SELECT {columns} FROM {table} WHERE {key} = ANY(%(ids)s)"
    return sql, lambda ids: {"ids": list(ids)}


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def has_row_estimates(engine: Engine) -> bool:
    """Whether ``estimated_rows`` can answer: PostgreSQL's planner can, SQLite has no such estimate."""
    return not is_sqlite(engine)


def estimated_rows(conn: Connection, query: Select[Any]) -> int:
    """How many rows ``query`` would return by PostgreSQL's planner (its statistics, kept by autovacuum's
    ANALYZE: cheap, and close for a condition on a column's frequent values). The query's parameters are
    rendered inline, so it must bind only numbers and constants of assay's own."""
    sql = query.compile(dialect=conn.engine.dialect, compile_kwargs={"literal_binds": True})
    plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}").scalar_one()
    return int(plan[0]["Plan"]["Plan Rows"])


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


def like(
    engine: Engine, value: ColumnElement[Any], pattern: str, ignore_case: bool = False
) -> ColumnElement[Any]:
    r"""``value LIKE pattern`` (``ILIKE`` with ``ignore_case``), the same on both backends.

    In ``pattern``, ``\%``, ``\_`` and ``\\`` stand for a literal ``%``, ``_`` and backslash, and a backslash
    before anything else, or at the end, for itself. Such lone backslashes are doubled and the pattern goes
    with ``ESCAPE '\'``: PostgreSQL's default escape is backslash and SQLite has none by default.
    ``ignore_case`` on SQLite, whose lower() and LIKE fold ASCII letters only: both sides go through
    ``assay_lower`` (registered on every connection). PostgreSQL keeps its ILIKE.
    """
    escaped = _LONE_BACKSLASH.sub(_escape_backslash, pattern)
    if not ignore_case:
        return value.like(escaped, escape="\\")
    if is_sqlite(engine):
        return func.assay_lower(value).like(func.assay_lower(escaped), escape="\\")
    return value.ilike(escaped, escape="\\")


_LONE_BACKSLASH = re.compile(r"\\([%_\\])?")


def _escape_backslash(m: re.Match[str]) -> str:
    return m.group() if m.group(1) else "\\\\"

"""Hot-path statements: built with SQLAlchemy Core, compiled once, executed on the DBAPI cursor.

Creating and ending runs and appending metric batches happen thousands of times a second; SQLAlchemy's
per-execution machinery (coercion, caching lookups, events) costs more there than the database does.
So those statements are compiled once per store for its dialect, and run straight on the driver's
cursor inside ``raw_transaction``. Everything else goes through SQLAlchemy as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.sql import ClauseElement

from assay.errors import Unavailable
from assay.store.sql.dialect import unavailable

T = TypeVar("T")


class Prepared:
    """``stmt`` compiled for ``engine``'s dialect; rows are dicts of bind names (missing: the defaults)."""

    def __init__(self, engine: Engine, stmt: ClauseElement, keys: Sequence[str] | None = None) -> None:
        compiled: Any = stmt.compile(
            dialect=engine.dialect, column_keys=list(keys) if keys is not None else None
        )
        self.sql = str(compiled)
        # Literal values written into the statement (status = 'RUNNING', heartbeat_at = NULL) are binds too.
        self._defaults = {name: bp.effective_value for name, bp in compiled.binds.items() if not bp.required}
        positional = engine.dialect.positional
        order = list(getattr(compiled, "positiontup", None) or [])
        self._order: list[str] | None = order if positional else None
        # Positional drivers (SQLite) take a tuple: one C-level itemgetter call per row builds it.
        self._pick: Callable[[Mapping[str, Any]], Any] | None = None
        if positional and len(order) > 1:
            self._pick = itemgetter(*order)
        elif positional and order:
            only = order[0]
            self._pick = lambda row: (row[only],)

    def bind(self, row: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        merged = {**self._defaults, **row} if self._defaults else row
        if self._order is None:
            return merged
        if self._pick is None:
            return ()
        picked: Sequence[Any] = self._pick(merged)
        return picked

    def run(self, cur: Any, row: Mapping[str, Any] | None = None) -> Any:
        cur.execute(self.sql, self.bind(row or {}))
        return cur

    def run_many(self, cur: Any, rows: Sequence[Mapping[str, Any]]) -> None:
        if len(rows) == 1:  # psycopg's executemany sets up a pipeline: several times one execute
            cur.execute(self.sql, self.bind(rows[0]))
        elif rows:
            cur.executemany(self.sql, [self.bind(r) for r in rows])


class ConnectionDropped(Unavailable):
    """The database closed the connection under a statement (a restart, a failover, an idle timeout): the
    connection was thrown away, and the pool's others with it; a new one will be opened."""


@contextmanager
def raw_transaction(engine: Engine, write: bool = True) -> Iterator[Any]:
    """A DBAPI cursor inside one transaction (on SQLite, ``BEGIN IMMEDIATE`` when ``write``).

    A driver error that means the store is unreachable is raised as ``assay.errors.Unavailable`` (the
    statements here bypass SQLAlchemy, whose ``handle_error`` hook does that for the others); one that means
    the connection was dropped, as ``ConnectionDropped`` after discarding it (``with_retry`` tries again).
    Connections are not pinged before use (a round trip per transaction): a dead one shows up here instead.
    """
    try:
        with _raw_transaction(engine, write) as cur:
            yield cur
    except ConnectionDropped:
        raise
    except Exception as exc:
        translated = unavailable(engine, exc)
        if translated is None:
            raise
        raise translated from exc


def with_retry(engine: Engine, body: Callable[[Any], T], write: bool = True, retry: bool = True) -> T:
    """``body(cursor)`` in one ``raw_transaction``; if the connection turns out to have been dropped, once
    more on a new one when ``retry`` (give False where running ``body`` twice could apply it twice)."""
    try:
        with raw_transaction(engine, write) as cur:
            return body(cur)
    except ConnectionDropped:
        if not retry:
            raise
    with raw_transaction(engine, write) as cur:
        return body(cur)


def _dropped(engine: Engine, exc: BaseException, dbapi_conn: Any, cur: Any) -> bool:
    """Whether the driver error ``exc`` means the connection is gone (as SQLAlchemy's dialect judges)."""
    error: Any = exc
    if not isinstance(exc, engine.dialect.loaded_dbapi.Error):
        return False
    try:
        return bool(engine.dialect.is_disconnect(error, dbapi_conn, cur))
    except Exception:
        return False


@contextmanager
def _raw_transaction(engine: Engine, write: bool) -> Iterator[Any]:
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        dbapi_conn: Any = conn.connection.dbapi_connection
        cur = dbapi_conn.cursor()
        try:
            if sqlite:
                cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield cur
            except BaseException:
                with suppress(Exception):  # a dropped connection cannot roll back: it is discarded below
                    if sqlite:
                        cur.execute("ROLLBACK")
                    else:
                        dbapi_conn.rollback()
                raise
            if sqlite:
                cur.execute("COMMIT")
            else:
                dbapi_conn.commit()
        except Exception as exc:
            if sqlite or not _dropped(engine, exc, dbapi_conn, cur):
                raise
            conn.invalidate(exc)
            engine.dispose()  # the others were opened to the same server: likely dead too; closed here
            raise ConnectionDropped(f"{unavailable(engine, exc) or exc}") from exc
        finally:
            with suppress(Exception):
                cur.close()


def integrity_error(engine: Engine) -> type[Exception]:
    """The driver's IntegrityError class (raw execution raises the driver's errors, not SQLAlchemy's)."""
    err: type[Exception] = engine.dialect.loaded_dbapi.IntegrityError
    return err


def fetch_all(engine: Engine, stmt: ClauseElement) -> list[Any]:
    """Run a SELECT built with SQLAlchemy straight on the driver's cursor and return the raw rows.

    For large reads (a search page of 10,000 runs) where SQLAlchemy's Row objects and result processing
    cost more than the query. ``IN`` lists are expanded at compile time.
    """
    compiled: Any = stmt.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.params
    positional = engine.dialect.positional
    bound: Any = tuple(params[name] for name in compiled.positiontup) if positional else params
    with raw_transaction(engine, write=False) as cur:
        cur.execute(str(compiled), bound)
        return list(cur.fetchall())

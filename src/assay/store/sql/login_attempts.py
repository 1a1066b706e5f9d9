"""``LoginAttemptStore``: the failed sign-in counts of the login throttle, in the store.

Kept here rather than in a server process's memory so that the limits hold across ``assay server
--workers N`` and across restarts. Which sign-ins to refuse is decided by
``assay.embedded.login_throttle``; this module only reads counts and applies an update of them inside one
short transaction, so two processes changing the counts of the same key never lose a change, and a sign-in
that checks the limit and counts itself in one ``update`` is never overtaken by another. On PostgreSQL one
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` creates each key's row or locks the one there, in key
order so two sign-ins never deadlock: a row another sign-in deletes meanwhile (a count taken back to
nothing, a pruned one) is created again rather than missed, as a separate insert and ``FOR UPDATE`` read
would miss it. On SQLite the write transaction (``BEGIN IMMEDIATE``) serializes writers. Each update also
deletes a batch of rows too old to matter, so the table holds only recent failures.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from sqlalchemy import Row, bindparam, delete, select, update
from sqlalchemy.engine import Engine

from assay.access import FailedSignIns
from assay.store.sql.dialect import insert_ignore, is_sqlite, upsert
from assay.store.sql.schema import login_attempts as t

#: Old rows deleted per failure at most: the table never needs a long delete inside a sign-in.
_PRUNE_BATCH = 500


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _count(row: Row[Any]) -> FailedSignIns:
    failures = tuple(int(ms) / 1000 for ms in row.failures.split(",") if ms)
    return FailedSignIns(failures, row.locked_until / 1000)


class LoginAttemptStore:
    """Failed sign-ins per throttle key in the store behind ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sqlite = is_sqlite(engine)
        # PostgreSQL: create each key's row, or lock the one there, and read it back, in one statement.
        self._lock_or_create = (
            None
            if self._sqlite
            else upsert(engine, t, ["key"], {"key": lambda ex, _t: ex.key}).returning(*t.c)
        )

    def counts(self, keys: Collection[str]) -> dict[str, FailedSignIns]:
        """The counts of ``keys`` that have one."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).where(t.c.key.in_(sorted(keys)))).all()
        return {row.key: _count(row) for row in rows}

    def update(
        self,
        keys: Collection[str],
        change: Callable[[Mapping[str, FailedSignIns]], Mapping[str, FailedSignIns]],
        now: float,
        forget_before: float,
    ) -> dict[str, FailedSignIns]:
        """Replace the counts of ``keys`` by ``change(counts)`` (``counts`` has every key: one without a row
        gets a new row with an empty count) in one transaction at ``now``, and delete rows last changed before
        ``forget_before``. A key ``change`` leaves out keeps its count; an empty count deletes its row.
        An exception raised by ``change`` rolls everything back and propagates. Returns the new counts."""
        ordered = sorted(set(keys))
        empty = [{"key": k, "failures": "", "locked_until": 0, "updated_at": _ms(now)} for k in ordered]
        with self.engine.connect().execution_options(assay_write=True) as conn, conn.begin():
            if self._sqlite:  # the transaction holds the write lock: nothing changes between the two
                conn.execute(insert_ignore(self.engine, t, ["key"]), empty)
                rows = conn.execute(select(t).where(t.c.key.in_(ordered))).all()
            else:
                assert self._lock_or_create is not None
                rows = conn.execute(self._lock_or_create.values(empty)).all()
            found = {row.key: _count(row) for row in rows}
            missing = set(ordered) - found.keys()
            if missing:  # cannot happen: every key's row was created or locked above
                raise RuntimeError(f"login attempt rows not found after creating them: {sorted(missing)}")
            new = {k: c for k, c in change(found).items() if k in found}
            final = {**found, **new}
            kept = [k for k in new if final[k] != FailedSignIns()]
            if kept:
                conn.execute(
                    update(t).where(t.c.key == bindparam("k")),
                    [
                        {
                            "k": k,
                            "failures": ",".join(str(_ms(s)) for s in new[k].failures),
                            "locked_until": _ms(new[k].locked_until),
                            "updated_at": _ms(now),
                        }
                        for k in kept
                    ],
                )
            gone = [k for k in ordered if final[k] == FailedSignIns()]
            if gone:
                conn.execute(delete(t).where(t.c.key.in_(gone)))
            conn.execute(delete(t).where(t.c.key.in_(self._stale(forget_before))))
        return final

    def _stale(self, before: float) -> Any:
        """Up to a batch of keys last changed before ``before``; on PostgreSQL skipping rows another
        sign-in holds (it is about to change them, and two deletes must not wait on each other)."""
        q = select(t.c.key).where(t.c.updated_at < _ms(before)).limit(_PRUNE_BATCH)
        return q if self._sqlite else q.with_for_update(skip_locked=True)

    def clear(self, key: str) -> None:
        """Forget ``key``'s count (a success clears the user's)."""
        with self.engine.connect().execution_options(assay_write=True) as conn, conn.begin():
            conn.execute(delete(t).where(t.c.key == key))

    def snapshot(self) -> Mapping[str, FailedSignIns]:
        """Every count (for tests and inspection: the table is small, being pruned)."""
        with self.engine.connect() as conn:
            return {row.key: _count(row) for row in conn.execute(select(t))}

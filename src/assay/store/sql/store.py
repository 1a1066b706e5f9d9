"""``SqlStore``: one SQL database (SQLite or PostgreSQL) and the sub-stores of the services over it.

The store opens the engine and brings the schema to the code's revision (Alembic); each service has its
own sub-store over that engine, the only code that reads and writes its tables: ``tracking``
(experiments, runs, metrics), ``access`` (users, tokens, projects, roles) and ``registry`` (models,
versions, aliases, datasets) and ``jobs`` (the runner's queue, job logs, schedules). A new service adds its
tables, a migration and a sub-store here.
"""

from __future__ import annotations

from assay.store.sql import dialect
from assay.store.sql.access import AccessStore
from assay.store.sql.jobs import JobsStore
from assay.store.sql.migrate import ensure_schema
from assay.store.sql.registry import RegistryStore
from assay.store.sql.tracking import TrackingStore


class SqlStore:
    """assay's tables on SQLite or PostgreSQL; ``url`` is a SQLAlchemy URL or a path (see dialect), and
    ``pool`` the PostgreSQL pool's (size, overflow) (see ``dialect.pool_sizes``)."""

    def __init__(self, url: str, pool: tuple[int, int] | None = None) -> None:
        self.url = dialect.normalize_url(url)
        self.engine = dialect.create_store_engine(self.url, pool)
        ensure_schema(self.engine)
        self.tracking = TrackingStore(self.engine)
        self.access = AccessStore(self.engine)
        self.registry = RegistryStore(self.engine)
        self.jobs = JobsStore(self.engine)

    def close(self) -> None:
        self.engine.dispose()

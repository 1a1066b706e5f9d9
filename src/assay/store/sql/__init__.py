"""The one SQL store, through SQLAlchemy Core, for SQLite (embedded) and PostgreSQL (teams)."""

from assay.store.sql.store import SqlStore

__all__ = ["SqlStore"]

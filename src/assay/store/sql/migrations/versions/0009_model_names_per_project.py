"""Registered-model names are unique within a project, not across the server: two teams may both have "churn".

The server-wide unique constraint on ``registered_models.name`` goes; a unique index on (project_id, name)
and a plain index on name (a lookup by name alone: which projects hold it?) come. Every model keeps its
pk, name, project and version numbering, so its versions, tags, aliases and audit trail stay its own.

As in 0007: PostgreSQL drops the constraint by the name reflected from the database
(``registered_models_name_key`` when 0005 created it); SQLite cannot drop a column-level UNIQUE, so the
table is recreated in batch mode with its rows and their pks, and ``migrate.upgrade`` checks every
reference to it (versions, tags, aliases, audit events) before committing.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: Names reflected unique constraints get in batch mode when SQLite stored them unnamed.
_NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _name_constraint() -> str:
    """The name of the unique constraint on ``registered_models.name`` alone, as the database reports it."""
    for uq in sa.inspect(op.get_bind()).get_unique_constraints("registered_models"):
        if uq["column_names"] == ["name"]:
            return uq["name"] or "uq_registered_models_name"
    raise RuntimeError(
        "registered_models.name has no unique constraint to drop: is this store at revision 0008?"
    )


def upgrade() -> None:
    constraint = _name_constraint()
    with op.batch_alter_table("registered_models", naming_convention=_NAMING) as batch:
        batch.drop_constraint(constraint, type_="unique")
    op.create_index(
        "ux_registered_models_project_name", "registered_models", ["project_id", "name"], unique=True
    )
    op.create_index("ix_registered_models_name", "registered_models", ["name"])


def downgrade() -> None:
    """Back to names unique server-wide; fails if two projects now hold the same name (rename one first)."""
    op.drop_index("ix_registered_models_name", "registered_models")
    op.drop_index("ux_registered_models_project_name", "registered_models")
    with op.batch_alter_table("registered_models") as batch:
        batch.create_unique_constraint("registered_models_name_key", ["name"])

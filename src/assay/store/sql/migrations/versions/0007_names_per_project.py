"""Experiment names are unique within a project, not across the server: two teams may both have "baseline".

The server-wide unique constraint on ``experiments.name`` goes; a unique index on (project_id, name) and a
plain index on name (lookups by name alone) come. Every row keeps its id and name.

PostgreSQL drops the constraint by the name reflected from the database (``experiments_name_key`` when
0001 created it, but a store made otherwise may differ). SQLite cannot drop a column-level UNIQUE, so the
table is recreated in batch mode: its rows are copied with their ids, its index on project_id is made
again, and the runs that refer to it keep doing so (``migrate.upgrade`` turns SQLite's foreign key checks
off around the migration and checks every reference before committing, as SQLite's own procedure for
table changes says).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: Names reflected unique constraints get in batch mode when SQLite stored them unnamed.
_NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _name_constraint() -> str:
    """The name of the unique constraint on ``experiments.name`` alone, as the database reports it."""
    for uq in sa.inspect(op.get_bind()).get_unique_constraints("experiments"):
        if uq["column_names"] == ["name"]:
            return uq["name"] or "uq_experiments_name"
    raise RuntimeError("experiments.name has no unique constraint to drop: is this store at revision 0006?")


def upgrade() -> None:
    constraint = _name_constraint()
    with op.batch_alter_table("experiments", naming_convention=_NAMING) as batch:
        batch.drop_constraint(constraint, type_="unique")
    op.create_index("ux_experiments_project_name", "experiments", ["project_id", "name"], unique=True)
    op.create_index("ix_experiments_name", "experiments", ["name"])


def downgrade() -> None:
    """Back to names unique server-wide; fails if two projects now hold the same name (rename one first)."""
    op.drop_index("ix_experiments_name", "experiments")
    op.drop_index("ux_experiments_project_name", "experiments")
    with op.batch_alter_table("experiments") as batch:
        batch.create_unique_constraint("experiments_name_key", ["name"])

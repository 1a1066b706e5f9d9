"""The runner: the jobs queue, their logs, and cron schedules.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("job_pk", _big_id, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(32), nullable=False, unique=True),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("source", sa.LargeBinary, nullable=True),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer, nullable=False, server_default="1"),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("worker", sa.String(256), nullable=True),
        sa.Column("lease_expires", sa.BigInteger, nullable=True),
        sa.Column("not_before", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False, server_default=""),
        sa.Column("started_at", sa.BigInteger, nullable=True),
        sa.Column("finished_at", sa.BigInteger, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("schedule_id", sa.String(32), nullable=True),
        sa.Column("schedule", sa.String(256), nullable=True),
        sa.Column("due_at", sa.BigInteger, nullable=True),
    )
    # The claim's order (priority first, then age) as the index's: a claim reads its LIMIT rows, no sort.
    op.create_index("ix_jobs_queue", "jobs", ["state", sa.text("priority DESC"), "job_pk"])
    op.create_index("ix_jobs_project", "jobs", ["project_id", "job_pk"])
    op.create_index("ux_jobs_schedule_due", "jobs", ["schedule_id", "due_at"], unique=True)
    op.create_table(
        "job_logs",
        sa.Column("job_pk", _big_id, sa.ForeignKey("jobs.job_pk", ondelete="CASCADE"), primary_key=True),
        sa.Column("attempt", sa.Integer, primary_key=True),
        sa.Column("offset", sa.BigInteger, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "schedules",
        sa.Column("schedule_pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("schedule_id", sa.String(32), nullable=False, unique=True),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("cron", sa.String(256), nullable=False),
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("missed", sa.String(16), nullable=False),
        sa.Column("max_catchup", sa.Integer, nullable=False),
        sa.Column("job", sa.Text, nullable=False),
        sa.Column("source", sa.LargeBinary, nullable=True),
        sa.Column("paused", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("next_due_at", sa.BigInteger, nullable=True),
        sa.Column("last_due_at", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False, server_default=""),
    )
    op.create_index("ux_schedules_project_name", "schedules", ["project_id", "name"], unique=True)
    op.create_index("ix_schedules_due", "schedules", ["paused", "next_due_at"])


def downgrade() -> None:
    op.drop_table("schedules")
    op.drop_table("job_logs")
    op.drop_table("jobs")

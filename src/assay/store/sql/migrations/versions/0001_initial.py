"""Initial schema: experiments, runs, params, tags, latest metric summaries, chunked metric series.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _run_fk() -> sa.ForeignKey:
    return sa.ForeignKey("runs.run_pk", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("experiment_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(256), nullable=False, unique=True),
        sa.Column("artifact_location", sa.Text, nullable=False),
        sa.Column("lifecycle", sa.String(16), nullable=False, server_default="active"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("run_pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), nullable=False, unique=True),
        sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id"), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_time", sa.BigInteger, nullable=False),
        sa.Column("end_time", sa.BigInteger, nullable=True),
        sa.Column("user_name", sa.String(256), nullable=False),
        sa.Column("artifact_uri", sa.Text, nullable=False),
        sa.Column("lifecycle", sa.String(16), nullable=False, server_default="active"),
        sa.Column("parent_run_id", sa.String(32), nullable=True),
        sa.Column("heartbeat_at", sa.BigInteger, nullable=True),
        sa.Column("params_doc", sa.LargeBinary, nullable=True),
        sa.Column("tags_doc", sa.LargeBinary, nullable=True),
        sa.Column("metrics_doc", sa.LargeBinary, nullable=True),
    )
    op.create_index(
        "ix_runs_experiment_start", "runs", ["experiment_id", "lifecycle", "start_time", "run_id"]
    )
    op.create_index("ix_runs_status", "runs", ["status"])
    for name in ("params", "tags"):
        op.create_table(
            name,
            sa.Column("run_pk", sa.Integer, _run_fk(), primary_key=True),
            sa.Column("key", sa.String(250), primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
            sa.Column("num_value", sa.Float, nullable=True),
            sqlite_with_rowid=False,
        )
        op.create_index(f"ix_{name}_key_value", name, ["key", "value"])
        op.create_index(f"ix_{name}_key_num", name, ["key", "num_value"])
    op.create_table(
        "latest_metrics",
        sa.Column("run_pk", sa.Integer, _run_fk(), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("last_value", sa.Float, nullable=True),
        sa.Column("min_value", sa.Float, nullable=True),
        sa.Column("max_value", sa.Float, nullable=True),
        sa.Column("last_step", sa.BigInteger, nullable=False),
        sa.Column("last_timestamp", sa.BigInteger, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_latest_metrics_key_last", "latest_metrics", ["key", "last_value"])
    op.create_table(
        "metric_chunks",
        sa.Column("chunk_id", _big_id, primary_key=True, autoincrement=True),
        sa.Column("run_pk", sa.Integer, _run_fk(), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("steps", sa.LargeBinary, nullable=False),
        sa.Column("timestamps", sa.LargeBinary, nullable=False),
        sa.Column("vals", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_metric_chunks_series", "metric_chunks", ["run_pk", "key", "chunk_id"])


def downgrade() -> None:
    for table in ("metric_chunks", "latest_metrics", "tags", "params", "runs", "experiments"):
        op.drop_table(table)

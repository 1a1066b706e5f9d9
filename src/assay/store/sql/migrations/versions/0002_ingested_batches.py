"""Idempotent ingest: the ids of write batches already applied.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingested_batches",
        sa.Column("batch_id", sa.String(80), primary_key=True),
        sa.Column("ingested_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ingested_batches")

"""Applied batch ids are kept for a retention window, then pruned: an index on their time.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ingested_batches_at", "ingested_batches", ["ingested_at"])


def downgrade() -> None:
    op.drop_index("ix_ingested_batches_at", table_name="ingested_batches")

"""Failed sign-ins are counted in the store, so every server worker and every restart sees the same
lockouts: one row per throttle key (user name or client address).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_attempts",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("failures", sa.Text, nullable=False),
        sa.Column("locked_until", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_login_attempts_updated_at", "login_attempts", ["updated_at"])


def downgrade() -> None:
    op.drop_table("login_attempts")

"""The model registry (models, versions, tags, aliases, the alias audit trail, alias policies,
performance records, reports kept with a version, project settings) and datasets with the runs that used them.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _fk(target: str) -> sa.ForeignKey:
    return sa.ForeignKey(target, ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("model_pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(256), nullable=False, unique=True),
        sa.Column("project_id", sa.Integer, nullable=False, server_default="1"),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("next_version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("deleted_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_registered_models_project_id", "registered_models", ["project_id"])
    op.create_table(
        "model_tags",
        sa.Column("model_pk", sa.Integer, _fk("registered_models.model_pk"), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("version_pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_pk", sa.Integer, _fk("registered_models.model_pk"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("source_path", sa.Text, nullable=False),
        sa.Column("flavor", sa.String(64), nullable=False),
        sa.Column("signature", sa.Text, nullable=True),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("deleted_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ux_model_versions_number", "model_versions", ["model_pk", "version"], unique=True)
    op.create_index("ix_model_versions_run_id", "model_versions", ["run_id"])
    op.create_table(
        "version_tags",
        sa.Column("version_pk", sa.Integer, _fk("model_versions.version_pk"), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "model_aliases",
        sa.Column("model_pk", sa.Integer, _fk("registered_models.model_pk"), primary_key=True),
        sa.Column("alias", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "alias_events",
        sa.Column("event_pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_pk", sa.Integer, _fk("registered_models.model_pk"), nullable=False),
        sa.Column("alias", sa.String(128), nullable=False),
        sa.Column("from_version", sa.Integer, nullable=True),
        sa.Column("to_version", sa.Integer, nullable=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("rule", sa.Text, nullable=True),
        sa.Column("verdict", sa.Text, nullable=True),
        sa.Column("refused", sa.Boolean, nullable=False, server_default="0"),
    )
    op.create_index("ix_alias_events_model", "alias_events", ["model_pk", "event_pk"])
    op.create_table(
        "alias_policies",
        sa.Column("project_id", sa.Integer, primary_key=True),
        sa.Column("alias", sa.String(128), primary_key=True),
        sa.Column("protected", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("rule", sa.Text, nullable=True),
    )
    op.create_table(
        "performance_records",
        sa.Column("record_pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version_pk", sa.Integer, _fk("model_versions.version_pk"), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("evaluation", sa.String(250), nullable=False, server_default=""),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("dataset_name", sa.String(256), nullable=True),
        sa.Column("dataset_digest", sa.String(128), nullable=True),
    )
    op.create_index("ix_performance_version", "performance_records", ["version_pk", "at"])
    op.create_table(
        "project_settings",
        sa.Column("project_id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("doc", sa.Text, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "version_reports",
        sa.Column("version_pk", sa.Integer, _fk("model_versions.version_pk"), primary_key=True),
        sa.Column("kind", sa.String(64), primary_key=True),
        sa.Column("doc", sa.Text, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "datasets",
        sa.Column("dataset_pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.Integer, nullable=False, server_default="1"),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("digest", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False, server_default=""),
        sa.Column("source", sa.Text, nullable=True),
        sa.Column("rows", sa.BigInteger, nullable=True),
        sa.Column("size_bytes", sa.BigInteger, nullable=True),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_datasets_digest", "datasets", ["digest"])
    op.create_index("ux_datasets_identity", "datasets", ["project_id", "name", "digest"], unique=True)
    op.create_table(
        "run_datasets",
        sa.Column("run_pk", sa.Integer, _fk("runs.run_pk"), primary_key=True),
        sa.Column("dataset_pk", sa.Integer, _fk("datasets.dataset_pk"), primary_key=True),
        sa.Column("context", sa.String(64), primary_key=True),
        sa.Column("logged_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_run_datasets_dataset", "run_datasets", ["dataset_pk"])


def downgrade() -> None:
    for table in (
        "run_datasets",
        "datasets",
        "version_reports",
        "project_settings",
        "performance_records",
        "alias_policies",
        "alias_events",
        "model_aliases",
        "version_tags",
        "model_versions",
        "model_tags",
        "registered_models",
    ):
        op.drop_table(table)

"""The SQL schema, as SQLAlchemy Core tables. Alembic migrations create it; tests check the two agree.

Metric series are stored in chunks: one row per (run, key, flush) holding packed numpy arrays, so ingest
writes a row per series per batch and reading a million-point history is one range read, not a million
rows. ``latest_metrics`` keeps last/min/max per (run, key) so searching and sorting never touch series.
NaN is stored as NULL in the summary columns (SQLite cannot store NaN in a REAL column).
Each run row also carries msgpack documents of its params, tags and metric summaries (see ``runs``), so
reading a page of 10,000 runs is one row per run rather than 350,000 rows or JSON aggregation.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()


def _run_fk() -> ForeignKey:
    return ForeignKey("runs.run_pk", ondelete="CASCADE")


# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
_big_id = BigInteger().with_variant(Integer(), "sqlite")

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False),
    Column("artifact_location", Text, nullable=False),
    Column("lifecycle", String(16), nullable=False, server_default="active"),
    Column("created_at", BigInteger, nullable=False),
    # The owning project. No foreign key: SQLite cannot add one to an existing table, and a project with
    # experiments is never deleted (the code refuses it).
    Column("project_id", Integer, nullable=False, server_default="1", index=True),
    # Names are unique within a project, not across the server (two teams may both have "baseline");
    # a lookup by name alone (which project holds it?) reads ix_experiments_name.
    Index("ux_experiments_project_name", "project_id", "name", unique=True),
    Index("ix_experiments_name", "name"),
)

runs = Table(
    "runs",
    metadata,
    Column("run_pk", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), nullable=False, unique=True),
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    Column("user_name", String(256), nullable=False),
    Column("artifact_uri", Text, nullable=False),
    Column("lifecycle", String(16), nullable=False, server_default="active"),
    Column("parent_run_id", String(32), nullable=True),
    Column("heartbeat_at", BigInteger, nullable=True),
    # A read model of the run's params, tags and metric summaries (msgpack), rewritten in the same
    # transaction as the rows it mirrors: search filters on the tables and reads a page of runs from these.
    Column("params_doc", LargeBinary, nullable=True),
    Column("tags_doc", LargeBinary, nullable=True),
    Column("metrics_doc", LargeBinary, nullable=True),
    # Covers the runs scan of a search (experiment, lifecycle, newest first) without reading wide rows.
    Index("ix_runs_experiment_start", "experiment_id", "lifecycle", "start_time", "run_id"),
    Index("ix_runs_status", "status"),
)


def _key_value_table(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("run_pk", Integer, _run_fk(), primary_key=True),
        Column("key", String(250), primary_key=True),
        Column("value", Text, nullable=False),
        # The value as a number when it reads as one, so `<`, `>` and ordering compare numerically.
        Column("num_value", Float, nullable=True),
        # Search filters find runs by (key, value) and (key, number) without visiting every run.
        Index(f"ix_{name}_key_value", "key", "value"),
        Index(f"ix_{name}_key_num", "key", "num_value"),
        # On SQLite, cluster rows by (run_pk, key): a run's params are adjacent on disk.
        sqlite_with_rowid=False,
    )


params = _key_value_table("params")
tags = _key_value_table("tags")

latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_pk", Integer, _run_fk(), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("last_value", Float, nullable=True),
    Column("min_value", Float, nullable=True),
    Column("max_value", Float, nullable=True),
    Column("last_step", BigInteger, nullable=False),
    Column("last_timestamp", BigInteger, nullable=False),
    Column("count", BigInteger, nullable=False),
    Index("ix_latest_metrics_key_last", "key", "last_value"),
    sqlite_with_rowid=False,
)

metric_chunks = Table(
    "metric_chunks",
    metadata,
    Column("chunk_id", _big_id, primary_key=True, autoincrement=True),
    Column("run_pk", Integer, _run_fk(), nullable=False),
    Column("key", String(250), nullable=False),
    Column("n", Integer, nullable=False),
    # Little-endian packed arrays: int64 steps, int64 timestamps (ms), float64 values.
    Column("steps", LargeBinary, nullable=False),
    Column("timestamps", LargeBinary, nullable=False),
    Column("vals", LargeBinary, nullable=False),
    Index("ix_metric_chunks_series", "run_pk", "key", "chunk_id"),
)

# Ids of the write batches already applied, so a batch sent again (a retry after a timeout, a replay of the
# client's spool) is applied exactly once.
ingested_batches = Table(
    "ingested_batches",
    metadata,
    Column("batch_id", String(80), primary_key=True),
    Column("ingested_at", BigInteger, nullable=False),
    Index("ix_ingested_batches_at", "ingested_at"),
)

# ---- team mode: projects, users, tokens, roles ------------------------------------------------------------

#: Project 1 is "default", created by the migration; experiments made without a project belong to it.
projects = Table(
    "projects",
    metadata,
    Column("project_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("user_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("is_admin", Boolean, nullable=False, server_default="0"),
    Column("created_at", BigInteger, nullable=False),
    # argon2id, in the library's own encoding (parameters and salt included); None: no sign-in to the UI.
    Column("password_hash", String(256), nullable=True),
)

# A token is "assay_<token_id>_<secret>"; only the SHA-256 of the secret is kept. The secret is 32 random
# bytes, so a fast hash is safe here (password hashes are slow because passwords are guessable).
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(128), nullable=False),
    Column("secret_sha256", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    Column("expires_at", BigInteger, nullable=True),
    # Written about once a minute per token, off the request path (``embedded.token_usage``).
    Column("last_used_at", BigInteger, nullable=True),
    Column("read_only", Boolean, nullable=False, server_default="0"),
    # A token scoped to one project holds roles there only (and goes with the project).
    Column("project_id", Integer, ForeignKey("projects.project_id", ondelete="CASCADE"), nullable=True),
)

# A browser sign-in: the cookie holds "<session_id>.<secret>"; only the secret's SHA-256 is kept (32 random
# bytes, like a token's). Logging out or changing the password deletes the rows.
sessions = Table(
    "sessions",
    metadata,
    Column("session_id", String(32), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False, index=True),
    Column("secret_sha256", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)

# Failed sign-ins per throttle key ("user:<name>", "address:<addr>"), shared by every server process:
# the failure times within the window (epoch ms, comma-separated, oldest first; at most the key's limit)
# and the end of a lockout. ``updated_at`` (the last failure) finds rows too old to matter, to delete.
login_attempts = Table(
    "login_attempts",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("failures", Text, nullable=False),
    Column("locked_until", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False, index=True),
)

project_members = Table(
    "project_members",
    metadata,
    Column("project_id", Integer, ForeignKey("projects.project_id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(16), nullable=False),
)
Index("ix_project_members_user", project_members.c.user_id)

# ---- the model registry and datasets ------------------------------------------------------------------------

#: ``next_version`` is the number the next registration takes: bumped in the registering transaction, never
#: lowered, so numbers are not reused after deletes. A deleted model keeps its row (``deleted_at``).
registered_models = Table(
    "registered_models",
    metadata,
    Column("model_pk", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False),
    Column("project_id", Integer, nullable=False, server_default="1", index=True),
    Column("description", Text, nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("next_version", Integer, nullable=False, server_default="1"),
    Column("deleted_at", BigInteger, nullable=True),
    # Names are unique within a project, not across the server (two teams may both have "churn"); a
    # lookup by name alone (which projects hold it?) reads ix_registered_models_name.
    Index("ux_registered_models_project_name", "project_id", "name", unique=True),
    Index("ix_registered_models_name", "name"),
)

model_tags = Table(
    "model_tags",
    metadata,
    Column(
        "model_pk", Integer, ForeignKey("registered_models.model_pk", ondelete="CASCADE"), primary_key=True
    ),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("version_pk", Integer, primary_key=True, autoincrement=True),
    Column("model_pk", Integer, ForeignKey("registered_models.model_pk", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("run_id", String(32), nullable=True, index=True),
    Column("source_path", Text, nullable=False),
    Column("flavor", String(64), nullable=False),
    Column("signature", Text, nullable=True),  # JSON
    Column("description", Text, nullable=False, server_default=""),
    Column("status", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("deleted_at", BigInteger, nullable=True),
    Index("ux_model_versions_number", "model_pk", "version", unique=True),
)

version_tags = Table(
    "version_tags",
    metadata,
    Column(
        "version_pk", Integer, ForeignKey("model_versions.version_pk", ondelete="CASCADE"), primary_key=True
    ),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column(
        "model_pk", Integer, ForeignKey("registered_models.model_pk", ondelete="CASCADE"), primary_key=True
    ),
    Column("alias", String(128), primary_key=True),
    Column("version", Integer, nullable=False),
)

#: The audit trail: every alias move, deletion and refused promotion. Never updated or deleted.
alias_events = Table(
    "alias_events",
    metadata,
    Column("event_pk", Integer, primary_key=True, autoincrement=True),
    Column("model_pk", Integer, ForeignKey("registered_models.model_pk", ondelete="CASCADE"), nullable=False),
    Column("alias", String(128), nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),
    Column("actor", String(128), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("rule", Text, nullable=True),
    Column("verdict", Text, nullable=True),
    Column("refused", Boolean, nullable=False, server_default="0"),
    Index("ix_alias_events_model", "model_pk", "event_pk"),
)

alias_policies = Table(
    "alias_policies",
    metadata,
    Column("project_id", Integer, primary_key=True),
    Column("alias", String(128), primary_key=True),
    Column("protected", Boolean, nullable=False, server_default="0"),
    Column("rule", Text, nullable=True),
)

performance_records = Table(
    "performance_records",
    metadata,
    Column("record_pk", Integer, primary_key=True, autoincrement=True),
    Column(
        "version_pk", Integer, ForeignKey("model_versions.version_pk", ondelete="CASCADE"), nullable=False
    ),
    Column("at", BigInteger, nullable=False),
    Column("metrics", Text, nullable=False),  # JSON object
    Column("evaluation", String(250), nullable=False, server_default=""),
    Column("run_id", String(32), nullable=True),
    Column("dataset_name", String(256), nullable=True),
    Column("dataset_digest", String(128), nullable=True),
    Index("ix_performance_version", "version_pk", "at"),
)

#: A project's settings, one JSON document per key (such as "onnx.tolerances").
project_settings = Table(
    "project_settings",
    metadata,
    Column("project_id", Integer, primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("doc", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

#: JSON documents kept with a version, one per kind: "onnx" (conversion), "parity", "latency".
version_reports = Table(
    "version_reports",
    metadata,
    Column(
        "version_pk", Integer, ForeignKey("model_versions.version_pk", ondelete="CASCADE"), primary_key=True
    ),
    Column("kind", String(64), primary_key=True),
    Column("doc", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

#: A dataset is identified by (project, name, digest): the same content under another name, or new content
#: under the same name, is another row.
datasets = Table(
    "datasets",
    metadata,
    Column("dataset_pk", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, nullable=False, server_default="1"),
    Column("name", String(256), nullable=False),
    Column("digest", String(128), nullable=False, index=True),
    Column("kind", String(32), nullable=False, server_default=""),
    Column("source", Text, nullable=True),
    Column("rows", BigInteger, nullable=True),
    Column("size_bytes", BigInteger, nullable=True),
    Column("profile", Text, nullable=False),  # JSON: schema and statistics
    Column("created_at", BigInteger, nullable=False),
    Index("ux_datasets_identity", "project_id", "name", "digest", unique=True),
)

run_datasets = Table(
    "run_datasets",
    metadata,
    Column("run_pk", Integer, _run_fk(), primary_key=True),
    Column("dataset_pk", Integer, ForeignKey("datasets.dataset_pk", ondelete="CASCADE"), primary_key=True),
    Column("context", String(64), primary_key=True),
    Column("logged_at", BigInteger, nullable=False),
)
Index("ix_run_datasets_dataset", run_datasets.c.dataset_pk)

# ---- the runner: jobs, their logs, schedules ---------------------------------------------------------------

#: The queue. ``spec`` holds the rest of the JobSpec as JSON (params, experiment, name, cwd, tags, parent run,
#: timeout, backoff); ``source`` a notebook's bytes. (schedule_id, due_at) is unique, so a due time fires once.
jobs = Table(
    "jobs",
    metadata,
    Column("job_pk", _big_id, primary_key=True, autoincrement=True),
    Column("job_id", String(32), nullable=False, unique=True),
    Column("project_id", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("target", Text, nullable=False),
    Column("spec", Text, nullable=False),
    Column("source", LargeBinary, nullable=True),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("state", String(16), nullable=False),
    Column("attempt", Integer, nullable=False, server_default="0"),
    Column("max_attempts", Integer, nullable=False, server_default="1"),
    Column("run_id", String(32), nullable=True),
    Column("worker", String(256), nullable=True),
    Column("lease_expires", BigInteger, nullable=True),
    Column("not_before", BigInteger, nullable=False, server_default="0"),
    Column("cancel_requested", Boolean, nullable=False, server_default="0"),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(128), nullable=False, server_default=""),
    Column("started_at", BigInteger, nullable=True),
    Column("finished_at", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
    Column("schedule_id", String(32), nullable=True),
    Column("schedule", String(256), nullable=True),
    Column("due_at", BigInteger, nullable=True),
    Index("ix_jobs_project", "project_id", "job_pk"),
    Index("ux_jobs_schedule_due", "schedule_id", "due_at", unique=True),
)

# The claim's order (priority first, then age) as the index's: a claim reads its LIMIT rows, no sort.
Index("ix_jobs_queue", jobs.c.state, jobs.c.priority.desc(), jobs.c.job_pk)

#: An attempt's output, in the chunks its worker sent; the primary key makes a resent chunk a no-op.
job_logs = Table(
    "job_logs",
    metadata,
    Column("job_pk", _big_id, ForeignKey("jobs.job_pk", ondelete="CASCADE"), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("offset", BigInteger, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

schedules = Table(
    "schedules",
    metadata,
    Column("schedule_pk", Integer, primary_key=True, autoincrement=True),
    Column("schedule_id", String(32), nullable=False, unique=True),
    Column("project_id", Integer, nullable=False),
    Column("name", String(256), nullable=False),
    Column("cron", String(256), nullable=False),
    Column("tz", String(64), nullable=False),
    Column("missed", String(16), nullable=False),
    Column("max_catchup", Integer, nullable=False),
    Column("job", Text, nullable=False),  # the JobSpec template as JSON (kind and target included)
    Column("source", LargeBinary, nullable=True),
    Column("paused", Boolean, nullable=False, server_default="0"),
    Column("next_due_at", BigInteger, nullable=True),
    Column("last_due_at", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(128), nullable=False, server_default=""),
    Index("ux_schedules_project_name", "project_id", "name", unique=True),
    Index("ix_schedules_due", "paused", "next_due_at"),
)

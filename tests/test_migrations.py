"""The Alembic migrations create exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from assay.store.sql import migrate
from assay.store.sql.dialect import create_store_engine, normalize_url
from assay.store.sql.schema import metadata


def test_head_revision_constant_matches_alembic_head() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrate.__file__).parent / "migrations"))
    assert ScriptDirectory.from_config(cfg).get_current_head() == migrate.HEAD_REVISION


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return normalize_url(str(tmp_path / "m.db"))
    url = request.getfixturevalue("pg_database")
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    return normalize_url(url)


def test_migrations_match_declared_schema_and_downgrade_cleanly(empty_db_url: str) -> None:
    engine = create_store_engine(empty_db_url)
    assert migrate.current_revision(engine) is None
    migrate.ensure_schema(engine)
    assert migrate.current_revision(engine) == migrate.HEAD_REVISION
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    migrate.ensure_schema(engine)  # idempotent and cheap at head
    engine.dispose()


def test_store_newer_than_code_is_refused(tmp_path: Path) -> None:
    from sqlalchemy import text

    from assay.errors import InvalidState

    engine = create_store_engine(normalize_url(str(tmp_path / "n.db")))
    migrate.ensure_schema(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(InvalidState, match="newer than this assay"):
        migrate.ensure_schema(engine)


def test_upgrade_from_previous_revision_keeps_data(empty_db_url: str) -> None:
    from sqlalchemy import text

    engine = create_store_engine(empty_db_url)
    migrate.upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO experiments (name, artifact_location, lifecycle, created_at)"
                " VALUES ('e', '/a', 'active', 1)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO runs (run_id, experiment_id, name, status, start_time, user_name, artifact_uri, lifecycle)"
                " VALUES ('r1', (SELECT experiment_id FROM experiments), 'r', 'FINISHED', 1, 'u', '/a/r1', 'active')"
            )
        )
    migrate.ensure_schema(engine)
    assert migrate.current_revision(engine) == migrate.HEAD_REVISION
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM runs WHERE run_id = 'r1'")).scalar() == "r"
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    engine.dispose()


def test_upgrade_to_login_tokens_keeps_users_and_tokens(empty_db_url: str) -> None:
    """0005 -> 0006: existing users keep their tokens, which stay unscoped and never expire."""
    from sqlalchemy import text

    engine = create_store_engine(empty_db_url)
    migrate.upgrade(engine, "0005")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (name, is_admin, created_at) VALUES ('ada', true, 1)"))
        conn.execute(
            text(
                "INSERT INTO api_tokens (token_id, user_id, name, secret_sha256, created_at)"
                " VALUES ('0123456789abcdef', (SELECT user_id FROM users), 'first', 'h', 1)"
            )
        )
    migrate.upgrade(engine, "0006")
    assert migrate.current_revision(engine) == "0006"
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT name, expires_at, last_used_at, read_only, project_id FROM api_tokens")
        ).one()
        assert tuple(row) == ("first", None, None, False, None)
        assert conn.execute(text("SELECT password_hash FROM users WHERE name = 'ada'")).scalar() is None
        assert conn.execute(text("SELECT count(*) FROM sessions")).scalar() == 0
    engine.dispose()


def test_upgrade_to_names_per_project_keeps_experiments_and_their_runs(empty_db_url: str) -> None:
    """0006 -> 0007: every experiment keeps its id, name, project and runs; afterwards a name is unique
    within a project only, and new experiments still get fresh ids."""
    from sqlalchemy import insert, text
    from sqlalchemy.exc import IntegrityError

    from assay.store.sql.schema import experiments

    engine = create_store_engine(empty_db_url)
    migrate.upgrade(engine, "0006")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO projects (name, created_at) VALUES ('vision', 1)"))
        for name, project in (("baseline", "default"), ("resnet", "vision")):
            conn.execute(
                text(
                    "INSERT INTO experiments (name, artifact_location, created_at, project_id)"
                    " SELECT :name, '/a', 1, project_id FROM projects WHERE name = :project"
                ),
                {"name": name, "project": project},
            )
        conn.execute(
            text(
                "INSERT INTO runs (run_id, experiment_id, name, status, start_time, user_name, artifact_uri)"
                " SELECT 'r1', experiment_id, 'r', 'FINISHED', 1, 'u', '/a/r1' FROM experiments"
                " WHERE name = 'resnet'"
            )
        )
        before = conn.execute(text("SELECT experiment_id, name, project_id FROM experiments")).all()
    migrate.ensure_schema(engine)
    assert migrate.current_revision(engine) == migrate.HEAD_REVISION
    with engine.connect() as conn:
        assert conn.execute(text("SELECT experiment_id, name, project_id FROM experiments")).all() == before
        run_exp = "SELECT e.name FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id"
        assert conn.execute(text(run_exp)).scalar() == "resnet"
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    vision = {"artifact_location": "/a", "created_at": 2, "project_id": 2}
    with engine.begin() as conn:
        new_id = conn.execute(insert(experiments).values(name="baseline", **vision)).inserted_primary_key
    assert new_id is not None and new_id[0] > max(row[0] for row in before)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(experiments).values(name="baseline", **vision))
    # A run still cannot name a missing experiment: the foreign key checks are back on.
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO runs (run_id, experiment_id, name, status, start_time, user_name, artifact_uri)"
                " VALUES ('r2', 999, 'r', 'FINISHED', 1, 'u', '/a/r2')"
            )
        )
    engine.dispose()


def test_upgrade_to_model_names_per_project_keeps_models_and_what_hangs_off_them(empty_db_url: str) -> None:
    """0008 -> 0009: every model keeps its pk, name, project, numbering, versions, tags, aliases and audit
    trail (a deleted one too); afterwards a name is unique within a project only."""
    from sqlalchemy import insert, text
    from sqlalchemy.exc import IntegrityError

    from assay.store.sql.schema import model_versions, registered_models

    engine = create_store_engine(empty_db_url)
    migrate.upgrade(engine, "0008")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO projects (name, created_at) VALUES ('vision', 1)"))
        for name, project, deleted in (
            ("churn", "default", None),
            ("fraud", "vision", None),
            ("old", "vision", 5),
        ):
            conn.execute(
                text(
                    "INSERT INTO registered_models (name, project_id, created_at, updated_at, next_version,"
                    " deleted_at) SELECT :name, project_id, 1, 2, 4, :deleted FROM projects WHERE name = :project"
                ),
                {"name": name, "project": project, "deleted": deleted},
            )
        churn = "(SELECT model_pk FROM registered_models WHERE name = 'churn')"
        for number in (1, 2, 3):
            conn.execute(
                text(
                    "INSERT INTO model_versions (model_pk, version, source, run_id, source_path, flavor,"
                    f" status, created_at, created_by) VALUES ({churn}, :n, 'runs:/r/m', 'r', 'm', 'sklearn',"
                    " 'READY', 1, 'ada')"
                ),
                {"n": number},
            )
        conn.execute(
            text(f"INSERT INTO model_tags (model_pk, key, value) VALUES ({churn}, 'team', 'growth')")
        )
        conn.execute(
            text(f"INSERT INTO model_aliases (model_pk, alias, version) VALUES ({churn}, 'champion', 2)")
        )
        conn.execute(
            text(
                "INSERT INTO alias_events (model_pk, alias, from_version, to_version, actor, at)"
                f" VALUES ({churn}, 'champion', NULL, 2, 'ada', 3)"
            )
        )
        models = (
            "SELECT model_pk, name, project_id, next_version, deleted_at FROM registered_models ORDER BY 1"
        )
        before = conn.execute(text(models)).all()
    migrate.ensure_schema(engine)
    assert migrate.current_revision(engine) == migrate.HEAD_REVISION
    with engine.connect() as conn:
        assert conn.execute(text(models)).all() == before
        hanging = (
            "SELECT m.name, v.version, a.alias, t.value, e.to_version FROM registered_models m"
            " JOIN model_versions v ON v.model_pk = m.model_pk"
            " LEFT JOIN model_aliases a ON a.model_pk = m.model_pk AND a.version = v.version"
            " LEFT JOIN model_tags t ON t.model_pk = m.model_pk"
            " LEFT JOIN alias_events e ON e.model_pk = m.model_pk AND e.to_version = v.version"
            " ORDER BY v.version"
        )
        assert conn.execute(text(hanging)).all() == [
            ("churn", 1, None, "growth", None),
            ("churn", 2, "champion", "growth", 2),
            ("churn", 3, None, "growth", None),
        ]
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    vision = {"project_id": 2, "created_at": 9, "updated_at": 9, "next_version": 1}
    with engine.begin() as conn:
        new_pk = conn.execute(insert(registered_models).values(name="churn", **vision)).inserted_primary_key
    assert new_pk is not None and new_pk[0] > max(row[0] for row in before)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(registered_models).values(name="churn", **vision))
    with pytest.raises(IntegrityError), engine.begin() as conn:  # the deleted model still holds its name
        conn.execute(insert(registered_models).values(name="old", **vision))
    # A version still cannot name a missing model: the foreign key checks are back on.
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            insert(model_versions).values(
                model_pk=999,
                version=1,
                source="s",
                source_path="m",
                flavor="f",
                status="READY",
                created_at=1,
                created_by="ada",
            )
        )
    engine.dispose()

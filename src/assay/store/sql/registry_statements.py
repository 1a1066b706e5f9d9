"""The registry's hot statements, compiled once per store and run on the driver's cursor (see prepared.py).

Registering a version, moving an alias and resolving ``models:/name@alias`` are what deployment scripts and
serving processes call in loops; SQLAlchemy's per-statement building and caching cost several times what
SQLite does for these one-row statements, so they go through ``Prepared`` like the tracking hot paths.
"""

from __future__ import annotations

from sqlalchemy import and_, bindparam, delete, select, update
from sqlalchemy.engine import Engine

from assay.store.sql import dialect
from assay.store.sql.prepared import Prepared
from assay.store.sql.schema import (
    alias_events,
    alias_policies,
    experiments,
    model_aliases,
    model_versions,
    projects,
    registered_models,
    runs,
    version_tags,
)

_M = registered_models.c
_V = model_versions.c
_A = model_aliases.c

#: The columns a version is built from, in this order (``RegistryStore._version_of``).
VERSION_COLUMNS = (
    _V.version_pk,
    _V.model_pk,
    _V.version,
    _V.source,
    _V.run_id,
    _V.source_path,
    _V.flavor,
    _V.signature,
    _V.description,
    _V.status,
    _V.created_at,
    _V.created_by,
    _M.name,
    projects.c.name,
)


def _versions_joined() -> object:
    return (
        select(*VERSION_COLUMNS)
        .join(registered_models, _M.model_pk == _V.model_pk)
        .join(projects, projects.c.project_id == _M.project_id)
    )


class RegistryStatements:
    """One store's compiled registry statements; bind names are the column names (or as noted)."""

    def __init__(self, engine: Engine) -> None:
        #: (run_pk, project_id, artifact_uri, project name) of a run.
        self.run_project = Prepared(
            engine,
            select(runs.c.run_pk, experiments.c.project_id, runs.c.artifact_uri, projects.c.name)
            .join(experiments, experiments.c.experiment_id == runs.c.experiment_id)
            .join(projects, projects.c.project_id == experiments.c.project_id)
            .where(runs.c.run_id == bindparam("run_id")),
        )
        #: (project_id,) of the project called ``name``.
        self.project_named = Prepared(
            engine, select(projects.c.project_id).where(projects.c.name == bindparam("name"))
        )
        #: A live model by its key (names are unique per project).
        live_model = and_(
            _M.project_id == bindparam("project_id"), _M.name == bindparam("name"), _M.deleted_at.is_(None)
        )
        #: (model_pk,) of a live model.
        self.model = Prepared(engine, select(_M.model_pk).where(live_model))
        #: (project_id, project name) of each live model called ``name``: a plain name's lookup.
        self.models_named = Prepared(
            engine,
            select(_M.project_id, projects.c.name)
            .join(projects, projects.c.project_id == _M.project_id)
            .where(_M.name == bindparam("name"), _M.deleted_at.is_(None)),
        )
        #: Bumps the live model's row (its lock for this transaction), returning its pk and the number the
        #: next registration takes.
        self.bump = Prepared(
            engine,
            update(registered_models)
            .where(live_model)
            .values(updated_at=bindparam("now"), next_version=_M.next_version + bindparam("step"))
            .returning(_M.model_pk, _M.next_version),
        )
        self.insert_version = Prepared(
            engine,
            model_versions.insert().returning(_V.version_pk),
            [c.name for c in model_versions.c if c.name not in ("version_pk", "deleted_at")],
        )
        self.insert_version_tag = Prepared(engine, version_tags.insert(), ["version_pk", "key", "value"])
        self.live_version = Prepared(
            engine,
            select(_V.version_pk).where(
                _V.model_pk == bindparam("model_pk"),
                _V.version == bindparam("version"),
                _V.deleted_at.is_(None),
            ),
        )
        self.alias_of = Prepared(
            engine,
            select(_A.version).where(_A.model_pk == bindparam("model_pk"), _A.alias == bindparam("alias")),
        )
        self.set_alias = Prepared(
            engine,
            dialect.upsert(
                engine, model_aliases, ["model_pk", "alias"], {"version": lambda ex, t: ex.version}
            ).values(model_pk=bindparam("model_pk"), alias=bindparam("alias"), version=bindparam("version")),
        )
        self.delete_alias = Prepared(
            engine,
            delete(model_aliases).where(_A.model_pk == bindparam("model_pk"), _A.alias == bindparam("alias")),
        )
        self.insert_event = Prepared(
            engine,
            alias_events.insert(),
            [c.name for c in alias_events.c if c.name != "event_pk"],
        )
        live = and_(_V.deleted_at.is_(None), live_model)
        self.version_by_number = Prepared(
            engine,
            _versions_joined().where(live, _V.version == bindparam("version")),  # type: ignore[attr-defined]
        )
        self.version_by_alias = Prepared(
            engine,
            _versions_joined()  # type: ignore[attr-defined]
            .join(model_aliases, and_(_A.model_pk == _V.model_pk, _A.version == _V.version))
            .where(live, _A.alias == bindparam("alias")),
        )
        #: (protected, rule) of a project's policy for an alias.
        self.policy_of = Prepared(
            engine,
            select(alias_policies.c.protected, alias_policies.c.rule).where(
                alias_policies.c.project_id == bindparam("project_id"),
                alias_policies.c.alias == bindparam("alias"),
            ),
        )
        self.version_tags = Prepared(
            engine,
            select(version_tags.c.key, version_tags.c.value).where(
                version_tags.c.version_pk == bindparam("pk")
            ),
        )
        self.version_aliases = Prepared(
            engine,
            select(_A.alias)
            .where(_A.model_pk == bindparam("model_pk"), _A.version == bindparam("version"))
            .order_by(_A.alias),
        )

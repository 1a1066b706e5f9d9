"""The SQL side of the model registry and of datasets: the only code that reads and writes their tables.

Like the other sub-stores it enforces what the database must (unique names and numbers, one alias per
name, the audit trail written in the same transaction as the move); validation, rules and roles are
decided above it (``assay.embedded.registry``, ``assay.services.authorized_registry``).

Serializing writers per model: every write to a model's versions or aliases first bumps the model row
(``UPDATE registered_models ...``), which on PostgreSQL takes that row's lock for the transaction and on
SQLite runs inside ``BEGIN IMMEDIATE``. So two registrations never read the same ``next_version``, and an
alias event's ``from_version`` is the version the alias really pointed at.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Row, and_, delete, func, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from assay.errors import Conflict, NotFound
from assay.registry.entities import (
    READY,
    AliasEvent,
    AliasPolicy,
    Dataset,
    DatasetUse,
    ModelVersion,
    PerformanceRecord,
    RegisteredModel,
)
from assay.registry.names import no_model
from assay.store.sql import dialect
from assay.store.sql.prepared import raw_transaction
from assay.store.sql.registry_statements import RegistryStatements
from assay.store.sql.schema import (
    alias_events,
    alias_policies,
    datasets,
    model_aliases,
    model_tags,
    model_versions,
    performance_records,
    project_settings,
    projects,
    registered_models,
    run_datasets,
    runs,
    version_reports,
    version_tags,
)

_M = registered_models.c
_V = model_versions.c


class ModelKey(NamedTuple):
    """A model as the store finds it: by its project's id and its name there (names are unique per project).
    ``project`` is the project's name, for messages; ``str(key)`` is ``project/name``."""

    project_id: int
    name: str
    project: str

    def __str__(self) -> str:
        return f"{self.project}/{self.name}"


def _no_model(key: ModelKey) -> NotFound:
    return no_model(key.name, key.project)


def _no_version(key: ModelKey, version: int) -> NotFound:
    return NotFound(
        f"model {key.name!r} of project {key.project!r} has no version {version}: list them with "
        f"`assay models versions {key}`"
    )


def _live(key: ModelKey) -> Any:
    """The live model ``key`` names, as a condition on ``registered_models``."""
    return and_(_M.project_id == key.project_id, _M.name == key.name, _M.deleted_at.is_(None))


class RegistryStore:
    """Models, versions, aliases, policies, performance records and datasets in the store behind ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._statements: RegistryStatements | None = None

    def _write(self) -> Any:
        return self.engine.connect().execution_options(assay_write=True)

    # ---- lookups ---------------------------------------------------------------------------------------

    def project_id(self, name: str) -> int:
        with raw_transaction(self.engine, write=False) as cur:
            row = self._hot().project_named.run(cur, {"name": name}).fetchone()
        pid = None if row is None else row[0]
        if pid is None:
            raise NotFound(f"no project named {name!r}: list them with `assay projects ls`")
        return int(pid)

    def model_key(self, project: str, name: str) -> ModelKey:
        """The key of model ``name`` in ``project`` (which must exist; the model need not)."""
        return ModelKey(self.project_id(project), name, project)

    def models_named(self, name: str) -> list[ModelKey]:
        """The live models called ``name``, one per project holding one, by project name."""
        with raw_transaction(self.engine, write=False) as cur:
            rows = self._hot().models_named.run(cur, {"name": name}).fetchall()
        return sorted(
            (ModelKey(int(pid), name, str(project)) for pid, project in rows), key=lambda k: k.project
        )

    def run_project(self, run_id: str) -> tuple[int, int]:
        """(run_pk, project_id) of a run; ``NotFound`` if there is none."""
        pk, project_id, _, _ = self.run_location(run_id)
        return pk, project_id

    def run_location(self, run_id: str) -> tuple[int, int, str, str]:
        """(run_pk, project_id, artifact_uri, project name) of a run; ``NotFound`` if there is none."""
        with raw_transaction(self.engine, write=False) as cur:
            row = self._hot().run_project.run(cur, {"run_id": run_id}).fetchone()
        if row is None:
            raise NotFound(f"no run with id {run_id!r}")
        return int(row[0]), int(row[1]), str(row[2]), str(row[3])

    @staticmethod
    def _model_pk(conn: Connection, key: ModelKey, lock: bool = False, now: int = 0) -> int:
        """The live model's pk; with ``lock``, its row is bumped first (see the module docstring)."""
        live = _live(key)
        if lock:
            pk = conn.execute(
                update(registered_models).where(live).values(updated_at=now).returning(_M.model_pk)
            ).scalar()
        else:
            pk = conn.execute(select(_M.model_pk).where(live)).scalar()
        if pk is None:
            raise _no_model(key)
        return int(pk)

    @staticmethod
    def _version_pk(conn: Connection, model_pk: int, key: ModelKey, version: int) -> int:
        pk = conn.execute(
            select(_V.version_pk).where(
                _V.model_pk == model_pk, _V.version == version, _V.deleted_at.is_(None)
            )
        ).scalar()
        if pk is None:
            raise _no_version(key, version)
        return int(pk)

    # ---- models ----------------------------------------------------------------------------------------

    def create_model(
        self, name: str, project_id: int, description: str, tags: Mapping[str, str], now: int
    ) -> None:
        with self._write() as conn, conn.begin():
            self._create_model(conn, name, project_id, description, tags, now, exists_ok=False)

    def _create_model(
        self,
        conn: Connection,
        name: str,
        project_id: int,
        description: str,
        tags: Mapping[str, str],
        now: int,
        exists_ok: bool,
    ) -> int:
        row = conn.execute(
            select(_M.model_pk, _M.deleted_at).where(_M.project_id == project_id, _M.name == name)
        ).first()
        if row is not None and row.deleted_at is None:
            if exists_ok:
                return int(row.model_pk)
            raise self._exists(conn, name, project_id)
        if row is not None:  # deleted: revive it, numbering goes on
            pk = int(row.model_pk)
            conn.execute(
                update(registered_models)
                .where(_M.model_pk == pk)
                .values(
                    description=description,
                    created_at=now,
                    updated_at=now,
                    deleted_at=None,
                )
            )
            conn.execute(delete(model_tags).where(model_tags.c.model_pk == pk))
        else:
            try:
                with conn.begin_nested():
                    key = conn.execute(
                        registered_models.insert().values(
                            name=name,
                            project_id=project_id,
                            description=description,
                            created_at=now,
                            updated_at=now,
                            next_version=1,
                        )
                    ).inserted_primary_key
            except IntegrityError:
                if exists_ok:  # registered at the same moment by another writer
                    project = conn.execute(
                        select(projects.c.name).where(projects.c.project_id == project_id)
                    ).scalar_one()
                    return self._model_pk(conn, ModelKey(project_id, name, project))
                raise self._exists(conn, name, project_id) from None
            assert key is not None
            pk = int(key[0])
        if tags:
            conn.execute(
                model_tags.insert(), [{"model_pk": pk, "key": k, "value": v} for k, v in tags.items()]
            )
        return pk

    @staticmethod
    def _exists(conn: Connection, name: str, project_id: int) -> Conflict:
        project = conn.execute(select(projects.c.name).where(projects.c.project_id == project_id)).scalar()
        return Conflict(
            f"a model named {name!r} already exists in project {project!r}: register new versions of it "
            "instead, or pick another name"
        )

    def _models(self, conn: Connection, where: Any) -> list[RegisteredModel]:
        rows = conn.execute(
            select(registered_models, projects.c.name.label("project"))
            .join(projects, projects.c.project_id == _M.project_id)
            .where(_M.deleted_at.is_(None), where)
            .order_by(_M.name, projects.c.name)
        ).all()
        if not rows:
            return []
        pks = [r.model_pk for r in rows]
        tags: dict[int, dict[str, str]] = {}
        for t in conn.execute(select(model_tags).where(model_tags.c.model_pk.in_(pks))):
            tags.setdefault(t.model_pk, {})[t.key] = t.value
        aliases: dict[int, dict[str, int]] = {}
        for a in conn.execute(select(model_aliases).where(model_aliases.c.model_pk.in_(pks))):
            aliases.setdefault(a.model_pk, {})[a.alias] = a.version
        counts = {
            r[0]: (r[1], r[2])
            for r in conn.execute(
                select(_V.model_pk, func.max(_V.version), func.count())
                .where(_V.model_pk.in_(pks), _V.deleted_at.is_(None))
                .group_by(_V.model_pk)
            )
        }
        return [
            RegisteredModel(
                name=r.name,
                project=r.project,
                description=r.description,
                created_at=r.created_at,
                updated_at=r.updated_at,
                tags=tags.get(r.model_pk, {}),
                aliases=dict(sorted(aliases.get(r.model_pk, {}).items())),
                latest_version=counts.get(r.model_pk, (None, 0))[0],
                version_count=counts.get(r.model_pk, (None, 0))[1],
            )
            for r in rows
        ]

    def get_model(self, key: ModelKey) -> RegisteredModel:
        with self.engine.connect() as conn:
            found = self._models(conn, _live(key))
        if not found:
            raise _no_model(key)
        return found[0]

    def list_models(self, project_id: int | None, name: str | None = None) -> list[RegisteredModel]:
        """Live models by name then project (of one project, and called exactly ``name``, when given)."""
        where = []
        if project_id is not None:
            where.append(_M.project_id == project_id)
        if name is not None:
            where.append(_M.name == name)
        with self.engine.connect() as conn:
            return self._models(conn, and_(True, *where))

    def update_model(self, model: ModelKey, description: str, now: int) -> None:
        with self._write() as conn, conn.begin():
            pk = self._model_pk(conn, model, lock=True, now=now)
            conn.execute(update(registered_models).where(_M.model_pk == pk).values(description=description))

    def set_model_tag(self, model: ModelKey, key: str, value: str, now: int) -> None:
        with self._write() as conn, conn.begin():
            pk = self._model_pk(conn, model, lock=True, now=now)
            conn.execute(
                dialect.upsert(self.engine, model_tags, ["model_pk", "key"], {"value": value}).values(
                    model_pk=pk, key=key, value=value
                )
            )

    def delete_model_tag(self, model: ModelKey, key: str, now: int) -> bool:
        with self._write() as conn, conn.begin():
            pk = self._model_pk(conn, model, lock=True, now=now)
            return bool(
                conn.execute(
                    delete(model_tags).where(model_tags.c.model_pk == pk, model_tags.c.key == key)
                ).rowcount
            )

    def delete_model(self, model: ModelKey, now: int, actor: str) -> None:
        with self._write() as conn, conn.begin():
            pk = self._model_pk(conn, model, lock=True, now=now)
            self._drop_aliases(conn, pk, None, now, actor, f"model {model.name!r} deleted")
            conn.execute(
                update(model_versions)
                .where(_V.model_pk == pk, _V.deleted_at.is_(None))
                .values(deleted_at=now)
            )
            conn.execute(delete(model_tags).where(model_tags.c.model_pk == pk))
            conn.execute(update(registered_models).where(_M.model_pk == pk).values(deleted_at=now))

    # ---- versions --------------------------------------------------------------------------------------

    def create_version(
        self,
        model: ModelKey,
        source: str,
        run_id: str | None,
        source_path: str,
        flavor: str,
        signature: Mapping[str, Any] | None,
        description: str,
        tags: Mapping[str, str],
        now: int,
        actor: str,
    ) -> ModelVersion:
        """Register the next version of ``model`` in one transaction, creating the model if it does not
        exist; returns the version as stored."""
        hot = self._hot()
        sig = None if signature is None else orjson.dumps(dict(signature)).decode()
        live = {"project_id": model.project_id, "name": model.name}
        for attempt in range(2):
            with raw_transaction(self.engine) as cur:
                bumped = hot.bump.run(cur, {**live, "now": now, "step": 1}).fetchone()
                if bumped is not None:
                    model_pk, version = int(bumped[0]), int(bumped[1]) - 1
                    values = {
                        "model_pk": model_pk,
                        "version": version,
                        "source": source,
                        "run_id": run_id,
                        "source_path": source_path,
                        "flavor": flavor,
                        "signature": sig,
                        "description": description,
                        "status": READY,
                        "created_at": now,
                        "created_by": actor,
                    }
                    version_pk = hot.insert_version.run(cur, values).fetchone()[0]
                    hot.insert_version_tag.run_many(
                        cur, [{"version_pk": version_pk, "key": k, "value": v} for k, v in tags.items()]
                    )
                    break
            if attempt:
                raise _no_model(model)  # created, then deleted again before we could register
            # The first registration under this name: create the model (another writer may race us to it;
            # either way it exists after), then register in a fresh transaction.
            with self._write() as conn, conn.begin():
                self._create_model(conn, model.name, model.project_id, "", {}, now, exists_ok=True)
        return ModelVersion(
            name=model.name,
            version=version,
            source=source,
            run_id=run_id,
            source_path=source_path,
            flavor=flavor,
            signature=None if signature is None else dict(signature),
            description=description,
            status=READY,
            created_at=now,
            created_by=actor,
            tags=dict(tags),
            aliases=(),
            project=model.project,
        )

    def _hot(self) -> RegistryStatements:
        if self._statements is None:
            self._statements = RegistryStatements(self.engine)
        return self._statements

    def _version_of(self, cur: Any, row: Any) -> ModelVersion:
        hot = self._hot()
        (
            vpk,
            mpk,
            version,
            source,
            run_id,
            source_path,
            flavor,
            sig,
            description,
            status,
            created_at,
            created_by,
            name,
            project,
        ) = row
        tags = dict(hot.version_tags.run(cur, {"pk": vpk}).fetchall())
        aliases = tuple(a for (a,) in hot.version_aliases.run(cur, {"model_pk": mpk, "version": version}))
        return ModelVersion(
            name=name,
            version=version,
            source=source,
            run_id=run_id,
            source_path=source_path,
            flavor=flavor,
            signature=None if sig is None else orjson.loads(sig),
            description=description,
            status=status,
            created_at=created_at,
            created_by=created_by,
            tags=tags,
            aliases=aliases,
            project=project,
        )

    def version_by_alias(self, model: ModelKey, alias: str) -> ModelVersion | None:
        """The version ``alias`` points at; None if it points nowhere (``NotFound`` for the model)."""
        hot = self._hot()
        live = {"project_id": model.project_id, "name": model.name}
        with raw_transaction(self.engine, write=False) as cur:
            row = hot.version_by_alias.run(cur, {**live, "alias": alias}).fetchone()
            if row is not None:
                return self._version_of(cur, row)
            if hot.model.run(cur, live).fetchone() is None:
                raise _no_model(model)
        return None

    def _versions(self, conn: Connection, where: Any) -> list[ModelVersion]:
        rows = conn.execute(
            select(model_versions, _M.name.label("model_name"), projects.c.name.label("project"))
            .join(registered_models, _M.model_pk == _V.model_pk)
            .join(projects, projects.c.project_id == _M.project_id)
            .where(_V.deleted_at.is_(None), _M.deleted_at.is_(None), where)
            .order_by(_V.model_pk, _V.version.desc())
        ).all()
        if not rows:
            return []
        vpks = [r.version_pk for r in rows]
        tags: dict[int, dict[str, str]] = {}
        for t in conn.execute(select(version_tags).where(version_tags.c.version_pk.in_(vpks))):
            tags.setdefault(t.version_pk, {})[t.key] = t.value
        aliases: dict[tuple[int, int], list[str]] = {}
        mpks = {r.model_pk for r in rows}
        for a in conn.execute(
            select(model_aliases).where(model_aliases.c.model_pk.in_(mpks)).order_by(model_aliases.c.alias)
        ):
            aliases.setdefault((a.model_pk, a.version), []).append(a.alias)
        return [
            ModelVersion(
                name=r.model_name,
                version=r.version,
                source=r.source,
                run_id=r.run_id,
                source_path=r.source_path,
                flavor=r.flavor,
                signature=None if r.signature is None else orjson.loads(r.signature),
                description=r.description,
                status=r.status,
                created_at=r.created_at,
                created_by=r.created_by,
                tags=tags.get(r.version_pk, {}),
                aliases=tuple(aliases.get((r.model_pk, r.version), ())),
                project=r.project,
            )
            for r in rows
        ]

    def get_version(self, model: ModelKey, version: int) -> ModelVersion:
        hot = self._hot()
        live = {"project_id": model.project_id, "name": model.name}
        with raw_transaction(self.engine, write=False) as cur:
            row = hot.version_by_number.run(cur, {**live, "version": version}).fetchone()
            if row is not None:
                return self._version_of(cur, row)
            if hot.model.run(cur, live).fetchone() is None:
                raise _no_model(model)
        raise _no_version(model, version)

    def list_versions(self, model: ModelKey) -> list[ModelVersion]:
        with self.engine.connect() as conn:
            found = self._versions(conn, and_(_M.project_id == model.project_id, _M.name == model.name))
            if not found:
                self._model_pk(conn, model)
        return found

    def versions_of_runs(self, run_ids: Iterable[str]) -> list[ModelVersion]:
        ids = list(run_ids)
        if not ids:
            return []
        with self.engine.connect() as conn:
            return self._versions(conn, _V.run_id.in_(ids))

    def update_version(self, model: ModelKey, version: int, description: str, now: int) -> None:
        with self._write() as conn, conn.begin():
            mpk = self._model_pk(conn, model, lock=True, now=now)
            vpk = self._version_pk(conn, mpk, model, version)
            conn.execute(update(model_versions).where(_V.version_pk == vpk).values(description=description))

    def set_version_tag(self, model: ModelKey, version: int, key: str, value: str, now: int) -> None:
        with self._write() as conn, conn.begin():
            mpk = self._model_pk(conn, model, lock=True, now=now)
            vpk = self._version_pk(conn, mpk, model, version)
            conn.execute(
                dialect.upsert(self.engine, version_tags, ["version_pk", "key"], {"value": value}).values(
                    version_pk=vpk, key=key, value=value
                )
            )

    def delete_version_tag(self, model: ModelKey, version: int, key: str, now: int) -> bool:
        with self._write() as conn, conn.begin():
            mpk = self._model_pk(conn, model, lock=True, now=now)
            vpk = self._version_pk(conn, mpk, model, version)
            return bool(
                conn.execute(
                    delete(version_tags).where(version_tags.c.version_pk == vpk, version_tags.c.key == key)
                ).rowcount
            )

    def delete_version(self, model: ModelKey, version: int, now: int, actor: str) -> None:
        with self._write() as conn, conn.begin():
            mpk = self._model_pk(conn, model, lock=True, now=now)
            vpk = self._version_pk(conn, mpk, model, version)
            self._drop_aliases(conn, mpk, version, now, actor, f"version {version} deleted")
            conn.execute(update(model_versions).where(_V.version_pk == vpk).values(deleted_at=now))

    # ---- aliases -----------------------------------------------------------------------------------------

    def _drop_aliases(
        self, conn: Connection, mpk: int, version: int | None, now: int, actor: str, reason: str
    ) -> None:
        cond = model_aliases.c.model_pk == mpk
        if version is not None:
            cond = and_(cond, model_aliases.c.version == version)
        for a in conn.execute(select(model_aliases).where(cond)).all():
            conn.execute(
                alias_events.insert().values(
                    model_pk=mpk,
                    alias=a.alias,
                    from_version=a.version,
                    to_version=None,
                    actor=actor,
                    at=now,
                    reason=reason,
                    refused=False,
                )
            )
        conn.execute(delete(model_aliases).where(cond))

    def alias_version(self, model: ModelKey, alias: str) -> int | None:
        with self.engine.connect() as conn:
            mpk = self._model_pk(conn, model)
            v = conn.execute(
                select(model_aliases.c.version).where(
                    model_aliases.c.model_pk == mpk, model_aliases.c.alias == alias
                )
            ).scalar()
        return None if v is None else int(v)

    def move_alias(
        self,
        model: ModelKey,
        alias: str,
        version: int | None,
        now: int,
        actor: str,
        reason: str,
        rule: str | None = None,
        verdict: str | None = None,
        refused: bool = False,
        expect_from: int | bool | None = False,
    ) -> AliasEvent:
        """Point ``alias`` at ``version`` (None: remove it), or with ``refused`` only record a refused move;
        the audit event goes in the same transaction. ``expect_from`` (when not False) is the version the
        caller saw the alias at when it decided (a rule checked against it): if another writer moved it
        since, ``Conflict``, so a promotion never lands on a champion its rule did not compare with."""
        hot = self._hot()
        name = model.name
        with raw_transaction(self.engine) as cur:
            live = {"project_id": model.project_id, "name": name}
            bumped = hot.bump.run(cur, {**live, "now": now, "step": 0}).fetchone()
            if bumped is None:
                raise _no_model(model)
            mpk = int(bumped[0])
            if (
                version is not None
                and hot.live_version.run(cur, {"model_pk": mpk, "version": version}).fetchone() is None
            ):
                raise _no_version(model, version)
            found = hot.alias_of.run(cur, {"model_pk": mpk, "alias": alias}).fetchone()
            current = None if found is None else int(found[0])
            if expect_from is not False and current != expect_from:
                raise Conflict(
                    f"alias {alias!r} of {name!r} moved to version {current} while the rule was checked "
                    f"against version {expect_from}: run the promotion again"
                )
            if version is None and current is None and not refused:
                raise NotFound(f"model {name!r} has no alias {alias!r}")
            if not refused:
                if version is None:
                    hot.delete_alias.run(cur, {"model_pk": mpk, "alias": alias})
                else:
                    hot.set_alias.run(cur, {"model_pk": mpk, "alias": alias, "version": version})
            hot.insert_event.run(
                cur,
                {
                    "model_pk": mpk,
                    "alias": alias,
                    "from_version": current,
                    "to_version": version,
                    "actor": actor,
                    "at": now,
                    "reason": reason,
                    "rule": rule,
                    "verdict": verdict,
                    "refused": refused,
                },
            )
        return AliasEvent(
            name=name,
            alias=alias,
            from_version=current,
            to_version=version,
            actor=actor,
            at=now,
            reason=reason,
            rule=rule,
            verdict=verdict,
            refused=refused,
        )

    def alias_history(self, model: ModelKey, alias: str | None) -> list[AliasEvent]:
        name = model.name
        with self.engine.connect() as conn:
            mpk = self._model_pk(conn, model)
            q = select(alias_events).where(alias_events.c.model_pk == mpk)
            if alias is not None:
                q = q.where(alias_events.c.alias == alias)
            rows = conn.execute(q.order_by(alias_events.c.event_pk.desc())).all()
        return [
            AliasEvent(
                name=name,
                alias=r.alias,
                from_version=r.from_version,
                to_version=r.to_version,
                actor=r.actor,
                at=r.at,
                reason=r.reason,
                rule=r.rule,
                verdict=r.verdict,
                refused=bool(r.refused),
            )
            for r in rows
        ]

    # ---- alias policies ----------------------------------------------------------------------------------

    def set_policy(self, project_id: int, alias: str, protected: bool, rule: str | None) -> None:
        with self._write() as conn, conn.begin():
            conn.execute(
                dialect.upsert(
                    self.engine,
                    alias_policies,
                    ["project_id", "alias"],
                    {"protected": protected, "rule": rule},
                ).values(project_id=project_id, alias=alias, protected=protected, rule=rule)
            )

    def policy_of(self, model: ModelKey, alias: str) -> tuple[bool, str | None] | None:
        """(protected, rule) of the policy for ``alias`` in ``model``'s project, or None."""
        with raw_transaction(self.engine, write=False) as cur:
            row = self._hot().policy_of.run(cur, {"project_id": model.project_id, "alias": alias}).fetchone()
        return None if row is None else (bool(row[0]), row[1])

    def policies(self, project_id: int | None, alias: str | None = None) -> list[AliasPolicy]:
        q = select(alias_policies, projects.c.name.label("project")).join(
            projects, projects.c.project_id == alias_policies.c.project_id
        )
        if project_id is not None:
            q = q.where(alias_policies.c.project_id == project_id)
        if alias is not None:
            q = q.where(alias_policies.c.alias == alias)
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(projects.c.name, alias_policies.c.alias)).all()
        return [AliasPolicy(r.project, r.alias, bool(r.protected), r.rule) for r in rows]

    # ---- performance -------------------------------------------------------------------------------------

    def add_record(self, model: ModelKey, record: PerformanceRecord) -> None:
        with self._write() as conn, conn.begin():
            mpk = self._model_pk(conn, model)
            vpk = self._version_pk(conn, mpk, model, record.version)
            conn.execute(
                performance_records.insert().values(
                    version_pk=vpk,
                    at=record.at,
                    metrics=orjson.dumps(dict(record.metrics)).decode(),
                    evaluation=record.evaluation,
                    run_id=record.run_id,
                    dataset_name=record.dataset_name,
                    dataset_digest=record.dataset_digest,
                )
            )

    def records(self, model: ModelKey, version: int | None) -> list[PerformanceRecord]:
        name = model.name
        with self.engine.connect() as conn:
            mpk = self._model_pk(conn, model)
            q = (
                select(performance_records, _V.version)
                .join(model_versions, _V.version_pk == performance_records.c.version_pk)
                .where(_V.model_pk == mpk, _V.deleted_at.is_(None))
            )
            if version is not None:
                self._version_pk(conn, mpk, model, version)
                q = q.where(_V.version == version)
            rows = conn.execute(q.order_by(performance_records.c.at, performance_records.c.record_pk)).all()
        return [
            PerformanceRecord(
                name=name,
                version=r.version,
                at=r.at,
                metrics=orjson.loads(r.metrics),
                source="evaluation",
                evaluation=r.evaluation,
                run_id=r.run_id,
                dataset_name=r.dataset_name,
                dataset_digest=r.dataset_digest,
            )
            for r in rows
        ]

    # ---- project settings ------------------------------------------------------------------------------

    def set_setting(self, project_id: int, key: str, doc: Mapping[str, Any], now: int) -> None:
        body = orjson.dumps(dict(doc)).decode()
        with self._write() as conn, conn.begin():
            conn.execute(
                dialect.upsert(
                    self.engine, project_settings, ["project_id", "key"], {"doc": body, "updated_at": now}
                ).values(project_id=project_id, key=key, doc=body, updated_at=now)
            )

    def setting(self, project_id: int, key: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            doc = conn.execute(
                select(project_settings.c.doc).where(
                    project_settings.c.project_id == project_id, project_settings.c.key == key
                )
            ).scalar()
        return None if doc is None else dict(orjson.loads(doc))

    # ---- files and reports kept with a version ---------------------------------------------------------

    def version_key(self, model: ModelKey, version: int) -> int:
        """The version's permanent id (never reused), which names its storage."""
        with self.engine.connect() as conn:
            return self._version_pk(conn, self._model_pk(conn, model), model, version)

    def set_report(self, model: ModelKey, version: int, kind: str, doc: Mapping[str, Any], now: int) -> None:
        body = orjson.dumps(dict(doc), option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()
        with self._write() as conn, conn.begin():
            vpk = self._version_pk(conn, self._model_pk(conn, model, lock=True, now=now), model, version)
            conn.execute(
                dialect.upsert(
                    self.engine, version_reports, ["version_pk", "kind"], {"doc": body, "updated_at": now}
                ).values(version_pk=vpk, kind=kind, doc=body, updated_at=now)
            )

    def reports(self, model: ModelKey, version: int) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            vpk = self._version_pk(conn, self._model_pk(conn, model), model, version)
            rows = conn.execute(
                select(version_reports.c.kind, version_reports.c.doc).where(
                    version_reports.c.version_pk == vpk
                )
            ).all()
        return {r.kind: orjson.loads(r.doc) for r in rows}

    # ---- datasets ----------------------------------------------------------------------------------------

    def log_dataset(self, run_id: str, ds: Dataset, context: str, now: int) -> DatasetUse:
        run_pk, project_id = self.run_project(run_id)
        profile = orjson.dumps(
            {"schema": list(ds.schema), "stats": dict(ds.stats)}, option=orjson.OPT_NON_STR_KEYS
        )
        with self._write() as conn, conn.begin():
            conn.execute(
                dialect.insert_ignore(self.engine, datasets, ["project_id", "name", "digest"]).values(
                    project_id=project_id,
                    name=ds.name,
                    digest=ds.digest,
                    kind=ds.kind,
                    source=ds.source,
                    rows=ds.rows,
                    size_bytes=ds.size_bytes,
                    profile=profile.decode(),
                    created_at=now,
                )
            )
            pk = conn.execute(
                select(datasets.c.dataset_pk).where(
                    datasets.c.project_id == project_id,
                    datasets.c.name == ds.name,
                    datasets.c.digest == ds.digest,
                )
            ).scalar_one()
            conn.execute(
                dialect.insert_ignore(self.engine, run_datasets, ["run_pk", "dataset_pk", "context"]).values(
                    run_pk=run_pk, dataset_pk=pk, context=context, logged_at=now
                )
            )
            stored = self._datasets(conn, datasets.c.dataset_pk == pk)[0]
            logged = conn.execute(
                select(run_datasets.c.logged_at).where(
                    run_datasets.c.run_pk == run_pk,
                    run_datasets.c.dataset_pk == pk,
                    run_datasets.c.context == context,
                )
            ).scalar_one()
        return DatasetUse(stored, run_id, context, int(logged))

    @staticmethod
    def _dataset(r: Row[Any]) -> Dataset:
        profile = orjson.loads(r.profile)
        return Dataset(
            name=r.name,
            digest=r.digest,
            kind=r.kind,
            source=r.source,
            rows=r.rows,
            size_bytes=r.size_bytes,
            schema=profile.get("schema", []),
            stats=profile.get("stats", {}),
            created_at=r.created_at,
            project=r.project,
            dataset_id=r.dataset_pk,
        )

    def _datasets(self, conn: Connection, where: Any) -> list[Dataset]:
        rows = conn.execute(
            select(datasets, projects.c.name.label("project"))
            .join(projects, projects.c.project_id == datasets.c.project_id)
            .where(where)
            .order_by(datasets.c.name, datasets.c.created_at.desc())
        ).all()
        return [self._dataset(r) for r in rows]

    def list_datasets(self, project_id: int | None) -> list[Dataset]:
        with self.engine.connect() as conn:
            return self._datasets(
                conn, datasets.c.project_id == project_id if project_id is not None else True
            )

    def get_dataset(self, dataset_id: int) -> Dataset:
        with self.engine.connect() as conn:
            found = self._datasets(conn, datasets.c.dataset_pk == dataset_id)
        if not found:
            raise NotFound(f"no dataset with id {dataset_id}: list them with `assay datasets ls`")
        return found[0]

    def _uses(self, conn: Connection, where: Any) -> list[DatasetUse]:
        rows = conn.execute(
            select(
                datasets,
                projects.c.name.label("project"),
                runs.c.run_id,
                run_datasets.c.context,
                run_datasets.c.logged_at,
            )
            .select_from(run_datasets)
            .join(datasets, datasets.c.dataset_pk == run_datasets.c.dataset_pk)
            .join(projects, projects.c.project_id == datasets.c.project_id)
            .join(runs, runs.c.run_pk == run_datasets.c.run_pk)
            .where(where)
            .order_by(run_datasets.c.logged_at, datasets.c.name)
        ).all()
        return [DatasetUse(self._dataset(r), r.run_id, r.context, r.logged_at) for r in rows]

    def run_datasets(self, run_id: str) -> list[DatasetUse]:
        run_pk, _ = self.run_project(run_id)
        with self.engine.connect() as conn:
            return self._uses(conn, run_datasets.c.run_pk == run_pk)

    def dataset_runs(self, dataset_id: int) -> list[DatasetUse]:
        self.get_dataset(dataset_id)
        with self.engine.connect() as conn:
            return self._uses(conn, run_datasets.c.dataset_pk == dataset_id)

    def dataset_project(self, dataset_id: int) -> int:
        with self.engine.connect() as conn:
            pid = conn.execute(
                select(datasets.c.project_id).where(datasets.c.dataset_pk == dataset_id)
            ).scalar()
        if pid is None:
            raise NotFound(f"no dataset with id {dataset_id}: list them with `assay datasets ls`")
        return int(pid)

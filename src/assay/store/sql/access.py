"""The SQL side of team mode: users (with their password hashes), hashed API tokens, browser sessions,
projects and project roles; failed sign-in counts in ``login_attempts`` (``AccessStore.login_attempts``).

Like ``SqlStore`` it enforces only what the database must (unique names, a token's owner); who may call
what is decided by ``assay.services.access``. Shares the tracking store's engine.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

from sqlalchemy import Row, bindparam, delete, or_, select, true, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from assay.access import ApiToken, Member, Project, Role, TokenScope, User
from assay.errors import Conflict, NotFound
from assay.store.sql.login_attempts import LoginAttemptStore
from assay.store.sql.rows import experiment_pk
from assay.store.sql.schema import (
    api_tokens,
    experiments,
    project_members,
    projects,
    runs,
    sessions,
    users,
)


def _user(row: Row[Any]) -> User:
    return User(user_id=row.user_id, name=row.name, is_admin=bool(row.is_admin), created_at=row.created_at)


class TokenRecord(NamedTuple):
    """What authenticating a token needs: its secret's hash, state, scope and owner."""

    secret_sha256: str
    revoked_at: int | None
    expires_at: int | None
    scope: TokenScope | None
    user: User


class SessionRecord(NamedTuple):
    secret_sha256: str
    expires_at: int
    user: User


def _project(row: Row[Any]) -> Project:
    return Project(project_id=row.project_id, name=row.name, created_at=row.created_at)


class AccessStore:
    """Users, tokens, projects and memberships in the store behind ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.login_attempts = LoginAttemptStore(engine)

    def _write(self) -> Any:
        return self.engine.connect().execution_options(assay_write=True)

    # ---- users -----------------------------------------------------------------------------------------

    def create_user(self, name: str, is_admin: bool, now: int) -> User:
        with self._write() as conn, conn.begin():
            try:
                key = conn.execute(
                    users.insert().values(name=name, is_admin=is_admin, created_at=now)
                ).inserted_primary_key
            except IntegrityError as exc:
                raise Conflict(f"a user named {name!r} already exists") from exc
        assert key is not None
        return User(user_id=key[0], name=name, is_admin=is_admin, created_at=now)

    def get_user(self, name: str) -> User:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first()
        if row is None:
            raise NotFound(f"no user named {name!r}: list them with `assay admin users`")
        return _user(row)

    def list_users(self) -> list[User]:
        with self.engine.connect() as conn:
            return [_user(r) for r in conn.execute(select(users).order_by(users.c.name))]

    def password_of(self, name: str) -> tuple[User, str | None] | None:
        """A user and their password hash (None if they have none), or None if there is no such user."""
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first()
        return None if row is None else (_user(row), row.password_hash)

    def set_password_hash(self, user_id: int, password_hash: str | None) -> None:
        with self._write() as conn, conn.begin():
            conn.execute(update(users).where(users.c.user_id == user_id).values(password_hash=password_hash))

    def count_users(self) -> int:
        with self.engine.connect() as conn:
            return len(conn.execute(select(users.c.user_id).limit(1)).all())

    # ---- tokens ----------------------------------------------------------------------------------------

    def add_token(
        self,
        user: User,
        token_id: str,
        name: str,
        secret_sha256: str,
        now: int,
        expires_at: int | None = None,
        scope: TokenScope | None = None,
    ) -> ApiToken:
        read_only = scope is not None and scope.read_only
        project_id = None if scope is None else scope.project_id
        with self._write() as conn, conn.begin():
            conn.execute(
                api_tokens.insert().values(
                    token_id=token_id,
                    user_id=user.user_id,
                    name=name,
                    secret_sha256=secret_sha256,
                    created_at=now,
                    expires_at=expires_at,
                    read_only=read_only,
                    project_id=project_id,
                )
            )
        return self.get_token(token_id)

    def token_owner(self, token_id: str) -> TokenRecord | None:
        """What authenticating the token needs, or None if there is no such token."""
        q = (
            select(
                api_tokens.c.secret_sha256,
                api_tokens.c.revoked_at,
                api_tokens.c.expires_at,
                api_tokens.c.read_only,
                api_tokens.c.project_id,
                projects.c.name.label("project_name"),
                users,
            )
            .join(users, users.c.user_id == api_tokens.c.user_id)
            .outerjoin(projects, projects.c.project_id == api_tokens.c.project_id)
            .where(api_tokens.c.token_id == token_id)
        )
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            return None
        scope = None
        if row.read_only or row.project_id is not None:
            scope = TokenScope(bool(row.read_only), row.project_id, row.project_name)
        return TokenRecord(row.secret_sha256, row.revoked_at, row.expires_at, scope, _user(row))

    @staticmethod
    def _tokens(conn: Any, where: Any) -> list[ApiToken]:
        q = (
            select(api_tokens, users.c.name.label("user_name"), projects.c.name.label("project_name"))
            .join(users, users.c.user_id == api_tokens.c.user_id)
            .outerjoin(projects, projects.c.project_id == api_tokens.c.project_id)
            .where(where)
            .order_by(api_tokens.c.created_at, api_tokens.c.token_id)
        )
        return [
            ApiToken(
                r.token_id,
                r.user_name,
                r.name,
                r.created_at,
                r.revoked_at,
                r.expires_at,
                r.last_used_at,
                bool(r.read_only),
                r.project_name,
            )
            for r in conn.execute(q)
        ]

    def list_tokens(self, user: User | None) -> list[ApiToken]:
        """Every token of ``user`` (of everyone if None), revoked ones included, oldest first."""
        where = true() if user is None else api_tokens.c.user_id == user.user_id
        with self.engine.connect() as conn:
            return self._tokens(conn, where)

    def get_token(self, token_id: str) -> ApiToken:
        with self.engine.connect() as conn:
            found = self._tokens(conn, api_tokens.c.token_id == token_id)
        if not found:
            raise NotFound(f"no token with id {token_id!r}: list yours with `assay token ls`")
        return found[0]

    def revoke_token(self, token_id: str, now: int) -> None:
        """Mark a token revoked (idempotent: a revoked token keeps its first revocation time)."""
        with self._write() as conn, conn.begin():
            conn.execute(
                update(api_tokens)
                .where(api_tokens.c.token_id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )

    def revoke_tokens_of(self, user_id: int, now: int) -> int:
        """Revoke every live token of a user; how many were."""
        with self._write() as conn, conn.begin():
            return int(
                conn.execute(
                    update(api_tokens)
                    .where(api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                ).rowcount
            )

    def record_last_used(self, used: Mapping[str, int]) -> None:
        """Set tokens' last use (epoch ms by token id) in one statement, never moving a time back."""
        if not used:
            return
        q = (
            update(api_tokens)
            .where(
                api_tokens.c.token_id == bindparam("tid"),
                or_(api_tokens.c.last_used_at.is_(None), api_tokens.c.last_used_at < bindparam("at")),
            )
            .values(last_used_at=bindparam("at"))
        )
        with self._write() as conn, conn.begin():
            conn.execute(q, [{"tid": t, "at": at} for t, at in used.items()])

    # ---- browser sessions ------------------------------------------------------------------------------

    def add_session(self, session_id: str, user: User, secret_sha256: str, now: int, expires_at: int) -> None:
        """A new sign-in; expired sessions are purged in the same transaction (sign-ins are rare)."""
        with self._write() as conn, conn.begin():
            conn.execute(delete(sessions).where(sessions.c.expires_at <= now))
            conn.execute(
                sessions.insert().values(
                    session_id=session_id,
                    user_id=user.user_id,
                    secret_sha256=secret_sha256,
                    created_at=now,
                    expires_at=expires_at,
                )
            )

    def session_owner(self, session_id: str) -> SessionRecord | None:
        q = (
            select(sessions.c.secret_sha256, sessions.c.expires_at, users)
            .join(users, users.c.user_id == sessions.c.user_id)
            .where(sessions.c.session_id == session_id)
        )
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        return None if row is None else SessionRecord(row.secret_sha256, row.expires_at, _user(row))

    def delete_session(self, session_id: str) -> None:
        with self._write() as conn, conn.begin():
            conn.execute(delete(sessions).where(sessions.c.session_id == session_id))

    def delete_sessions_of(self, user_id: int) -> int:
        """End every sign-in of a user (after a password change); how many there were."""
        with self._write() as conn, conn.begin():
            return int(conn.execute(delete(sessions).where(sessions.c.user_id == user_id)).rowcount)

    # ---- projects and roles ----------------------------------------------------------------------------

    def create_project(self, name: str, now: int) -> Project:
        with self._write() as conn, conn.begin():
            try:
                key = conn.execute(projects.insert().values(name=name, created_at=now)).inserted_primary_key
            except IntegrityError as exc:
                raise Conflict(f"a project named {name!r} already exists") from exc
        assert key is not None
        return Project(project_id=key[0], name=name, created_at=now)

    def get_project(self, name: str) -> Project:
        with self.engine.connect() as conn:
            row = conn.execute(select(projects).where(projects.c.name == name)).first()
        if row is None:
            raise NotFound(f"no project named {name!r}: list them with `assay projects ls`")
        return _project(row)

    def list_projects(self, ids: Collection[int] | None = None) -> list[Project]:
        q = select(projects).order_by(projects.c.name)
        if ids is not None:
            q = q.where(projects.c.project_id.in_(list(ids)))
        with self.engine.connect() as conn:
            return [_project(r) for r in conn.execute(q)]

    def roles_of(self, user_id: int) -> dict[int, Role]:
        q = select(project_members.c.project_id, project_members.c.role).where(
            project_members.c.user_id == user_id
        )
        with self.engine.connect() as conn:
            return {r.project_id: Role(r.role) for r in conn.execute(q)}

    def set_member(self, project_id: int, user_id: int, role: Role) -> None:
        with self._write() as conn, conn.begin():
            n = conn.execute(
                update(project_members)
                .where(project_members.c.project_id == project_id, project_members.c.user_id == user_id)
                .values(role=role.value)
            ).rowcount
            if n == 0:
                conn.execute(
                    project_members.insert().values(project_id=project_id, user_id=user_id, role=role.value)
                )

    def remove_member(self, project_id: int, user_id: int) -> bool:
        with self._write() as conn, conn.begin():
            n = conn.execute(
                delete(project_members).where(
                    project_members.c.project_id == project_id, project_members.c.user_id == user_id
                )
            ).rowcount
        return bool(n)

    def members(self, project_id: int) -> list[Member]:
        q = (
            select(users.c.name, project_members.c.role)
            .join(users, users.c.user_id == project_members.c.user_id)
            .where(project_members.c.project_id == project_id)
            .order_by(users.c.name)
        )
        with self.engine.connect() as conn:
            return [Member(user=r.name, role=Role(r.role)) for r in conn.execute(q)]

    # ---- what belongs to which project -----------------------------------------------------------------

    def project_of_experiment(self, experiment_id: str) -> int:
        with self.engine.connect() as conn:
            pid = conn.execute(
                select(experiments.c.project_id).where(
                    experiments.c.experiment_id == experiment_pk(experiment_id)
                )
            ).scalar()
        if pid is None:
            raise NotFound(f"no experiment with id {experiment_id!r}")
        return int(pid)

    def project_of_run(self, run_id: str) -> int:
        q = (
            select(experiments.c.project_id)
            .join(runs, runs.c.experiment_id == experiments.c.experiment_id)
            .where(runs.c.run_id == run_id)
        )
        with self.engine.connect() as conn:
            pid = conn.execute(q).scalar()
        if pid is None:
            raise NotFound(f"no run with id {run_id!r}")
        return int(pid)

    def experiment_ids_in(self, project_ids: Collection[int]) -> list[str]:
        q = select(experiments.c.experiment_id).where(experiments.c.project_id.in_(list(project_ids)))
        with self.engine.connect() as conn:
            return [str(e) for e in conn.execute(q).scalars()]

"""Team mode in-process: ``AccessService`` (token and session authentication and the role rules, the
``Authorizer`` over the store's tables) and ``ScopedAccess`` (``Access`` for one caller).

Tokens are ``assay_<id>_<secret>``: the id finds the record, the secret's SHA-256 is compared in constant
time. A token may expire (``AccessPolicy.max_token_days`` caps every lifetime) and may be scoped
(read-only, one project): its principal's roles are capped when it is authenticated, so every check
downstream sees the capped roles. Authenticated callers are cached for ``cache_ttl`` seconds (2 by
default), never past the token's or session's expiry, so a logging client's batches cost no extra query;
a revocation, logout, password or role change made in this process clears the cache at once, one made
through another server process takes effect within the TTL. Token uses are noted in memory and written
about once a minute (``UsageRecorder``). Passwords and browser sessions: ``assay.embedded.logins``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable

from assay.access import (
    DEFAULT_PROJECT,
    LOCAL_ADDRESS,
    LOCAL_ADMIN,
    AccessPolicy,
    ApiToken,
    Member,
    NewSession,
    NewToken,
    Principal,
    Project,
    Role,
    TokenScope,
    User,
    scoped_principal,
)
from assay.embedded.logins import Logins
from assay.embedded.token_usage import UsageRecorder
from assay.errors import Conflict, InvalidInput, NotFound, PermissionDenied, Unauthenticated
from assay.fmt import fmt_datetime
from assay.services.access import Access, Authorizer, check_name, check_password
from assay.services.tracking import now_ms
from assay.store.sql.access import AccessStore

#: The most run -> project entries kept before the cache starts over.
_MAX_CACHED = 100_000
_TOKEN = re.compile(r"assay_([0-9a-f]{16})_([0-9a-f]{64})")
#: What each role allows, for messages.
_ALLOWS = {
    Role.VIEWER: "reading",
    Role.EDITOR: "writing",
    Role.OWNER: "managing",
}


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class AccessService(Authorizer):
    """Authentication and authorization over the tables of ``store`` (see the module docstring)."""

    def __init__(
        self, store: AccessStore, cache_ttl: float = 2.0, policy: AccessPolicy | None = None
    ) -> None:
        self.store = store
        self.cache_ttl = cache_ttl
        self.policy = policy or AccessPolicy.from_env(os.environ)
        self.logins = Logins(store, self.policy)
        self.usage = UsageRecorder(store.record_last_used, interval=60.0)
        self._lock = threading.Lock()
        self._callers: dict[str, tuple[float, Principal]] = {}
        # A run or experiment never changes project, so these never go stale.
        self._run_projects: dict[str, int] = {}
        self._experiment_projects: dict[str, int] = {}
        self._project_names: dict[int, str] = {}

    def close(self) -> None:
        """Write the last-use times still noted in memory (else up to a minute of them would be lost)."""
        self.usage.close()

    def use_policy(self, policy: AccessPolicy) -> None:
        """Sign-in and token rules from now on (the failure counts in the store carry over)."""
        self.policy = policy
        self.logins = Logins(self.store, policy)

    # ---- authentication --------------------------------------------------------------------------------

    def has_users(self) -> bool:
        return self.store.count_users() > 0

    def cached(self, token: str) -> Principal | None:
        """The caller of ``token`` (or session secret) if it was authenticated less than ``cache_ttl``
        ago and has not expired since (no I/O)."""
        hit = self._callers.get(token)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    def _remember(self, credential: str, principal: Principal, expires_at: int | None) -> None:
        until = time.monotonic() + self.cache_ttl
        if expires_at is not None:
            until = min(until, time.monotonic() + (expires_at - now_ms()) / 1000)
        with self._lock:
            if len(self._callers) > 10_000:
                self._callers.clear()
            self._callers[credential] = (until, principal)

    def _principal(self, user: User, scope: TokenScope | None) -> Principal:
        """``user`` with their roles, capped by a token's ``scope``."""
        every = [p.project_id for p in self.store.list_projects()] if scope and user.is_admin else []
        return scoped_principal(user, self.store.roles_of(user.user_id), scope, every)

    def authenticate(self, token: str) -> Principal:
        """The caller a bearer token belongs to; Unauthenticated for a malformed, unknown, revoked or
        expired one."""
        hit = self.cached(token)
        if hit is not None:
            return hit
        m = _TOKEN.fullmatch(token.strip())
        if m is None:
            raise Unauthenticated(
                "the token is not an assay token (they look like assay_<16 hex>_<64 hex>): "
                "pass the one `assay token create` printed"
            )
        found = self.store.token_owner(m.group(1))
        if found is None or not hmac.compare_digest(found.secret_sha256, _sha256(m.group(2))):
            raise Unauthenticated("unknown token: create one with `assay token create`")
        if found.revoked_at is not None:
            raise Unauthenticated(
                f"token {m.group(1)} was revoked: create a new one with `assay token create`"
            )
        now = now_ms()
        if found.expires_at is not None and found.expires_at <= now:
            raise Unauthenticated(
                f"token {m.group(1)} expired at {fmt_datetime(found.expires_at)}: create a new one with "
                "`assay token create` (or on your account page in the web UI)"
            )
        principal = self._principal(found.user, found.scope)
        self.usage.touch(m.group(1), now)
        self._remember(token, principal, found.expires_at)
        return principal

    def login(self, name: str, password: str, address: str) -> NewSession:
        return self.logins.login(name, password, address)

    def authenticate_session(self, secret: str) -> Principal:
        hit = self.cached(secret)
        if hit is not None:
            return hit
        user, expires_at = self.logins.session_user(secret)
        principal = Principal(user, self.store.roles_of(user.user_id))
        self._remember(secret, principal, expires_at)
        return principal

    def end_session(self, secret: str) -> None:
        self.logins.end_session(secret)
        self.forget_callers()

    def forget_callers(self) -> None:
        """Drop cached callers, after a revocation, a logout, a password or a role change."""
        with self._lock:
            self._callers.clear()

    def issue_token(
        self, user: User, name: str = "default", expires: str | None = None, scope: TokenScope | None = None
    ) -> NewToken:
        """A token for ``user`` living ``expires`` (None: the policy's default), within the policy's cap."""
        lifetime = self.policy.token_lifetime_s(expires)
        token_id, secret = secrets.token_hex(8), secrets.token_hex(32)
        now = now_ms()
        expires_at = None if lifetime is None else now + int(lifetime * 1000)
        record = self.store.add_token(user, token_id, name, _sha256(secret), now, expires_at, scope)
        return NewToken(record, f"assay_{token_id}_{secret}")

    def create_user(self, name: str, is_admin: bool = False, password: str | None = None) -> NewToken:
        """A new user and their first token (what ``assay admin create-user`` does)."""
        check_name(name, "user")
        if password is not None:
            check_password(password)
        user = self.store.create_user(name, is_admin, now_ms())
        if password is not None:
            self.logins.set_password(user, password)
        return self.issue_token(user, "first")

    # ---- authorization ---------------------------------------------------------------------------------

    def project_of_run(self, run_id: str) -> int:
        pid = self._run_projects.get(run_id)
        if pid is None:
            if len(self._run_projects) >= _MAX_CACHED:  # bounded: a busy server sees millions of runs
                self._run_projects.clear()
            pid = self._run_projects[run_id] = self.store.project_of_run(run_id)
        return pid

    def project_of_experiment(self, experiment_id: str) -> int:
        pid = self._experiment_projects.get(experiment_id)
        if pid is None:
            pid = self._experiment_projects[experiment_id] = self.store.project_of_experiment(experiment_id)
        return pid

    def project_name(self, project_id: int) -> str:
        name = self._project_names.get(project_id)
        if name is None:
            for p in self.store.list_projects([project_id]):
                self._project_names[p.project_id] = p.name
            name = self._project_names.get(project_id, str(project_id))
        return name

    def require(self, caller: Principal, role: Role, project_id: int, action: str) -> None:
        """Return if ``caller`` holds ``role`` (or more) in the project, else PermissionDenied saying why."""
        if caller.can(role, project_id):
            return
        project = self.project_name(project_id)
        held = caller.role_in(project_id)
        has = f"is a {held.value}" if held is not None else "has no role"
        raise PermissionDenied(
            f"user {caller.name!r} {has} in project {project!r}; {action} needs {role.value} "
            f"({_ALLOWS[role]}): ask an owner of {project!r} for it "
            f"(`assay projects add-member {project} {caller.name} --role {role.value}`)"
        )

    def require_run(self, caller: Principal, role: Role, run_ids: Iterable[str], action: str) -> None:
        if caller.is_admin:
            return
        for pid in {self.project_of_run(r) for r in run_ids}:
            self.require(caller, role, pid, action)

    def require_experiment(
        self, caller: Principal, role: Role, experiment_ids: Iterable[str], action: str
    ) -> None:
        if caller.is_admin:
            return
        for pid in {self.project_of_experiment(str(e)) for e in experiment_ids}:
            self.require(caller, role, pid, action)

    def require_project(self, caller: Principal, role: Role, name: str | None, action: str) -> Project:
        project = self.store.get_project(name or DEFAULT_PROJECT)
        self.require(caller, role, project.project_id, action)
        return project

    def readable_projects(self, caller: Principal) -> set[int] | None:
        """Ids of the projects ``caller`` may read; None for every project (an admin)."""
        if caller.is_admin:
            return None
        return set(caller.roles)

    def readable_experiment_ids(self, caller: Principal) -> list[str] | None:
        """Experiments ``caller`` may read, for searches over "all"; None for every experiment."""
        projects = self.readable_projects(caller)
        return None if projects is None else self.store.experiment_ids_in(projects)

    def scoped(self, caller: Principal = LOCAL_ADMIN, address: str = LOCAL_ADDRESS) -> ScopedAccess:
        return ScopedAccess(self, caller, address)


class ScopedAccess(Access):
    """``Access`` in-process, with ``caller``'s rights (the server runs each request through one), the
    caller calling from ``address`` (the client's over HTTP): where the sign-in throttle counts a wrong
    current password given for a password change."""

    def __init__(
        self, service: AccessService, caller: Principal = LOCAL_ADMIN, address: str = LOCAL_ADDRESS
    ) -> None:
        self.service = service
        self.store = service.store
        self.caller = caller
        self.address = address

    def _admin(self, action: str) -> None:
        if not self.caller.is_admin:
            if self.caller.user.is_admin and self.caller.scope is not None:
                raise PermissionDenied(
                    f"{action} needs an admin's unscoped token; this one is {self.caller.scope.describe()}"
                )
            raise PermissionDenied(f"{action} needs an admin; user {self.caller.name!r} is not one")

    def _unscoped(self, action: str) -> None:
        """Refuse a scoped token what could widen its reach (new tokens, projects, passwords)."""
        if self.caller.scope is not None:
            raise PermissionDenied(
                f"{action} needs an unscoped token (or the web UI); this one is {self.caller.scope.describe()}"
            )

    def _writes(self, action: str) -> None:
        if self.caller.read_only:
            raise PermissionDenied(
                f"this token is read-only: {action} needs a token made without --read-only"
            )

    def whoami(self) -> User:
        return self.caller.user

    def create_user(self, name: str, is_admin: bool = False, password: str | None = None) -> NewToken:
        self._admin("creating users")
        return self.service.create_user(name, is_admin, password)

    def set_password(self, password: str, user: str | None = None, current: str | None = None) -> None:
        """The caller's own password (the current one must match), or an admin resetting another's."""
        self._unscoped("changing a password")
        target = self._target_user(user, "setting a password")
        check_password(password)
        if target.user_id == self.caller.user.user_id:
            self.service.logins.check_current(target, current, self.address)
        self.service.logins.set_password(target, password)
        self.service.forget_callers()

    def list_users(self) -> list[User]:
        self._admin("listing users")
        return self.store.list_users()

    def _target_user(self, user: str | None, action: str) -> User:
        """The caller's own user, or (for an admin) the one named."""
        if user is None or user == self.caller.name:
            if self.caller is LOCAL_ADMIN or self.caller.user.user_id == 0:
                raise InvalidInput(f"{action} on an embedded store needs a user: pass --user NAME")
            return self.caller.user
        self._admin(f"{action} for another user")
        return self.store.get_user(user)

    def create_token(
        self,
        name: str = "default",
        user: str | None = None,
        expires: str | None = None,
        read_only: bool = False,
        project: str | None = None,
    ) -> NewToken:
        if not name or len(name) > 128:
            raise InvalidInput("a token's name is 1 to 128 characters")
        self._unscoped("creating tokens")
        target = self._target_user(user, "creating a token")
        scope = None
        if read_only or project is not None:
            pid = None
            if project is not None:
                pid = self.store.get_project(project).project_id
                if not target.is_admin and pid not in self.store.roles_of(target.user_id):
                    raise InvalidInput(
                        f"user {target.name!r} has no role in project {project!r}: a token scoped to it "
                        "could do nothing (ask an owner for a role first)"
                    )
            scope = TokenScope(read_only, pid, project)
        return self.service.issue_token(target, name, expires, scope)

    def list_tokens(self, user: str | None = None) -> list[ApiToken]:
        self.service.usage.flush()  # this process's uses show at once
        if user is None and self.caller.is_admin and self.caller.user.user_id == 0:
            return self.store.list_tokens(None)
        return self.store.list_tokens(self._target_user(user, "listing tokens"))

    def revoke_token(self, token_id: str) -> ApiToken:
        self._writes("revoking tokens")
        token = self.store.get_token(token_id)
        if token.user != self.caller.name:
            self._admin("revoking another user's token")
        self.store.revoke_token(token_id, now_ms())
        self.service.forget_callers()
        return self.store.get_token(token_id)

    def revoke_tokens(self, user: str | None = None) -> int:
        self._writes("revoking tokens")
        target = self._target_user(user, "revoking tokens")
        n = self.store.revoke_tokens_of(target.user_id, now_ms())
        self.service.forget_callers()
        return n

    def create_project(self, name: str) -> Project:
        """A new project; a caller who is a user becomes its owner."""
        self._unscoped("creating projects")
        project = self.store.create_project(check_name(name, "project"), now_ms())
        if self.caller.user.user_id != 0:
            self.store.set_member(project.project_id, self.caller.user.user_id, Role.OWNER)
            self.service.forget_callers()
        return Project(project.project_id, project.name, project.created_at, Role.OWNER)

    def list_projects(self) -> list[Project]:
        ids = self.service.readable_projects(self.caller)
        return [
            Project(p.project_id, p.name, p.created_at, self.caller.roles.get(p.project_id))
            for p in self.store.list_projects(ids)
        ]

    def members(self, project: str) -> list[Member]:
        p = self.service.require_project(self.caller, Role.VIEWER, project, "listing members")
        return self.store.members(p.project_id)

    def set_member(self, project: str, user: str, role: Role) -> Member:
        p = self.service.require_project(self.caller, Role.OWNER, project, "managing members")
        target = self.store.get_user(user)
        if not isinstance(role, Role):
            try:
                role = Role(role)
            except ValueError:
                raise InvalidInput(f"role {role!r} is not one of viewer, editor, owner") from None
        self._keep_an_owner(p, target, role)
        self.store.set_member(p.project_id, target.user_id, role)
        self.service.forget_callers()
        return Member(target.name, role)

    def remove_member(self, project: str, user: str) -> None:
        p = self.service.require_project(self.caller, Role.OWNER, project, "managing members")
        target = self.store.get_user(user)
        self._keep_an_owner(p, target, None)
        if not self.store.remove_member(p.project_id, target.user_id):
            raise NotFound(f"user {user!r} is not a member of project {project!r}")
        self.service.forget_callers()

    def _keep_an_owner(self, project: Project, target: User, role: Role | None) -> None:
        """Refuse to take the last owner's ownership away (the project would be unmanageable)."""
        if role is Role.OWNER:
            return
        owners = [m.user for m in self.store.members(project.project_id) if m.role is Role.OWNER]
        if owners == [target.name]:
            raise Conflict(
                f"{target.name!r} is the last owner of project {project.name!r}: make someone else an owner first"
            )

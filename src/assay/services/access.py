"""Team mode's interfaces: who a token or browser session belongs to and what a caller may do
(``Authorizer``, which also signs people in), and the operations people call on users, passwords, tokens,
projects and members (``Access``).

``Authorizer`` is what the service boundary needs: ``assay.services.authorized.AuthorizedTracking`` asks
it for the project a run or experiment belongs to and refuses a caller without the role an operation
needs. ``Access`` is always used as some caller; the CLI works the same on a store and on a server.
Implementations: ``assay.embedded.access`` (``AccessService``, ``ScopedAccess``) in-process, and
``assay.remote.access.RemoteAccess`` over HTTP. Importing this module loads no storage.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable

from assay.access import (
    LOCAL_ADDRESS,
    ApiToken,
    Member,
    NewSession,
    NewToken,
    Principal,
    Project,
    Role,
    User,
)
from assay.errors import InvalidInput, Unauthenticated

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")


def check_name(name: str, what: str) -> str:
    """A user, project or schedule name: 1-128 letters, digits, '.', '_', '@' or '-', starting with a letter
    or digit."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"{what} name {name!r} is not valid: use 1-128 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return name


#: Passwords shorter than this are refused (length matters more than composition rules).
MIN_PASSWORD = 8
#: Longer ones too: hashing a megabyte per attempt would be a cheap way to load the server.
MAX_PASSWORD = 1024


def check_password(password: str) -> str:
    """A new password: 8 to 1024 characters."""
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(
            f"a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters long: choose a longer one "
            "(a few unrelated words make a good one)"
        )
    return password


class LoginLocked(Unauthenticated):
    """Sign-ins for this user or from this address failed too often lately: refused for a while, even
    with the right password (the message says for how long). HTTP 429 over the API, so a client never
    takes it for a bad token."""

    code = "TOO_MANY_ATTEMPTS"


class Access(ABC):
    """The people-facing operations of team mode, as one caller. Thread-safe.

    Creating and listing users needs an admin; managing a project's members needs its owner; listing
    members needs a viewer; anyone may create a project (and owns it). Refusals raise ``PermissionDenied``,
    unknown names ``NotFound``, invalid names ``InvalidInput``; removing a project's last owner ``Conflict``.
    A caller authenticated by a scoped token (read-only, or one project) may not create projects, tokens
    or passwords, and a read-only one changes nothing at all.
    """

    @abstractmethod
    def whoami(self) -> User: ...

    @abstractmethod
    def create_user(self, name: str, is_admin: bool = False, password: str | None = None) -> NewToken:
        """A user (with a password to sign in to the UI, if given) and their first token."""

    @abstractmethod
    def list_users(self) -> list[User]: ...

    @abstractmethod
    def set_password(self, password: str, user: str | None = None, current: str | None = None) -> None:
        """Set the caller's password (``current`` must match the one they have), or, for an admin,
        ``user``'s; every browser session of that user ends."""

    @abstractmethod
    def create_token(
        self,
        name: str = "default",
        user: str | None = None,
        expires: str | None = None,
        read_only: bool = False,
        project: str | None = None,
    ) -> NewToken:
        """A token living ``expires`` (``90d``, ``12h``, ``never``; None: the server's default), optionally
        read-only and/or limited to ``project``; ``InvalidInput`` beyond the server's maximum lifetime."""

    @abstractmethod
    def list_tokens(self, user: str | None = None) -> list[ApiToken]: ...

    @abstractmethod
    def revoke_token(self, token_id: str) -> ApiToken: ...

    @abstractmethod
    def revoke_tokens(self, user: str | None = None) -> int:
        """Revoke every live token of the caller (another user's: admins); how many were."""

    @abstractmethod
    def create_project(self, name: str) -> Project: ...

    @abstractmethod
    def list_projects(self) -> list[Project]: ...

    @abstractmethod
    def members(self, project: str) -> list[Member]: ...

    @abstractmethod
    def set_member(self, project: str, user: str, role: Role) -> Member: ...

    @abstractmethod
    def remove_member(self, project: str, user: str) -> None: ...


class Authorizer(ABC):
    """Authentication and the role rules, as the service boundary and the server use them. Thread-safe.

    Project ids are the store's integer ids. Every ``require*`` method returns if the caller holds the
    role (or more) in every project concerned, and otherwise raises ``PermissionDenied`` with a message
    that names the user, the project, the role missing and the command that grants it. Admins pass every
    check. Unknown runs and experiments raise ``NotFound``.
    """

    @abstractmethod
    def authenticate(self, token: str) -> Principal:
        """The caller ``token`` belongs to (its roles capped by the token's scope); ``Unauthenticated``
        for a malformed, unknown, revoked or expired token, saying which and how to get a new one."""

    @abstractmethod
    def login(self, name: str, password: str, address: str) -> NewSession:
        """A browser session for ``name`` if ``password`` is theirs; ``Unauthenticated`` if not (one
        message for a wrong password and an unknown user), ``LoginLocked`` after too many failures for
        the user or from ``address`` (the client's IP address)."""

    @abstractmethod
    def authenticate_session(self, secret: str) -> Principal:
        """The caller a session cookie belongs to; ``Unauthenticated`` once it expired or ended."""

    @abstractmethod
    def end_session(self, secret: str) -> None:
        """Log out: the session stops working at once (an unknown one is ignored)."""

    @abstractmethod
    def has_users(self) -> bool:
        """Whether any user exists (a server that requires tokens refuses to start without one)."""

    @abstractmethod
    def cached(self, token: str) -> Principal | None:
        """The caller of ``token`` (or session secret) if it was authenticated moments ago, without I/O;
        else None. Never past the token's or session's expiry."""

    @abstractmethod
    def project_of_run(self, run_id: str) -> int:
        """The project the run belongs to (through its experiment)."""

    @abstractmethod
    def project_of_experiment(self, experiment_id: str) -> int:
        """The project the experiment belongs to."""

    @abstractmethod
    def project_name(self, project_id: int) -> str:
        """The project's name, for messages and for matching ``Experiment.project``."""

    @abstractmethod
    def require(self, caller: Principal, role: Role, project_id: int, action: str) -> None:
        """Refuse ``caller`` unless it holds ``role`` in the project; ``action`` says what was tried."""

    @abstractmethod
    def require_run(self, caller: Principal, role: Role, run_ids: Iterable[str], action: str) -> None:
        """``require`` for the projects of ``run_ids``."""

    @abstractmethod
    def require_experiment(
        self, caller: Principal, role: Role, experiment_ids: Iterable[str], action: str
    ) -> None:
        """``require`` for the projects of ``experiment_ids``."""

    @abstractmethod
    def require_project(self, caller: Principal, role: Role, name: str | None, action: str) -> Project:
        """``require`` for the project called ``name`` (default: "default"), which is returned."""

    @abstractmethod
    def readable_experiment_ids(self, caller: Principal) -> list[str] | None:
        """The experiments ``caller`` may read, for a search over "all"; None meaning every one."""

    @abstractmethod
    def scoped(self, caller: Principal, address: str = LOCAL_ADDRESS) -> Access:
        """The people-facing operations as ``caller``, calling from ``address`` (the client's IP address
        over HTTP; ``LOCAL_ADDRESS`` in-process): a wrong current password given for a password change
        counts as a failed sign-in from there."""

    def close(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Write what is kept in memory for later (when tokens were last used); called once, at shutdown."""

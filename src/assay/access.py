"""Who may do what in team mode: users, API tokens, projects and roles, as frozen dataclasses.

A project is a team's space and the unit of permission: it owns experiments, and each user holds one role
in it. Roles are ordered, each allowing what the one below does and more:

- ``viewer`` reads the project's experiments, runs, metrics and artifacts;
- ``editor`` also creates experiments and runs, logs to runs, deletes and restores runs;
- ``owner`` also deletes and restores experiments and manages the project's members.

An admin user holds every role in every project and manages users. A token may be scoped
(``TokenScope``): read-only (at most viewer anywhere) or to one project (roles there only); a scoped
token's principal never holds an admin's powers. Pure module: no I/O.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from assay.errors import InvalidInput

#: The project every experiment belongs to unless created in another one.
DEFAULT_PROJECT = "default"


class Role(enum.StrEnum):
    """A user's role in a project; ``held.at_least(needed)`` tells whether it allows what ``needed`` does."""

    VIEWER = "viewer"
    EDITOR = "editor"
    OWNER = "owner"

    def at_least(self, other: Role) -> bool:
        return _RANK[self] >= _RANK[other]


_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.OWNER: 2}


@dataclass(frozen=True, slots=True)
class User:
    user_id: int
    name: str
    is_admin: bool = False
    created_at: int = 0


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token's record; the secret itself is shown once, at creation, and stored only as a hash.

    Times are epoch milliseconds. ``last_used_at`` is recorded lazily (about once a minute per token), so
    it may trail the newest use by that much. ``project`` names the one project a scoped token acts in.
    """

    token_id: str
    user: str
    name: str
    created_at: int
    revoked_at: int | None = None
    expires_at: int | None = None
    last_used_at: int | None = None
    read_only: bool = False
    project: str | None = None

    def expired(self, now_ms: int) -> bool:
        return self.expires_at is not None and self.expires_at <= now_ms


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token just created: ``secret`` is the whole bearer token, never retrievable again."""

    token: ApiToken
    secret: str


@dataclass(frozen=True, slots=True)
class NewSession:
    """A browser sign-in just made: ``secret`` goes into the session cookie and is stored only hashed."""

    user: User
    secret: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class FailedSignIns:
    """One throttle key's recent failed sign-ins (a user name or a client address): when they happened,
    oldest first, and until when the key is locked out (0: it is not). Times are epoch seconds."""

    failures: tuple[float, ...] = ()
    locked_until: float = 0.0


@dataclass(frozen=True, slots=True)
class Project:
    project_id: int
    name: str
    created_at: int = 0
    #: The caller's role in it (None when the caller is an admin without a membership).
    role: Role | None = None


@dataclass(frozen=True, slots=True)
class Member:
    user: str
    role: Role


@dataclass(frozen=True, slots=True)
class TokenScope:
    """What a scoped token is limited to: reading only, and/or one project (by id and name)."""

    read_only: bool = False
    project_id: int | None = None
    project: str | None = None

    def describe(self) -> str:
        parts = (["read-only"] if self.read_only else []) + (
            [f"project {self.project!r}"] if self.project else []
        )
        return " and ".join(parts) or "unscoped"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a request: a user with their roles by project id (an admin holds every role).

    ``scope`` is set when the caller came in with a scoped token: ``roles`` are then already capped
    (``scoped_principal``) and the caller is no admin, whatever its user is."""

    user: User
    roles: Mapping[int, Role] = field(default_factory=dict)
    scope: TokenScope | None = None

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def is_admin(self) -> bool:
        return self.user.is_admin and self.scope is None

    @property
    def read_only(self) -> bool:
        return self.scope is not None and self.scope.read_only

    def role_in(self, project_id: int) -> Role | None:
        return Role.OWNER if self.is_admin else self.roles.get(project_id)

    def can(self, role: Role, project_id: int) -> bool:
        held = self.role_in(project_id)
        return held is not None and held.at_least(role)


#: The caller of an embedded store or of a loopback server started without auth: an admin.
LOCAL_ADMIN = Principal(User(user_id=0, name="local", is_admin=True))
#: Where a caller in this process (no HTTP request) comes from, as the sign-in throttle counts addresses:
#: one key of its own, which no client address can be.
LOCAL_ADDRESS = "(in-process)"


def scoped_principal(
    user: User, roles: Mapping[int, Role], scope: TokenScope | None, every_project: Iterable[int] = ()
) -> Principal:
    """The principal of ``user`` holding ``roles``, capped by a token's ``scope``.

    An admin's roles are spelled out first (owner of ``every_project``), so the cap applies to them too:
    a read-only token holds viewer at most, a project token roles in that project only, and neither is
    an admin (``Principal.is_admin``), so no check is skipped for it."""
    if scope is None or (not scope.read_only and scope.project_id is None):
        return Principal(user, roles)
    held = {pid: Role.OWNER for pid in every_project} if user.is_admin else dict(roles)
    if scope.project_id is not None:
        held = {pid: r for pid, r in held.items() if pid == scope.project_id}
    if scope.read_only:
        held = dict.fromkeys(held, Role.VIEWER)
    return Principal(user, held, scope)


# ---- lifetimes and the server's access policy ---------------------------------------------------------------

_LIFETIME = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_lifetime(text: str, what: str = "--expires") -> float | None:
    """Seconds in a lifetime such as ``90d``, ``12h``, ``30m``, ``45s`` or ``2w``; None for ``never``."""
    if text.strip().lower() == "never":
        return None
    m = _LIFETIME.fullmatch(text)
    if m is None or float(m.group(1)) <= 0:
        raise InvalidInput(
            f"{what} {text!r} is not a lifetime: use a number and a unit, e.g. 90d, 30d, 12h, 30m, or never"
        )
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def describe_lifetime(seconds: float) -> str:
    """``seconds`` in the largest unit that divides it evenly (90d, 12h, 90s)."""
    for unit in ("w", "d", "h", "m"):
        n = seconds / _UNIT_S[unit]
        if n >= 1 and n == int(n):
            return f"{int(n)}{unit}"
    return f"{seconds:g}s"


#: How long a browser sign-in lasts unless the server says otherwise.
DEFAULT_SESSION_S = 12 * 3600.0


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """A server's rules for sign-ins and tokens (``assay server`` options, or the environment).

    ``max_token_days``: no token lives longer (None: tokens may never expire); it is also the lifetime of
    a token created without one. ``session_lifetime_s``: how long a browser sign-in lasts. A user is
    locked out of signing in for ``lockout_s`` after ``max_user_failures`` failed attempts within
    ``failure_window_s``; a client address after ``max_address_failures``."""

    max_token_days: float | None = None
    session_lifetime_s: float = DEFAULT_SESSION_S
    max_user_failures: int = 5
    max_address_failures: int = 20
    failure_window_s: float = 15 * 60
    lockout_s: float = 15 * 60

    #: The environment variables ``from_env`` reads (``assay server`` sets them from its options).
    MAX_TOKEN_DAYS_ENV = "ASSAY_MAX_TOKEN_DAYS"
    SESSION_LIFETIME_ENV = "ASSAY_SESSION_LIFETIME"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AccessPolicy:
        """The policy the variables of ``env`` (the process environment, passed in: this module does no
        I/O) describe; unset ones keep the defaults."""
        days = env.get(cls.MAX_TOKEN_DAYS_ENV, "").strip()
        session = env.get(cls.SESSION_LIFETIME_ENV, "").strip()
        lifetime = parse_lifetime(session, "$" + cls.SESSION_LIFETIME_ENV) if session else None
        return cls(
            max_token_days=check_max_token_days(days) if days else None,
            session_lifetime_s=lifetime or DEFAULT_SESSION_S,
        )

    def token_lifetime_s(self, expires: str | None) -> float | None:
        """The lifetime of a new token asked to expire after ``expires`` (None: this server's default);
        InvalidInput if it exceeds ``max_token_days``."""
        cap = None if self.max_token_days is None else self.max_token_days * 86400
        if expires is None:
            return cap
        seconds = parse_lifetime(expires)
        if cap is not None and (seconds is None or seconds > cap):
            raise InvalidInput(
                f"--expires {expires} is longer than this server allows: tokens live at most "
                f"{describe_lifetime(cap)} here (its --max-token-days); ask for {describe_lifetime(cap)} or less"
            )
        return seconds


def check_max_token_days(text: str) -> float:
    """``--max-token-days`` / ``$ASSAY_MAX_TOKEN_DAYS``: a positive number of days."""
    try:
        days = float(text)
    except ValueError:
        days = 0.0
    if not days > 0:
        raise InvalidInput(f"the maximum token lifetime {text!r} is not a positive number of days, e.g. 90")
    return days

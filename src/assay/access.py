"""Who may do what in team mode: users, API tokens, projects and roles, as frozen dataclasses.

A project is a team's space and the unit of permission: it owns experiments, and each user holds one role
in it. Roles are ordered, each allowing what the one below does and more:

- ``viewer`` reads the project's experiments, runs, metrics and artifacts;
- ``editor`` also creates experiments and runs, logs to runs, deletes and restores runs;
- ``owner`` also deletes and restores experiments and manages the project's members.

An admin user holds every role in every project and manages users. Pure module: no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

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
    """A token's record; the secret itself is shown once, at creation, and stored only as a hash."""

    token_id: str
    user: str
    name: str
    created_at: int
    revoked_at: int | None = None


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token just created: ``secret`` is the whole bearer token, never retrievable again."""

    token: ApiToken
    secret: str


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
class Principal:
    """The caller of a request: a user with their roles by project id (an admin holds every role)."""

    user: User
    roles: Mapping[int, Role] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def is_admin(self) -> bool:
        return self.user.is_admin

    def role_in(self, project_id: int) -> Role | None:
        return Role.OWNER if self.user.is_admin else self.roles.get(project_id)

    def can(self, role: Role, project_id: int) -> bool:
        held = self.role_in(project_id)
        return held is not None and held.at_least(role)


#: The caller of an embedded store or of a loopback server started without auth: an admin.
LOCAL_ADMIN = Principal(User(user_id=0, name="local", is_admin=True))

"""Team routes: who am I, users (admins), API tokens, projects and their members.

Each route calls ``Access`` as the request's caller (``svc.access``), which checks the rights:
admins manage users and reset passwords; everyone manages their own tokens and password and creates
projects (becoming their owner); owners manage a project's members. Browsers sign in at /login
(``assay.ui.account``); these routes take bearer tokens.
"""

from __future__ import annotations

from fastapi import APIRouter

from assay.api.schemas import (
    CreateProject,
    CreateToken,
    CreateUser,
    MemberList,
    MemberOut,
    NewTokenOut,
    ProjectList,
    ProjectOut,
    RevokedCount,
    SetMember,
    SetPassword,
    TokenList,
    TokenOut,
    UserList,
    UserOut,
)
from assay.web.auth import Svc

router = APIRouter(tags=["team"])


@router.get("/whoami")
def whoami(svc: Svc) -> UserOut:
    """The user the request's token belongs to."""
    return UserOut.of(svc.access.whoami())


@router.get("/users")
def list_users(svc: Svc) -> UserList:
    """Every user (admins only)."""
    return UserList(users=[UserOut.of(u) for u in svc.access.list_users()])


@router.post("/users", status_code=201)
def create_user(body: CreateUser, svc: Svc) -> NewTokenOut:
    """A new user with a first token, shown once, and a password if given (admins only)."""
    return NewTokenOut.of(svc.access.create_user(body.name, body.is_admin, body.password))


@router.put("/users/{user}/password", status_code=204)
def set_password(user: str, body: SetPassword, svc: Svc) -> None:
    """Change your own password (``current_password`` must match) or reset another's (admins); every
    browser session of that user ends."""
    svc.access.set_password(body.password, user, body.current_password)


@router.get("/tokens")
def list_tokens(svc: Svc, user: str | None = None) -> TokenList:
    """The caller's tokens (another user's: admins only), revoked ones included; never the secrets."""
    return TokenList(tokens=[TokenOut.of(t) for t in svc.access.list_tokens(user)])


@router.post("/tokens", status_code=201)
def create_token(body: CreateToken, svc: Svc) -> NewTokenOut:
    """A new token for the caller (for another user: admins only); the secret is shown once. ``expires``
    is capped by the server's maximum; a scoped token is read-only and/or limited to one project."""
    made = svc.access.create_token(body.name, body.user, body.expires, body.read_only, body.project)
    return NewTokenOut.of(made)


@router.delete("/tokens")
def revoke_all_tokens(svc: Svc, user: str | None = None) -> RevokedCount:
    """Revoke every token of the caller (of ``user``: admins only); they stop working at once."""
    return RevokedCount(revoked=svc.access.revoke_tokens(user))


@router.delete("/tokens/{token_id}")
def revoke_token(token_id: str, svc: Svc) -> TokenOut:
    """Revoke one of the caller's tokens (anyone's: admins); it stops working at once."""
    return TokenOut.of(svc.access.revoke_token(token_id))


@router.get("/projects")
def list_projects(svc: Svc) -> ProjectList:
    """The projects the caller holds a role in (every project, for an admin), with that role."""
    return ProjectList(projects=[ProjectOut.of(p) for p in svc.access.list_projects()])


@router.post("/projects", status_code=201)
def create_project(body: CreateProject, svc: Svc) -> ProjectOut:
    """A new project; its creator becomes its owner. 409 CONFLICT if the name is taken."""
    return ProjectOut.of(svc.access.create_project(body.name))


@router.get("/projects/{project}/members")
def list_members(project: str, svc: Svc) -> MemberList:
    """The project's members and roles (viewer)."""
    return MemberList(members=[MemberOut.of(m) for m in svc.access.members(project)])


@router.put("/projects/{project}/members/{user}")
def set_member(project: str, user: str, body: SetMember, svc: Svc) -> MemberOut:
    """Give ``user`` a role in the project, replacing any other (owner)."""
    return MemberOut.of(svc.access.set_member(project, user, body.role))


@router.delete("/projects/{project}/members/{user}", status_code=204)
def remove_member(project: str, user: str, svc: Svc) -> None:
    """Take ``user``'s role in the project away (owner); the last owner cannot be removed."""
    svc.access.remove_member(project, user)

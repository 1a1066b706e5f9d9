"""``RemoteAccess``: the team operations (whoami, users, tokens, projects, members) over the server's API.

It shares the HTTP client of the ``RemoteTracking`` it is built from, so it sends the same token.
"""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from assay.access import ApiToken, Member, NewToken, Project, Role, User
from assay.api import schemas as s
from assay.remote.errors import check
from assay.remote.urls import API, segment
from assay.services.access import Access

M = TypeVar("M", bound=BaseModel)


class RemoteAccess(Access):
    """``Access`` as the caller whose token ``http`` sends."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def _fetch(self, model: type[M], path: str, method: str = "GET", **kwargs: Any) -> M:
        response = self._http.request(method, API + path, **kwargs)
        check(response)
        return model.model_validate_json(response.content)

    def whoami(self) -> User:
        return self._fetch(s.UserOut, "/whoami").entity()

    def create_user(self, name: str, is_admin: bool = False, password: str | None = None) -> NewToken:
        body = {"name": name, "is_admin": is_admin, "password": password}
        return self._fetch(s.NewTokenOut, "/users", "POST", json=body).entity()

    def list_users(self) -> list[User]:
        return [u.entity() for u in self._fetch(s.UserList, "/users").users]

    def set_password(self, password: str, user: str | None = None, current: str | None = None) -> None:
        name = user if user is not None else self.whoami().name
        body = {"password": password, "current_password": current}
        check(self._http.request("PUT", f"{API}/users/{segment(name, 'user')}/password", json=body))

    def create_token(
        self,
        name: str = "default",
        user: str | None = None,
        expires: str | None = None,
        read_only: bool = False,
        project: str | None = None,
    ) -> NewToken:
        body = {"name": name, "user": user, "expires": expires, "read_only": read_only, "project": project}
        return self._fetch(s.NewTokenOut, "/tokens", "POST", json=body).entity()

    def revoke_tokens(self, user: str | None = None) -> int:
        params = {} if user is None else {"user": user}
        return self._fetch(s.RevokedCount, "/tokens", "DELETE", params=params).revoked

    def list_tokens(self, user: str | None = None) -> list[ApiToken]:
        params = {} if user is None else {"user": user}
        return [t.entity() for t in self._fetch(s.TokenList, "/tokens", params=params).tokens]

    def revoke_token(self, token_id: str) -> ApiToken:
        return self._fetch(s.TokenOut, f"/tokens/{segment(token_id, 'token')}", "DELETE").entity()

    def create_project(self, name: str) -> Project:
        return self._fetch(s.ProjectOut, "/projects", "POST", json={"name": name}).entity()

    def list_projects(self) -> list[Project]:
        return [p.entity() for p in self._fetch(s.ProjectList, "/projects").projects]

    def members(self, project: str) -> list[Member]:
        path = f"/projects/{segment(project, 'project')}/members"
        return [m.entity() for m in self._fetch(s.MemberList, path).members]

    def set_member(self, project: str, user: str, role: Role) -> Member:
        path = f"/projects/{segment(project, 'project')}/members/{segment(user, 'user')}"
        return self._fetch(s.MemberOut, path, "PUT", json={"role": Role(role).value}).entity()

    def remove_member(self, project: str, user: str) -> None:
        path = f"/projects/{segment(project, 'project')}/members/{segment(user, 'user')}"
        check(self._http.request("DELETE", API + path))

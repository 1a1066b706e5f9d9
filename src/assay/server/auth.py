"""Who is calling, and may they: the ``Caller`` every route takes, and the server's auth settings.

Every route except ``PUBLIC_PATHS`` declares a ``Caller`` parameter. In team mode (``auth=True``) building
it requires a bearer token (``Authorization: Bearer assay_...``, or the ``assay_token`` cookie the login page
sets for browsers); without one the route answers 401 before doing anything. The route then asks the caller
for the role its operation needs on the project it touches (``caller.require_run(Role.EDITOR, ...)``),
which answers 403 when the role is missing. Listings return only what the caller may read. Without auth
(the embedded ``assay ui`` on 127.0.0.1) the caller is the local admin, who may do everything.

A test walks the route table and fails for a route that answers a request without a token.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from assay.access import LOCAL_ADMIN, Principal, Role
from assay.embedded.access import AccessService, ScopedAccess
from assay.entities import Experiment
from assay.errors import InvalidState, Unauthenticated

#: Answered to anyone: liveness, the API description, and the login page.
PUBLIC_PATHS = frozenset(
    {"/health", "/openapi.json", "/login", "/logout", "/static/plotly.min.js", "/static/{name}"}
)
COOKIE = "assay_token"

_bearer = HTTPBearer(
    auto_error=False,
    description="an API token from `assay admin create-user` or `assay token create`",
)


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller of one request, with the checks routes make before acting."""

    principal: Principal
    access: AccessService | None

    def _service(self) -> AccessService:
        if self.access is None:
            raise InvalidState("this server has no user store: users and projects need a SQL store")
        return self.access

    def require_runs(self, role: Role, run_ids: Iterable[str], action: str) -> None:
        if not self.principal.is_admin:
            self._service().require_run(self.principal, role, run_ids, action)

    def require_run(self, role: Role, run_id: str, action: str) -> None:
        self.require_runs(role, (run_id,), action)

    def require_experiments(self, role: Role, experiment_ids: Iterable[str], action: str) -> None:
        if not self.principal.is_admin:
            self._service().require_experiment(self.principal, role, experiment_ids, action)

    def require_project(self, role: Role, project: str | None, action: str) -> None:
        if not self.principal.is_admin:
            self._service().require_project(self.principal, role, project, action)

    def with_role(self, experiment: Experiment) -> Experiment:
        """``experiment`` with the caller's role in its project filled in (None for an admin)."""
        if self.principal.is_admin:
            return experiment
        held = self.principal.role_in(self._service().project_of_experiment(experiment.experiment_id))
        return replace(experiment, role=None if held is None else held.value)

    def readable_experiment_ids(self, asked: Sequence[str]) -> Sequence[str] | None:
        """The experiments a search may cover: ``asked`` if all readable (403 if not); for an empty
        ``asked``, every readable one (None meaning all, for an admin)."""
        if asked:
            self.require_experiments(Role.VIEWER, asked, "searching runs")
            return asked
        if self.principal.is_admin:
            return None
        return self._service().readable_experiment_ids(self.principal)

    def visible(self, experiments: Sequence[Experiment]) -> list[Experiment]:
        """The experiments of a listing the caller may read."""
        if self.principal.is_admin:
            return list(experiments)
        readable = {self._service().project_name(pid) for pid in self.principal.roles}
        return [e for e in experiments if e.project in readable]

    def scoped(self) -> ScopedAccess:
        return self._service().scoped(self.principal)


async def caller(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Caller:
    """The request's caller; 401 UNAUTHENTICATED in team mode without a valid token."""
    access: AccessService | None = request.app.state.access
    if not request.app.state.auth:
        return Caller(LOCAL_ADMIN, access)
    assert access is not None
    token = bearer.credentials if bearer is not None else request.cookies.get(COOKIE)
    if not token:
        raise Unauthenticated(
            "this server requires an API token: set ASSAY_TRACKING_TOKEN to the token from "
            "`assay admin create-user` or `assay token create`"
        )
    principal = access.cached(token)
    if principal is None:
        principal = await run_in_threadpool(access.authenticate, token)
    return Caller(principal, access)


CallerDep = Annotated[Caller, Depends(caller)]

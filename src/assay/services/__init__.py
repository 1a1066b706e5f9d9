"""Services: every capability of assay as methods, with validation and invariants, above the storage.

One module per service holds its interface (``tracking``, ``access``, ``registry``, ``jobs``); ``Services``
is the bundle of one store or server that ``assay.bundle`` builds from a URI. Nothing here imports storage
or HTTP code.
"""

from __future__ import annotations

from dataclasses import dataclass

from assay.access import LOCAL_ADDRESS, Principal
from assay.errors import InvalidInput
from assay.services.access import Access, Authorizer
from assay.services.authorized import AuthorizedTracking
from assay.services.authorized_jobs import AuthorizedJobs
from assay.services.authorized_registry import AuthorizedRegistry
from assay.services.jobs import Jobs
from assay.services.registry import Registry
from assay.services.tracking import Tracking


@dataclass(frozen=True)
class Services:
    """The services of one store or server. ``authorizer`` is set where the roles are decided (a store
    this process opened: the server, or the embedded mode), None on a remote bundle (its server decides).
    """

    tracking: Tracking
    access: Access
    registry: Registry
    jobs: Jobs
    authorizer: Authorizer | None = None
    #: Whom the services act as, when a bundle was bound to a caller (``as_caller``).
    caller: Principal | None = None

    def as_caller(self, caller: Principal, address: str = LOCAL_ADDRESS) -> Services:
        """These services as ``caller``, calling from ``address`` (the client's IP address over HTTP):
        every operation checked against the caller's roles first (an admin holds every role, so its calls
        go straight through)."""
        if self.authorizer is None:
            raise InvalidInput("only a bundle that decides roles (a store, not a server) can act as a caller")
        tracking, registry = self.tracking, self.registry.acting_as(caller.name)
        jobs = self.jobs.acting_as(caller.name)
        if not caller.is_admin:
            tracking = AuthorizedTracking(self.tracking, self.authorizer, caller)
            registry = AuthorizedRegistry(self.registry, self.authorizer, caller)
            jobs = AuthorizedJobs(self.jobs, self.authorizer, caller)
        access = self.authorizer.scoped(caller, address)
        return Services(tracking, access, registry, jobs, self.authorizer, caller)

    def close(self) -> None:
        if self.authorizer is not None:
            self.authorizer.close()  # first: it writes through the same store
        self.jobs.close()
        self.registry.close()
        self.tracking.close()

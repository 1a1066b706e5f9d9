"""Params and tags of the runs a process writes, queued with its points instead of sent one call at a time.

``log_param`` and ``set_tag`` on a run of this process check what can be checked locally (keys, value
lengths, a param this process already logged with another value) and return: the change waits in the
background writer with the run's points, and goes out at the next tick, or into the offline spool, in
order, when the store cannot be reached. So a training script neither waits for a round trip per call
nor dies when the server is down.

Between two ticks a run's changes are merged (``PendingRunData``): params added, tags set, tags deleted
(a tag set then deleted is deleted, deleted then set is set). A tick turns them into at most three
``RunDataRecord`` (params, tags to set, tags to delete), each one call to the store and one spool record.
Their keys are disjoint, so their order does not matter; they follow the batch that creates the run and
come before the batch that ends it (a param is refused on an ended run).

Sending a record again has no further effect, so a record delivered and sent again after a crash (before
the spool noted it) is applied once in effect: a param given its own value is a no-op, a tag set to the
value it has stays, and a tag already gone is not an error when a delete is replayed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from assay.errors import AssayError, Conflict, NotFound
from assay.sdk.policy import Action, decide
from assay.services.tracking import Tracking

log = logging.getLogger("assay")

Kind = Literal["params", "tags", "delete_tags"]
KINDS: tuple[Kind, ...] = ("params", "tags", "delete_tags")


@dataclass(frozen=True)
class RunDataRecord:
    """One change to one run's params or tags: add ``items`` as params, set them as tags, or delete the
    tags named by its keys (``delete_tags``; the values are empty)."""

    run_id: str
    kind: Kind
    items: Mapping[str, str]
    record_id: str = ""

    def apply(self, backend: Tracking, strict: bool = False) -> None:
        """Send it to ``backend``. A tag to delete that the run does not have is done already, unless
        ``strict`` (the caller is waiting and is told, as the store tells it: ``NotFound``)."""
        if self.kind == "params":
            backend.log_params(self.run_id, self.items)
        elif self.kind == "tags":
            backend.set_tags(self.run_id, self.items)
        else:
            for key in self.items:
                try:
                    backend.delete_tag(self.run_id, key)
                except NotFound:
                    if strict:
                        raise
                    backend.get_run_info(self.run_id)  # the run itself missing is a refusal
                    log.info("assay: run %s has no tag %r any more (deleted before)", self.run_id, key)

    def split(self) -> list[RunDataRecord]:
        """One record per key, with ids derived from this one: to isolate a key the store refuses."""
        return [
            replace(self, items={k: v}, record_id=f"{self.record_id}.{i}")
            for i, (k, v) in enumerate(self.items.items())
        ]

    def describe(self) -> str:
        keys = list(self.items)
        shown = ", ".join(repr(k) for k in keys[:5]) + (", ..." if len(keys) > 5 else "")
        if self.kind == "params":
            if len(keys) == 1:
                return f"the param {keys[0]!r} = {self.items[keys[0]]!r} of run {self.run_id}"
            return f"{len(keys)} params ({shown}) of run {self.run_id}"
        if self.kind == "tags":
            if len(keys) == 1:
                return f"the tag {keys[0]!r} = {self.items[keys[0]]!r} of run {self.run_id}"
            return f"{len(keys)} tags ({shown}) of run {self.run_id}"
        return f"the deletion of tag{'s' if len(keys) > 1 else ''} {shown} of run {self.run_id}"


@dataclass
class PendingRunData:
    """What one run's params and tags await since the last tick, merged call by call."""

    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    deleted: dict[str, str] = field(default_factory=dict)  # an ordered set: key -> ""

    def __bool__(self) -> bool:
        return bool(self.params or self.tags or self.deleted)

    def set_tags(self, items: Mapping[str, str]) -> None:
        for k in items:
            self.deleted.pop(k, None)
        self.tags.update(items)

    def delete_tag(self, key: str) -> None:
        self.tags.pop(key, None)
        self.deleted[key] = ""

    def records(self, run_id: str, record_id: str) -> list[RunDataRecord]:
        """The records to send, ids ``<record_id>.<kind>``."""
        out = []
        for kind, items in zip(KINDS, (self.params, self.tags, self.deleted), strict=True):
            if items:
                out.append(RunDataRecord(run_id, kind, dict(items), f"{record_id}.{kind}"))
        return out

    def put_back(self, record: RunDataRecord) -> None:
        """Put an earlier record, not delivered, before what was queued since (a writer without a spool
        keeps it in memory): what was queued later wins."""
        if record.kind == "params":
            self.params = {**record.items, **self.params}
        elif record.kind == "tags":
            for k, val in record.items.items():
                if k not in self.tags and k not in self.deleted:
                    self.tags[k] = val
        else:
            for k in record.items:
                if k not in self.tags:
                    self.deleted.setdefault(k, "")


def param_conflict(run_id: str, key: str, old: str, new: str) -> Conflict:
    """The error for a param given another value than the one it has (the store's words)."""
    return Conflict(
        f"param {key!r} of run {run_id} is already {old!r}; it cannot change to {new!r}. "
        "Params are inputs fixed for a run: log a different key, or start a new run."
    )


def deliver_run_data(
    backend: Tracking,
    record: RunDataRecord,
    set_aside: Callable[[RunDataRecord, AssayError], None],
    hold: Callable[[RunDataRecord, AssayError | None], None] | None = None,
    held: Callable[[], set[str]] = set,
) -> list[AssayError]:
    """Send ``record`` by the policy table (``assay.sdk.policy``), as ``policy.deliver`` sends a batch:
    a refused record of several keys is split so the others land; the key refused is set aside; a run
    refused for a missing role is held (``hold``; its later records too); an outage is raised (the
    caller keeps the record whole: what of it landed is applied once in effect). Returns the errors of
    what was set aside."""
    if hold is not None and record.run_id in held():
        hold(record, None)
        return []
    try:
        record.apply(backend)
        return []
    except Exception as exc:
        single = len(record.items) == 1
        action = decide(exc, single, one_run=True)
        if action is Action.HOLD_RUN and hold is None:
            action = Action.SET_ASIDE if single else Action.SPLIT
        if action is Action.RETRY or action is Action.HOLD:
            raise
        assert isinstance(exc, AssayError)
        if action is Action.HOLD_RUN:
            assert hold is not None
            hold(record, exc)
            return []
        if action is Action.SET_ASIDE:
            set_aside(record, exc)
            return [exc]
    refused: list[AssayError] = []
    for part in record.split():
        refused += deliver_run_data(backend, part, set_aside, hold, held)
    return refused

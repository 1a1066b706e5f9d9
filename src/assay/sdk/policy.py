"""What to do with a write that a send could not deliver: one pure table, no I/O.

The background writer, live spool replay and ``assay sync`` all meet the same errors, and must treat them
the same way, so the decision lives here once (effects stay with the callers). A write is a batch of
operations (run creations, points, run ends) or one artifact upload (``assay.sdk.spool.ArtifactRecord``,
which counts as one operation).

============================  =====================  ==============================================
error                         batch of several       one operation, or a batch of one run's
                              runs' operations       operations
============================  =====================  ==============================================
``Unavailable``, any error    RETRY                  RETRY
that is not an AssayError
(connection refused, 5xx)
``Unauthenticated`` (token    HOLD                   HOLD
missing, unknown, revoked)
``PermissionDenied`` (a role  SPLIT                  HOLD_RUN
removed from the caller)
``InvalidInput``,             SPLIT                  SET_ASIDE (one operation; a batch of several
``NotFound``, ``Conflict``,                          is SPLIT first)
``InvalidState``, any other
``AssayError``
============================  =====================  ==============================================

RETRY
    Nothing was accepted and nothing is wrong with the write: keep it (in the spool), in order, and send
    it again on the next tick.
HOLD
    Refused because the caller is not known (a token to fix): nothing of it, nor of anything after it,
    can be accepted, so keep it exactly as for RETRY and say why; ``assay sync`` stops with that reason,
    and delivers once the token is fixed.
HOLD_RUN
    Refused because the caller lost the role the run's project needs: keep this write and every later
    write of the same run in the spool (``held/<run id>/``), in order, and say so once; other runs keep
    flowing. ``assay sync`` delivers them once an owner has given the role back, and ``assay sync
    --discard RUN`` drops them on purpose.
SPLIT
    One operation of the batch was refused: send the operations one at a time so the others land.
SET_ASIDE
    This one operation is refused (a run deleted meanwhile, a value the server will not take): keep it in
    the spool's ``rejected/`` folder with the reason, and go on, so one refusal never blocks other data.
    Never dropped, never retried forever; ``assay sync --rejected`` sends it again once the cause is fixed.

Split operations carry ids derived from their batch's id, so a batch delivered in part and sent again
is applied once per operation.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from assay.entities import WriteBatch
from assay.errors import AssayError, PermissionDenied, Unauthenticated, Unavailable


class Action(Enum):
    RETRY = "retry"
    HOLD = "hold"
    HOLD_RUN = "hold the run"
    SPLIT = "split"
    SET_ASIDE = "set aside"


def decide(error: BaseException, single: bool, one_run: bool | None = None) -> Action:
    """The action for ``error``, raised by sending a write (``single``: of one operation; ``one_run``:
    whose operations all belong to one run, by default the same as ``single``)."""
    if isinstance(error, Unavailable) or not isinstance(error, AssayError):
        return Action.RETRY
    if isinstance(error, Unauthenticated):
        return Action.HOLD
    if isinstance(error, PermissionDenied) and (single if one_run is None else one_run):
        return Action.HOLD_RUN
    return Action.SET_ASIDE if single else Action.SPLIT


def runs_of(batch: WriteBatch) -> set[str]:
    """The ids of the runs a batch's operations touch."""
    return (
        {r.run_id for r in batch.new_runs} | {s.run_id for s in batch.series} | {e.run_id for e in batch.ends}
    )


def size(batch: WriteBatch) -> int:
    """How many operations a batch holds."""
    return len(batch.new_runs) + len(batch.series) + len(batch.ends)


def describe(op: WriteBatch) -> str:
    """A batch of one operation (or of one run's operations), in words, for the messages about it."""
    if size(op) > 1:
        return f"{size(op)} operations of run {', '.join(sorted(runs_of(op)))}"
    if op.new_runs:
        return f"the creation of run {op.new_runs[0].run_id}"
    if op.series:
        s = op.series[0]
        return f"{len(s.values)} points of {s.key!r} for run {s.run_id}"
    if op.ends:
        e = op.ends[0]
        return f"the end ({e.status.value}) of run {e.run_id}"
    return "an empty batch"


def deliver(
    ingest: Callable[[WriteBatch], None],
    batch: WriteBatch,
    set_aside: Callable[[WriteBatch, AssayError], None],
    hold: Callable[[WriteBatch, AssayError | None], None] | None = None,
    held: Callable[[], set[str]] = set,
) -> list[AssayError]:
    """Send ``batch`` by the table above; returns the errors of the operations set aside.

    ``hold(op, error)`` keeps a run's operations for later (``error`` is None for the operations of a run
    already held, ``held()``, which are not sent: they must follow the ones held before them); a caller
    with nowhere to hold them (no ``hold``) sets them aside instead. Raises the send's error when the
    batch must be kept (RETRY or HOLD); the caller keeps the whole batch, since operations that did land
    are applied once when it is sent again.
    """

    def action_for(exc: Exception, single: bool, one_run: bool) -> Action:
        action = decide(exc, single, one_run)
        if action is Action.HOLD_RUN and hold is None:
            return Action.SET_ASIDE if single else Action.SPLIT
        return action

    if not runs_of(batch) & held():
        try:
            ingest(batch)
            return []
        except Exception as exc:
            action = action_for(exc, size(batch) == 1, len(runs_of(batch)) == 1)
            if action is Action.RETRY or action is Action.HOLD:
                raise
            if action is Action.HOLD_RUN:
                assert isinstance(exc, AssayError) and hold is not None
                hold(batch, exc)
                return []
            if action is Action.SET_ASIDE:
                assert isinstance(exc, AssayError)
                set_aside(batch, exc)
                return [exc]
    refused: list[AssayError] = []
    for op in batch.split():
        if hold is not None and runs_of(op) & held():
            hold(op, None)
            continue
        try:
            ingest(op)
        except Exception as exc:
            action = action_for(exc, True, True)
            if action is Action.RETRY or action is Action.HOLD:
                raise
            assert isinstance(exc, AssayError)
            if action is Action.HOLD_RUN and hold is not None:
                hold(op, exc)
            else:
                set_aside(op, exc)
                refused.append(exc)
    return refused

"""What to do with a write batch that a send could not deliver: one pure table, no I/O.

The background writer, live spool replay and ``assay sync`` all meet the same errors, and must treat them
the same way, so the decision lives here once (effects stay with the callers):

============================  =====================  ==============================================
error                         whole batch            one operation (after a split)
============================  =====================  ==============================================
``Unavailable``, any error    RETRY                  RETRY
that is not an AssayError
(connection refused, 5xx)
``Unauthenticated`` (token    HOLD                   HOLD
missing, unknown, revoked)
``PermissionDenied``,         SPLIT                  SET_ASIDE
``InvalidInput``,
``NotFound``, ``Conflict``,
``InvalidState``, any other
``AssayError``
============================  =====================  ==============================================

RETRY
    Nothing was accepted and nothing is wrong with the batch: keep it (in the spool), in order, and send
    it again on the next tick.
HOLD
    Refused because the caller is not known (a token to fix): nothing of it, nor of anything after it,
    can be accepted, so keep it exactly as for RETRY and say why; ``assay sync`` stops with that reason,
    and delivers once the token is fixed.
SPLIT
    One operation of the batch was refused: send the operations one at a time so the others land.
SET_ASIDE
    This one operation is refused (a role removed from the caller, a run deleted meanwhile, a value the
    server will not take): keep it in the spool's ``rejected/`` folder with the reason, and go on, so one
    project's refusal never blocks another's data. Never dropped, never retried forever; ``assay sync
    --rejected`` sends it again once the cause is fixed (the role given back, the run restored).

Split operations carry ids derived from their batch's id, so a batch delivered in part and sent again
is applied once per operation.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from assay.entities import WriteBatch
from assay.errors import AssayError, Unauthenticated, Unavailable


class Action(Enum):
    RETRY = "retry"
    HOLD = "hold"
    SPLIT = "split"
    SET_ASIDE = "set aside"


def decide(error: BaseException, single: bool) -> Action:
    """The action for ``error``, raised by sending a batch (``single``: a batch of one operation)."""
    if isinstance(error, Unavailable) or not isinstance(error, AssayError):
        return Action.RETRY
    if isinstance(error, Unauthenticated):
        return Action.HOLD
    return Action.SET_ASIDE if single else Action.SPLIT


def describe(op: WriteBatch) -> str:
    """A batch of one operation, in words, for the messages that say what was set aside."""
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
) -> list[AssayError]:
    """Send ``batch`` by the table above; returns the errors of the operations set aside.

    Raises the send's error when the batch must be kept (RETRY or HOLD); the caller keeps the whole
    batch, since operations that did land are applied once when it is sent again.
    """
    try:
        ingest(batch)
        return []
    except Exception as exc:
        single = len(batch.new_runs) + len(batch.series) + len(batch.ends) == 1
        action = decide(exc, single)
        if action is Action.RETRY or action is Action.HOLD:
            raise
        if action is Action.SET_ASIDE:
            assert isinstance(exc, AssayError)
            set_aside(batch, exc)
            return [exc]
    refused: list[AssayError] = []
    for op in batch.split():
        try:
            ingest(op)
        except Exception as exc:
            if decide(exc, single=True) is not Action.SET_ASIDE:
                raise
            assert isinstance(exc, AssayError)
            set_aside(op, exc)
            refused.append(exc)
    return refused

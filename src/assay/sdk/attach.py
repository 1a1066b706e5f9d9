"""Logging into a run that another process owns: the kernel of an executed notebook, a worker's child.

The owner (``assay run``, later the runner) creates the run, keeps it alive by heartbeating it and ends
it; the process doing the work only logs. The owner hands the run over through the environment:

- ``ASSAY_RUN_ID``: the run to log into;
- ``ASSAY_TRACKING_URI`` (and ``ASSAY_HOME``): the store, made absolute, since the worker may run in
  another directory.

In such a process, the fluent API (``assay.log_metric``, ``assay.log_model``, ...) with no run of its own
logs into that run (``host_run``) instead of raising "no active run"; ``assay.start_run()`` makes a child
of it. The host run is never ended here: its owner ends it, with the status it sees (a notebook that
failed in a cell, a kernel that died). ``flush_all`` is what the owner asks the worker to run before it
ends the run, so every point the worker logged is written first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from assay.entities import RunInfo, RunStatus
from assay.errors import InvalidState, NotFound
from assay.sdk.client import Client
from assay.sdk.handover import (  # re-exported: the owner's side of the handover
    RUN_ID,
    TRACKING_URI,
    absolute_uri,
    handover,
    host_run_id,
    worker_environment,
)
from assay.sdk.session import SESSION
from assay.sdk.writer import RunBuffer

_lock = threading.Lock()
#: run id -> (client, info, buffer) of the host run, looked up once per process.
_hosts: dict[str, tuple[Client, RunInfo, RunBuffer]] = {}

__all__ = [
    "RUN_ID",
    "TRACKING_URI",
    "absolute_uri",
    "flush_all",
    "handover",
    "host_run",
    "host_run_id",
    "worker_environment",
]


#: How long a process handed a run looks for it before saying the store does not have it, in seconds.
HANDOVER_WAIT_S = 5.0


def host_run(client: Callable[[], Client]) -> tuple[Client, RunInfo, RunBuffer] | None:
    """The client, info and metric buffer of the host run, or None when ``$ASSAY_RUN_ID`` is unset.

    ``client`` gives the fluent API's client (the store of ``$ASSAY_TRACKING_URI``); the run is checked
    once: InvalidState if it has ended (its owner gave up on it), NotFound if the store does not have it.
    """
    run_id = host_run_id()
    if run_id is None:
        return None
    found = _hosts.get(run_id)
    if found is not None and not found[2].closed:
        return found
    with _lock:
        c = client()
        # The owner may hand the run over before its writer has stored it (a job's run is written with the
        # job's first batch, within the writer's interval): a missing run is looked for a few seconds.
        deadline = time.monotonic() + HANDOVER_WAIT_S
        while True:
            try:
                info = c.get_run(run_id).info
                break
            except NotFound:
                if time.monotonic() >= deadline:
                    raise NotFound(
                        f"${RUN_ID} names run {run_id}, which the store {c.tracking_uri} does not have"
                    ) from None
                time.sleep(0.05)
        if info.status is not RunStatus.RUNNING:
            raise InvalidState(
                f"${RUN_ID} names run {run_id}, which is {info.status.value}: its owner has ended it"
            )
        found = _hosts[run_id] = (c, info, c.writer.buffer(run_id))
        return found


def flush_all() -> None:
    """Write what every writer of this process holds (the worker's side, before its owner ends the run)."""
    for writer in list(SESSION.writers.values()):
        writer.flush(raise_errors=False)

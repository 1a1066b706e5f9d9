"""The owner's side of a run handed over to another process (see ``assay.sdk.attach``): the variables that
name the run and the store. Light on purpose (no store, no client): ``assay run`` starts a notebook's kernel
with this environment before it loads anything else, so the kernel boots while the store opens.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

RUN_ID = "ASSAY_RUN_ID"
TRACKING_URI = "ASSAY_TRACKING_URI"


def host_run_id() -> str | None:
    """The id of the run this process logs into on another's behalf (``$ASSAY_RUN_ID``), or None."""
    return os.environ.get(RUN_ID) or None


def absolute_uri(uri: str) -> str:
    """``uri`` with a local SQLite path made absolute (a worker may run in another directory)."""
    if "://" not in uri:
        return str(Path(uri).expanduser().resolve())
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/") and uri != prefix + ":memory:":
        return prefix + str(Path(uri[len(prefix) :]).expanduser().resolve())
    return uri


def worker_environment(tracking_uri: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a worker process of the store ``tracking_uri``: ``base`` (default: this
    process's) with the store made absolute and no host run yet (``handover`` names it)."""
    env = dict(os.environ if base is None else base)
    env.pop(RUN_ID, None)
    env[TRACKING_URI] = absolute_uri(tracking_uri)
    for key in ("ASSAY_HOME", "ASSAY_ARTIFACT_ROOT"):
        value = env.get(key)
        if value and "://" not in value:
            env[key] = str(Path(value).expanduser().resolve())
    return env


def handover(run_id: str) -> dict[str, str]:
    """The variables that make a worker log into ``run_id`` (set before any of its code runs)."""
    return {RUN_ID: run_id}

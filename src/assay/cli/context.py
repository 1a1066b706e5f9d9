"""How commands reach the tracking backend and turn what users type into runs and experiments.

The backend is opened lazily (importing it pulls in SQLAlchemy and numpy), from ``--tracking-uri`` or the
default of ``assay.bundle`` ($ASSAY_TRACKING_URI, else the store in $ASSAY_HOME). Run ids may be given
as a unique prefix, such as the 8 characters ``assay runs ls`` shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer

from assay.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from assay.entities import Experiment, Run
    from assay.services.registry import Registry
    from assay.services.tracking import Tracking

#: A run id is at most this long; shorter all-alphanumeric references are tried as prefixes.
RUN_ID_LENGTH = 32


@dataclass(frozen=True, slots=True)
class CliState:
    """Global options, stored on the root context's ``obj`` for every subcommand."""

    tracking_uri: str | None = None


def tracking(ctx: typer.Context) -> Tracking:
    """The backend for this invocation (``--tracking-uri`` if given, else the default URI)."""
    from assay.bundle import get_backend

    state = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
    return get_backend(state.tracking_uri)


def registry(ctx: typer.Context) -> Registry:
    """The model registry for this invocation (same store or server as ``tracking``)."""
    from assay.bundle import get_registry

    state = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
    return get_registry(state.tracking_uri)


def _by_prefix(t: Tracking, ref: str) -> Run | None:
    """The one run (deleted ones included) whose id starts with ``ref``; None if none does."""
    if not ref.isalnum() or len(ref) >= RUN_ID_LENGTH:
        return None
    found = t.search_runs(filter=f"attributes.run_id like '{ref}%'", max_results=3, include_deleted=True)
    if len(found) > 1:
        ids = ", ".join(r.info.run_id for r in found[:2])
        more = ", ..." if found.next_page_token or len(found) > 2 else ""
        raise InvalidInput(f"run id prefix {ref!r} is ambiguous (matches {ids}{more}): give more characters")
    return found[0] if found else None


def resolve_run(t: Tracking, ref: str) -> Run:
    """The run with id ``ref``, or the only run whose id starts with ``ref``; NotFound otherwise."""
    try:
        return t.get_run(ref)
    except NotFound:
        run = _by_prefix(t, ref)
        if run is None:
            raise
        return run


def resolve_run_id(t: Tracking, ref: str) -> str:
    """The full id of the run ``ref`` names (an id or a unique prefix of one)."""
    try:
        return t.get_run_info(ref).run_id
    except NotFound:
        run = _by_prefix(t, ref)
        if run is None:
            raise
        return run.info.run_id


def resolve_experiment(t: Tracking, name_or_id: str) -> Experiment:
    """The experiment named ``name_or_id`` (a name you may read in one project only, or ``project/name``),
    else the one with that id (names win: a name may be digits). A name several projects hold is refused
    with the ``project/name`` of each."""
    exp = t.get_experiment_by_name(name_or_id)
    if exp is not None:
        return exp
    if name_or_id.strip().isdigit():
        return t.get_experiment(name_or_id.strip())
    raise NotFound(f"no experiment named {name_or_id!r}: list them with 'assay experiments ls'")


def artifact_target(ref: str, path: str | None) -> tuple[str, str]:
    """Split ``RUN_ID [PATH]`` or ``runs:/RUN_ID/sub [PATH]`` into a run reference and an artifact path."""
    from assay.artifacts.uri import clean_path, parse_runs_uri

    if ref.startswith("runs:"):
        run_ref, base = parse_runs_uri(ref)
    else:
        run_ref, base = ref, ""
    extra = clean_path(path)
    return run_ref, "/".join(p for p in (base, extra) if p)

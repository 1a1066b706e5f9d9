"""Where things are on the server: the API prefix and path segments built safely from ids and paths."""

from __future__ import annotations

from urllib.parse import quote

from assay.artifacts.uri import clean_path
from assay.errors import NotFound

API = "/api/v1"


def segment(value: str, what: str) -> str:
    """An id as one URL path segment (an empty one would address another route, so it is NotFound)."""
    if not str(value):
        raise NotFound(f"no {what} with id ''")
    return quote(str(value), safe="")


def key_segment(key: str) -> str:
    """A metric or tag key as one segment: its '/' escaped, so no '.' part is resolved away by a client."""
    return quote(key, safe="")


def run_path(run_id: str) -> str:
    return f"/runs/{segment(run_id, 'run')}"


def artifact_url(run_id: str, path: str | None) -> str:
    """The URL of a run's artifact file.

    The path is cleaned first (InvalidInput if it leaves the run's directory), so no ``..`` or ``.``
    segment reaches a URL, where HTTP clients would resolve it away.
    """
    return f"{API}{run_path(run_id)}/artifacts/{quote(clean_path(path), safe='/')}"

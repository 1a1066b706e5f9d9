"""``runs:/<run_id>/<path>`` URIs. Pure: no I/O."""

from __future__ import annotations

import posixpath

from assay.errors import InvalidInput


def parse_runs_uri(uri: str) -> tuple[str, str]:
    """``runs:/abc123/model/model.pkl`` -> ("abc123", "model/model.pkl"); the path may be empty."""
    if not uri.startswith("runs:/"):
        raise InvalidInput(f"{uri!r} is not a runs URI: write runs:/<run_id>/<path>")
    rest = uri[len("runs:/") :].lstrip("/")
    run_id, _, path = rest.partition("/")
    if not run_id:
        raise InvalidInput(f"{uri!r} names no run: write runs:/<run_id>/<path>")
    return run_id, clean_path(path)


def clean_path(path: str | None) -> str:
    """Normalise an artifact path: forward slashes, no leading slash, no ``..`` escaping the run's root."""
    if not path:
        return ""
    p = posixpath.normpath(path.replace("\\", "/")).lstrip("/")
    if p == ".":
        return ""
    if p == ".." or p.startswith("../"):
        raise InvalidInput(f"artifact path {path!r} leaves the run's artifact directory")
    return p

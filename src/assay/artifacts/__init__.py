"""Artifacts: files kept with a run, on any fsspec filesystem (a local directory by default, s3:// for teams)."""

from assay.artifacts.repository import ArtifactRepository
from assay.artifacts.uri import parse_runs_uri

__all__ = ["ArtifactRepository", "parse_runs_uri"]

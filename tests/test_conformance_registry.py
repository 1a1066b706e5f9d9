"""assay.testing's Registry conformance suite on SQLite, PostgreSQL and over HTTP with auth on."""

from assay.testing.registry import *  # noqa: F403

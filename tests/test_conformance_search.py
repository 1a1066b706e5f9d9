"""assay.testing's search conformance suite on SQLite, PostgreSQL and over HTTP with auth on."""

from assay.testing.search import *  # noqa: F403

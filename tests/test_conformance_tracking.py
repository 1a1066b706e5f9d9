"""assay.testing's Tracking conformance suite on SQLite, PostgreSQL and over HTTP with auth on."""

from assay.testing.tracking import *  # noqa: F403

"""The Jobs conformance suite on embedded SQLite, PostgreSQL and a server with auth on."""

from assay.testing.jobs import *  # noqa: F403

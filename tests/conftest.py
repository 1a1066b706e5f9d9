"""The project's tests take their fixtures from the conformance suites' plugin (``assay.testing``)."""

from __future__ import annotations

import os

import pytest

pytest.register_assert_rewrite("assay.testing")

# Tables print at one width whatever runs the tests (a terminal, CI, or a pytest-xdist worker, which has
# no terminal): the CLI's tests read names out of them, and the children they start inherit this.
os.environ["COLUMNS"] = "200"

from assay.testing.fixtures import PG_URL, _truncate_pg, reset_sdk  # noqa: E402
from processes import spooling_server  # noqa: E402  (a fixture of the spool tests)

pytest_plugins = ["assay.testing.fixtures"]

__all__ = ["PG_URL", "_truncate_pg", "reset_sdk", "spooling_server"]

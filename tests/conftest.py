"""The project's tests take their fixtures from the conformance suites' plugin (``assay.testing``)."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("assay.testing")

from assay.testing.fixtures import PG_URL, _truncate_pg, reset_sdk  # noqa: E402

pytest_plugins = ["assay.testing.fixtures"]

__all__ = ["PG_URL", "_truncate_pg", "reset_sdk"]

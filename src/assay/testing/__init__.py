"""The conformance suites: tests written against the service interfaces, run on every implementation.

Each module holds one interface's suite, as plain pytest test functions that take the fixtures of
``assay.testing.fixtures`` (``tracking_uri``, ``services``): ``tracking`` (experiments, runs, params,
tags, metrics, artifacts, bad input) and ``search`` (the filter language end to end). The project runs
them from ``tests/test_conformance_*.py`` on embedded SQLite, on PostgreSQL and over HTTP with auth on::

    # tests/conftest.py
    pytest_plugins = ["assay.testing.fixtures"]
    # tests/test_conformance_tracking.py
    from assay.testing.tracking import *  # noqa: F403

A new service adds ``assay/testing/<service>.py`` written against ``services.<service>`` and one
``tests/test_conformance_<service>.py`` line like the above; the three backends come with the fixtures.
This package needs pytest (the ``dev`` extra) and is imported only by test runs.
"""

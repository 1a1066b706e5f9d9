"""The ``assay`` command line: browse experiments, runs and artifacts of a tracking store from a terminal.

Entry point: ``assay.cli.main:main``. Heavy modules (the store, numpy) are imported only when a command
actually talks to a backend, so ``assay --help`` stays fast.
"""

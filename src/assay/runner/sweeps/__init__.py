"""Sweeps: many trials of one notebook or function over a search space, as child runs of a parent run.

``config`` (what a sweep is, stored on its parent) and ``plans`` (which params the next trial takes:
grid, seeded random, Optuna's ask/tell) and ``outcome`` are free of I/O; ``driver`` runs the trials on an
engine and keeps the store up to date; ``trial`` is the trial's side (``should_prune``); ``api`` is
``assay.sweep``. How pruning and resuming work is told in ``driver``.
"""

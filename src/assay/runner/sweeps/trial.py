"""The trial's side of pruning: ``assay.should_prune()``.

How pruning works (the driver owns the Optuna study; the trial only logs and asks):

1. The trial logs its objective with steps, ``assay.log_metric("val_auc", auc, step=epoch)``, as any run.
2. The driver polls the store every ``POLL_S`` for the running trials' new points of the metric, reports
   them to its study (``trial.report``) and asks the pruner (``trial.should_prune``). When it says prune,
   the driver tags the trial's run ``assay.sweep.prune=requested``.
3. The trial calls ``assay.should_prune()`` between steps; it reads its run's tags and, once it sees the
   request, marks it ``stopped`` and returns True. The trial then stops early (a function returns, a
   notebook breaks out of its loop); the driver tells the study PRUNED and tags the run's state PRUNED.

The lag between a point logged and the trial learning it is pruned is the writer's flush (tens of ms),
the driver's poll (up to ``POLL_S``) and the trial's next ``should_prune`` call (its next step). A trial
that never asks is not stopped: it runs to the end and counts as COMPLETE with its final value. Outside
a sweep, ``should_prune()`` is always False, so the same code runs alone.
"""

from __future__ import annotations

from assay.runner.sweeps.config import PARENT_TAG, PRUNE_REQUESTED, PRUNE_STOPPED, PRUNE_TAG


def should_prune() -> bool:
    """Whether the sweep driving this trial asked it to stop (see this module). One read of the run's
    tags from the store per call; False when no run is active or the run is not a sweep's trial."""
    from assay.sdk import fluent

    run = fluent.active_run()
    if run is None:
        return False
    tags = run.client.get_run(run.id).tags
    if PARENT_TAG not in tags or tags.get(PRUNE_TAG) not in (PRUNE_REQUESTED, PRUNE_STOPPED):
        return False
    if tags.get(PRUNE_TAG) == PRUNE_REQUESTED:
        run.client.set_tag(run.id, PRUNE_TAG, PRUNE_STOPPED)
    return True

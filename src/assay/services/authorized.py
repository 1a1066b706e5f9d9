"""``AuthorizedTracking``: the ``Tracking`` interface as one caller, every operation checked first.

Authorization lives here, at the service boundary, once: routes, UI pages and the CLI call a bundle bound
to their caller (``assay.bundle.Services.as_caller``) and never check roles themselves. The rules:

- viewer (reading): experiments, runs, metrics, artifacts, searches; listings and lookups by name show
  only the projects the caller holds a role in, and experiments carry the caller's ``role`` there;
- editor (writing): creating experiments (in the project named) and runs, logging, tagging, ending,
  heartbeats, deleting and restoring runs, writing artifacts;
- owner (managing): deleting and restoring experiments.

A run started offline names its experiment (``by-name:<project>:<name>``): creating it needs editor on
that experiment's project if it exists, else on the project it is to be created in. Refusals raise
``PermissionDenied`` naming the role missing and how to get it; the wrapped service is not called.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from assay.access import Principal, Role
from assay.entities import (
    Experiment,
    FileInfo,
    MetricHistory,
    Run,
    RunCount,
    RunInfo,
    RunList,
    RunStatus,
    SeriesBatch,
    WriteBatch,
)
from assay.query import parse_filter, parse_order_by
from assay.series import Downsampled
from assay.services.access import Authorizer
from assay.services.experiment_names import find_experiment
from assay.services.tracking import EXACT_COUNT_UP_TO, Tracking, split_by_name


class AuthorizedTracking(Tracking):
    """``inner`` as ``caller``: roles checked by ``authorizer`` before each call (see the module docstring)."""

    def __init__(self, inner: Tracking, authorizer: Authorizer, caller: Principal) -> None:
        self.inner = inner
        self.authorizer = authorizer
        self.caller = caller

    # ---- the checks -------------------------------------------------------------------------------------

    def _runs(self, role: Role, run_ids: Sequence[str], action: str) -> None:
        self.authorizer.require_run(self.caller, role, run_ids, action)

    def _experiments(self, role: Role, experiment_ids: Sequence[str], action: str) -> None:
        self.authorizer.require_experiment(self.caller, role, experiment_ids, action)

    def _with_role(self, experiment: Experiment) -> Experiment:
        """``experiment`` with the caller's role in its project filled in."""
        held = self.caller.role_in(self.authorizer.project_of_experiment(experiment.experiment_id))
        return replace(experiment, role=None if held is None else held.value)

    # ---- experiments -----------------------------------------------------------------------------------

    def create_experiment(self, name: str, project: str | None = None) -> Experiment:
        self.authorizer.require_project(self.caller, Role.EDITOR, project, "creating experiments")
        return self._with_role(self.inner.create_experiment(name, project))

    def get_experiment(self, experiment_id: str, with_run_count: bool = True) -> Experiment:
        self._experiments(Role.VIEWER, [experiment_id], "reading experiments")
        return self._with_role(self.inner.get_experiment(experiment_id, with_run_count))

    def count_runs(self, experiment_id: str, exact_up_to: int = EXACT_COUNT_UP_TO) -> RunCount:
        self._experiments(Role.VIEWER, [experiment_id], "reading experiments")
        return self.inner.count_runs(experiment_id, exact_up_to)

    def get_experiment_by_name(self, name: str, project: str | None = None) -> Experiment | None:
        """Found among the experiments the caller may read only: one of a project it cannot read is
        neither returned nor named as a candidate of an ambiguous name."""
        return find_experiment(name, project, lambda n, p: self.list_experiments(True, p, n))

    def list_experiments(
        self, include_deleted: bool = False, project: str | None = None, name: str | None = None
    ) -> list[Experiment]:
        if project is not None:
            self.authorizer.require_project(self.caller, Role.VIEWER, project, "listing experiments")
        readable = {self.authorizer.project_name(pid) for pid in self.caller.roles}
        found = self.inner.list_experiments(include_deleted, project, name)
        return [self._with_role(e) for e in found if e.project in readable]

    def delete_experiment(self, experiment_id: str) -> None:
        self._experiments(Role.OWNER, [experiment_id], "deleting experiments")
        self.inner.delete_experiment(experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        self._experiments(Role.OWNER, [experiment_id], "restoring experiments")
        self.inner.restore_experiment(experiment_id)

    def rename_experiment(self, experiment_id: str, name: str) -> None:
        self._experiments(Role.OWNER, [experiment_id], "renaming experiments")
        self.inner.rename_experiment(experiment_id, name)

    # ---- runs ------------------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        name: str | None = None,
        params: Mapping[str, object] | None = None,
        tags: Mapping[str, object] | None = None,
        parent_run_id: str | None = None,
        run_id: str | None = None,
        start_time: int | None = None,
        user: str | None = None,
    ) -> RunInfo:
        self._experiments(Role.EDITOR, [experiment_id], "creating runs")
        return self.inner.create_run(
            experiment_id, name, params, tags, parent_run_id, run_id, start_time, user
        )

    def get_run(self, run_id: str) -> Run:
        self._runs(Role.VIEWER, [run_id], "reading runs")
        return self.inner.get_run(run_id)

    def get_run_info(self, run_id: str) -> RunInfo:
        self._runs(Role.VIEWER, [run_id], "reading runs")
        return self.inner.get_run_info(run_id)

    def log_params(self, run_id: str, params: Mapping[str, object]) -> None:
        self._runs(Role.EDITOR, [run_id], "logging params")
        self.inner.log_params(run_id, params)

    def set_tags(self, run_id: str, tags: Mapping[str, object]) -> None:
        self._runs(Role.EDITOR, [run_id], "setting tags")
        self.inner.set_tags(run_id, tags)

    def delete_tag(self, run_id: str, key: str) -> None:
        self._runs(Role.EDITOR, [run_id], "deleting tags")
        self.inner.delete_tag(run_id, key)

    def ingest(self, batch: WriteBatch) -> None:
        """Editor on every project the batch writes to: its new runs' experiments, the other runs' own."""
        new = {r.run_id for r in batch.new_runs}
        experiments = []
        for eid in {r.experiment_id for r in batch.new_runs}:
            named = split_by_name(eid)
            if named is None:
                experiments.append(eid)
                continue
            exp = self.inner.get_experiment_by_name(named[1], named[0])
            if exp is not None:
                experiments.append(exp.experiment_id)
            else:
                self.authorizer.require_project(self.caller, Role.EDITOR, named[0], "creating experiments")
        self._experiments(Role.EDITOR, experiments, "creating runs")
        touched = {s.run_id for s in batch.series} | {e.run_id for e in batch.ends}
        self._runs(Role.EDITOR, sorted(touched - new), "logging to runs")
        self.inner.ingest(batch)

    def end_run(
        self, run_id: str, status: RunStatus, end_time: int | None = None, batches: Sequence[SeriesBatch] = ()
    ) -> None:
        self._runs(Role.EDITOR, [run_id, *(b.run_id for b in batches)], "ending runs")
        self.inner.end_run(run_id, status, end_time, batches)

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        self._runs(Role.EDITOR, run_ids, "sending heartbeats")
        self.inner.heartbeat(run_ids)

    def delete_run(self, run_id: str) -> None:
        self._runs(Role.EDITOR, [run_id], "deleting runs")
        self.inner.delete_run(run_id)

    def rename_run(self, run_id: str, name: str) -> None:
        self._runs(Role.EDITOR, [run_id], "renaming runs")
        self.inner.rename_run(run_id, name)

    def restore_run(self, run_id: str) -> None:
        self._runs(Role.EDITOR, [run_id], "restoring runs")
        self.inner.restore_run(run_id)

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        self._runs(Role.VIEWER, [run_id], "reading metrics")
        return self.inner.get_metric_history(run_id, key)

    def get_metric_series(self, run_id: str, key: str, max_points: int = 1000) -> Downsampled:
        self._runs(Role.VIEWER, [run_id], "reading metrics")
        return self.inner.get_metric_series(run_id, key, max_points)

    def search_runs(
        self,
        experiment_ids: Sequence[str] = (),
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> RunList:
        """Runs of ``experiment_ids`` (all readable, else 403), or of every experiment the caller may read."""
        if experiment_ids:
            self._experiments(Role.VIEWER, experiment_ids, "searching runs")
        else:
            readable = self.authorizer.readable_experiment_ids(self.caller)
            if readable is not None and not readable:
                parse_filter(filter)  # nothing to search, but a bad filter is still an error
                parse_order_by(order_by)
                return RunList([])
            experiment_ids = readable or ()
        return self.inner.search_runs(
            experiment_ids, filter, order_by, max_results, page_token, include_deleted
        )

    # ---- artifacts -------------------------------------------------------------------------------------

    def write_artifact(self, run_id: str, path: str, data: bytes) -> None:
        self._runs(Role.EDITOR, [run_id], "logging artifacts")
        self.inner.write_artifact(run_id, path, data)

    def upload_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None
    ) -> None:
        self._runs(Role.EDITOR, [run_id], "logging artifacts")
        self.inner.upload_artifact(run_id, local_path, artifact_path)

    def check_artifact_write(self, run_id: str) -> None:
        self._runs(Role.EDITOR, [run_id], "logging artifacts")
        self.inner.check_artifact_write(run_id)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        self._runs(Role.VIEWER, [run_id], "reading artifacts")
        return self.inner.list_artifacts(run_id, path)

    def read_artifact(self, run_id: str, path: str) -> bytes:
        self._runs(Role.VIEWER, [run_id], "reading artifacts")
        return self.inner.read_artifact(run_id, path)

    def download_artifacts(self, run_id: str, path: str | None, dst: str | os.PathLike[str]) -> Path:
        self._runs(Role.VIEWER, [run_id], "reading artifacts")
        return self.inner.download_artifacts(run_id, path, dst)

"""``TrackingService``: the ``Tracking`` interface in-process, over the SQL store and an artifact root.

The embedded mode's service, and the core the server exposes. Validation and invariants come from
``assay.services.tracking`` (checked once, above the store); this class adds storage: ids resolved, runs
reaped (by a timer, ``assay.embedded.reaper``: reads never write), batch ids remembered, artifacts read and
written through fsspec.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from assay.access import DEFAULT_PROJECT
from assay.artifacts import ArtifactRepository
from assay.embedded.reaper import Reaper
from assay.entities import (
    Experiment,
    FileInfo,
    Lifecycle,
    MetricHistory,
    NewRun,
    Run,
    RunCount,
    RunEnd,
    RunInfo,
    RunList,
    RunStatus,
    SeriesBatch,
    WriteBatch,
    batch_created_ms,
)
from assay.errors import Conflict, InvalidInput, InvalidState, NotFound
from assay.query import Cursor, decode_cursor, encode_cursor, page_cursors, parse_filter, parse_order_by
from assay.series import Downsampled, downsample
from assay.services import validation as v
from assay.services.experiment_names import find_experiment
from assay.services.tracking import (
    BY_NAME,
    EXACT_COUNT_UP_TO,
    PRUNE_EVERY_MS,
    Tracking,
    as_read,
    batch_retention_ms,
    check_batch,
    check_writable,
    heartbeat_timeout_ms,
    new_run,
    now_ms,
    split_by_name,
)
from assay.store.sql.rows import EndRefused, ExperimentClosed
from assay.store.sql.tracking import TrackingStore

#: Experiment locations remembered before the memory is cleared.
_MAX_LOCATIONS = 10_000


class TrackingService(Tracking):
    """Tracking in-process over a SQL store and an artifact root (embedded mode, and the server's core)."""

    def __init__(self, store: TrackingStore, artifact_root: str, reap: bool = True) -> None:
        self.store = store
        self.artifact_root = artifact_root.rstrip("/")
        self._pruned_at = 0
        #: Marks silent runs KILLED on a timer; reads show them so meanwhile (``_seen``).
        self.reaper = Reaper(store) if reap else None
        #: experiment id -> artifact location (fixed at creation), for experiments seen to take runs
        self._locations: dict[str, str] = {}

    def close(self) -> None:
        if self.reaper is not None:
            self.reaper.close()
        self.store.close()

    @staticmethod
    def _seen(info: RunInfo) -> RunInfo:
        return as_read(info, now_ms() - heartbeat_timeout_ms())

    # ---- experiments ----------------------------------------------------------------------------------

    def create_experiment(self, name: str, project: str | None = None) -> Experiment:
        v.check_name(name, "experiment")
        project = project or DEFAULT_PROJECT
        pid = self.store.project_id(project)
        try:
            eid = self.store.create_experiment(name, self.artifact_root, now_ms(), pid)
        except Conflict:
            raise Conflict(
                f"an experiment named {name!r} already exists in project {project!r}: use it "
                f"(get_experiment_by_name({name!r}, project={project!r})) or pick another name"
            ) from None
        return self.store.get_experiment(eid)

    def get_experiment(self, experiment_id: str, with_run_count: bool = True) -> Experiment:
        return self.store.get_experiment(str(experiment_id), with_run_count)

    def count_runs(self, experiment_id: str, exact_up_to: int = EXACT_COUNT_UP_TO) -> RunCount:
        return self.store.count_runs(str(experiment_id), exact_up_to)

    def get_experiment_by_name(self, name: str, project: str | None = None) -> Experiment | None:
        return find_experiment(name, project, lambda n, p: self.list_experiments(True, p, n))

    def list_experiments(
        self, include_deleted: bool = False, project: str | None = None, name: str | None = None
    ) -> list[Experiment]:
        ids = None if project is None else [self.store.project_id(project)]
        return self.store.list_experiments(include_deleted, ids, name)

    def delete_experiment(self, experiment_id: str) -> None:
        self.store.set_experiment_lifecycle(str(experiment_id), Lifecycle.DELETED)

    def restore_experiment(self, experiment_id: str) -> None:
        self.store.set_experiment_lifecycle(str(experiment_id), Lifecycle.ACTIVE)

    def rename_experiment(self, experiment_id: str, name: str) -> None:
        self.store.rename_experiment(str(experiment_id), v.check_name(name, "experiment"))

    # ---- runs -------------------------------------------------------------------------------------------

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
        new = new_run(
            experiment_id,
            name=name,
            params=params,
            tags=tags,
            parent_run_id=parent_run_id,
            run_id=run_id,
            start_time=start_time,
            user=user,
        )
        location = self._experiment_location(new.experiment_id)
        self._apply(WriteBatch(new_runs=[new]), {new.run_id: _artifact_uri(location, new.run_id)})
        return RunInfo(
            run_id=new.run_id,
            experiment_id=new.experiment_id,
            name=new.name,
            status=RunStatus.RUNNING,
            start_time=new.start_time,
            end_time=None,
            user=new.user,
            artifact_uri=_artifact_uri(location, new.run_id),
            parent_run_id=new.parent_run_id,
            heartbeat_at=new.start_time,
        )

    def _experiment_location(self, experiment_id: str) -> str:
        """The artifact location of an experiment, checked to accept new runs the first time it is seen.

        A location never changes, so it is remembered; whether the experiment still accepts runs is
        checked again by the insert itself (``ExperimentClosed``), so a remembered one costs no read."""
        location = self._locations.get(experiment_id)
        if location is None:
            location = self._open_experiment(experiment_id)
            if len(self._locations) >= _MAX_LOCATIONS:
                self._locations.clear()
            self._locations[experiment_id] = location
        return location

    def _open_experiment(self, experiment_id: str) -> str:
        """The location of an experiment that accepts new runs: NotFound if gone, InvalidState if deleted."""
        location, lifecycle = self.store.experiment_for_new_run(experiment_id)
        if lifecycle is Lifecycle.DELETED:
            raise InvalidState(
                f"experiment {experiment_id} is deleted: restore it (Client.restore_experiment) "
                "to start runs in it"
            )
        return location

    def ingest(self, batch: WriteBatch) -> None:
        if not batch:
            return
        self._check_age(batch.batch_id)
        uris: dict[str, str] = {}
        if any(r.experiment_id.startswith(BY_NAME) for r in batch.new_runs):
            batch = replace(batch, new_runs=[self._resolved(r) for r in batch.new_runs])
        check_batch(batch)
        for r in batch.new_runs:
            uris[r.run_id] = _artifact_uri(self._experiment_location(r.experiment_id), r.run_id)
        self._apply(batch, uris)

    def _check_age(self, batch_id: str | None) -> None:
        """Refuse a batch older than the window in which applied ids are remembered (it may have been
        applied already, and applying it again would duplicate its points); prune that window hourly."""
        now = now_ms()
        retention = batch_retention_ms()
        if now - self._pruned_at > PRUNE_EVERY_MS:
            self._pruned_at = now
            self.store.prune_batches(now - retention)
        created = batch_created_ms(batch_id) if batch_id else None
        if created is not None and created < now - retention:
            days = (now - created) / 86_400_000
            raise InvalidState(
                f"batch {batch_id} was made {days:.0f} days ago, longer than this store remembers applied "
                f"batches ({retention / 86_400_000:g} days, ASSAY_BATCH_RETENTION_DAYS): it may have been "
                "applied already, so it is not applied again; check its run before sending it another way"
            )

    def resolve_experiment(self, experiment_id: str) -> str:
        """The real id of ``experiment_id``: itself, or for a by-name id, the experiment of that name in
        its project (created there if there is none yet)."""
        named = split_by_name(experiment_id)
        if named is None:
            return experiment_id
        project, name = named
        exp = self.get_experiment_by_name(name, project)
        if exp is None:
            try:
                exp = self.create_experiment(name, project)
            except Conflict:  # created meanwhile by another writer
                exp = self.get_experiment_by_name(name, project)
                if exp is None:
                    raise
        return exp.experiment_id

    def _resolved(self, r: NewRun) -> NewRun:
        return replace(r, experiment_id=self.resolve_experiment(r.experiment_id))

    def _apply(self, batch: WriteBatch, uris: dict[str, str]) -> None:
        try:
            for attempt in range(3):
                try:
                    self.store.apply(batch, uris, _check_appendable)
                    return
                except ExperimentClosed as exc:
                    # Deleted since its location was remembered: say so (InvalidState), or, restored
                    # meanwhile, apply the batch again (nothing of it was written).
                    self._locations.pop(exc.experiment_id, None)
                    self._open_experiment(exc.experiment_id)
                    if attempt == 2:
                        raise InvalidState(
                            f"experiment {exc.experiment_id} is being deleted and restored: try again"
                        ) from None
        except EndRefused as exc:
            info = self.store.get_run_info(exc.run_id)  # NotFound for an unknown id
            raise InvalidState(f"run {exc.run_id} already ended as {info.status.value}") from None

    def get_run(self, run_id: str) -> Run:
        run = self.store.get_run(run_id)
        seen = self._seen(run.info)
        return run if seen is run.info else replace(run, info=seen)

    def get_run_info(self, run_id: str) -> RunInfo:
        return self._seen(self.store.get_run_info(run_id))

    def _writable(self, run_id: str) -> RunInfo:
        info = self.store.get_run_info(run_id)
        check_writable(info)
        return info

    def log_params(self, run_id: str, params: Mapping[str, object]) -> None:
        items = {v.check_key(k, "param"): v.param_value(k, val) for k, val in params.items()}
        self._writable(run_id)
        self.store.log_params(run_id, items)

    def set_tags(self, run_id: str, tags: Mapping[str, object]) -> None:
        items = {v.check_key(k, "tag"): v.tag_value(k, val) for k, val in tags.items()}
        info = self.store.get_run_info(run_id)
        if info.lifecycle is Lifecycle.DELETED:
            raise InvalidState(f"run {run_id} is deleted: restore it (assay runs restore {run_id}) to tag it")
        self.store.set_tags(run_id, items)

    def delete_tag(self, run_id: str, key: str) -> None:
        self.store.get_run_info(run_id)
        if not self.store.delete_tag(run_id, key):
            raise NotFound(f"run {run_id} has no tag {key!r}")

    def end_run(
        self, run_id: str, status: RunStatus, end_time: int | None = None, batches: Sequence[SeriesBatch] = ()
    ) -> None:
        status = RunStatus(status)
        if status is RunStatus.RUNNING:
            raise InvalidInput("end_run needs a final status: FINISHED, FAILED or KILLED")
        end = RunEnd(run_id, status, now_ms() if end_time is None else v.time_ms(end_time, "end_time"))
        self.ingest(WriteBatch(series=batches, ends=[end]))

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        self.store.heartbeat(run_ids, now_ms())

    def delete_run(self, run_id: str) -> None:
        self.store.get_run_info(run_id)
        self.store.set_run_lifecycle(run_id, Lifecycle.DELETED)

    def rename_run(self, run_id: str, name: str) -> None:
        self.store.rename_run(run_id, v.check_name(name, "run"))

    def restore_run(self, run_id: str) -> None:
        self.store.get_run_info(run_id)
        self.store.set_run_lifecycle(run_id, Lifecycle.ACTIVE)

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        self.store.get_run_info(run_id)
        return self.store.get_metric_history(run_id, key)

    def get_metric_series(self, run_id: str, key: str, max_points: int = 1000) -> Downsampled:
        self.store.get_run_info(run_id)
        # Read without copying the stored arrays: downsampling only looks at them.
        return downsample(self.store.get_metric_history(run_id, key, writable=False), max_points)

    def search_runs(
        self,
        experiment_ids: Sequence[str] = (),
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> RunList:
        expr = parse_filter(filter)
        keys = parse_order_by(order_by)
        if max_results is not None and max_results < 1:
            raise InvalidInput(f"max_results must be at least 1, got {max_results}")
        start = decode_cursor(page_token, keys)
        for eid in experiment_ids:
            self.store.experiment_for_new_run(str(eid))  # NotFound for an unknown id; cheap
        ids = [str(e) for e in experiment_ids]
        life = None if include_deleted else Lifecycle.ACTIVE
        page = self.store.search_runs(ids, expr, keys, max_results, start, life)
        if (
            isinstance(start, Cursor)
            and start.before
            and not page.more
            and len(page.runs) < (max_results or 0)
        ):
            # Fewer runs before the cursor than a page holds (some were deleted): the first page is full.
            start = Cursor()
            page = self.store.search_runs(ids, expr, keys, max_results, start, life)
        after, before = page_cursors(start, page.first, page.last, page.more)
        cutoff = now_ms() - heartbeat_timeout_ms()
        seen = [r if (i := as_read(r.info, cutoff)) is r.info else replace(r, info=i) for r in page.runs]
        return RunList(
            seen,
            None if after is None else encode_cursor(after, keys),
            None if before is None else encode_cursor(before, keys),
        )

    # ---- artifacts -----------------------------------------------------------------------------------

    def _repo(self, run_id: str) -> ArtifactRepository:
        return ArtifactRepository(self.store.get_run_info(run_id).artifact_uri, f"run {run_id}")

    def write_artifact(self, run_id: str, path: str, data: bytes) -> None:
        self._repo(run_id).write_bytes(data, path)

    def upload_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None
    ) -> None:
        self._repo(run_id).upload(local_path, artifact_path)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        return self._repo(run_id).list(path)

    def read_artifact(self, run_id: str, path: str) -> bytes:
        return self._repo(run_id).read_bytes(path)

    def download_artifacts(self, run_id: str, path: str | None, dst: str | os.PathLike[str]) -> Path:
        return self._repo(run_id).download(path, dst)


def _check_appendable(infos: Mapping[str, RunInfo | None]) -> None:
    """Inside the batch's transaction: the runs it appends to exist and accept writes."""
    for run_id, info in infos.items():
        if info is None:
            raise NotFound(f"no run with id {run_id!r}")
        check_writable(info)


def _artifact_uri(location: str, run_id: str) -> str:
    return f"{location}/{run_id}/artifacts"

"""The import itself: read an MLflow source, decide what is new (``plan``), write it through assay's services.

Runs and their points go in through ``Tracking.ingest`` in large ``WriteBatch``es (many runs and up to
``BATCH_POINTS`` points a transaction), which is what makes the import fast. A run is written in two steps:
created with every point (runs created ``heartbeats=False``, so assay's reaper never marks them KILLED),
then, after its artifacts and datasets are copied, ended with MLflow's status and end time. A run that
MLflow still shows RUNNING stays RUNNING in assay, and so does a run whose import stopped half-way: an
import run again finds it RUNNING, appends the points MLflow has and assay lacks, copies its artifacts
again, and ends it once MLflow has. Models and versions go in through the ``Registry`` (``models``).

Everything goes into one assay project (``project``, default "default"), where names are unique:
experiments map by name within it (an assay experiment of that name there is reused), and so do registered
models; another project's experiment or model of the same name is never touched. Runs keep their MLflow id,
which is unique in the whole store, so a run is imported into one project only: ``prepare`` refuses an
import whose runs another project already holds (``plan.refuse_held_elsewhere``), one the caller may not
read included (``Importer._unreadable``), and a model version is registered only on a run of the project
imported into (``models``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.access import DEFAULT_PROJECT
from assay.entities import Lifecycle, NewRun, Run, RunEnd, RunInfo, SeriesBatch, WriteBatch
from assay.errors import InvalidInput, NotFound, PermissionDenied
from assay.mlflow.importing.plan import (
    EXPERIMENT_ID_TAG,
    RUN_ID_TAG,
    Action,
    Existing,
    RunPlan,
    final_status,
    new_points,
    plan_runs,
    refuse_held_elsewhere,
)
from assay.mlflow.importing.sources import MlflowDatasetInput, MlflowExperiment, MlflowRun, MlflowSource
from assay.mlflow.importing.summary import MAX_NOTES, Summary
from assay.registry.entities import Dataset
from assay.services import validation as v
from assay.services.registry import Registry
from assay.services.tracking import Tracking, check_series, was_reaped

#: Points per ingest transaction: large enough that a transaction's fixed cost vanishes, small enough
#: that a batch's arrays stay a few tens of MB.
BATCH_POINTS = 1_000_000
#: Runs read and created together (one metric query and one ingest for all of them).
RUNS_PER_BATCH = 50
#: Run ids looked up in one search for what assay already holds.
IDS_PER_LOOKUP = 200

#: ``progress(runs, points)``: how many more runs are done and points read since the last call (points as
#: each series is read, runs as each group of runs is written and ended).
Progress = Callable[[int, int], None]


@dataclass
class ExperimentWork:
    """One MLflow experiment to import: its runs, what to do with each, and its assay experiment."""

    source: MlflowExperiment
    plans: list[RunPlan]
    assay_id: str | None = None
    skip_reason: str = ""


@dataclass
class Prepared:
    """What ``Importer.prepare`` read: the work, and the number of runs it will read points of."""

    work: list[ExperimentWork] = field(default_factory=list)

    @property
    def runs_to_read(self) -> int:
        return sum(1 for w in self.work for p in w.plans if p.action in (Action.CREATE, Action.UPDATE))


class Importer:
    """Imports one MLflow source into ``project`` of one assay store (see the module doc). ``dry_run``
    reads and counts everything and writes nothing; ``experiments`` limits the import to those MLflow
    experiment names."""

    def __init__(
        self,
        source: MlflowSource,
        tracking: Tracking,
        registry: Registry,
        *,
        dry_run: bool = False,
        experiments: Sequence[str] = (),
        batch_points: int = BATCH_POINTS,
        project: str = DEFAULT_PROJECT,
    ) -> None:
        self.source = source
        self.tracking = tracking
        self.registry = registry
        self.project = project
        self.dry_run = dry_run
        self.names = list(experiments)
        self.batch_points = batch_points
        self.summary = Summary(dry_run=dry_run)
        #: MLflow run id -> True once the run exists in assay (imported now or before): models need it.
        self.present_runs: set[str] = set()
        #: Points assay holds per run id found by ``prepare`` (for the "already present" count).
        self._held_points: dict[str, int] = {}
        #: assay experiment id -> its project, as looked up.
        self._projects: dict[str, str] = {}

    # ---- reading and deciding (no writes) -----------------------------------------------------------

    def prepare(self) -> Prepared:
        """Read every selected experiment and its runs and decide what to do; writes nothing.
        ``NotFound`` for a project that does not exist (or the caller may not read), ``InvalidInput`` for
        an ``--experiment`` name the source does not have, both before the runs are read."""
        # Looking up one name in the project is the cheapest call that checks the project.
        self.tracking.list_experiments(include_deleted=True, project=self.project, name="Default")
        found = self.source.experiments()
        if self.names:
            by_name = {e.name: e for e in found}
            missing = [n for n in self.names if n not in by_name]
            if missing:
                known = ", ".join(sorted(by_name)) or "none"
                raise InvalidInput(
                    f"no MLflow experiment named {missing[0]!r} in the source (it has: {known})"
                )
            found = [by_name[n] for n in dict.fromkeys(self.names)]
        prepared = Prepared()
        every: list[MlflowRun] = []
        runs_of: list[tuple[ExperimentWork, list[MlflowRun]]] = []
        for exp in found:
            if exp.deleted:
                prepared.work.append(
                    ExperimentWork(exp, [], skip_reason=f"{exp.name!r} is deleted in MLflow")
                )
                continue
            runs = self.source.runs(exp.experiment_id)
            work = ExperimentWork(exp, [])
            prepared.work.append(work)
            runs_of.append((work, runs))
            every += runs
        existing = self._existing([r.run_id for r in every])
        unreadable = self._unreadable(every, existing)
        names = {e.experiment_id: e.name for e in found}
        refuse_held_elsewhere(every, existing, self.project, names, unreadable)
        for work, runs in runs_of:
            work.plans = plan_runs(runs, existing)
        return prepared

    def _existing(self, run_ids: Sequence[str]) -> dict[str, Existing]:
        """What assay holds under these ids (in any experiment, deleted ones too) that the caller may read."""
        out: dict[str, Existing] = {}
        ids = [r for r in run_ids if r.isascii() and r.isalnum()]
        for start in range(0, len(ids), IDS_PER_LOOKUP):
            chunk = ids[start : start + IDS_PER_LOOKUP]
            quoted = ", ".join(f"'{r}'" for r in chunk)
            token = None
            while True:
                page = self.tracking.search_runs(
                    filter=f"attributes.run_id in ({quoted})", include_deleted=True, page_token=token
                )
                for run in page:
                    out[run.info.run_id] = self._held(run)
                token = page.next_page_token
                if not token:
                    break
        return out

    def _unreadable(self, runs: Sequence[MlflowRun], existing: dict[str, Existing]) -> set[str]:
        """The ids of ``runs`` to be created that assay holds in a project the caller may not read.

        A search shows only the runs of projects the caller reads (a team server's non-admin token), so
        such a run looks new, and creating it would fail half-way through the import, after its
        experiments were made. Each id the search did not find is asked for by itself (the tracking
        service has no lookup of many ids): ``PermissionDenied`` means held there, ``NotFound`` free. So
        the cost is one cheap call per run to be created, none for runs assay showed. A run readable after
        all (created since the search) is added to ``existing``."""
        out: set[str] = set()
        for plan in plan_runs(runs, existing):
            if plan.action is not Action.CREATE:
                continue
            run_id = plan.run.run_id
            try:
                self.tracking.get_run_info(run_id)
            except NotFound:
                continue
            except PermissionDenied:
                out.add(run_id)
                continue
            existing[run_id] = self._held(self.tracking.get_run(run_id))
        return out

    def _held(self, run: Run) -> Existing:
        """What ``run`` (assay's) means to the plan; its points counted for the "already present" column."""
        i = run.info
        self._held_points[i.run_id] = sum(s.num_points for s in run.metric_summaries.values())
        deleted = i.lifecycle is Lifecycle.DELETED
        return Existing(i.status, RUN_ID_TAG in run.tags, was_reaped(i), deleted, self.project_of(i))

    def project_of(self, info: RunInfo) -> str:
        """The project of an assay run (its experiment's; looked up once per experiment)."""
        project = self._projects.get(info.experiment_id)
        if project is None:
            project = self.tracking.get_experiment(info.experiment_id, with_run_count=False).project
            self._projects[info.experiment_id] = project
        return project

    # ---- writing ------------------------------------------------------------------------------------

    def run(self, prepared: Prepared | None = None, progress: Progress | None = None) -> Summary:
        """Import what ``prepared`` (default: ``prepare()``) found; the summary of what was done."""
        prepared = prepared or self.prepare()
        tick = progress or (lambda runs, points: None)
        for work in prepared.work:
            self._experiment(work)
            if work.skip_reason:
                continue
            todo = [p for p in work.plans if p.action in (Action.CREATE, Action.UPDATE)]
            for p in work.plans:
                self._count_plan(p)
            for start in range(0, len(todo), RUNS_PER_BATCH):
                self._runs(work, todo[start : start + RUNS_PER_BATCH], tick)
        from assay.mlflow.importing.models import import_models

        import_models(self)
        return self.summary

    def _experiment(self, work: ExperimentWork) -> None:
        """Find or create the assay experiment named as the MLflow one in the project (counted once)."""
        if work.skip_reason:
            self.summary.skip("experiments", work.skip_reason)
            return
        name = work.source.name
        exp = self.tracking.get_experiment_by_name(name, self.project)
        if exp is not None and exp.lifecycle is Lifecycle.DELETED:
            work.skip_reason = f"assay's experiment {name!r} is deleted: restore it to import into it"
            self.summary.skip("experiments", work.skip_reason)
            self.summary.skip("runs", work.skip_reason, len(work.plans))
            return
        tags = {k: val for k, val in work.source.tags.items() if not k.startswith("mlflow.")}
        if tags and len(self.summary.notes) < MAX_NOTES:
            keys = ", ".join(sorted(tags))
            self.summary.notes.append(f"experiment tags: {name!r} ({keys}): assay's experiments have no tags")
        if exp is not None:
            self.summary.add("experiments", present=1)
            work.assay_id = exp.experiment_id
        else:
            self.summary.add("experiments", imported=1)
            made = None if self.dry_run else self.tracking.create_experiment(name, self.project)
            work.assay_id = None if made is None else made.experiment_id

    def _count_plan(self, plan: RunPlan) -> None:
        run = plan.run
        if plan.action is Action.SKIP:
            self.summary.skip("runs", plan.reason)
            self.summary.add("params", skipped=len(run.params))
        elif plan.action is Action.PRESENT:
            self.present_runs.add(run.run_id)
            self.summary.add("runs", present=1)
            self.summary.add("params", present=len(run.params))
            self.summary.add("metric points", present=self._held_points.get(run.run_id, 0))
        elif plan.action is Action.UPDATE:
            self.present_runs.add(run.run_id)
            self.summary.add("runs", present=1)
            self.summary.add("params", present=len(run.params))

    def _runs(self, work: ExperimentWork, plans: list[RunPlan], tick: Progress) -> None:
        """Create (or update) these runs with their points, copy their artifacts and datasets, end them."""
        runs = [p.run for p in plans]
        creating = {p.run.run_id for p in plans if p.action is Action.CREATE}
        new_runs = [self._new_run(work, p.run) for p in plans if p.action is Action.CREATE]
        self.summary.add("runs", imported=len(new_runs))
        series: list[SeriesBatch] = []
        pending = 0
        for s in self.source.series(runs):
            if s.run_id not in creating:
                held = self.tracking.get_metric_history(s.run_id, s.key)
                self.summary.add("metric points", present=len(held))
                fresh = new_points(s, held)
                if fresh is None:
                    continue
                s = fresh
            batch = SeriesBatch(s.run_id, s.key, s.steps, s.timestamps, s.values)
            try:
                check_series(batch)
            except InvalidInput as exc:
                self.summary.skip("metric points", exc.message, len(s))
                continue
            series.append(batch)
            pending += len(s)
            self.summary.add("metric points", imported=len(s))
            tick(0, len(s))
            if pending >= self.batch_points:
                self._ingest(WriteBatch(new_runs=new_runs, series=series))
                new_runs, series, pending = [], [], 0
        self._ingest(WriteBatch(new_runs=new_runs, series=series))
        self.present_runs.update(r.run_id for r in runs)
        for run in runs:
            self._artifacts(run, run.run_id in creating)
        self._datasets(self.source.dataset_inputs(runs))
        ends = []
        for run in runs:
            status = final_status(run)
            if status is not None:
                end = run.end_time if run.end_time is not None else run.start_time
                ends.append(RunEnd(run.run_id, status, max(end, 0)))
        self._ingest(WriteBatch(ends=ends))
        tick(len(runs), 0)

    def _ingest(self, batch: WriteBatch) -> None:
        if batch and not self.dry_run:
            self.tracking.ingest(batch)

    def _new_run(self, work: ExperimentWork, run: MlflowRun) -> NewRun:
        """The assay run for an MLflow run: same id, name, times, user, params and tags (plus the two id
        tags); an entry assay refuses (a key or value too long) is skipped and counted."""
        params = self._valid(run, run.params, "param", v.param_value)
        tags = self._valid(run, run.tags, "tag", v.tag_value)
        tags[RUN_ID_TAG] = run.run_id
        tags[EXPERIMENT_ID_TAG] = run.experiment_id
        self.summary.add("params", imported=len(params))
        name = run.name if run.name and len(run.name) <= v.MAX_NAME else run.run_id
        parent = run.parent_run_id
        return NewRun(
            run_id=run.run_id,
            experiment_id=work.assay_id or "0",
            name=name,
            start_time=max(run.start_time, 0),
            user=(run.user or "unknown")[: v.MAX_NAME],
            params=params,
            tags=tags,
            parent_run_id=parent if parent and parent.isalnum() and len(parent) <= 32 else None,
            heartbeats=False,
        )

    def _valid(
        self, run: MlflowRun, items: dict[str, str], what: str, check: Callable[[str, Any], str]
    ) -> dict[str, str]:
        out = {}
        for key, value in items.items():
            try:
                out[v.check_key(key, what)] = check(key, value)
            except InvalidInput as exc:
                if what == "param":
                    self.summary.skip("params", f"run {run.run_id}: {exc.message}")
                elif len(self.summary.notes) < MAX_NOTES:
                    self.summary.notes.append(f"tags: run {run.run_id}: {exc.message}")
        return out

    # ---- artifacts and datasets ---------------------------------------------------------------------

    def _artifacts(self, run: MlflowRun, created: bool) -> None:
        if not run.artifact_uri:
            return
        with self.source.artifacts(run.artifact_uri) as root:
            if root is None:
                self.summary.skip(
                    "artifacts", f"run {run.run_id}: {run.artifact_uri} is not reachable from here"
                )
                return
            files = _files(root)
            if not files:
                return
            held = set() if created or self.dry_run else set(_held_files(self.tracking, run.run_id))
            new = [f for f in files if f not in held]
            self.summary.add("artifacts", imported=len(new), present=len(files) - len(new))
            if self.dry_run or not new:
                return
            for entry in sorted(root.iterdir()):
                self.tracking.upload_artifact(run.run_id, entry, None)

    def _datasets(self, inputs: list[MlflowDatasetInput]) -> None:
        for d in inputs:
            dataset = to_dataset(d)
            if dataset is None:
                self.summary.skip("datasets", f"run {d.run_id}: dataset {d.name!r} has no name or digest")
                continue
            if self.dry_run:
                self.summary.add("datasets", imported=1)
                continue
            held = {
                (u.dataset.name, u.dataset.digest, u.context) for u in self.registry.run_datasets(d.run_id)
            }
            if (dataset.name, dataset.digest, d.context) in held:
                self.summary.add("datasets", present=1)
                continue
            try:
                self.registry.log_dataset(d.run_id, dataset, context=d.context)
            except (InvalidInput, NotFound) as exc:
                self.summary.skip("datasets", f"run {d.run_id}: {exc.message}")
                continue
            self.summary.add("datasets", imported=1)


def _files(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _held_files(tracking: Tracking, run_id: str, path: str | None = None) -> Iterator[str]:
    for info in tracking.list_artifacts(run_id, path):
        if info.is_dir:
            yield from _held_files(tracking, run_id, info.path)
        else:
            yield info.path


def to_dataset(d: MlflowDatasetInput) -> Dataset | None:
    """An assay dataset from an MLflow dataset input: name, digest, source URI, schema columns (MLflow's
    column specs), row count and profile; kind ``mlflow:<source type>``. None without a name or digest."""
    if not d.name.strip() or not d.digest:
        return None
    source = _json(d.source)
    profile = _json(d.profile or "")
    schema = _json(d.schema or "")
    columns: list[dict[str, Any]] = []
    if isinstance(schema, dict) and isinstance(schema.get("mlflow_colspec"), list):
        columns = [
            {"name": str(c.get("name", "")), "dtype": str(c.get("type", ""))}
            for c in schema["mlflow_colspec"]
            if isinstance(c, dict)
        ]
    rows = profile.get("num_rows") if isinstance(profile, dict) else None
    return Dataset(
        name=d.name.strip()[: v.MAX_NAME],
        digest=d.digest,
        kind=f"mlflow:{d.source_type}" if d.source_type else "mlflow",
        source=str(source.get("uri") or d.source) if isinstance(source, dict) else (d.source or None),
        rows=rows if isinstance(rows, int) else None,
        schema=columns,
        stats=profile if isinstance(profile, dict) else {},
    )


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None

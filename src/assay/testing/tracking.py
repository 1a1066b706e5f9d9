"""Conformance of the tracking SDK on every store: runs, params, tags, metrics, artifacts, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import assay
from assay import Client, Conflict, InvalidInput, InvalidState, NotFound, RunStatus
from assay.services import Services


def _quiet_run(client: Client, exp_name: str = "e", **kw: object) -> str:
    exp = client.get_or_create_experiment(exp_name)
    return client.create_run(exp.experiment_id, capture_git=False, capture_environment=False, **kw).run_id  # type: ignore[arg-type]


# ---- experiments --------------------------------------------------------------------------------------


def test_experiments_create_get_list_and_duplicate_name(tracking_uri: str) -> None:
    c = Client()
    exp = c.create_experiment("churn")
    assert c.get_experiment(exp.experiment_id).name == "churn"
    assert c.get_experiment_by_name("churn") == c.get_experiment(exp.experiment_id)
    assert c.get_experiment_by_name("nope") is None
    with pytest.raises(Conflict, match="already exists"):
        c.create_experiment("churn")
    _quiet_run(c, "churn")
    listed = {e.name: e for e in c.list_experiments()}
    assert listed["churn"].run_count == 1
    c.delete_experiment(exp.experiment_id)
    assert "churn" not in {e.name for e in c.list_experiments()}
    with pytest.raises(InvalidState, match="deleted"):
        c.create_run(exp.experiment_id)
    c.restore_experiment(exp.experiment_id)
    assert "churn" in {e.name for e in c.list_experiments()}


def test_experiments_and_runs_are_renamed(tracking_uri: str) -> None:
    """A rename keeps the id, the runs and their artifacts; a name the project has already is refused."""
    c = Client()
    exp = c.create_experiment("draft")
    c.create_experiment("taken")
    run = c.create_run(exp.experiment_id, name="first try")
    c.log_text(run.run_id, "kept", "notes.txt")
    c.flush()
    c.rename_experiment(exp.experiment_id, "churn-v2")
    assert c.get_experiment(exp.experiment_id).name == "churn-v2"
    assert c.get_experiment_by_name("draft") is None
    with pytest.raises(Conflict, match="taken"):
        c.rename_experiment(exp.experiment_id, "taken")
    with pytest.raises(InvalidInput, match="experiment name"):
        c.rename_experiment(exp.experiment_id, "  ")
    with pytest.raises(NotFound):
        c.rename_experiment("999999", "x")
    c.rename_run(run.run_id, "the good one")
    assert c.get_run(run.run_id).info.name == "the good one"
    found = c.search_runs([exp.experiment_id], "attributes.name = 'the good one'")
    assert [r.id for r in found] == [run.run_id]
    assert c.read_artifact(run.run_id, "notes.txt") == b"kept"
    with pytest.raises(NotFound):
        c.rename_run("f" * 32, "x")


def test_experiment_names_are_unique_per_project(
    tracking_uri: str, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two projects may both have "baseline": each is found with project= or as project/name, the plain
    name is refused with the candidates listed, and a name one project holds is found as before."""
    for project in ("vision", "nlp"):
        services.access.create_project(project)
    c = Client()
    vision = c.create_experiment("baseline", project="vision")
    nlp = c.create_experiment("baseline", project="nlp")
    with pytest.raises(Conflict, match="already exists in project 'vision'"):
        c.create_experiment("baseline", project="vision")
    for exp in (vision, nlp):
        assert c.get_experiment_by_name("baseline", project=exp.project) == exp
        assert c.get_experiment_by_name(f"{exp.project}/baseline") == exp
    assert c.get_experiment_by_name("baseline", project="default") is None
    with pytest.raises(NotFound, match="no project named 'nowhere'"):
        c.get_experiment_by_name("baseline", project="nowhere")
    assert c.get_experiment_by_name("nowhere/baseline") is None
    ambiguous = (
        "experiment name 'baseline' is in several projects: nlp/baseline, vision/baseline; "
        "give one of these, or pass project="
    )
    with pytest.raises(InvalidInput) as refused:
        c.get_experiment_by_name("baseline")
    assert str(refused.value) == ambiguous
    with pytest.raises(InvalidInput, match="nlp/baseline, vision/baseline"):
        c.get_or_create_experiment("baseline")
    solo = c.create_experiment("solo", project="nlp")
    assert c.get_experiment_by_name("solo") == solo

    # The SDK finds in the project it is given (or $ASSAY_PROJECT), and creates there.
    assert c.get_or_create_experiment("baseline", project="nlp") == nlp
    monkeypatch.setenv("ASSAY_PROJECT", "vision")
    assert c.get_or_create_experiment("baseline") == vision
    assert assay.set_experiment("solo").project == "vision"  # vision had none: a new one, in vision
    monkeypatch.delenv("ASSAY_PROJECT")

    # Names may contain '/': an experiment called the whole text wins over the project/name reading.
    literal = c.create_experiment("vision/baseline")
    assert literal.project == "default"
    assert c.get_experiment_by_name("vision/baseline") == literal

    # Searching by name resolves names the same way.
    runs = {
        e.experiment_id: c.create_run(e.experiment_id, capture_git=False, capture_environment=False).run_id
        for e in (vision, nlp)
    }
    found = c.search_runs(experiment="nlp/baseline")
    assert [r.info.run_id for r in found] == [runs[nlp.experiment_id]]
    with pytest.raises(InvalidInput, match="is in several projects"):
        c.search_runs(experiment="baseline")


def test_unknown_ids_are_not_found(tracking_uri: str) -> None:
    c = Client()
    with pytest.raises(NotFound):
        c.get_experiment("999")
    with pytest.raises(NotFound):
        c.get_experiment("abc")
    with pytest.raises(NotFound):
        c.get_run("0" * 32)
    with pytest.raises(NotFound):
        c.log_metric("f" * 32, "x", 1.0)
    with pytest.raises(NotFound, match="no experiment named"):
        c.search_runs(experiment="nope")


# ---- the fluent API and run lifecycle ------------------------------------------------------------------


def test_quickstart_flow(tracking_uri: str, tmp_path: Path) -> None:
    assay.set_experiment("churn")
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.txt").write_text("weights")
    with assay.start_run(name="rf", params={"n_estimators": 100}, tags={"team": "growth"}) as run:
        assay.log_param("max_depth", 8)
        assay.log_params({"criterion": "gini", "bootstrap": True})
        assay.log_metric("loss", 0.3, step=10)
        assay.log_metrics({"auc": 0.91, "acc": 0.8}, step=10)
        assay.set_tag("stage", "baseline")
        assay.log_artifact(str(out))
        assay.log_text("# notes", "notes.md")
        assay.log_dict({"lr": 0.1}, "cfg.json")
    got = assay.get_run(run.id)
    assert got.info.status == RunStatus.FINISHED == "FINISHED"
    assert got.info.end_time is not None and got.info.duration is not None and got.info.duration >= 0
    assert got.params == {
        "n_estimators": "100",
        "max_depth": "8",
        "criterion": "gini",
        "bootstrap": "True",
    }
    assert got.tags["team"] == "growth" and got.tags["stage"] == "baseline"
    assert got.metrics == {"loss": 0.3, "auc": 0.91, "acc": 0.8}
    assert got.metric_summaries["loss"].last_step == 10
    names = {f.path for f in assay.list_artifacts(run.id)}
    assert {"out", "notes.md", "cfg.json"} <= names
    assert json.loads(Client().read_artifact(run.id, "cfg.json")) == {"lr": 0.1}
    assert Client().read_artifact(run.id, "out/model.txt") == b"weights"


def test_plain_start_and_end_run(tracking_uri: str) -> None:
    run = assay.start_run(name="plain")
    assert assay.active_run() is run
    assay.log_metric("x", 1.0)
    assay.end_run()
    assert assay.active_run() is None
    assert assay.get_run(run.id).info.status == RunStatus.FINISHED
    with pytest.raises(InvalidState, match="no active run"):
        assay.log_metric("x", 2.0)
    with pytest.raises(InvalidState, match="no active run"):
        assay.end_run()


def test_exception_marks_failed_with_traceback(tracking_uri: str) -> None:
    with pytest.raises(ZeroDivisionError), assay.start_run(name="boom") as run:
        assay.log_metric("before", 1.0)
        _ = 1 / 0
    got = assay.get_run(run.id)
    assert got.info.status == RunStatus.FAILED
    assert got.tags["assay.error"].startswith("ZeroDivisionError")
    assert got.metrics == {"before": 1.0}
    assert b"1 / 0" in Client().read_artifact(run.id, "error/traceback.txt")


def test_keyboard_interrupt_marks_killed(tracking_uri: str) -> None:
    with pytest.raises(KeyboardInterrupt), assay.start_run() as run:
        raise KeyboardInterrupt
    assert assay.get_run(run.id).info.status == RunStatus.KILLED


def test_nested_runs_need_nested_flag_and_record_parent(tracking_uri: str) -> None:
    with assay.start_run(name="sweep") as parent:
        with pytest.raises(InvalidState, match="nested=True"):
            assay.start_run()
        with assay.start_run(name="trial", nested=True) as child:
            assay.log_metric("y", 2.0)
        assert assay.active_run() is parent
    assert assay.get_run(child.id).info.parent_run_id == parent.id
    children = assay.search_runs(filter=f"attributes.parent_run_id = '{parent.id}'")
    assert [r.id for r in children] == [child.id]


def test_logging_to_ended_or_deleted_run_is_refused(tracking_uri: str) -> None:
    c = Client()
    rid = _quiet_run(c)
    c.log_metric(rid, "m", 1.0)
    c.set_terminated(rid)
    with pytest.raises(InvalidState, match="ended"):
        c.log_metric(rid, "m", 2.0)
    with pytest.raises(InvalidState, match="ended"):
        c.log_param(rid, "p", 1)
    with pytest.raises(InvalidState, match="already ended"):
        c.set_terminated(rid)
    assert c.get_metric_history(rid, "m").values.tolist() == [1.0]
    rid2 = _quiet_run(c)
    c.delete_run(rid2)
    with pytest.raises(InvalidState, match="deleted"):
        c.log_param(rid2, "p", 1)
    with pytest.raises(InvalidState, match="deleted"):
        c.set_tag(rid2, "t", 1)
    c.restore_run(rid2)
    c.log_param(rid2, "p", 1)


# ---- params and tags ------------------------------------------------------------------------------------


def test_param_relog_same_value_ok_different_value_conflicts(tracking_uri: str) -> None:
    c = Client()
    rid = _quiet_run(c, params={"lr": 0.1})
    c.log_param(rid, "lr", 0.1)
    with pytest.raises(Conflict, match=r"param 'lr' .* already '0.1'"):
        c.log_params(rid, {"lr": 0.2, "other": 1})
    # all or nothing: 'other' was not written, 'lr' kept its value
    assert c.get_run(rid).params == {"lr": "0.1"}


def test_tags_overwrite_and_delete(tracking_uri: str) -> None:
    c = Client()
    rid = _quiet_run(c, tags={"stage": "a"})
    c.set_tag(rid, "stage", "b")
    assert c.get_run(rid).tags["stage"] == "b"
    c.delete_tag(rid, "stage")
    assert "stage" not in c.get_run(rid).tags
    with pytest.raises(NotFound):
        c.delete_tag(rid, "stage")


@pytest.mark.parametrize(
    ("key", "match"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("a" * 251, "limit is 250"),
        ("bad$key", r"not allowed \('\$'\)"),
        ("/abs", "may not start with '/'"),
        ("a/../b", "'..'"),
        (3, "must be a string"),
    ],
)
def test_bad_keys_are_rejected_with_the_rule(tracking_uri: str, key: object, match: str) -> None:
    c = Client()
    rid = _quiet_run(c)
    with pytest.raises(InvalidInput, match=match):
        c.log_metric(rid, key, 1.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=match):
        c.log_param(rid, key, 1)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=match):
        c.set_tag(rid, key, 1)  # type: ignore[arg-type]


def test_overlong_param_value_is_rejected(tracking_uri: str) -> None:
    c = Client()
    rid = _quiet_run(c)
    with pytest.raises(InvalidInput, match="limit is 6000"):
        c.log_param(rid, "blob", "x" * 6001)
    c.log_param(rid, "blob", "x" * 6000)


# ---- metrics -------------------------------------------------------------------------------------------


def test_metric_history_round_trips_in_logged_order(tracking_uri: str) -> None:
    c = Client()
    rid = _quiet_run(c)
    for i in range(1000):
        c.log_metric(rid, "loss", 1.0 / (i + 1), step=i, timestamp=1_700_000_000_000 + i)
        if i % 300 == 0:
            c.flush()  # several chunks
    c.set_terminated(rid)
    h = c.get_metric_history(rid, "loss")
    assert len(h) == 1000
    assert h.steps.dtype == np.int64 and h.values.dtype == np.float64
    np.testing.assert_array_equal(h.steps, np.arange(1000))
    np.testing.assert_array_equal(h.timestamps, 1_700_000_000_000 + np.arange(1000))
    np.testing.assert_allclose(h.values, 1.0 / (np.arange(1000) + 1))
    s = c.get_run(rid).metric_summaries["loss"]
    assert (s.last, s.min, s.max, s.last_step, s.num_points) == (1.0 / 1000, 1.0 / 1000, 1.0, 999, 1000)
    assert h.to_pandas().shape == (1000, 3)


def test_step_defaults_to_previous_plus_one(tracking_uri: str) -> None:
    c = Client()
    rid = _quiet_run(c)
    c.log_metric(rid, "a", 1.0)
    c.log_metric(rid, "a", 2.0)
    c.log_metric(rid, "a", 3.0, step=10)
    c.log_metric(rid, "a", 4.0)
    c.flush()
    c.log_metric(rid, "a", 5.0)
    assert c.get_metric_history(rid, "a").steps.tolist() == [0, 1, 10, 11, 12]


def test_last_value_is_at_highest_step_whatever_the_order(tracking_uri: str) -> None:
    c = Client()
    rid = _quiet_run(c)
    c.log_metric(rid, "m", 5.0, step=5)
    c.flush()
    c.log_metric(rid, "m", 1.0, step=2)  # late point for an earlier step
    c.log_metric(rid, "m", 0.5, step=3)
    c.flush()
    s = c.get_run(rid).metric_summaries["m"]
    assert (s.last, s.last_step, s.min, s.max, s.num_points) == (5.0, 5, 0.5, 5.0, 3)


def test_nan_and_infinities_are_stored_as_such(tracking_uri: str) -> None:
    c = Client()
    rid = _quiet_run(c)
    for v in (1.0, math.nan, math.inf, -math.inf):
        c.log_metric(rid, "weird", v)
    c.log_metric(rid, "allnan", math.nan)
    c.log_metric(rid, "lastinf", math.inf)
    c.set_terminated(rid)
    h = c.get_metric_history(rid, "weird")
    assert (
        h.values[0] == 1.0
        and math.isnan(h.values[1])
        and h.values[2] == math.inf
        and h.values[3] == -math.inf
    )
    run = c.get_run(rid)
    s = run.metric_summaries["weird"]
    assert s.last == -math.inf and s.min == -math.inf and s.max == math.inf
    assert math.isnan(run.metrics["allnan"])
    assert run.metrics["lastinf"] == math.inf
    found = c.search_runs(filter="metrics.lastinf > 1e308")
    assert [r.id for r in found] == [rid]
    assert found[0].metrics["lastinf"] == math.inf and math.isnan(found[0].metrics["allnan"])


def test_non_numeric_metric_is_rejected_and_accepted_points_kept(tracking_uri: str) -> None:
    c = Client()
    rid = _quiet_run(c)
    c.log_metric(rid, "acc", 0.5)
    for bad in ("0.9", None, [1.0], {"a": 1}, np.array([1.0, 2.0])):
        with pytest.raises(InvalidInput, match=r"metric .acc. .*must be numbers"):
            c.log_metric(rid, "acc", bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="step must be a whole number"):
        c.log_metric(rid, "acc", 0.7, step="3")  # type: ignore[arg-type]
    c.log_metric(rid, "acc", np.float32(0.75))  # type: ignore[arg-type]  # numpy scalars are accepted
    c.log_metric(rid, "acc", np.int64(1))  # type: ignore[arg-type]  # numpy scalars are accepted
    c.log_metric(rid, "acc", np.array(0.25))  # type: ignore[arg-type]  # numpy scalars are accepted
    c.log_metric(rid, "acc", 2, step=np.int64(9))  # type: ignore[arg-type]
    assert c.get_metric_history(rid, "acc").values.tolist() == [0.5, 0.75, 1.0, 0.25, 2.0]


def test_metric_series_is_downsampled_on_every_backend(tracking_uri: str) -> None:
    c = assay.Client()
    exp = c.get_or_create_experiment("series")
    run = c.create_run(exp.experiment_id)
    for i in range(5000):
        c.log_metric(run.run_id, "x", float(i % 100), step=i)
    c.log_metric(run.run_id, "x", float("nan"), step=5000)
    d = c.get_metric_series(run.run_id, "x", max_points=100)
    assert d.total == 5001 and d.downsampled and len(d) == 100
    assert d.steps[-1] == 5000 and np.isnan(d.last[-1])
    assert d.min.min() == 0.0 and np.nanmax(d.max) == 99.0
    whole = c.get_metric_series(run.run_id, "x", max_points=10_000)
    assert not whole.downsampled and len(whole) == 5001


def test_fluent_metric_history_and_search(tracking_uri: str) -> None:
    assay.set_experiment("hist")
    with assay.start_run() as run:
        for i in range(50):
            assay.log_metric("loss", 1.0 - i / 100)
    h = assay.get_metric_history(run.id, "loss")
    assert h.steps.tolist() == list(range(50))
    df = assay.search_runs(experiment="hist").to_pandas()
    assert df.loc[0, "metrics.loss"] == pytest.approx(0.51)


# ---- artifacts ------------------------------------------------------------------------------------------


def test_artifacts_log_list_download(tracking_uri: str, tmp_path: Path) -> None:
    c = Client()
    rid = _quiet_run(c)
    src = tmp_path / "data"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("A")
    (src / "sub" / "b.txt").write_text("B")
    c.log_artifact(rid, src / "a.txt")
    c.log_artifact(rid, src, "inputs")
    c.log_artifacts(rid, src, "flat")
    c.log_dict(rid, {"x": [1, 2]}, "cfg/params.yaml")
    top = c.list_artifacts(rid)
    assert [(f.path, f.is_dir) for f in top] == [
        ("cfg", True),
        ("flat", True),
        ("inputs", True),
        ("a.txt", False),
    ]
    assert [f.path for f in c.list_artifacts(rid, "flat")] == ["flat/sub", "flat/a.txt"]
    assert c.list_artifacts(rid, "a.txt")[0].size == 1
    assert c.read_artifact(rid, "cfg/params.yaml").decode().startswith("x:")
    local = assay.download_artifacts(f"runs:/{rid}/inputs", dst=tmp_path / "dl")
    assert (Path(local) / "data" / "sub" / "b.txt").read_text() == "B"
    one = c.download_artifacts(rid, "a.txt", tmp_path / "dl2")
    assert one.read_text() == "A"
    with pytest.raises(NotFound):
        c.download_artifacts(rid, "missing.txt", tmp_path / "dl3")
    with pytest.raises(InvalidInput, match="leaves the run's artifact directory"):
        c.log_text(rid, "x", "../escape.txt")
    with pytest.raises(NotFound, match="no such file"):
        c.log_artifact(rid, tmp_path / "nope.bin")
    assert c.list_artifacts(rid, "nothing-here") == []


def test_log_figure_matplotlib_and_plotly(tracking_uri: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    with assay.start_run() as run:
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
        assay.log_figure(fig, "roc.png")
        plt.close(fig)
        assay.log_figure(go.Figure(go.Scatter(x=[1, 2], y=[3, 4])), "curve.json")
        with pytest.raises(InvalidInput, match="matplotlib or plotly"):
            assay.log_figure(object(), "x.png")
    c = Client()
    assert c.read_artifact(run.id, "roc.png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(c.read_artifact(run.id, "curve.json"))["data"][0]["y"] == [3, 4]


def test_client_logging_to_a_deleted_run_is_refused_at_the_call(tracking_uri: str) -> None:
    c = Client()
    rid = _quiet_run(c)
    c.flush()
    c.delete_run(rid)
    other = Client()  # a client that never saw the run
    with pytest.raises(InvalidState, match="deleted"):
        other.log_metric(rid, "m", 1.0)


def test_a_silent_run_reads_killed_and_a_late_heartbeat_revives_it(
    sqlite_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import update

    from assay.store.sql.schema import runs

    c = Client()
    rid = _quiet_run(c)
    c.flush()
    store = c.backend.store  # type: ignore[attr-defined]
    with store.engine.begin() as conn:  # the process went silent a minute ago
        conn.execute(
            update(runs).where(runs.c.run_id == rid).values(heartbeat_at=runs.c.heartbeat_at - 60_000)
        )
    info = c.get_run(rid).info
    assert info.status == RunStatus.KILLED and info.end_time == info.heartbeat_at
    c.backend.heartbeat([rid])  # it was only suspended: its next heartbeat brings it back
    revived = c.get_run(rid).info
    assert revived.status == RunStatus.RUNNING and revived.end_time is None
    c.log_metric(rid, "m", 1.0)
    c.set_terminated(rid)
    assert c.get_run(rid).info.status == RunStatus.FINISHED and c.get_run(rid).metrics == {"m": 1.0}

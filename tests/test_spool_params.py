"""Nothing lost, params and tags included: ``log_param(s)``, ``set_tag(s)`` and ``delete_tag`` on a run the
process writes go through the background writer with its points, so a server outage spools them in order
and replay (live, or ``assay sync``) delivers each once, in order. Against a real ``assay server`` process,
stopped mid-run and started again; and on the embedded store, where they cost no round trip per call."""

from __future__ import annotations

import logging
import subprocess
import textwrap
from pathlib import Path

import pytest

import assay
from assay.bundle import get_backend
from assay.embedded.tracking import TrackingService
from assay.entities import WriteBatch
from assay.errors import Conflict, InvalidInput, InvalidState, NotFound, Unavailable
from assay.remote import RemoteTracking
from assay.sdk.run_data import PendingRunData, RunDataRecord
from assay.sdk.spool import SpoolFile, decode_record, encode_record, pending_by_run
from assay.sdk.writer import BackgroundWriter
from assay.services.tracking import new_run
from conftest import reset_sdk
from processes import ServerProcess, assay_cli, spool_child_env, start_script

QUIET = {"capture_git": False, "capture_environment": False}


@pytest.fixture
def server(spooling_server: ServerProcess) -> ServerProcess:
    return spooling_server


def _expect(child: subprocess.Popen[str], line: str) -> None:
    """Read the child's next line of output: ``line``, else fail with what it wrote to stderr."""
    assert child.stdout is not None
    got = child.stdout.readline().strip()
    if got != line:
        child.kill()
        pytest.fail(f"expected {line!r} from the script, got {got!r}:\n{child.communicate()[1]}")


def _start(script: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """Run ``script`` in ``cwd`` with ``env`` (and PATH), its standard streams piped to this test."""
    return start_script([script], env, cwd)


def _spool_files(home: Path) -> list[Path]:
    return list((home.resolve() / "spool").rglob("*.spool"))


def _env(server: ServerProcess, home: Path, **extra: str) -> dict[str, str]:
    return spool_child_env(server, home, **extra)


def test_params_and_tags_logged_while_the_server_is_down_arrive_once_in_order(
    server: ServerProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assay.set_experiment("offline-params")
    with assay.start_run(**QUIET) as run:
        assay.log_param("lr", 0.1)
        assay.set_tag("stage", "online")
        assay.log_metric("loss", 0.0, step=0)
        assay.flush()
        server.kill()
        # Each call returns at once; what can be checked here still raises at once, in one line.
        assay.log_params({"epochs": 10, "opt": "adam", "lr": 0.1})  # lr again, same value: fine
        with pytest.raises(Conflict, match=r"param 'lr' .* already '0.1'"):
            assay.log_param("lr", 0.2)
        with pytest.raises(InvalidInput, match="not allowed"):
            assay.log_param("bad$key", 1)
        with pytest.raises(InvalidInput, match="limit is 6000"):
            assay.log_param("long", "x" * 6001)
        assay.set_tag("stage", "offline-1")
        assay.set_tags({"gone": "soon", "kept": "yes"})
        with pytest.raises(Unavailable):
            assay.flush()  # the caller who flushes hears of the outage; the writes wait in the spool
        with caplog.at_level(logging.WARNING, logger="assay"):
            run.client.delete_tag(run.id, "gone")  # after the tag set before it, spooled behind it
        assert [r for r in caplog.records if "deletion of tag 'gone'" in r.getMessage()]
        assay.set_tag("stage", "offline-2")  # a later value wins
        for i in range(1, 50):
            assay.log_metric("loss", float(i), step=i)
        assay.log_param("late", "after-points")
        assert _spool_files(tmp_path / "home")
        server.start()
        assay.flush()  # the writer replays its spool, then sends what is queued
    c = assay.Client(server.url)
    got = c.get_run(run.id)
    assert got.params == {"lr": "0.1", "epochs": "10", "opt": "adam", "late": "after-points"}
    assert {k: v for k, v in got.tags.items() if not k.startswith("assay.")} == {
        "stage": "offline-2",
        "kept": "yes",
    }
    assert got.info.status == assay.RunStatus.FINISHED
    assert c.get_metric_history(run.id, "loss").steps.tolist() == list(range(50))
    reset_sdk()
    assert _spool_files(tmp_path / "home") == []
    assert not list((tmp_path / "home").resolve().glob("spool/*/rejected"))  # nothing was refused


def test_a_param_the_server_holds_with_another_value_is_set_aside_and_the_rest_delivered(
    server: ServerProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A conflicting value only the server can see (logged by another process) is refused on replay: one
    error line names it and where it is kept; the other params and the tags of the same call land."""
    monkeypatch.setenv("ASSAY_FLUSH_INTERVAL", "3600")  # only the flushes below send
    assay.set_experiment("conflict")
    other = RemoteTracking(server.url)  # another process, as far as this one's writer knows
    try:
        with assay.start_run(**QUIET) as run:
            assay.flush()
            other.log_params(run.id, {"lr": "0.1"})
            server.kill()
            assay.log_params({"lr": 0.2, "epochs": 5, "batch": 32})
            assay.set_tag("t", "v")
            with pytest.raises(Unavailable):
                assay.flush()  # spooled
            server.start()
            with caplog.at_level(logging.ERROR, logger="assay"):
                assay.flush()  # replayed: the refused key is set aside and said, the rest lands
        assay.flush()  # the run's end
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1, errors
        assert "the param 'lr' = '0.2'" in errors[0] and "rejected" in errors[0]
        assert "already '0.1'" in errors[0]
        got = other.get_run(run.id)
        assert got.params == {"lr": "0.1", "epochs": "5", "batch": "32"}
        assert got.tags["t"] == "v"
        assert got.info.status == assay.RunStatus.FINISHED
        reasons = list((tmp_path / "home").resolve().glob("spool/*/rejected/reasons.log"))
        assert len(reasons) == 1 and "param 'lr'" in reasons[0].read_text()
    finally:
        other.close()


OFFLINE = textwrap.dedent(
    """
    import sys
    import assay
    assay.set_experiment("params-offline")
    with assay.start_run(name="offline", capture_git=False, capture_environment=False) as run:
        print(run.id, flush=True)
        assay.log_params({"lr": 0.1, "layers": 3})  # joins the creation of the run
        assay.set_tag("first", "1")
        assay.log_metric("loss", 1.0, step=0)
        assay.flush()
        print("created", flush=True)
        sys.stdin.readline()  # the test logs a conflicting value elsewhere, then stops the server
        try:
            assay.log_metric("loss", 0.5, step=1)
            assay.flush()
        except assay.AssayError as exc:
            print("outage:", type(exc).__name__, flush=True)
        assay.log_params({"epochs": 5, "seed": 7})
        assay.set_tag("stage", "a")
        assay.set_tag("gone", "x")
        try:
            assay.flush()
        except assay.AssayError:
            pass
        run.client.delete_tag(run.id, "gone")
        run.client.delete_tag(run.id, "first")
        assay.set_tag("stage", "b")
        try:
            assay.log_param("seed", 8)
        except assay.AssayError as exc:
            print("refused at once:", type(exc).__name__, flush=True)
        assay.log_param("note", "clashes")
    print("done", flush=True)
    """
)


def test_params_and_tags_of_a_process_that_exits_offline_reach_the_server_by_assay_sync(
    server: ServerProcess, tmp_path: Path
) -> None:
    reset_sdk()
    (tmp_path / "train.py").write_text(OFFLINE)
    env = _env(server, tmp_path / "home")
    child = _start("train.py", env, tmp_path)
    try:
        assert child.stdout is not None and child.stdin is not None
        run_id = child.stdout.readline().strip()
        _expect(child, "created")
        other = RemoteTracking(server.url)
        other.log_params(run_id, {"note": "from elsewhere"})
        other.close()
        server.kill()
        child.stdin.write("\n")
        child.stdin.flush()
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    assert out.splitlines()[-3:] == ["outage: Unavailable", "refused at once: Conflict", "done"], out
    server.start()
    synced = assay_cli("sync", env=env)
    assert "changes of params or tags" in synced.stdout, synced.stdout
    assert "1 operation(s) were refused" in synced.stdout and "param 'note'" in synced.stdout
    c = assay.Client(server.url)
    run = c.get_run(run_id)
    assert run.params == {"lr": "0.1", "layers": "3", "epochs": "5", "seed": "7", "note": "from elsewhere"}
    assert {k: v for k, v in run.tags.items() if not k.startswith("assay.")} == {"stage": "b"}
    assert run.info.status == assay.RunStatus.FINISHED
    assert c.get_metric_history(run_id, "loss").steps.tolist() == [0, 1]
    assert "nothing to sync" in assay_cli("sync", env=env).stdout
    assert {p.parent.name for p in _spool_files(tmp_path / "home")} == {"rejected"}  # the refused param


CRASH = textwrap.dedent(
    """
    import os, signal, sys
    import assay
    from assay.remote import client

    assay.set_experiment("crash-tags")
    with assay.start_run(name="crash", capture_git=False, capture_environment=False) as run:
        assay.flush()
        print(run.id, flush=True)
        sys.stdin.readline()  # the server is stopped
        assay.set_tags({"a": "1", "b": "2"})
        assay.log_param("p", "1")
        try:
            assay.flush()
        except assay.AssayError:
            pass
        run.client.delete_tag(run.id, "a")
        print("spooled", flush=True)
        sys.stdin.readline()  # the server is back
        delete = client.RemoteTracking.delete_tag
        def hooked(self, *a, **k):  # delivered, and killed before the spool records it
            delete(self, *a, **k)
            os.kill(os.getpid(), signal.SIGKILL)
        client.RemoteTracking.delete_tag = hooked
        assay.flush()
    print("not killed", flush=True)
    """
)


def test_a_kill_9_after_a_spooled_tag_deletion_landed_is_replayed_once_by_assay_sync(
    server: ServerProcess, tmp_path: Path
) -> None:
    """The deletion is sent again by `assay sync` (the spool had not recorded it): the tag is already
    gone, which is not a refusal; nothing is set aside and everything after it lands."""
    reset_sdk()
    (tmp_path / "crash.py").write_text(CRASH)
    env = _env(server, tmp_path / "home", ASSAY_FLUSH_INTERVAL="3600")
    child = _start("crash.py", env, tmp_path)
    try:
        assert child.stdout is not None and child.stdin is not None
        run_id = child.stdout.readline().strip()
        server.kill()
        child.stdin.write("\n")
        child.stdin.flush()
        _expect(child, "spooled")
        server.start()
        child.stdin.write("\n")
        child.stdin.flush()
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == -9, (out, err)
    synced = assay_cli("sync", env=env)
    assert "replayed" in synced.stdout and "refused" not in synced.stdout, synced.stdout
    run = assay.Client(server.url).get_run(run_id)
    assert {k: v for k, v in run.tags.items() if not k.startswith("assay.")} == {"b": "2"}
    assert run.params == {"p": "1"}
    assert _spool_files(tmp_path / "home") == []


def test_register_model_while_the_server_is_down_says_so_in_one_line(server: ServerProcess) -> None:
    assay.set_experiment("offline-registry")
    with assay.start_run(**QUIET) as run:
        assay.flush()
        server.kill()
        with pytest.raises(Unavailable) as caught:
            assay.register_model(f"runs:/{run.id}/model", "churn")
        message = caught.value.message
        assert "\n" not in message
        assert f"cannot register runs:/{run.id}/model as 'churn'" in message
        assert "cannot reach the tracking server" in message and "call register_model again" in message
        server.start()
    assert assay.Client(server.url).get_run(run.id).info.status == assay.RunStatus.FINISHED


# ---- the embedded store: no round trip per call ------------------------------------------------------------


class CountingService(TrackingService):
    """The real embedded service, counting the calls that reach it and failing them while ``down``."""

    down = False

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.calls: list[str] = []

    def _call(self, name: str) -> None:
        if self.down:
            raise ConnectionError("store unreachable")
        self.calls.append(name)

    def ingest(self, batch: WriteBatch) -> None:
        self._call("ingest")
        super().ingest(batch)

    def log_params(self, run_id: str, params: object) -> None:  # type: ignore[override]
        self._call("log_params")
        super().log_params(run_id, params)  # type: ignore[arg-type]

    def set_tags(self, run_id: str, tags: object) -> None:  # type: ignore[override]
        self._call("set_tags")
        super().set_tags(run_id, tags)  # type: ignore[arg-type]


def _counting(sqlite_uri: str) -> CountingService:
    real = get_backend(sqlite_uri)
    assert isinstance(real, TrackingService)
    return CountingService(real.store, real.artifact_root)


def test_params_and_tags_cost_no_write_of_their_own_per_call(sqlite_uri: str, tmp_path: Path) -> None:
    """Those of a run not yet created join its creation; later ones, merged per run, are one call per
    kind per tick, after the batch; a run's end waits for its params."""
    backend = _counting(sqlite_uri)
    writer = BackgroundWriter(backend, interval=3600, spool=SpoolFile(tmp_path / "spool"))
    try:
        run = new_run(backend.create_experiment("cheap").experiment_id, params={"a": "1"})
        writer.create(run)
        for i in range(20):
            writer.log_params(run.run_id, {f"p{i}": str(i)})
            writer.set_tags(run.run_id, {"stage": str(i)})
        writer.delete_tag(run.run_id, "stage")  # not created yet: settled here, no call
        with pytest.raises(NotFound, match="has no tag 'stage'"):
            writer.delete_tag(run.run_id, "stage")
        writer.flush()
        assert backend.calls == ["ingest"]
        for i in range(20, 40):
            writer.log_params(run.run_id, {f"p{i}": str(i)})
            writer.set_tags(run.run_id, {"stage": str(i)})
        with pytest.raises(Conflict, match=r"param 'p3' .* already '3'"):
            writer.log_params(run.run_id, {"new": "x", "p3": "4"})  # all or nothing, at once
        from assay.entities import RunEnd, RunStatus

        writer.end(RunEnd(run.run_id, RunStatus.FINISHED, run.start_time + 1))
        with pytest.raises(InvalidState, match="has ended"):
            writer.log_params(run.run_id, {"after": "end"})
        writer.set_tags(run.run_id, {"reviewed": "yes"})  # tags may follow the end
        writer.flush()
        assert backend.calls == ["ingest", "log_params", "set_tags", "ingest"]
        got = backend.get_run(run.run_id)
        assert got.params == {"a": "1", **{f"p{i}": str(i) for i in range(40)}}
        assert got.tags == {"stage": "39", "reviewed": "yes"}
        assert got.info.status == assay.RunStatus.FINISHED
    finally:
        writer.close()


def test_a_writer_without_a_spool_keeps_params_and_tags_in_order_through_an_outage(sqlite_uri: str) -> None:
    backend = _counting(sqlite_uri)
    writer = BackgroundWriter(backend, interval=3600)
    try:
        run = new_run(backend.create_experiment("memory").experiment_id, tags={"k": "0", "j": "0"})
        writer.create(run)
        writer.flush()
        writer.set_tags(run.run_id, {"k": "a", "m": "a"})
        writer.log_params(run.run_id, {"x": "1"})
        backend.down = True
        writer.flush(raise_errors=False)
        writer.set_tags(run.run_id, {"k": "b"})
        writer.log_params(run.run_id, {"y": "2"})
        backend.down = False
        writer.delete_tag(run.run_id, "j")  # flushes what waits first, then deletes
        writer.flush()
        got = backend.get_run(run.run_id)
        assert got.tags == {"k": "b", "m": "a"}
        assert got.params == {"x": "1", "y": "2"}
    finally:
        writer.close()


def test_pending_changes_merge_as_calls_come() -> None:
    p = PendingRunData()
    p.set_tags({"a": "1", "b": "1"})
    p.delete_tag("a")
    p.set_tags({"c": "1"})
    p.delete_tag("c")
    p.set_tags({"c": "2"})
    assert (p.tags, list(p.deleted)) == ({"b": "1", "c": "2"}, ["a"])
    p.put_back(RunDataRecord("r", "tags", {"a": "0", "b": "0", "d": "0"}))  # earlier: later ones win
    p.put_back(RunDataRecord("r", "delete_tags", {"b": "", "e": ""}))
    assert (p.tags, sorted(p.deleted)) == ({"b": "1", "c": "2", "d": "0"}, ["a", "e"])


def test_a_params_record_round_trips_through_the_spool_and_is_listed(tmp_path: Path) -> None:
    record = RunDataRecord("r1", "params", {"lr": "0.1", "epochs": "3"}, "t0-x.params")
    assert decode_record(encode_record(record)) == record
    with pytest.raises(InvalidInput, match="params/tags record"):
        decode_record(encode_record(RunDataRecord("r1", "bogus", {}, "x")))  # type: ignore[arg-type]
    spool = SpoolFile(tmp_path / "spool")
    spool.append(record)
    spool.append(RunDataRecord("r1", "delete_tags", {"t": ""}, "t0-x.delete_tags"))
    spool.close()
    pending = pending_by_run(tmp_path / "spool")
    assert list(pending) == ["r1"] and pending["r1"].batches == 2 and pending["r1"].points == 0

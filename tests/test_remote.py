"""The SDK over HTTP against a real server process: ``assay.Client("http://...")`` behaves as embedded.

Each test starts ``assay.server.main.serve`` in its own process on a free loopback port over a SQLite store
in tmp_path, and stops it at the end (after the SDK's writers are flushed and closed). One test kills the
server mid-run to check that the writer keeps what it could not send and delivers it after a restart.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest

import assay
from assay import bundle
from assay.errors import (
    AssayError,
    Conflict,
    FilterSyntaxError,
    InvalidInput,
    InvalidState,
    NotFound,
    Unavailable,
)
from assay.remote import RemoteTracking, ServerError, remote_services
from assay.remote.errors import check
from assay.sdk.policy import Action, decide
from assay.sdk.session import writer_for
from assay.server.main import build_services
from assay.services.tracking import Tracking
from processes import ServerProcess, serving


def new_server(root: Path, workers: int = 1) -> ServerProcess:
    """An ``assay server`` process over a store in ``root``; ``start`` again after ``kill`` reuses both."""
    return ServerProcess(root, str(root / "assay.db"), str(root / "artifacts"), ["--workers", str(workers)])


@contextmanager
def _serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int) -> Iterator[ServerProcess]:
    """A started server, set as the tracking URI; the SDK is reset before it stops."""
    bundle.register("http", remote_services)
    (tmp_path / "server").mkdir()
    with serving(new_server(tmp_path / "server", workers), tmp_path, monkeypatch) as server:
        yield server


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerProcess]:
    with _serve(tmp_path, monkeypatch, workers=1) as srv:
        yield srv


def _quiet_run(c: assay.Client, exp: str = "e", **kw: object) -> str:
    eid = c.get_or_create_experiment(exp).experiment_id
    return c.create_run(eid, capture_git=False, capture_environment=False, **kw).run_id  # type: ignore[arg-type]


def test_quickstart_flow_over_http(server: ServerProcess, tmp_path: Path) -> None:
    assay.set_experiment("churn")
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "model.txt").write_text("weights")
    (out / "sub" / "deep.txt").write_text("deep")
    with assay.start_run(name="rf", params={"n_estimators": 100}, tags={"team": "growth"}) as run:
        assay.log_param("max_depth", 8)
        for i in range(5000):
            assay.log_metric("loss", 1.0 / (i + 1))
        assay.log_metric("system/cpu_percent", 12.5)
        assay.log_artifact(str(out))
        assay.log_text("# notes", "notes.md")
        assay.log_dict({"lr": 0.1}, "cfg.json")
    assert isinstance(assay.Client().backend, RemoteTracking)
    got = assay.get_run(run.id)
    assert got.info.status == assay.RunStatus.FINISHED
    assert got.params == {"n_estimators": "100", "max_depth": "8"}
    assert got.tags["team"] == "growth" and "assay.environment.requirements" in got.tags
    assert got.metric_summaries["loss"].num_points == 5000 and got.metrics["loss"] == 1.0 / 5000
    assert assay.get_metric_history(run.id, "system/cpu_percent").values.tolist() == [12.5]
    assert {f.path for f in assay.list_artifacts(run.id)} >= {"out", "notes.md", "cfg.json", "environment"}
    c = assay.Client()
    assert c.read_artifact(run.id, "out/sub/deep.txt") == b"deep"
    assert c.read_artifact(run.id, "cfg.json").startswith(b"{")


def test_metric_history_round_trips_100k_points_exactly(server: ServerProcess) -> None:
    c = assay.Client(server.url)
    rid = _quiet_run(c)
    n = 100_000
    rng = np.random.default_rng(7)
    values = rng.standard_normal(n)
    values[[10, 20, 30]] = [math.nan, math.inf, -math.inf]
    steps = rng.permutation(n)
    timestamps = 1_700_000_000_000 + np.arange(n)
    for v, s, t in zip(values.tolist(), steps.tolist(), timestamps.tolist(), strict=True):
        c.log_metric(rid, "train/loss", v, step=s, timestamp=t)
    c.set_terminated(rid)
    h = c.get_metric_history(rid, "train/loss")
    assert len(h) == n and h.steps.dtype == np.int64 and h.values.dtype == np.float64
    np.testing.assert_array_equal(h.steps, steps)
    np.testing.assert_array_equal(h.timestamps, timestamps)
    np.testing.assert_array_equal(h.values, values)  # NaN compares equal here
    assert c.get_run(rid).metric_summaries["train/loss"].num_points == n


def test_search_filter_order_and_paging(server: ServerProcess) -> None:
    c = assay.Client(server.url)
    accs = {}
    for i, acc in enumerate([0.3, 0.9, 0.7, 0.8, 0.95, 0.6]):
        rid = _quiet_run(c, "search", params={"model": "rf" if i % 2 else "gb"})
        c.log_metric(rid, "acc", acc)
        c.set_terminated(rid)
        accs[rid] = acc
    expected = sorted((r for r in accs if accs[r] > 0.5), key=lambda r: -accs[r])
    seen: list[str] = []
    token = None
    while True:
        page = c.search_runs(
            "search", "metrics.acc > 0.5", ["metrics.acc DESC"], max_results=2, page_token=token
        )
        assert len(page) <= 2
        seen += [r.id for r in page]
        token = page.next_page_token
        if token is None:
            break
    assert seen == expected
    rf = c.search_runs(filter="params.model = 'rf' and attributes.status = 'FINISHED'")
    assert {r.id for r in rf} == {r for i, r in enumerate(accs) if i % 2}
    assert rf.to_pandas().shape[0] == 3


def test_artifacts_list_and_download(server: ServerProcess, tmp_path: Path) -> None:
    c = assay.Client(server.url)
    rid = _quiet_run(c)
    src = tmp_path / "data"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("A")
    (src / "sub" / "b.txt").write_text("B")
    (src / "big.bin").write_bytes(os.urandom(3 << 20))  # larger than the server's in-memory limit
    c.log_artifact(rid, src, "inputs")
    c.log_artifacts(rid, src, "flat")
    assert [(f.path, f.is_dir) for f in c.list_artifacts(rid)] == [("flat", True), ("inputs", True)]
    assert [f.path for f in c.list_artifacts(rid, "inputs/data")] == [
        "inputs/data/sub",
        "inputs/data/a.txt",
        "inputs/data/big.bin",
    ]
    local = Path(assay.download_artifacts(f"runs:/{rid}/inputs", dst=tmp_path / "dl"))
    assert local == tmp_path / "dl" / "inputs"
    assert (local / "data" / "sub" / "b.txt").read_text() == "B"
    assert (local / "data" / "big.bin").read_bytes() == (src / "big.bin").read_bytes()
    one = c.download_artifacts(rid, "flat/a.txt", tmp_path / "dl2")
    assert one == tmp_path / "dl2" / "a.txt" and one.read_text() == "A"
    everything = c.download_artifacts(rid, None, tmp_path / "dl3")
    assert (everything / "flat" / "sub" / "b.txt").read_text() == "B"
    with pytest.raises(NotFound):
        c.download_artifacts(rid, "missing.txt", tmp_path / "dl4")
    with pytest.raises(NotFound, match="no such file"):
        c.log_artifact(rid, tmp_path / "nope.bin")


def _errors(t: Tracking, rid: str, eid: str) -> list[tuple[type[AssayError], str]]:
    """What each wrong call raises on ``t``: (class, message)."""
    calls: list[Callable[[], object]] = [
        lambda: t.get_run("0" * 32),
        lambda: t.get_experiment("abc"),
        lambda: t.get_experiment("999"),
        lambda: t.create_experiment("errs"),
        lambda: t.log_params(rid, {"lr": 0.2}),
        lambda: t.log_params(rid, {"bad$key": 1}),
        lambda: t.search_runs([eid], filter="metrics.acc > 0.5 adn params.x = 'y'"),
        lambda: t.search_runs([eid], order_by=["metrics.acc SIDEWAYS"]),
        lambda: t.search_runs([eid], page_token="nope"),
        lambda: t.delete_tag(rid, "absent"),
        lambda: t.end_run(rid, assay.RunStatus.RUNNING),
        lambda: t.end_run(rid, assay.RunStatus.FINISHED),
        lambda: t.write_artifact(rid, "../escape.txt", b"x"),
    ]
    out = []
    for call in calls:
        with pytest.raises(AssayError) as info:
            call()
        out.append((type(info.value), info.value.message))
    return out


def test_errors_arrive_as_the_same_classes_with_the_same_messages(
    server: ServerProcess, tmp_path: Path
) -> None:
    embedded = build_services(str(tmp_path / "embedded.db"), str(tmp_path / "embedded-artifacts")).tracking
    remote = RemoteTracking(server.url)
    try:
        results = []
        for t in (embedded, remote):
            eid = t.create_experiment("errs").experiment_id
            rid = t.create_run(eid, params={"lr": 0.1}, run_id="f" * 32).run_id
            t.end_run(rid, assay.RunStatus.FINISHED)
            results.append(_errors(t, rid, eid))
        assert results[1] == results[0]
        kinds = {cls for cls, _ in results[0]}
        assert kinds == {NotFound, Conflict, InvalidInput, FilterSyntaxError, InvalidState}
        assert any("^" in message for cls, message in results[1] if cls is FilterSyntaxError)
    finally:
        remote.close()
        embedded.close()


def test_failures_that_are_not_assay_errors_stay_retryable() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        status = int(request.url.params["status"])
        if request.url.params.get("html"):
            return httpx.Response(status, text="<html>Bad gateway</html>")
        body = {"error": {"code": request.url.params["code"], "message": "m"}}
        return httpx.Response(status, json=body)

    with httpx.Client(transport=httpx.MockTransport(answer), base_url="http://x") as http:

        def call(**params: str) -> None:
            check(http.get("/", params=params))

        with pytest.raises(ServerError, match="HTTP 502"):
            call(status="502", html="1")
        with pytest.raises(ServerError):
            call(status="500", code="INTERNAL_ERROR")
        with pytest.raises(AssayError) as refused:
            call(status="405", code="METHOD_NOT_ALLOWED")
        assert type(refused.value) is AssayError and refused.value.code == "METHOD_NOT_ALLOWED"
        with pytest.raises(InvalidState):
            call(status="409", code="INVALID_STATE")
    # A server failure is Unavailable: an AssayError (one line in the CLI) that the writer retries.
    assert issubclass(ServerError, Unavailable)
    assert decide(ServerError(500, "m"), single=True) is Action.RETRY
    assert decide(InvalidState("m"), single=True) is Action.SET_ASIDE


@pytest.mark.slow
def test_a_batch_sent_while_the_server_is_down_lands_after_restart(server: ServerProcess) -> None:
    c = assay.Client(server.url)
    rid = _quiet_run(c)
    c.log_metric(rid, "m", 0.0, step=0)
    c.flush()
    server.kill()
    for i in range(1, 101):
        c.log_metric(rid, "m", float(i), step=i)
    writer = writer_for(c.backend)
    writer.flush(raise_errors=False)  # kept, not raised
    with pytest.raises(Unavailable, match="cannot reach the tracking server"):
        writer.flush()  # what the writer sees: Unavailable, which its policy keeps and retries
    server.start()
    writer.flush()
    c.set_terminated(rid)
    h = c.get_metric_history(rid, "m")
    assert h.steps.tolist() == list(range(101)) and h.values.tolist() == [float(i) for i in range(101)]
    assert c.get_run(rid).info.status == assay.RunStatus.FINISHED


@pytest.mark.slow
def test_several_workers_serve_the_same_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with _serve(tmp_path, monkeypatch, workers=2) as srv:
        c = assay.Client(srv.url)
        rid = _quiet_run(c)
        c.log_metric(rid, "m", 1.0)
        c.flush()
        for _ in range(30):  # keep-alive requests land on either worker
            assert c.get_run(rid).metrics == {"m": 1.0}


def test_accepted_connections_have_nagle_off() -> None:
    """uvicorn's multi-worker listener is made with proto 0, so asyncio leaves Nagle on for accepted
    connections and each keep-alive response waits ~40 ms for a delayed ACK; the server's protocol turns
    it off (server/protocol.py). Checked on a real accepted socket rather than by timing requests."""
    import asyncio

    from assay.server.protocol import set_nodelay

    seen: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            set_nodelay(transport)
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def scenario() -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 0)  # as uvicorn's supervisor binds it
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        _reader, writer = await asyncio.open_connection(*listener.getsockname())
        for _ in range(100):
            if len(seen) == 2:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())
    assert len(seen) == 2 and seen[1] != 0


@pytest.mark.slow
def test_a_process_that_ends_during_an_outage_leaves_a_spool_that_assay_sync_replays(
    server: ServerProcess, tmp_path: Path
) -> None:
    """A training process keeps logging while the server is down, starts a run offline, and exits;
    after the server returns, `assay sync` delivers everything exactly once."""
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, assay
            assay.set_experiment("outage")
            with assay.start_run(name="online") as run:
                print(run.id, flush=True)
                for i in range(1000):
                    assay.log_metric("loss", 1.0 / (i + 1), step=i)
                assay.flush()
                print("flushed", flush=True)
                sys.stdin.readline()  # the test kills the server now
                for i in range(1000, 3000):
                    assay.log_metric("loss", 1.0 / (i + 1), step=i)
            with assay.start_run(name="offline") as second:
                print(second.id, flush=True)
                assay.log_metric("acc", 0.9)
            """
        )
    )
    env = {**os.environ, "ASSAY_TRACKING_URI": server.url, "ASSAY_HOME": str(tmp_path / "home")}
    child = subprocess.Popen(
        [sys.executable, str(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert child.stdout is not None and child.stdin is not None
    first = child.stdout.readline().strip()
    assert child.stdout.readline().strip() == "flushed"
    server.kill()
    child.stdin.write("\n")
    child.stdin.flush()
    second = child.stdout.readline().strip()
    _out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    spooled = list((tmp_path / "home").resolve().glob("spool/*/*.spool"))
    assert spooled, "the batches written during the outage should be on disk"

    server.start()
    from typer.testing import CliRunner

    from assay.cli.main import app

    sync = CliRunner().invoke(
        app, ["--tracking-uri", server.url, "sync"], env={"ASSAY_HOME": str(tmp_path / "home")}
    )
    assert sync.exit_code == 0, sync.output
    c = assay.Client(server.url)
    loss = c.get_metric_history(first, "loss")
    assert loss.steps.tolist() == list(range(3000))  # each point once, in order
    assert c.get_run(first).info.status == assay.RunStatus.FINISHED
    offline = c.get_run(second)
    assert offline.info.name == "offline" and offline.metrics == {"acc": 0.9}
    assert offline.info.status == assay.RunStatus.FINISHED


@pytest.mark.slow
def test_a_process_that_never_reached_the_server_logs_by_experiment_name(
    server: ServerProcess, tmp_path: Path
) -> None:
    """With the server down from the start, a script still runs: its runs name their experiment, wait in
    the spool, and `assay sync` creates the experiment (in its project) and the runs when it is back."""
    server.kill()
    script = textwrap.dedent(
        """
        import assay
        assay.set_experiment("born-offline")
        for name in ("a", "b"):
            with assay.start_run(name=name, params={"lr": 0.1}) as run:
                for i in range(500):
                    assay.log_metric("loss", 1.0 / (i + 1))
                print(run.id, flush=True)
        """
    )
    env = {**os.environ, "ASSAY_TRACKING_URI": server.url, "ASSAY_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "unreachable" in done.stderr and "born-offline" in done.stderr
    ids = done.stdout.split()
    server.start()
    from typer.testing import CliRunner

    from assay.cli.main import app

    sync = CliRunner().invoke(
        app, ["--tracking-uri", server.url, "sync"], env={"ASSAY_HOME": str(tmp_path / "home")}
    )
    assert sync.exit_code == 0, sync.output
    c = assay.Client(server.url)
    exp = c.get_experiment_by_name("born-offline")
    assert exp is not None and exp.project == "default"
    runs = c.search_runs("born-offline", order_by=["attributes.name asc"])
    assert [r.info.name for r in runs] == ["a", "b"] and sorted(r.id for r in runs) == sorted(ids)
    for r in runs:
        assert r.info.status == assay.RunStatus.FINISHED and r.params == {"lr": "0.1"}
        assert len(c.get_metric_history(r.id, "loss")) == 500

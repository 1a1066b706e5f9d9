"""Nothing lost, artifacts included: artifacts logged while the server is down, crashes during replay, and a
role removed mid-run, all against a real ``assay server`` process.

Artifacts go into the offline spool in order with the batches (a copy of each file, never a reference),
and are uploaded once when the server returns (live, or by ``assay sync`` in a fresh process). A run
whose role is removed keeps its writes in the spool (held) and says so once, while other runs go on;
``assay sync`` delivers them when the role is back, ``assay sync --discard RUN`` drops them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import assay
from assay.access import Role
from assay.remote import RemoteTracking
from assay.sdk import capture
from assay.sdk.client import render_figure
from assay.server.main import build_services
from assay.services.tracking import Tracking
from conftest import reset_sdk
from processes import ServerProcess, assay_cli, spool_child_env, start_script

BIG = 3 << 20  # beyond what a spool record holds inline: copied into blobs/


@pytest.fixture
def server(spooling_server: ServerProcess) -> ServerProcess:
    return spooling_server


def _files(c: assay.Client | Tracking, run_id: str, path: str | None = None) -> list[str]:
    """Every artifact file of a run (each path once: a listing cannot hold a path twice)."""
    out: list[str] = []
    for e in c.list_artifacts(run_id, path):
        out += _files(c, run_id, e.path) if e.is_dir else [e.path]
    return out


@contextmanager
def _script(args: list[str], env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    """A Python script in a child process talking through pipes; killed and reaped if still running."""
    child = start_script(args, env, cwd)
    try:
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=30)


def _spool_left(home: Path) -> list[Path]:
    """Spool files and artifact copies still on disk under ``home``."""
    root = home.resolve() / "spool"
    return [p for p in root.rglob("*") if p.suffix == ".spool"] + [
        p for p in root.glob("*/blobs/*") if not p.name.startswith(".")
    ]


def _figure() -> object | None:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([1, 2, 3], [3, 1, 2])
    return fig


def test_artifacts_logged_while_the_server_is_down_arrive_once_when_it_returns(
    server: ServerProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    big = tmp_path / "weights.bin"
    big.write_bytes(os.urandom(BIG))
    notes = tmp_path / "notes.md"
    notes.write_text("# notes\n")
    folder = tmp_path / "inputs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    fig = _figure()
    expected = {
        "weights.bin": big.read_bytes(),
        "docs/notes.md": b"# notes\n",
        "inputs/a.txt": b"a",
        "inputs/sub/b.txt": b"b",
        "text/hello.txt": "héllo".encode(),
        "cfg.json": b'{\n  "lr": 0.1\n}',
    }
    assay.set_experiment("offline-artifacts")
    with assay.start_run(capture_environment=False, capture_git=False) as run:
        assay.log_metric("loss", 0.0, step=0)
        assay.flush()
        server.kill()
        with caplog.at_level(logging.WARNING, logger="assay"):
            assay.log_artifact(big)
            assay.log_artifact(notes, "docs")
            assay.log_artifact(folder)
            assay.log_text("héllo", "text/hello.txt")
            assay.log_dict({"lr": 0.1}, "cfg.json")
            if fig is not None:
                expected["plots/fig.png"] = render_figure(fig, "fig.png")
                assay.log_figure(fig, "plots/fig.png")
        spooled = [r for r in caplog.records if "a copy is kept" in r.getMessage()]
        assert len(spooled) == 5 + (fig is not None)  # one line per call, each returned normally
        with assay.start_run(nested=True, capture_environment=True, capture_git=False) as child:
            pass  # started and ended offline: its package list is a capture file, spooled too
        big.write_bytes(b"changed after logging")  # the spool keeps copies, not references
        notes.unlink()
        for i in range(1, 100):
            assay.log_metric("loss", float(i), step=i)
        server.start()
        assay.flush()  # the writer replays its spool: points and artifacts, in order
    c = assay.Client(server.url)
    assert sorted(_files(c, run.id)) == sorted(expected)
    for path, data in expected.items():
        assert c.read_artifact(run.id, path) == data, path
    assert c.get_metric_history(run.id, "loss").steps.tolist() == list(range(100))
    assert c.get_run(run.id).info.status == assay.RunStatus.FINISHED
    assert _files(c, child.id) == ["environment/requirements.txt"]
    requirements = c.read_artifact(child.id, "environment/requirements.txt")
    assert requirements == capture.environment().requirements.encode()
    assert c.get_run(child.id).info.parent_run_id == run.id
    reset_sdk()
    assert _spool_left(tmp_path / "home") == []


def _git_repo(path: Path) -> str:
    """A git repository with one commit and an uncommitted change; returns its diff."""
    path.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    (path / "lib.py").write_text("x = 1\n")
    for args in (["init", "-q"], ["add", "lib.py"], ["commit", "-q", "-m", "one"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True, capture_output=True)
    (path / "lib.py").write_text("x = 2\n")
    return subprocess.run(
        ["git", "diff", "HEAD", "--no-color"], cwd=path, capture_output=True, text=True, check=True
    ).stdout.strip()


OFFLINE = textwrap.dedent(
    """
    import hashlib, sys
    import assay
    from assay.sdk.client import render_figure
    assay.set_experiment("born-offline")
    with assay.start_run(name="offline") as run:
        print(run.id, flush=True)
        for i in range(200):
            assay.log_metric("loss", 1.0 / (i + 1), step=i)
        assay.log_artifact("model.bin", "model")
        assay.log_text("report", "report.txt")
        try:
            from matplotlib.figure import Figure
        except ImportError:
            pass
        else:
            fig = Figure(figsize=(2, 2))
            fig.add_subplot().plot([1, 2, 3])
            open("fig.png", "wb").write(render_figure(fig, "fig.png"))
            assay.log_figure(fig, "fig.png")
    """
)


def _env(server: ServerProcess, home: Path, **extra: str) -> dict[str, str]:
    return spool_child_env(server, home, **extra)


def test_a_process_that_exits_offline_leaves_artifacts_that_assay_sync_uploads_once(
    server: ServerProcess, tmp_path: Path
) -> None:
    """Run, points, artifacts and the capture files (requirements, git diff) of a process that never
    reached the server reach it by `assay sync` in a fresh process, byte-identical, once."""
    reset_sdk()
    server.kill()
    repo = tmp_path / "repo"
    diff = _git_repo(repo)
    (repo / "train.py").write_text(OFFLINE)
    model = os.urandom(BIG)
    (repo / "model.bin").write_bytes(model)
    env = _env(server, tmp_path / "home")
    done = subprocess.run(
        [sys.executable, "train.py"],
        env={"PATH": os.environ["PATH"], **env},
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    (repo / "model.bin").write_bytes(b"overwritten after the process ended")
    server.start()
    synced = assay_cli("sync", env=env)
    assert "replayed 2 spooled batches and" in synced.stdout, synced.stdout
    c = assay.Client(server.url)
    run = c.get_run(run_id)
    assert run.info.status == assay.RunStatus.FINISHED
    assert c.get_metric_history(run_id, "loss").steps.tolist() == list(range(200))
    expected = {
        "model/model.bin": model,
        "report.txt": b"report",
        "git/diff.patch": diff.encode(),
    }
    if (repo / "fig.png").exists():
        expected["fig.png"] = (repo / "fig.png").read_bytes()
    files = _files(c, run_id)
    assert sorted(files) == sorted([*expected, "environment/requirements.txt"])
    for path, data in expected.items():
        assert c.read_artifact(run_id, path).strip() == data.strip(), path
    assert run.tags["assay.environment.requirements"] == f"runs:/{run_id}/environment/requirements.txt"
    assert b"numpy==" in c.read_artifact(run_id, "environment/requirements.txt")
    assert "nothing to sync" in assay_cli("sync", env=env).stdout
    assert _spool_left(tmp_path / "home") == []


CRASH = textwrap.dedent(
    """
    import os, signal, sys
    import assay
    from assay.remote import artifacts, client
    from assay.remote.errors import check

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    assay.set_experiment("crash")
    with assay.start_run(name="crash", capture_git=False, capture_environment=False) as run:
        print(run.id, flush=True)
        for i in range(300):
            assay.log_metric("loss", float(i), step=i)
        assay.log_text("first", "a.txt")
        assay.log_artifact("model.bin")
        assay.log_text("last", "z.txt")
        for i in range(300, 400):
            assay.log_metric("loss", float(i), step=i)
        assay.log_text("after", "after.txt")
        print("spooled", flush=True)
        sys.stdin.readline()  # the server is back
        point = sys.argv[1]
        if point == "after-upload":  # delivered, and killed before the spool records it
            upload = client.RemoteTracking.upload_artifact
            def hooked(self, *a, **k):
                upload(self, *a, **k)
                die()
            client.RemoteTracking.upload_artifact = hooked
        elif point == "mid-upload":  # killed with half of the file sent
            def put(self, url, local):
                def body():
                    with open(local, "rb") as f:
                        yield f.read(1 << 20)
                    die()
                check(self._http.put(url, content=body(), headers=artifacts.OCTETS))
            artifacts.HttpArtifacts._put_file = put
        else:  # the second batch delivered, and killed before the spool records it
            ingest = client.RemoteTracking.ingest
            calls = []
            def hooked(self, batch):
                ingest(self, batch)
                calls.append(batch)
                if len(calls) == 2:
                    die()
            client.RemoteTracking.ingest = hooked
        assay.flush()
    print("not killed", flush=True)
    """
)


@pytest.mark.parametrize("point", ["after-upload", "mid-upload", "after-batch"])
def test_a_kill_9_during_replay_then_assay_sync_delivers_everything_once(
    server: ServerProcess, tmp_path: Path, point: str
) -> None:
    reset_sdk()
    server.kill()
    model = os.urandom(BIG)
    (tmp_path / "model.bin").write_bytes(model)
    (tmp_path / "crash.py").write_text(CRASH)
    env = _env(server, tmp_path / "home", ASSAY_FLUSH_INTERVAL="3600")
    with _script(["crash.py", point], env, tmp_path) as child:
        assert child.stdout is not None and child.stdin is not None
        run_id = child.stdout.readline().strip()
        assert child.stdout.readline().strip() == "spooled"
        server.start()
        child.stdin.write("\n")
        child.stdin.flush()
        out, err = child.communicate(timeout=60)
        assert child.returncode == -9, (out, err)  # killed in the middle of the replay
    synced = assay_cli("sync", env=env)
    assert "replayed" in synced.stdout
    c = assay.Client(server.url)
    assert c.get_metric_history(run_id, "loss").steps.tolist() == list(range(400))  # each point once
    assert sorted(_files(c, run_id)) == ["a.txt", "after.txt", "model.bin", "z.txt"]
    assert hashlib.sha256(c.read_artifact(run_id, "model.bin")).digest() == hashlib.sha256(model).digest()
    assert c.read_artifact(run_id, "z.txt") == b"last"
    assert _spool_left(tmp_path / "home") == []


TEAM = textwrap.dedent(
    """
    import sys
    import assay
    side = assay.Client()
    other = side.get_or_create_experiment("side-exp", project="side")
    gone = side.get_or_create_experiment("gone-exp", project="gone")
    assay.set_experiment("vision-exp", project="vision")
    with assay.start_run(name="a", capture_git=False, capture_environment=False) as run:
        c = side.create_run(other.experiment_id, name="c", capture_git=False, capture_environment=False)
        d = side.create_run(gone.experiment_id, name="d", capture_git=False, capture_environment=False)
        print(run.id, c.run_id, d.run_id, flush=True)
        for i in range(100):
            assay.log_metric("loss", float(i), step=i)
            side.log_metric(c.run_id, "acc", float(i), step=i)
            side.log_metric(d.run_id, "acc", float(i), step=i)
        assay.flush()
        print("flushed", flush=True)
        sys.stdin.readline()  # the owner removes ada's roles in "vision" and "gone" now
        for i in range(100, 300):
            assay.log_metric("loss", float(i), step=i)
            side.log_metric(c.run_id, "acc", float(i), step=i)
            side.log_metric(d.run_id, "acc", float(i), step=i)
            if i % 50 == 0:
                assay.flush()
        assay.log_text("report", "report.txt")
        side.log_text(d.run_id, "d", "d.txt")
        side.set_terminated(c.run_id)
        side.set_terminated(d.run_id)
    assay.flush()
    print("done", flush=True)
    """
)


def test_a_role_removed_mid_run_keeps_its_writes_until_assay_sync(tmp_path: Path) -> None:
    """An editor's role is removed by the owner mid-run: that run's writes are held in the spool with one
    error line, another project's run flows on; `assay sync --discard` drops one held run, and once the
    role is back `assay sync` delivers the other's points and artifacts once."""
    base = {"ASSAY_HOME": str(tmp_path / "home"), "ASSAY_SYSTEM_METRICS": "0", "HOME": str(tmp_path)}
    store, artifacts = str(tmp_path / "team.db"), str(tmp_path / "artifacts")
    services = build_services(store, artifacts)
    root = services.access.create_user("root", is_admin=True).secret
    ada = services.access.create_user("ada").secret
    for project in ("vision", "side", "gone"):
        services.access.create_project(project)
        services.access.set_member(project, "ada", Role.EDITOR)
    services.close()
    server = ServerProcess(tmp_path, store, artifacts, ["--auth"], env=base)
    server.start()
    owner = RemoteTracking(server.url, token=root)
    try:
        as_ada = {**base, "ASSAY_TRACKING_URI": server.url, "ASSAY_TRACKING_TOKEN": ada}
        (tmp_path / "team.py").write_text(TEAM)
        with _script(["team.py"], as_ada, tmp_path) as child:
            assert child.stdout is not None and child.stdin is not None
            a, c, d = child.stdout.readline().split()
            assert child.stdout.readline().strip() == "flushed"
            owner.access().remove_member("vision", "ada")
            owner.access().remove_member("gone", "ada")
            child.stdin.write("\n")
            child.stdin.flush()
            out, err = child.communicate(timeout=120)
            assert child.returncode == 0 and out.strip() == "done", err
        for run_id in (a, d):  # one error line per run, saying who, where and what to do
            lines = [line for line in err.splitlines() if f"refused the writes of run {run_id}" in line]
            assert len(lines) == 1, err
            assert "ada" in lines[0] and "assay sync" in lines[0] and f"--discard {run_id}" in lines[0]
        assert err.count("refused") == 2, err
        assert owner.get_metric_history(c, "acc").steps.tolist() == list(range(300))  # flowed on
        assert owner.get_run(c).info.status == assay.RunStatus.FINISHED
        assert owner.get_metric_history(a, "loss").steps.tolist() == list(range(100))

        listed = assay_cli("sync", "--list", env=as_ada).stdout
        assert a in listed and d in listed and "held" in listed
        refused = assay_cli("sync", env=as_ada, check=False)
        assert refused.returncode == 1 and f"--discard {a}" in refused.stderr
        dropped = assay_cli("sync", "--discard", d, env=as_ada).stdout
        assert f"and 1 artifact of run {d}" in dropped and "dropped" in dropped
        owner.access().set_member("vision", "ada", Role.EDITOR)
        synced = assay_cli("sync", env=as_ada)
        assert "1 artifact" in synced.stdout, synced.stdout
        assert "nothing waits" in assay_cli("sync", "--list", env=as_ada).stdout

        assert owner.get_metric_history(a, "loss").steps.tolist() == list(range(300))  # each point once
        assert owner.get_run(a).info.status == assay.RunStatus.FINISHED
        assert owner.read_artifact(a, "report.txt") == b"report"
        assert owner.get_metric_history(d, "acc").steps.tolist() == list(range(100))  # discarded
        assert _files(owner, d) == []
    finally:
        owner.close()
        server.stop()

"""Real processes for end-to-end tests: an ``assay server`` started from the command line, a moto S3 server.

Both bind free loopback ports, wait until they answer, and stop on exit; a server can be killed (as a
crash would) and started again on the same port and store.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assay_cli(*args: str, env: Mapping[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``assay ARGS`` in a child process with exactly ``env`` (plus PATH); output captured."""
    full = {"PATH": os.environ.get("PATH", ""), **env}
    done = subprocess.run(
        [sys.executable, "-m", "assay.cli.main", *args], env=full, capture_output=True, text=True, timeout=120
    )
    if check and done.returncode != 0:
        pytest.fail(f"assay {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


class ServerProcess:
    """``assay server --store STORE --artifacts ARTIFACTS --port P [extra...]`` in a child process."""

    def __init__(
        self,
        root: Path,
        store: str,
        artifacts: str,
        extra: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = ["server", "--store", store, "--artifacts", artifacts, "--port", str(self.port), *extra]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
        self.env.update({"ASSAY_HOME": str(root), **(env or {})})
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / f"server-{self.port}.log"

    def start(self, timeout: float = 20.0) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "assay.cli.main", *self.args], env=self.env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the server exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=0.5).json() == {"status": "ok"}:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()
        pytest.fail(f"the server did not answer /health within {timeout} s:\n{self.log.read_text()}")

    def kill(self) -> None:
        """Stop abruptly, as a crash would."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
            self.proc = None


@contextmanager
def moto_s3(bucket: str = "assay-test") -> Iterator[str]:
    """A moto S3 server process on a free loopback port with ``bucket``; yields its endpoint URL."""
    port = free_port()
    moto = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.time() < deadline, "moto_server did not start"
                time.sleep(0.1)
        import boto3

        boto3.client(
            "s3",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        ).create_bucket(Bucket=bucket)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


#: The environment that points s3fs at a moto endpoint.
def s3_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "FSSPEC_S3_ENDPOINT_URL": endpoint,
    }


@contextmanager
def dask_cluster(root: Path, workers: int, pythonpath: Sequence[str] = ()) -> Iterator[str]:
    """A real Dask cluster on loopback: ``dask scheduler`` and ``workers`` ``dask worker`` processes (one
    thread each, ``pythonpath`` first on their path), their output in ``root/dask.log``; its address."""
    distributed = pytest.importorskip("distributed")
    dask = str(Path(sys.executable).with_name("dask"))
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    path = [*pythonpath, os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p), "ASSAY_SYSTEM_METRICS": "0"}
    log = (root / "dask.log").open("wb")

    def start(*args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([dask, *args], env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)

    procs = [start("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")]
    for i in range(workers):
        procs.append(
            start("worker", address, "--nthreads", "1", "--no-dashboard", "--name", f"w{i}",
                  "--host", "127.0.0.1", "--local-directory", str(root / f"w{i}"))
        )  # fmt: skip
    try:
        with distributed.Client(address, timeout="30s") as client:
            client.wait_for_workers(workers, timeout=45)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(15)
        log.close()


def spool_child_env(server: ServerProcess, home: Path, **extra: str) -> dict[str, str]:
    """The environment of a child process (a script, `assay sync`) talking to ``server`` with its own home
    (and spool); the sources on this process's path first, so the children run the code under test."""
    path = {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}
    return {
        "ASSAY_HOME": str(home),
        "ASSAY_TRACKING_URI": server.url,
        "ASSAY_SYSTEM_METRICS": "0",
        "HOME": str(home),
        **path,
        **extra,
    }


@pytest.fixture
def spooling_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerProcess]:
    """A started server over a SQLite store, the tracking URI of this process (whose home, and so spool,
    is tmp_path/home): the spool tests stop and restart it under a writing process."""
    (tmp_path / "server").mkdir()
    srv = ServerProcess(
        tmp_path / "server", str(tmp_path / "server" / "assay.db"), str(tmp_path / "server" / "a")
    )
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    with serving(srv, tmp_path, monkeypatch):
        yield srv


@contextmanager
def serving(server: ServerProcess, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerProcess]:
    """Start ``server`` and make it this process's tracking URI (system metrics off, working in ``cwd``);
    the SDK is reset after it starts and again before it stops, so its writers flush while it is up."""
    from assay.testing.fixtures import reset_sdk

    monkeypatch.setenv("ASSAY_SYSTEM_METRICS", "0")
    monkeypatch.chdir(cwd)
    server.start()
    monkeypatch.setenv("ASSAY_TRACKING_URI", server.url)
    reset_sdk()
    try:
        yield server
    finally:
        reset_sdk()
        server.stop()


def start_script(args: Sequence[str], env: Mapping[str, str], cwd: Path) -> subprocess.Popen[str]:
    """``python args...`` in ``cwd`` with ``env`` (and PATH), its standard streams piped to the test."""
    return subprocess.Popen(
        [sys.executable, *args],
        env={"PATH": os.environ["PATH"], **env},
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

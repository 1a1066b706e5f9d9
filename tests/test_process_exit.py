"""What happens to a run when its process ends: normal exit, uncaught exception, SIGTERM and kill -9.

Each test runs a real Python process that logs through the SDK, then reads the store from this process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from assay import Client, RunStatus

pytestmark = pytest.mark.slow


_children: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _reap_children() -> Iterator[None]:
    yield
    while _children:
        proc = _children.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _spawn(script: str, tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    path = tmp_path / "child.py"
    path.write_text(textwrap.dedent(script))
    full_env = {**os.environ, **env}
    proc = subprocess.Popen(
        [sys.executable, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
        cwd=tmp_path,
    )
    _children.append(proc)
    return proc


def _read_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(f"child died: {proc.stderr.read() if proc.stderr else ''}")
    return line.strip()


_LOGGER = """
    import assay, time
    assay.set_experiment("exit")
    run = assay.start_run(name="child")
    print(run.id, flush=True)
    for i in range({n}):
        assay.log_metric("x", float(i), step=i)
    {after}
"""


def _check_contiguous(c: Client, run_id: str, at_least: int) -> int:
    h = c.get_metric_history(run_id, "x")
    n = len(h)
    assert n >= at_least
    np.testing.assert_array_equal(h.steps, np.arange(n))  # every point once, in order, no gap
    np.testing.assert_array_equal(h.values, np.arange(n, dtype=float))
    return n


def test_exit_without_end_run_flushes_and_finishes(tracking_uri: str, tmp_path: Path) -> None:
    proc = _spawn(_LOGGER.format(n=20_000, after="pass"), tmp_path, {"ASSAY_FLUSH_INTERVAL": "60"})
    run_id = _read_line(proc)
    assert proc.wait(60) == 0
    c = Client()
    assert _check_contiguous(c, run_id, 20_000) == 20_000
    assert c.get_run(run_id).info.status == RunStatus.FINISHED


def test_uncaught_exception_at_top_level_marks_failed(tracking_uri: str, tmp_path: Path) -> None:
    proc = _spawn(_LOGGER.format(n=100, after="raise SystemError('bad')"), tmp_path, {})
    run_id = _read_line(proc)
    assert proc.wait(60) == 1
    c = Client()
    _check_contiguous(c, run_id, 100)
    assert c.get_run(run_id).info.status == RunStatus.FAILED


def test_sigterm_flushes_everything_and_marks_killed(tracking_uri: str, tmp_path: Path) -> None:
    after = "print('ready', flush=True)\n    time.sleep(60)"
    proc = _spawn(_LOGGER.format(n=50_000, after=after), tmp_path, {"ASSAY_FLUSH_INTERVAL": "60"})
    run_id = _read_line(proc)
    assert _read_line(proc) == "ready"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == -signal.SIGTERM  # still dies of the signal
    c = Client()
    assert _check_contiguous(c, run_id, 50_000) == 50_000
    assert c.get_run(run_id).info.status == RunStatus.KILLED


def test_kill_9_keeps_flushed_points_and_reads_killed_after_heartbeat_timeout(
    tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_HEARTBEAT_TIMEOUT", "3")
    after = """assay.flush()
    print("flushed", flush=True)
    i = {n}
    while True:
        assay.log_metric("x", float(i), step=i)
        i += 1
        if i % 500 == 0:
            time.sleep(0.005)
    """
    n = 10_000
    proc = _spawn(
        _LOGGER.format(n=n, after=after.format(n=n)),
        tmp_path,
        {"ASSAY_HEARTBEAT_INTERVAL": "0.5", "ASSAY_HEARTBEAT_TIMEOUT": "3"},
    )
    run_id = _read_line(proc)
    assert _read_line(proc) == "flushed"
    time.sleep(1.0)  # let the background writer flush more batches while logging goes on
    c = Client()
    assert c.get_run(run_id).info.status == RunStatus.RUNNING  # heartbeats keep it alive
    proc.kill()
    proc.wait(10)
    killed_at = time.time() * 1000
    stored = _check_contiguous(c, run_id, n)
    assert stored > n  # the background flushes after the explicit one landed too
    deadline = time.time() + 30
    while c.get_run(run_id).info.status == RunStatus.RUNNING:
        assert time.time() < deadline, "run still RUNNING 30 s after kill -9"
        time.sleep(0.25)
    info = c.get_run(run_id).info
    assert info.status == RunStatus.KILLED
    assert info.end_time is not None and info.end_time <= killed_at  # ends at its last heartbeat
    assert _check_contiguous(c, run_id, stored) == stored  # nothing lost or duplicated afterwards


def test_sigterm_during_a_flush_ends_within_seconds_with_every_point(
    tracking_uri: str, tmp_path: Path
) -> None:
    """Issue 8, item 3: the main thread is nearly always inside ``flush()`` (holding the writer's send lock)
    when SIGTERM arrives; cleanup in the handler itself deadlocked there."""
    after = """print("ready", flush=True)
    i = {n}
    while True:
        assay.log_metric("x", float(i), step=i)
        i += 1
        if i % 20 == 0:
            assay.flush()
    """
    n = 1000
    proc = _spawn(_LOGGER.format(n=n, after=after.format(n=n)), tmp_path, {"ASSAY_FLUSH_INTERVAL": "60"})
    run_id = _read_line(proc)
    assert _read_line(proc) == "ready"
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(20)
    except subprocess.TimeoutExpired:
        raise AssertionError("the process hung after SIGTERM (cleanup waiting for a lock it holds)") from None
    assert code == -signal.SIGTERM
    assert proc.stderr is not None
    errors = proc.stderr.read()
    assert "Traceback" not in errors, errors  # the loop logging on while the runs close is not an error
    c = Client()
    stored = _check_contiguous(c, run_id, n + 20)
    assert c.get_run(run_id).info.status == RunStatus.KILLED
    assert stored > n

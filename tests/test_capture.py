"""Automatic capture: git state and diff, environment and packages, system metrics, and their switches."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from assay import Client


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x",
    }
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "project"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "remote", "add", "origin", "https://example.invalid/team/project.git")
    (repo / "train.py").write_text("print('v1')\n")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "first")
    (repo / "train.py").write_text("print('v2, uncommitted')\n")
    return repo


def _run_script(repo: Path, body: str, env: dict[str, str] | None = None) -> list[str]:
    script = repo / "experiment.py"
    script.write_text(textwrap.dedent(body))
    out = subprocess.run(
        [sys.executable, str(script)],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_git_and_environment_are_captured_once_per_process(tracking_uri: str, repo: Path) -> None:
    ids = _run_script(
        repo,
        """
        import assay
        for i in range(2):
            with assay.start_run() as run:
                print(run.id)
        """,
    )
    c = Client()
    first, second = (c.get_run(i) for i in ids)
    head = _git(repo, "rev-parse", "HEAD")
    for run in (first, second):
        assert run.tags["assay.git.commit"] == head
        assert run.tags["assay.git.branch"] == "main"
        assert run.tags["assay.git.remote"] == "https://example.invalid/team/project.git"
        assert run.tags["assay.git.dirty"] == "true"
        assert (
            run.tags["assay.python"]
            == f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"
        )
        assert "experiment.py" in run.tags["assay.command"]
        # both point at the files the first run stored
        assert run.tags["assay.git.diff"] == f"runs:/{first.id}/git/diff.patch"
        assert run.tags["assay.environment.requirements"] == f"runs:/{first.id}/environment/requirements.txt"
    diff = c.read_artifact(first.id, "git/diff.patch").decode()
    assert "+print('v2, uncommitted')" in diff
    requirements = c.read_artifact(first.id, "environment/requirements.txt").decode()
    assert any(line.lower().startswith("sqlalchemy==") for line in requirements.splitlines())
    assert [f.path for f in c.list_artifacts(second.id)] == []


def test_captures_can_be_switched_off(tracking_uri: str, repo: Path) -> None:
    ids = _run_script(
        repo,
        """
        import assay
        with assay.start_run(capture_git=False) as a:
            print(a.id)
        with assay.start_run() as b:
            print(b.id)
        """,
        env={"ASSAY_CAPTURE_ENVIRONMENT": "0"},
    )
    c = Client()
    no_git, no_env = (c.get_run(i) for i in ids)
    assert not any(k.startswith("assay.git") for k in no_git.tags)
    assert "assay.git.commit" in no_env.tags
    assert "assay.python" not in no_env.tags and "assay.environment.requirements" not in no_env.tags


def test_outside_a_git_repository_no_git_tags(tracking_uri: str, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    ids = _run_script(
        plain,
        "import assay\nwith assay.start_run() as r:\n    print(r.id)\n",
        env={"GIT_CEILING_DIRECTORIES": str(tmp_path)},
    )
    assert not any(k.startswith("assay.git") for k in Client().get_run(ids[0]).tags)


def test_system_metrics_are_sampled_in_the_background(tracking_uri: str, repo: Path) -> None:
    ids = _run_script(
        repo,
        """
        import time, assay
        with assay.start_run(log_system_metrics=True) as run:
            print(run.id)
            time.sleep(1.2)
        """,
        env={"ASSAY_SYSTEM_METRICS_INTERVAL": "0.2", "ASSAY_SYSTEM_METRICS": "1"},
    )
    c = Client()
    run = c.get_run(ids[0])
    for key in ("system/cpu_percent", "system/memory_percent", "system/process_rss_mb"):
        assert key in run.metrics
    rss = c.get_metric_history(ids[0], "system/process_rss_mb")
    assert len(rss) >= 3 and (rss.values > 1).all()
    assert rss.steps.tolist() == list(range(len(rss)))


def test_the_package_list_is_cached_until_an_install_changes_a_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assay.sdk.capture import installed_packages

    monkeypatch.setenv("ASSAY_CACHE_DIR", str(tmp_path / "cache"))
    site = tmp_path / "lib" / "site-packages"
    site.mkdir(parents=True)
    monkeypatch.syspath_prepend(str(site))
    first = installed_packages()
    assert any(p.lower().startswith("sqlalchemy==") for p in first)
    (cached,) = (tmp_path / "cache" / "packages").iterdir()
    cached.write_text("sentinel==1\n")
    assert installed_packages() == ["sentinel==1"]  # read back, not recomputed
    (site / "newpkg-1.0.dist-info").mkdir()  # what an install does to a directory on sys.path
    os.utime(site, ns=(site.stat().st_atime_ns, site.stat().st_mtime_ns + 1_000_000))
    assert installed_packages() == first

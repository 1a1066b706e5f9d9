"""What a run records about where it ran: git state, interpreter, host, command line, installed packages.

What is the same for every run of a process is computed once and reused (git state for a few seconds,
so a notebook that edits code between runs still sees the change). Each part can be switched off.
Credentials in the git remote and the command line are masked before they are stored (``assay.redact``).
"""

from __future__ import annotations

import getpass
import hashlib
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from assay.redact import redact_argv, redact_url

GIT_TTL_S = 5.0
_lock = threading.Lock()


@dataclass(frozen=True)
class GitState:
    commit: str
    branch: str
    remote: str
    dirty: bool
    diff: str


@dataclass(frozen=True)
class Environment:
    tags: dict[str, str] = field(default_factory=dict)
    requirements: str = ""


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


_script_dir: dict[str, Path] = {}


def source_dir() -> Path:
    """The directory of the running script, or the working directory (notebooks, REPL).

    The script's directory is looked up once per script path (a ``stat`` and a ``realpath`` per run cost
    more than the rest of creating it); the working directory is read each time: a notebook may change it."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path:
        found = _script_dir.get(path)
        if found is None and Path(path).exists():
            found = _script_dir[path] = Path(path).resolve().parent
        if found is not None:
            return found
    return Path.cwd()


_git_cache: dict[Path, tuple[float, GitState | None]] = {}


def git_state(cwd: Path | None = None) -> GitState | None:
    """The git commit, branch, origin remote and uncommitted diff of ``cwd``'s repository, or None."""
    cwd = cwd or source_dir()
    with _lock:
        hit = _git_cache.get(cwd)
        if hit and time.monotonic() - hit[0] < GIT_TTL_S:
            return hit[1]
    commit = _git(["rev-parse", "HEAD"], cwd)
    state = None
    if commit:
        diff = _git(["diff", "HEAD", "--no-color"], cwd) or ""
        untracked = _git(["ls-files", "--others", "--exclude-standard"], cwd) or ""
        state = GitState(
            commit=commit,
            branch=_git(["rev-parse", "--abbrev-ref", "HEAD"], cwd) or "",
            remote=redact_url(_git(["config", "--get", "remote.origin.url"], cwd) or ""),
            dirty=bool(diff or untracked),
            diff=diff,
        )
    with _lock:
        _git_cache[cwd] = (time.monotonic(), state)
    return state


_env_cache: list[Environment] = []


def cache_dir() -> Path:
    """Where assay keeps what is slow to compute and safe to reuse across processes: ``$ASSAY_CACHE_DIR``,
    else ``$XDG_CACHE_HOME/assay``, else ``~/.cache/assay``."""
    explicit = os.environ.get("ASSAY_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "assay"


def _pinned(dist: importlib.metadata.Distribution) -> str | None:
    """``name==version`` of an installed distribution; None for one without readable metadata (a
    half-written ``.dist-info`` directory; the ``importlib_metadata`` backport, which some packages load
    onto ``sys.meta_path``, raises for those where the standard library returns nothing)."""
    try:
        name = dist.metadata["Name"]
        return f"{name}=={dist.version}" if name else None
    except Exception:
        return None


def installed_packages() -> list[str]:
    """``name==version`` of every installed distribution, sorted (what ``pip freeze`` lists).

    Reading ~200 distributions' metadata costs 0.4-1 s, paid by every new process that starts a run. The list
    is kept on disk, keyed by the interpreter and the modification times of the directories on ``sys.path``:
    installing, upgrading or removing a package adds or removes a ``.dist-info`` directory, which changes its
    directory's time, so a stale list is never read back."""
    parts = [sys.executable, sys.version]
    entries = list(sys.path)
    if entries and "-packages" not in entries[0]:
        # sys.path[0] is the script's directory or the working directory, where a run writes its files: its
        # time would change the key on every run. Packages are not installed there.
        entries = entries[1:]
    for entry in entries:
        try:
            parts.append(f"{entry}\0{os.stat(entry or '.').st_mtime_ns}")
        except OSError:
            continue
    key = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
    cached = cache_dir() / "packages" / f"{key}.txt"
    try:
        text = cached.read_text()
        if text.endswith("\n"):  # a whole file (written by rename, but a truncated disk would not end so)
            return text.splitlines()
    except OSError:
        pass
    pkgs = sorted({p for p in map(_pinned, importlib.metadata.distributions()) if p}, key=str.lower)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
        tmp.write_text("\n".join(pkgs) + "\n")
        os.replace(tmp, cached)
    except OSError:
        pass  # a read-only home: compute it each time, as before
    return pkgs


def environment() -> Environment:
    """Interpreter, host, user, platform, command line and ``pip freeze``-style package list (cached)."""
    with _lock:
        if _env_cache:
            return _env_cache[0]
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    pkgs = installed_packages()
    env = Environment(
        tags={
            "assay.python": platform.python_version(),
            "assay.platform": platform.platform(terse=True),
            "assay.host": socket.gethostname(),
            "assay.user": user,
            "assay.pid": str(os.getpid()),
            "assay.command": " ".join(redact_argv([Path(sys.executable).name, *sys.argv]))[:4000],
        },
        requirements="\n".join(pkgs) + "\n",
    )
    with _lock:
        _env_cache[:] = [env]
    return env


def git_tags(state: GitState) -> dict[str, str]:
    return {
        "assay.git.commit": state.commit,
        "assay.git.branch": state.branch,
        "assay.git.remote": state.remote,
        "assay.git.dirty": "true" if state.dirty else "false",
    }

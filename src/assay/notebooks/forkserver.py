"""The template process of warm kernels: imports once, then forks a fresh IPython kernel per run.

Started by ``assay.notebooks.warm`` as ``<kernel's python> -c <exec this file> '<json>'`` (so the
kernel's interpreter needs ipykernel but not assay, and this directory never joins ``sys.path``), in the
working directory and environment the kernels will have. It imports ipykernel and the modules the
notebook declares, then answers one JSON request per line on stdin, each with one JSON line on stdout:

- ``{"op": "fork", "argv": [...], "env": {...}, "cwd": "...", "log": "..."}`` -> ``{"pid": N}``: a child
  becomes the kernel ``argv`` names (``python -m ipykernel_launcher -f <connection file> ...``), exactly as
  a launched one would be, with the imports already in ``sys.modules``;
- ``{"op": "poll", "pid": N}`` -> ``{"code": null}`` while that kernel runs, else its exit status.

The template never runs notebook code, so nothing a notebook does can reach the next run: each kernel
is a new process, with a fresh namespace, its own working directory and environment, and RNGs that
numpy and torch would seed afresh. It exits, killing its kernels, when its parent goes (stdin closes or
the parent dies); its kernels exit when it does (ipykernel's parent poller on ``JPY_PARENT_PID``).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import sys
import traceback
from typing import IO, Any

_children: dict[int, int | None] = {}  # pid -> exit status once reaped


def _reply(out: IO[str], message: dict[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


def _reap() -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _children[pid] = os.waitstatus_to_exitcode(status)


def _reseed() -> None:
    """What a fresh process would have: numpy's and torch's global generators seeded from the OS
    (CPython reseeds ``random`` after a fork itself)."""
    np_random = sys.modules.get("numpy.random")
    if np_random is not None:
        np_random.seed()
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "seed"):
        torch.seed()


def _become_kernel(req: dict[str, Any], pipes: tuple[IO[str], IO[str]]) -> None:
    """In the forked child: become the kernel ``req`` describes; exits the process when it ends."""
    os.setsid()
    for pipe in pipes:
        pipe.close()
    null = os.open(os.devnull, os.O_RDONLY)
    log = os.open(req.get("log") or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.environ.clear()
    os.environ.update(req["env"])
    os.environ["JPY_PARENT_PID"] = str(os.getppid())
    os.chdir(req["cwd"])
    sys.path[0] = req["cwd"]
    _reseed()
    argv = list(req["argv"])
    args = argv[3:] if argv[1:2] == ["-m"] else argv[2:]
    import ipykernel_launcher  # type: ignore[import-untyped]
    from ipykernel.kernelapp import IPKernelApp

    sys.argv = [ipykernel_launcher.__file__, *args]
    IPKernelApp.launch_instance(argv=args)
    sys.exit(0)  # a normal interpreter exit: threads joined, atexit handlers run, as in a cold kernel


def _fork(req: dict[str, Any], pipes: tuple[IO[str], IO[str]]) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            _become_kernel(req, pipes)
        except SystemExit:
            raise
        except BaseException:
            traceback.print_exc()
            os._exit(1)
    _children[pid] = None
    return pid


def _preload(imports: list[str]) -> list[str]:
    """Import ipykernel's startup modules and the declared ones; the names that failed, with why."""
    failed = []
    for name in ("ipykernel_launcher", "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.debugger"):
        with contextlib.suppress(Exception):  # an older ipykernel lacks one: the kernel imports it then
            importlib.import_module(name)
    for name in imports:
        try:
            importlib.import_module(name)
        except Exception as exc:  # the notebook's own import fails the same way, in its kernel
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
    return failed


def main() -> None:
    spec = json.loads(sys.argv[-1])
    sys.path[0] = os.getcwd()  # as `python -m ipykernel_launcher` has it
    requests = os.fdopen(os.dup(0), "r")
    replies = os.fdopen(os.dup(1), "w")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(2, 1)  # stray prints of imports must not reach the reply pipe
    os.close(null)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    parent = os.getppid()
    failed = _preload(list(spec.get("imports", [])))
    _reply(replies, {"ready": True, "pid": os.getpid(), "failed": failed})
    pipes = (requests, replies)
    while True:
        ready, _, _ = select.select([requests], [], [], 1.0)
        _reap()
        if os.getppid() != parent:
            break
        if not ready:
            continue
        line = requests.readline()
        if not line:
            break
        req = json.loads(line)
        if req["op"] == "fork":
            _reply(replies, {"pid": _fork(req, pipes)})
        elif req["op"] == "poll":
            pid = int(req["pid"])
            _reply(replies, {"code": _children.get(pid, -1) if pid in _children else -1})
    for pid, code in _children.items():
        if code is None:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
    _reap()


if __name__ == "__main__":
    main()

"""Warm kernels: each run gets a fresh kernel forked from a template process that did the imports already.

Where the pool lives: in the process that runs notebooks (one ``assay run --warm`` over several notebooks
or a parameter sweep, a Python session calling ``assay.run_notebook(..., warm=True)``, a runner's worker).
There is no daemon: a separate ``assay run`` process pays its own interpreter and imports anyway, and a
pool shared between users' processes would be a security boundary to defend. Close the pool (or leave
the process) and its processes go.

How runs stay apart. A kernel is never reused: the pool keeps, per (interpreter, declared imports,
working directory, environment), a template process (``forkserver``) that imported ipykernel and the
modules the notebook declares (its cells tagged ``imports``, or ``metadata.assay.imports``) and never runs
notebook code. Each run's kernel is a fork of it that becomes an IPython kernel exactly as a launched one
(same argv, environment, working directory and ``sys.path``; numpy's and torch's RNGs reseeded from the
OS), so it starts with an empty namespace and nothing from any other run. A kernel that dies, hangs or
times out is only ever that run's: it is killed, and the next run forks another. A template that died is
started again. One spare kernel per template is forked ahead, so a run finds one ready.

What it saves: the interpreter's start and the imports (ipykernel, and e.g. scikit-learn or torch) for
every run after the first; what remains is a fork and IPython's own start-up, done ahead by the spare.
Needs ``fork`` (Linux, macOS) and an ipykernel kernelspec (``python -m ipykernel_launcher``); for any other
kernel the pool starts cold kernels.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning.local_provisioner import LocalProvisioner
from jupyter_core.utils import run_sync

from assay.errors import Unavailable
from assay.notebooks import forkserver, kernels

log = logging.getLogger("assay.notebooks")

#: Runs the forkserver's file without putting its directory on ``sys.path`` (as a script would).
_BOOT = "import sys; p = sys.argv[1]; exec(compile(open(p).read(), p, 'exec'))"
#: How long a released kernel has to exit by itself before it is killed.
_GRACE_S = 5.0
#: Variables that differ between launches of the same template and do not make kernels differ.
_VOLATILE = {"ASSAY_RUN_ID", "JPY_PARENT_PID", "JPY_SESSION_NAME"}


class Template:
    """One forkserver process and the kernels forked from it (see ``forkserver``)."""

    def __init__(self, python: str, imports: Sequence[str], cwd: str, env: Mapping[str, str], timeout: float):
        self.imports = list(imports)
        self._lock = threading.Lock()
        env = {**env, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
        self.proc = subprocess.Popen(
            [python, "-c", _BOOT, forkserver.__file__, json.dumps({"imports": self.imports})],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=cwd,
            env=env,
            text=True,
            start_new_session=True,
        )
        hello = self._read(timeout)
        self.failed: list[str] = list(hello.get("failed", []))
        self.spares: list[AsyncKernelManager] = []

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.kill()
            raise Unavailable("the warm kernel template did not start (is ipykernel installed for it?)")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def ask(self, request: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        with self._lock:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.write(json.dumps(request) + "\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError):
                raise Unavailable("the warm kernel template has exited") from None
            return self._read(timeout)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


class ForkedProcess:
    """What ``LocalProvisioner`` needs of a ``Popen``, for a kernel forked by a template."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, template: Template) -> None:
        self.pid = pid
        self.template = template
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                code = self.template.ask({"op": "poll", "pid": self.pid})["code"]
            except Unavailable:
                code = -int(signal.SIGKILL)  # the template is gone, and its kernels with it
            self.returncode = None if code is None else int(code)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        while self.poll() is None:
            time.sleep(0.05)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ForkProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, launching by a fork of ``template`` instead of ``Popen``."""

    template: Template | None = None
    log_path: str = ""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        assert self.template is not None
        reply = self.template.ask(
            {
                "op": "fork",
                "argv": cmd,
                "env": dict(kwargs["env"]),
                "cwd": kwargs["cwd"],
                "log": self.log_path,
            }
        )
        process = ForkedProcess(int(reply["pid"]), self.template)
        self.process = process  # type: ignore[assignment]  # duck-typed: what LocalProvisioner uses
        self.pid = self.pgid = process.pid
        self.cwd = kwargs["cwd"]
        return self.connection_info


def _forkable(km: AsyncKernelManager) -> str | None:
    """The interpreter of an ipykernel kernelspec (``python -m ipykernel_launcher ...``), else None."""
    spec = km.kernel_spec
    argv = list(spec.argv) if spec is not None else []
    if (
        hasattr(os, "fork")
        and len(argv) >= 3
        and argv[1] == "-m"
        and argv[2] in ("ipykernel_launcher", "ipykernel")
    ):
        return str(argv[0]) if os.path.isabs(argv[0]) or argv[0] != "python" else sys.executable
    return None


def _key(python: str, imports: Sequence[str], cwd: str, env: Mapping[str, str]) -> str:
    stable = sorted((k, v) for k, v in env.items() if k not in _VOLATILE)
    raw = json.dumps([python, list(imports), cwd, stable])
    return hashlib.sha256(raw.encode()).hexdigest()


class KernelPool(kernels.KernelSource):
    """Warm kernels for many executions in this process (see the module docstring). Not thread-safe: one
    execution at a time per pool. ``spares``: kernels forked ahead per template."""

    def __init__(self, spares: int = 1, startup_timeout: float = 120.0) -> None:
        super().__init__()
        self.spares = spares
        self.startup_timeout = startup_timeout
        self._templates: dict[str, Template] = {}
        self._cold = kernels.ColdKernels()
        self._cold.logs = self.logs
        self._dying: list[tuple[AsyncKernelManager, float]] = []

    def __enter__(self) -> KernelPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _template(self, python: str, imports: Sequence[str], cwd: str, env: Mapping[str, str]) -> Template:
        key = _key(python, imports, cwd, env)
        t = self._templates.get(key)
        if t is not None and not t.alive:
            log.warning("assay: a warm kernel template exited; starting another")
            self._drop(key)
            t = None
        if t is None:
            t = self._templates[key] = Template(python, imports, cwd, env, self.startup_timeout)
            for failure in t.failed:
                log.warning("assay: warm kernels could not import %s", failure)
        return t

    def _fork(self, t: Template, kernel_name: str, cwd: str, env: Mapping[str, str]) -> AsyncKernelManager:
        km = kernels.manager(kernel_name)
        provisioner = ForkProvisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)
        provisioner.template = t
        provisioner.log_path = str(self.log_of(km))
        km.provisioner = provisioner
        run_sync(km.start_kernel)(cwd=cwd, env=dict(env), extra_arguments=kernels.KERNEL_ARGUMENTS)
        return km

    def release(self, km: AsyncKernelManager) -> None:
        """Ask the kernel to shut down and return at once: the run's data is written already (the
        executor flushed the kernel), and the kernel's exit (its atexit handlers) overlaps what comes
        next. It is reaped at the next launch, or killed if it has not exited within a few seconds."""
        if not isinstance(km.provisioner, ForkProvisioner):
            super().release(km)
            return
        with contextlib.suppress(Exception):  # the kernel is gone already: reaped below
            run_sync(km.request_shutdown)()
        self._dying.append((km, time.monotonic()))

    def _reap(self, wait: bool = False) -> None:
        for item in list(self._dying):
            km, since = item
            exited = kernels.exit_status(km) is not None
            if exited or wait or time.monotonic() - since > _GRACE_S:
                kernels.shutdown(km, now=not exited)
                self.log_of(km).unlink(missing_ok=True)
                self._dying.remove(item)

    def launch(
        self, kernel_name: str, cwd: str, env: Mapping[str, str], imports: Sequence[str]
    ) -> AsyncKernelManager:
        self._reap()
        python = _forkable(kernels.manager(kernel_name))
        if python is None:
            log.warning("assay: kernel %r is not an IPython kernel: starting it cold", kernel_name)
            return self._cold.launch(kernel_name, cwd, env, imports)
        t = self._template(python, imports, cwd, env)
        km = None
        while t.spares and km is None:
            candidate = t.spares.pop(0)
            if kernels.exit_status(candidate) is None:
                km = candidate
            else:
                self.release(candidate)
        if km is None:
            km = self._fork(t, kernel_name, cwd, env)
        while len(t.spares) < self.spares:
            t.spares.append(self._fork(t, kernel_name, cwd, env))
        return km

    def _drop(self, key: str) -> None:
        t = self._templates.pop(key)
        for km in t.spares:
            kernels.shutdown(km, now=True)
        t.kill()

    def close(self) -> None:
        """Kill the spare kernels and the templates; remove the logs."""
        self._reap(wait=True)
        for key in list(self._templates):
            self._drop(key)
        super().close()

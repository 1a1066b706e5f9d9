"""Where an execution's kernel comes from: a cold start (what papermill does), or a warm pool (``warm``).

Both hand back a jupyter_client ``AsyncKernelManager`` whose process is launched but perhaps not ready:
the caller creates the run meanwhile, then ``connect`` waits for the kernel. Everything asynchronous runs
on the calling thread's event loop through ``jupyter_core``'s ``run_sync``, the loop nbclient uses too,
so the kernel's sockets and nbclient's stay on one loop.
"""

from __future__ import annotations

import abc
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from queue import Empty
from typing import Any

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync

from assay.errors import InvalidInput, Unavailable

#: What nbclient passes an IPython kernel: no history file shared between executions.
KERNEL_ARGUMENTS = ["--HistoryManager.hist_file=:memory:"]


class KernelSource(abc.ABC):
    """Gives kernels to executions and takes them back. Used from one thread at a time.

    A kernel's stdout and stderr (what the kernel itself and C libraries print, and a crash's last
    words) go to ``log_of(km)``, in a directory of the source's own."""

    def __init__(self) -> None:
        self.logs = Path(tempfile.mkdtemp(prefix="assay-kernels-"))

    @abc.abstractmethod
    def launch(
        self, kernel_name: str, cwd: str, env: Mapping[str, str], imports: Sequence[str]
    ) -> AsyncKernelManager:
        """A kernel started for one execution, in ``cwd`` with ``env``; ``imports`` are what a warm source
        imports ahead. Raises InvalidInput for an unknown kernel name."""

    def log_of(self, km: AsyncKernelManager) -> Path:
        return self.logs / f"{km.kernel_id}.log"

    def release(self, km: AsyncKernelManager) -> None:
        """Shut the kernel down (politely: its atexit handlers run) and free what it held."""
        shutdown(km)
        self.log_of(km).unlink(missing_ok=True)

    def close(self) -> None:
        """Stop whatever the source keeps between executions, and remove its logs."""
        shutil.rmtree(self.logs, ignore_errors=True)


def manager(kernel_name: str) -> AsyncKernelManager:
    """A kernel manager for the kernelspec ``kernel_name`` (InvalidInput naming the installed ones)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    km = AsyncKernelManager(kernel_name=kernel_name)
    try:
        km.kernel_spec  # noqa: B018  (loads the spec now, to fail before any run exists)
    except NoSuchKernel:
        names = ", ".join(sorted(KernelSpecManager().find_kernel_specs())) or "none"
        raise InvalidInput(f"no Jupyter kernel named {kernel_name!r} (installed: {names})") from None
    km.kernel_id = str(uuid.uuid4())
    return km


async def _start(km: AsyncKernelManager, cwd: str, env: Mapping[str, str], log: Path) -> None:
    out = log.open("ab")
    try:
        await km.start_kernel(
            cwd=cwd, env=dict(env), stdout=out, stderr=out, extra_arguments=KERNEL_ARGUMENTS
        )
    finally:
        out.close()  # the kernel holds its own copy of the descriptor


class ColdKernels(KernelSource):
    """A new kernel process per execution, as papermill starts them."""

    def launch(
        self, kernel_name: str, cwd: str, env: Mapping[str, str], imports: Sequence[str]
    ) -> AsyncKernelManager:
        km = manager(kernel_name)
        run_sync(_start)(km, cwd, env, self.log_of(km))
        return km


async def _ready(kc: AsyncKernelClient, km: AsyncKernelManager, timeout: float) -> None:
    """Wait until the kernel answers on its shell channel and its IOPub stream is connected.

    jupyter_client's ``wait_for_ready`` does the same, then waits for 0.2 s of IOPub silence to drop
    earlier messages; nbclient matches every message to its request, so that wait buys nothing here.
    """
    deadline = time.monotonic() + timeout
    while True:
        kc.kernel_info()
        try:
            msg = await kc.get_shell_msg(timeout=1)
        except Empty:
            msg = None
        if msg is not None and msg["msg_type"] == "kernel_info_reply":
            try:
                await kc.get_iopub_msg(timeout=0.5)
                return
            except Empty:
                pass  # IOPub not subscribed yet: ask again
        if not await km.is_alive():
            raise Unavailable("the kernel died while starting")
        if time.monotonic() > deadline:
            raise Unavailable(f"the kernel did not answer within {timeout:g} s of its start")


async def _connect(km: AsyncKernelManager, timeout: float) -> AsyncKernelClient:
    kc = km.client()
    kc.start_channels()
    try:
        await _ready(kc, km, timeout)
    except BaseException:
        kc.stop_channels()
        raise
    kc.allow_stdin = False
    return kc


def connect(km: AsyncKernelManager, timeout: float = 60.0) -> AsyncKernelClient:
    """A client of ``km``'s kernel once it is ready (Unavailable if it dies or stays silent)."""
    kc: AsyncKernelClient = run_sync(_connect)(km, timeout)
    return kc


async def _shutdown(km: AsyncKernelManager, now: bool) -> None:
    try:
        if await km.is_alive():
            await km.shutdown_kernel(now=now)
    except RuntimeError as exc:  # "No kernel is running!": it died already
        if "No kernel is running" not in str(exc):
            raise
    finally:
        await km.cleanup_resources()


def shutdown(km: AsyncKernelManager, now: bool = False) -> None:
    """Stop the kernel (``now``: kill it) and release its ports, files and sockets."""
    run_sync(_shutdown)(km, now)


def exit_status(km: AsyncKernelManager) -> int | None:
    """The exit status of the kernel's process once it has ended, else None (negative: a signal)."""
    provisioner: Any = km.provisioner
    process = getattr(provisioner, "process", None)
    if process is None:
        return None
    code = process.poll()
    return None if code is None else int(code)

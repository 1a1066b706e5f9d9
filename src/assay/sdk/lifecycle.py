"""Process exit: flush what was logged and end open runs, at interpreter exit and on SIGTERM.

Hooks are installed once, on the first run; a SIGTERM handler is installed only when none is (the
default), so an application's own handler is never replaced. After cleaning up, SIGTERM is re-delivered
with the default action, so the process still dies of it. An uncaught exception is remembered, so runs
still open at exit end FAILED rather than FINISHED.

The SIGTERM handler does no cleanup itself. Python runs it on the main thread between two bytecodes,
possibly in the middle of assay's own code: inside a flush that holds the writer's send lock, or inside a
SQLite write transaction. Cleanup there would wait for what the interrupted frame holds, and the process
would hang. So the handler starts a shutdown thread and returns at once: the main thread finishes what it
was doing and releases its locks, while the shutdown thread ends the runs KILLED, writes every buffered
point and then re-delivers the signal. A second SIGTERM kills at once (the default action is back by
then), and ``ASSAY_SHUTDOWN_TIMEOUT`` (seconds, default 20) bounds a cleanup that cannot finish.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType, TracebackType

from assay.entities import RunStatus

#: Called at exit with the status open runs should end with. Registered by the fluent API and clients.
_shutdown_hooks: list[Callable[[RunStatus], None]] = []
_installed = False
_lock = threading.Lock()
#: Held while hooks run, so a shutdown thread waits for an exit already under way before it kills.
_running = threading.Lock()
_uncaught: list[BaseException] = []


def on_shutdown(hook: Callable[[RunStatus], None]) -> None:
    """Run ``hook(status)`` once when the process exits or receives SIGTERM (hooks run last-in first)."""
    with _lock:
        _shutdown_hooks.append(hook)
    install()


def _run_hooks(status: RunStatus) -> None:
    with _running:
        with _lock:
            hooks = list(reversed(_shutdown_hooks))
            _shutdown_hooks.clear()
        for hook in hooks:
            try:
                hook(status)
            except Exception as exc:  # exit must go on; say what was lost
                print(f"assay: error while closing runs at exit: {exc}", file=sys.stderr)


def _at_exit() -> None:
    _run_hooks(RunStatus.FAILED if _uncaught else RunStatus.FINISHED)


#: Set when SIGTERM arrived: the runs are being closed, and what the main thread logs now is not written.
_terminating = threading.Event()


def terminating() -> bool:
    """Whether this process got SIGTERM and is closing its runs (logging calls then do nothing)."""
    return _terminating.is_set()


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    _terminating.set()
    signal.signal(signum, signal.SIG_DFL)  # only the main thread may; a second SIGTERM kills at once
    threading.Thread(target=_terminate, args=(signum,), name="assay-sigterm", daemon=False).start()


def _terminate(signum: int) -> None:
    """Clean up off the main thread (see the module docstring), then die of ``signum``."""
    cleanup = threading.Thread(target=_run_hooks, args=(RunStatus.KILLED,), name="assay-sigterm-hooks")
    cleanup.daemon = True
    cleanup.start()
    timeout = float(os.environ.get("ASSAY_SHUTDOWN_TIMEOUT", "20"))
    cleanup.join(timeout)
    if cleanup.is_alive():
        print(
            f"assay: runs could not be closed within {timeout:g} s of SIGTERM (ASSAY_SHUTDOWN_TIMEOUT); "
            "exiting anyway: what was not written is in the spool, or lost if the store never answered",
            file=sys.stderr,
        )
    os.kill(os.getpid(), signum)


def _excepthook(
    prev: Callable[[type[BaseException], BaseException, TracebackType | None], object],
) -> Callable[[type[BaseException], BaseException, TracebackType | None], None]:
    def hook(tp: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        _uncaught.append(value)
        prev(tp, value, tb)

    return hook


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    atexit.register(_at_exit)
    sys.excepthook = _excepthook(sys.excepthook)
    if threading.current_thread() is threading.main_thread():
        try:
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError):
            pass

"""Process exit: flush what was logged and end open runs, at interpreter exit and on SIGTERM.

Hooks are installed once, on the first run; a SIGTERM handler is installed only when none is (the
default), so an application's own handler is never replaced. After cleaning up, SIGTERM is re-delivered
with the default action, so the process still dies of it. An uncaught exception is remembered, so runs
still open at exit end FAILED rather than FINISHED.
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
_uncaught: list[BaseException] = []


def on_shutdown(hook: Callable[[RunStatus], None]) -> None:
    """Run ``hook(status)`` once when the process exits or receives SIGTERM (hooks run last-in first)."""
    with _lock:
        _shutdown_hooks.append(hook)
    install()


def _run_hooks(status: RunStatus) -> None:
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


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    _run_hooks(RunStatus.KILLED)
    signal.signal(signum, signal.SIG_DFL)
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

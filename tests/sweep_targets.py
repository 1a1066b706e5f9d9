"""Functions the sweep tests run as trials (importable by worker processes, by name)."""

from __future__ import annotations

import math
import os
import time

import assay


def quadratic(x: float, y: int = 0, shift: float = 0.0, kind: str = "a") -> dict[str, float]:
    """A smooth objective with its minimum at x=0.3, y=2 (kind "b" adds 0.05)."""
    return {"loss": (x - 0.3) ** 2 + (y - 2) ** 2 * 0.1 + shift + (0.05 if kind == "b" else 0.0), "x_seen": x}


def slow_quadratic(x: float, y: int = 0, seconds: float = 0.3) -> dict[str, float]:
    time.sleep(seconds)
    return quadratic(x, y)


def dies_once(x: float, marks: str) -> dict[str, float]:
    """Logs its progress; the first trial to get past it then ends its process at once (a Dask worker
    dying mid-trial), the others, and that trial run again, end as ``quadratic``."""
    assay.log_metric("progress", 1.0, step=0)
    assay.flush()
    try:
        os.close(os.open(os.path.join(marks, "died"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return quadratic(x)
    os._exit(1)


def boom(x: float) -> float:
    if x > 0.5:
        raise ValueError("x is too large")
    return x


def epochs(lr: float, epochs: int = 12, pause: float = 0.05) -> dict[str, float]:
    """Logs val_loss by epoch; a bad lr converges slowly. Stops when the sweep prunes it."""
    value = 1.0
    for epoch in range(epochs):
        value = value * (1 - lr) + 0.01
        assay.log_metric("val_loss", value, step=epoch)
        assay.flush()
        time.sleep(pause)
        if assay.should_prune():
            return {"epochs_run": epoch + 1}
    return {"val_loss": value, "epochs_run": epochs, "lr_log": math.log10(lr)}


def asks(x: float = 0.0) -> dict[str, float]:
    """Tags the run it logs into (``assay.active_run()``) and asks whether the sweep prunes it."""
    run = assay.active_run()
    assert run is not None
    assay.set_tag("seen_run", run.id)
    return {"loss": x, "pruned": float(assay.should_prune())}

"""Shared helpers of the benchmarks: isolated stores, the MLflow side in its own venv, and reporting.

Every benchmark script measures assay in this interpreter and, when the MLflow venv made by
``make bench`` exists (or $ASSAY_BENCH_MLFLOW_PYTHON names one), runs its own ``--side mlflow`` part in
that interpreter in the same run, then prints both figures and their ratio.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MLFLOW_PYTHON = os.environ.get("ASSAY_BENCH_MLFLOW_PYTHON", str(ROOT / ".venv-mlflow" / "bin" / "python"))


def fresh_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"assay-bench-{prefix}-"))


def quiet_assay_env(home: Path) -> None:
    """Point assay at a fresh embedded store in ``home`` before it is imported."""
    os.environ["ASSAY_HOME"] = str(home)
    os.environ["ASSAY_TRACKING_URI"] = str(home / "assay.db")
    os.environ.setdefault("ASSAY_SYSTEM_METRICS", "0")


def timeit(fn: Callable[[], Any], repeat: int = 5) -> tuple[float, Any]:
    """Median wall time of ``fn`` over ``repeat`` runs (seconds), and the last result."""
    times = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def mlflow_side(script: str, *args: str, timeout: float = 1800) -> dict[str, Any] | None:
    """Run ``script --side mlflow args`` under the MLflow venv; its last stdout line is JSON. None if absent."""
    if not Path(MLFLOW_PYTHON).exists():
        print(f"  (mlflow venv not found at {MLFLOW_PYTHON}: run `make bench` to measure MLflow too)")
        return None
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    env["MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"] = "false"
    env["GIT_PYTHON_REFRESH"] = "quiet"
    proc = subprocess.run(
        [MLFLOW_PYTHON, script, "--side", "mlflow", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        print(f"  mlflow side failed:\n{proc.stderr[-3000:]}")
        return None
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def emit(result: dict[str, Any]) -> None:
    """The mlflow side's way to hand its figures back."""
    sys.stdout.write(json.dumps(result) + "\n")


def side() -> str:
    return sys.argv[sys.argv.index("--side") + 1] if "--side" in sys.argv else "assay"


def row(
    label: str, assay_value: float, unit: str, mlflow_value: float | None, better: str, target: str
) -> None:
    """Print one figure: assay's, MLflow's (same run) and how many times better assay is."""
    if mlflow_value is None:
        ratio = "n/a"
    elif better == "higher":
        ratio = f"{assay_value / mlflow_value:,.1f}x"
    else:
        ratio = f"{mlflow_value / assay_value:,.1f}x"
    mv = "n/a" if mlflow_value is None else f"{mlflow_value:,.4g} {unit}"
    print(
        f"  {label:<44} assay {assay_value:>12,.4g} {unit:<9} mlflow {mv:<18} ratio {ratio:<9} target {target}"
    )

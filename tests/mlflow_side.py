"""The real MLflow (3.17.2) for compatibility tests, from its own venv (``scripts/ensure-mlflow-venv.sh``,
which ``make test`` runs): never imported here, always run as a child process.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MLFLOW_PYTHON = Path(
    os.environ.get("ASSAY_TEST_MLFLOW_PYTHON", str(ROOT / ".venv-mlflow" / "bin" / "python"))
)


def mlflow_python() -> Path:
    """The MLflow venv's interpreter; the test fails (never skips) when it is missing."""
    if not MLFLOW_PYTHON.exists():
        pytest.fail(f"{MLFLOW_PYTHON} is missing: run scripts/ensure-mlflow-venv.sh (make test does)")
    return MLFLOW_PYTHON


def run_mlflow(
    script: str, env: Mapping[str, str] | None = None, cwd: Path | None = None, timeout: float = 300.0
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (Python source, dedented) in the MLflow venv with ``env`` added to a clean
    environment; fails the test with both streams when it exits non-zero."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("ASSAY_", "MLFLOW_"))}
    full.update({"PYTHONUNBUFFERED": "1", **(env or {})})
    done = subprocess.run(
        [str(mlflow_python()), "-c", textwrap.dedent(script)],
        env=full,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        pytest.fail(f"MLflow script exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done

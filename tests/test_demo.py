"""`make demo`'s script runs end to end on a fresh embedded store and prints the comparison tables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import assay

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo.py"


@pytest.mark.slow
def test_demo_tracks_a_grid_and_prints_comparisons(tmp_path: Path, sqlite_uri: str) -> None:
    env = {**os.environ, "ASSAY_HOME": str(tmp_path / "home")}
    env.pop("ASSAY_TRACKING_URI", None)
    out = subprocess.run(
        [sys.executable, str(DEMO)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert "Best classifiers by ROC AUC" in out.stdout and "FINISHED" in out.stdout
    client = assay.Client(str(tmp_path / "home" / "assay.db"))
    runs = client.search_runs("breast-cancer", order_by=["metrics.roc_auc desc"])
    assert len(runs) == 9 and all(r.info.status == "FINISHED" for r in runs)
    assert runs[0].metrics["roc_auc"] > 0.95
    boosted = client.search_runs("breast-cancer", "params.model = 'gb'")
    assert len(client.get_metric_history(boosted[0].id, "test_logloss")) == 100
    assert "confusion_matrix.png" in {f.path for f in client.list_artifacts(runs[0].id)}
    assert runs[0].metrics["test/roc_auc"] == pytest.approx(runs[0].metrics["roc_auc"])
    regressors = client.search_runs("diabetes")
    assert all("test/rmse" in r.metrics for r in regressors)
    assert "evaluation/test.json" in {f.path for f in client.list_artifacts(regressors[0].id, "evaluation")}

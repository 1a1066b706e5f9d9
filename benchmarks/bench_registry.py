"""Target: ``register_model`` + set an alias + resolve ``models:/name@alias``, >= 20x faster than MLflow's
registry on the same backend (a SQLite file).

Each iteration registers the next version of one model from a run's logged model, points ``champion`` at
it, and resolves ``models:/churn@champion`` back to that version. Every call of both tools commits before
it returns, so the clock stops where the work is durable and visible to another process.

MLflow side: ``MlflowClient.create_model_version`` (what ``mlflow.register_model`` calls, without its
READY polling), ``set_registered_model_alias`` and ``get_model_version_by_alias`` on its SQLite store.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import _common as c


def assay_side(n: int) -> float:
    home = c.fresh_dir("registry")
    c.quiet_assay_env(home)
    import assay

    client = assay.Client()
    assay.set_experiment("registry")
    with assay.start_run() as run:
        assay.log_text("flavor: sklearn\n", "model/assay-model.yaml")
    uri = f"runs:/{run.id}/model"
    reg = client.registry
    assay.register_model(uri, "warmup")
    t0 = time.perf_counter()
    for i in range(n):
        mv = client.register_model(uri, "churn")
        reg.set_alias("churn", "champion", mv.version)
        assert reg.resolve_uri("models:/churn@champion").version == mv.version == i + 1
    return n / (time.perf_counter() - t0)


def mlflow_side(n: int) -> None:
    home = c.fresh_dir("registry-mlflow")
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{home}/mlflow.db")
    mlflow.set_experiment("registry")
    with mlflow.start_run() as run:
        mlflow.log_text("x", "model/MLmodel")
    client = MlflowClient()
    client.create_registered_model("churn")
    source = f"runs:/{run.info.run_id}/model"
    client.create_model_version("churn", source, run_id=run.info.run_id)  # warm-up
    t0 = time.perf_counter()
    for _ in range(n):
        mv = client.create_model_version("churn", source, run_id=run.info.run_id)
        client.set_registered_model_alias("churn", "champion", mv.version)
        assert client.get_model_version_by_alias("churn", "champion").version == mv.version
    c.emit({"per_s": n / (time.perf_counter() - t0)})


def main() -> None:
    if c.side() == "mlflow":
        mlflow_side(int(sys.argv[-1]))
        return
    print("registry: register a version + set alias + resolve models:/name@alias (SQLite file)")
    os.environ.setdefault("ASSAY_SYSTEM_METRICS", "0")
    ours = assay_side(1000)
    m = c.mlflow_side(__file__, "100")
    c.row("register + alias + resolve", ours, "ops/s", m and m["per_s"], "higher", ">= 20x MLflow")


if __name__ == "__main__":
    main()

"""MLflow's dataset inputs (``runs/log-inputs``) as assay datasets, through the registry's dataset API.

An MLflow dataset (name, digest, source type and source, schema and profile as JSON text) becomes an
assay ``Dataset`` of the run's project used by the run in its context (the ``mlflow.data.context`` tag,
"training" when absent); MLflow's own schema and profile text are kept in its statistics so a run read
back through MLflow shows the dataset as it was logged.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter

from assay.mlflow.rest.endpoint import endpoint
from assay.mlflow.rest.errors import invalid
from assay.mlflow.rest.protocol import Fields, empty
from assay.registry.entities import Dataset, DatasetUse
from assay.services import Services

router = APIRouter()

CONTEXT_TAG = "mlflow.data.context"


def _dataset(d: dict[str, Any], project: str) -> Dataset:
    name, digest = d.get("name"), d.get("digest")
    if not isinstance(name, str) or not isinstance(digest, str):
        raise invalid(f"each dataset needs a 'name' and a 'digest', got {d!r}")
    rows = None
    try:
        profile = json.loads(d.get("profile") or "{}")
        rows = int(profile["num_rows"]) if isinstance(profile, dict) and "num_rows" in profile else None
    except (ValueError, TypeError):
        pass
    mlflow_fields = {k: d[k] for k in ("source_type", "source", "schema", "profile") if d.get(k) is not None}
    return Dataset(
        name=name,
        digest=digest,
        kind=str(d.get("source_type") or ""),
        source=d.get("source"),
        rows=rows,
        stats={"mlflow": mlflow_fields},
        project=project,
    )


@endpoint(router, "POST", "/mlflow/runs/log-inputs")
def log_inputs(svc: Services, f: Fields) -> object:
    """Record each dataset input as an assay dataset the run used (model inputs are accepted as no-ops:
    a run's logged models are already its own)."""
    run_id = f.text("run_id")
    info = svc.tracking.get_run_info(run_id)
    project = svc.tracking.get_experiment(info.experiment_id).project
    for item in f.items("datasets"):
        if not isinstance(item, dict) or not isinstance(item.get("dataset"), dict):
            raise invalid(f"each dataset input must be an object with a 'dataset', got {item!r}")
        tags = {t.get("key"): t.get("value") for t in item.get("tags") or [] if isinstance(t, dict)}
        context = str(tags.get(CONTEXT_TAG) or "training")
        svc.registry.log_dataset(run_id, _dataset(item["dataset"], project), context)
    return empty()


def dataset_inputs(uses: list[DatasetUse]) -> list[dict[str, Any]]:
    """A run's datasets as MLflow's ``DatasetInput`` messages."""
    out = []
    for use in uses:
        d = use.dataset
        kept = d.stats.get("mlflow", {}) if isinstance(d.stats, dict) else {}
        dataset = {
            "name": d.name,
            "digest": d.digest,
            "source_type": kept.get("source_type", d.kind or "assay"),
            "source": kept.get("source", d.source or ""),
        }
        dataset.update({k: kept[k] for k in ("schema", "profile") if k in kept})
        out.append({"tags": [{"key": CONTEXT_TAG, "value": use.context}], "dataset": dataset})
    return out

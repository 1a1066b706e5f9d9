"""``assay import mlflow SOURCE``: an MLflow history (file store, SQL store or server) brought into assay.

``open_source(uri)`` reads MLflow's store without MLflow (``opening``, ``sources``); ``Importer`` decides what is new
from the ids earlier imports left (``plan``) and writes through assay's services (``writer``, ``models``);
``Summary`` counts what was imported, already present, or skipped.
"""

from __future__ import annotations

from assay.mlflow.importing.opening import open_source, register_source
from assay.mlflow.importing.sources import MlflowSource
from assay.mlflow.importing.summary import Summary
from assay.mlflow.importing.writer import Importer, Prepared

__all__ = ["Importer", "MlflowSource", "Prepared", "Summary", "open_source", "register_source"]

"""MLflow's REST API on the assay server: the unmodified MLflow client logs into assay with
``MLFLOW_TRACKING_URI=http://<assay server>``; what it logs are ordinary assay runs.

One module per area (``experiments``, ``runs``, ``artifacts``...), the filter translation in ``filters``,
the JSON shapes in ``protocol``, MLflow's error shape in ``errors``, mounted by ``router.mount``.
"""

from assay.mlflow.rest.router import create_mlflow_app, mount

__all__ = ["create_mlflow_app", "mount"]

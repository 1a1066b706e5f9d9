"""MLflow compatibility: MLflow's REST API served over assay's services (``assay.mlflow.rest``), so unmodified
``mlflow.*`` code logs into assay with one environment variable, and ``assay import mlflow`` bringing an
MLflow history across (``assay.mlflow.importing``). Importing this package loads no MLflow: assay never
depends on it; the tests and benchmarks run the real MLflow client from its own venv (``.venv-mlflow``).
"""

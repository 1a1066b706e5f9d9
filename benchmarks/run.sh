#!/usr/bin/env bash
# `make bench`: every benchmark script, each printing assay's figures and MLflow's measured in the same run.
# MLflow goes into its own venv (.bench-venv-mlflow) so it never touches assay's dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
MLFLOW_VERSION=3.17.2
if [ ! -x .bench-venv-mlflow/bin/python ] || ! .bench-venv-mlflow/bin/python -c "import mlflow, sys; sys.exit(mlflow.__version__ != '$MLFLOW_VERSION')" 2>/dev/null; then
  echo "installing mlflow==$MLFLOW_VERSION into .bench-venv-mlflow (once)"
  python3 -m venv .bench-venv-mlflow
  .bench-venv-mlflow/bin/pip install -q --upgrade pip
  .bench-venv-mlflow/bin/pip install -q "mlflow==$MLFLOW_VERSION"
fi
scripts/ensure-postgres.sh
# One at a time: the machine has two cores and the figures are ratios measured in the same run.
for script in benchmarks/bench_*.py; do
  .venv/bin/python "$script"
  echo
done

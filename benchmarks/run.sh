#!/usr/bin/env bash
# `make bench`: every benchmark script, each printing assay's figures and MLflow's measured in the same run.
# MLflow goes into its own venv (.venv-mlflow, scripts/ensure-mlflow-venv.sh) so it never touches assay's dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-mlflow-venv.sh
scripts/ensure-postgres.sh
# One at a time: the machine has two cores and the figures are ratios measured in the same run.
for script in benchmarks/bench_*.py; do
  .venv/bin/python "$script"
  echo
done

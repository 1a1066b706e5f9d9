#!/usr/bin/env bash
# MLflow 3.17.2 in its own venv (.venv-mlflow), never in assay's: the compatibility tests run the real MLflow
# client against an assay server and write MLflow stores for `assay import mlflow`; `make bench` runs
# MLflow's side of every comparison in it. Installed once; reinstalled when the version differs.
set -euo pipefail
cd "$(dirname "$0")/.."
MLFLOW_VERSION=3.17.2
VENV=.venv-mlflow
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import mlflow, sys; sys.exit(mlflow.__version__ != '$MLFLOW_VERSION')" 2>/dev/null; then
  exit 0
fi
echo "installing mlflow==$MLFLOW_VERSION into $VENV (once)"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "mlflow==$MLFLOW_VERSION"

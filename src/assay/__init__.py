"""assay: rapid, reproducible ML experimentation for teams.

The public names are re-exported here from private modules; tests/test_public_api.py pins them.
"""

import importlib
from typing import TYPE_CHECKING, Any

from assay._version import __version__
from assay.errors import (
    AssayError,
    Conflict,
    FilterSyntaxError,
    InvalidInput,
    InvalidState,
    MissingDependency,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)

if TYPE_CHECKING:
    from assay.autolog import autolog
    from assay.entities import (
        Experiment,
        FileInfo,
        MetricHistory,
        MetricSummary,
        Run,
        RunInfo,
        RunList,
        RunStatus,
    )
    from assay.evaluation import Evaluation
    from assay.notebooks.run import run_notebook
    from assay.registry.entities import Dataset, ModelVersion, RegisteredModel
    from assay.runner.space import choice, logint, loguniform, randint, uniform
    from assay.runner.sweeps.api import SweepResult, sweep
    from assay.runner.sweeps.trial import should_prune
    from assay.sdk.client import Client
    from assay.sdk.fluent import (
        ActiveRun,
        active_run,
        download_artifacts,
        end_run,
        evaluate,
        flush,
        get_metric_history,
        get_run,
        get_tracking_uri,
        list_artifacts,
        list_experiments,
        log_artifact,
        log_artifacts,
        log_dataset,
        log_dict,
        log_figure,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        log_text,
        register_model,
        search_runs,
        set_experiment,
        set_tag,
        set_tags,
        set_tracking_uri,
        start_run,
    )
    from assay.sdk.models import load_model, load_predictor, log_model

#: Public name -> the private module it lives in. Loaded on first use (PEP 562), so tools that only need
#: a corner of assay (the CLI's --help, the wire format) do not import SQLAlchemy, numpy and the SDK.
_LAZY = {
    "Experiment": "assay.entities",
    "FileInfo": "assay.entities",
    "MetricHistory": "assay.entities",
    "MetricSummary": "assay.entities",
    "Run": "assay.entities",
    "RunInfo": "assay.entities",
    "RunList": "assay.entities",
    "RunStatus": "assay.entities",
    "Client": "assay.sdk.client",
    "Evaluation": "assay.evaluation",
    "evaluate": "assay.sdk.fluent",
    "register_model": "assay.sdk.fluent",
    "log_dataset": "assay.sdk.fluent",
    "RegisteredModel": "assay.registry.entities",
    "ModelVersion": "assay.registry.entities",
    "Dataset": "assay.registry.entities",
    "ActiveRun": "assay.sdk.fluent",
    "active_run": "assay.sdk.fluent",
    "download_artifacts": "assay.sdk.fluent",
    "end_run": "assay.sdk.fluent",
    "flush": "assay.sdk.fluent",
    "get_metric_history": "assay.sdk.fluent",
    "get_run": "assay.sdk.fluent",
    "get_tracking_uri": "assay.sdk.fluent",
    "list_artifacts": "assay.sdk.fluent",
    "list_experiments": "assay.sdk.fluent",
    "log_artifact": "assay.sdk.fluent",
    "log_artifacts": "assay.sdk.fluent",
    "log_dict": "assay.sdk.fluent",
    "log_figure": "assay.sdk.fluent",
    "log_metric": "assay.sdk.fluent",
    "log_metrics": "assay.sdk.fluent",
    "log_param": "assay.sdk.fluent",
    "log_params": "assay.sdk.fluent",
    "log_text": "assay.sdk.fluent",
    "search_runs": "assay.sdk.fluent",
    "set_experiment": "assay.sdk.fluent",
    "set_tag": "assay.sdk.fluent",
    "set_tags": "assay.sdk.fluent",
    "set_tracking_uri": "assay.sdk.fluent",
    "start_run": "assay.sdk.fluent",
    "log_model": "assay.sdk.models",
    "load_model": "assay.sdk.models",
    "load_predictor": "assay.sdk.models",
    "autolog": "assay.autolog",
    "run_notebook": "assay.notebooks.run",
    "sweep": "assay.runner.sweeps.api",
    "SweepResult": "assay.runner.sweeps.api",
    "should_prune": "assay.runner.sweeps.trial",
    "uniform": "assay.runner.space",
    "loguniform": "assay.runner.space",
    "randint": "assay.runner.space",
    "logint": "assay.runner.space",
    "choice": "assay.runner.space",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'assay' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups are plain module attributes
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "ActiveRun",
    "AssayError",
    "Client",
    "Conflict",
    "Dataset",
    "Evaluation",
    "Experiment",
    "FileInfo",
    "FilterSyntaxError",
    "InvalidInput",
    "InvalidState",
    "MetricHistory",
    "MetricSummary",
    "MissingDependency",
    "ModelVersion",
    "NotFound",
    "PermissionDenied",
    "RegisteredModel",
    "Run",
    "RunInfo",
    "RunList",
    "RunStatus",
    "SweepResult",
    "Unauthenticated",
    "Unavailable",
    "__version__",
    "active_run",
    "autolog",
    "choice",
    "download_artifacts",
    "end_run",
    "evaluate",
    "flush",
    "get_metric_history",
    "get_run",
    "get_tracking_uri",
    "list_artifacts",
    "list_experiments",
    "load_model",
    "load_predictor",
    "log_artifact",
    "log_artifacts",
    "log_dataset",
    "log_dict",
    "log_figure",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "log_text",
    "logint",
    "loguniform",
    "randint",
    "register_model",
    "run_notebook",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "should_prune",
    "start_run",
    "sweep",
    "uniform",
]

"""The public names of `assay` are pinned: adding or removing one is a deliberate change to this list."""

from __future__ import annotations

import assay

PUBLIC = {
    "ActiveRun", "AssayError", "Client", "Conflict", "Experiment", "FileInfo", "FilterSyntaxError",
    "InvalidInput", "InvalidState", "MetricHistory", "MetricSummary", "MissingDependency", "NotFound", "Run",
    "RunInfo", "RunList", "RunStatus", "__version__", "active_run", "download_artifacts", "end_run", "flush",
    "get_metric_history", "get_run", "get_tracking_uri", "list_artifacts", "list_experiments", "log_artifact",
    "log_artifacts", "log_dict", "log_figure", "log_metric", "log_metrics", "log_param", "log_params",
    "log_text", "search_runs", "set_experiment", "set_tag", "set_tags", "set_tracking_uri", "start_run",
    "Evaluation", "evaluate", "PermissionDenied", "Unauthenticated", "Unavailable",
    "Dataset", "ModelVersion", "RegisteredModel", "log_dataset", "register_model",
    "log_model", "load_model", "load_predictor",
    "autolog",
    "run_notebook",
    "sweep", "SweepResult", "should_prune", "uniform", "loguniform", "randint", "logint", "choice",
}  # fmt: skip


def test_public_names_are_pinned() -> None:
    assert set(assay.__all__) == PUBLIC


def test_every_public_name_exists_and_is_documented() -> None:
    for name in PUBLIC - {"__version__"}:
        obj = getattr(assay, name)
        assert obj.__doc__, f"assay.{name} has no docstring"

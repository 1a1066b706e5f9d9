"""Registered models, their versions, tags, descriptions and aliases, imported through assay's ``Registry``.

assay registers a version from a model a run logged (``runs:/<run_id>/<path>``, with its
``assay-model.yaml``). An MLflow version points at its run's model: in MLflow 2 a path in the run's
artifacts (``runs:/...``), in MLflow 3 a logged model (``models:/m-...``) whose files sit apart; those are
copied into the imported run under ``mlflow-models/<model id>``. Beside the model's ``MLmodel`` the import
writes an ``assay-model.yaml`` of flavor ``mlflow`` (MLflow's flavors, model id and signature kept in its
metadata): it makes the files registrable and browsable in assay; loading the model stays MLflow's job.

Each imported version carries the tag ``mlflow.version`` (and ``mlflow.source``), which is how an import
run again knows it; assay numbers versions itself, so the numbers match MLflow's when the model is new
to assay and MLflow's versions run 1, 2, 3... Aliases are set to the version their MLflow version became.
A version whose run was not imported (another experiment left out, or none) is skipped and said why, and
so is one whose run was imported into another project: a version only ever points at a run of its own
project.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from assay.errors import AccessDenied, AssayError, NotFound
from assay.mlflow.importing.plan import RUN_ID_TAG, VERSION_TAG
from assay.mlflow.importing.sources import MlflowModel, MlflowModelVersion
from assay.registry.entities import RegisteredModel
from assay.registry.uris import qualify
from assay.services.registry import DESCRIPTOR_FILE

if TYPE_CHECKING:
    from assay.mlflow.importing.writer import Importer

#: Where an MLflow 3 logged model's files go in the imported run.
LOGGED_MODELS_DIR = "mlflow-models"
SOURCE_TAG = "mlflow.source"


def import_models(imp: Importer) -> None:
    """Import every registered model of ``imp.source`` into ``imp.registry`` (counted in its summary)."""
    for model in imp.source.models():
        try:
            _model(imp, model)
        except AssayError as exc:
            imp.summary.skip("models", f"{model.name!r}: {exc.message}")


def _model(imp: Importer, model: MlflowModel) -> None:
    held_model: RegisteredModel | None
    try:  # in the project imported into: names are unique per project only
        held_model = imp.registry.get_model(qualify(imp.project, model.name))
    except NotFound:
        held_model = None
    held: dict[str, int] = {}
    if held_model is None:
        imp.summary.add("models", imported=1)
        if not imp.dry_run:
            held_model = imp.registry.create_model(
                model.name, project=imp.project, description=model.description, tags=model.tags
            )
    else:
        imp.summary.add("models", present=1)
        held = {
            mv.tags[VERSION_TAG]: mv.version
            for mv in imp.registry.list_versions(held_model.qualified_name)
            if VERSION_TAG in mv.tags
        }
    # The model found or made, by project/name from here on.
    name = qualify(imp.project, model.name) if held_model is None else held_model.qualified_name
    for mv in model.versions:
        if str(mv.version) in held:
            imp.summary.add("versions", present=1)
            continue
        try:
            number = _version(imp, name, mv)
        except AssayError as exc:
            imp.summary.skip("versions", f"{model.name} v{mv.version}: {exc.message}")
            continue
        if number is not None:
            held[str(mv.version)] = number
    if imp.dry_run or held_model is None:
        return
    current = imp.registry.get_model(name).aliases
    for alias, version in model.aliases.items():
        target = held.get(str(version))
        if target is not None and current.get(alias) != target:
            try:
                imp.registry.set_alias(name, alias, target, reason="imported from MLflow")
            except AssayError as exc:
                imp.summary.notes.append(f"aliases: {model.name} @{alias}: {exc.message}")


def _version(imp: Importer, name: str, mv: MlflowModelVersion) -> int | None:
    """Register one MLflow version (its files and descriptor first); its assay number, None in a dry run
    or when skipped."""
    run_id = mv.run_id
    why = _unusable_run(imp, run_id) if run_id else "it has no run"
    if why or not run_id:
        imp.summary.skip("versions", f"{name} v{mv.version}: {why}")
        return None
    path = _model_path(imp, run_id, mv)
    if path is None:
        imp.summary.skip(
            "versions", f"{name} v{mv.version}: its source {mv.source!r} is not a model assay can reach"
        )
        return None
    imp.summary.add("versions", imported=1)
    if imp.dry_run:
        return None
    _ensure_descriptor(imp, run_id, path, mv.source)
    tags = {**mv.tags, VERSION_TAG: str(mv.version), SOURCE_TAG: mv.source}
    created = imp.registry.create_version(
        name, f"runs:/{run_id}/{path}", description=mv.description, tags=tags
    )
    return created.version


def _unusable_run(imp: Importer, run_id: str) -> str | None:
    """Why MLflow's run ``run_id`` cannot carry a version in the project imported into, or None when it
    can: that run was imported into this project, by this import or an earlier one. A run of that id in
    another project (its experiment imported there), or one that did not come from MLflow, never does."""
    if run_id in imp.present_runs:
        return None
    try:
        run = imp.tracking.get_run(run_id)
    except NotFound:
        return f"its run {run_id} was not imported"
    except AccessDenied:
        return f"its run {run_id} is in a project you may not read, not {imp.project!r}"
    if run.tags.get(RUN_ID_TAG) != run_id:
        return f"assay's run {run_id} was not imported from MLflow"
    project = imp.project_of(run.info)
    if project != imp.project:
        return f"its run {run_id} is in project {project!r}, not {imp.project!r}"
    return None


def _model_path(imp: Importer, run_id: str, mv: MlflowModelVersion) -> str | None:
    """The model's path in the imported run's artifacts (copying an MLflow 3 logged model there)."""
    if mv.source.startswith("runs:/"):
        _, _, path = mv.source[len("runs:/") :].partition("/")
        return path.strip("/") or None
    if mv.source.startswith("models:/") and mv.storage_location:
        model_id = mv.source[len("models:/") :].strip("/")
        if not model_id or "/" in model_id:
            return None
        path = f"{LOGGED_MODELS_DIR}/{model_id}"
        with imp.source.artifacts(mv.storage_location) as root:
            if root is None or not root.is_dir():
                return None
            if imp.dry_run or imp.tracking.list_artifacts(run_id, path):
                return path
            for entry in sorted(root.iterdir()):
                imp.tracking.upload_artifact(run_id, entry, path)
        return path
    return None


def _ensure_descriptor(imp: Importer, run_id: str, path: str, source: str) -> None:
    """Write ``assay-model.yaml`` of flavor ``mlflow`` beside the model's ``MLmodel`` (once)."""
    names = {f.path.rsplit("/", 1)[-1] for f in imp.tracking.list_artifacts(run_id, path)}
    if DESCRIPTOR_FILE in names:
        return
    mlmodel: dict[str, Any] = {}
    if "MLmodel" in names:
        raw = yaml.safe_load(imp.tracking.read_artifact(run_id, f"{path}/MLmodel"))
        mlmodel = raw if isinstance(raw, dict) else {}
    descriptor = mlflow_descriptor(mlmodel, sorted(names), source)
    text = yaml.safe_dump(descriptor, sort_keys=False, allow_unicode=True)
    imp.tracking.write_artifact(run_id, f"{path}/{DESCRIPTOR_FILE}", text.encode())


def mlflow_descriptor(mlmodel: dict[str, Any], files: list[str], source: str) -> dict[str, Any]:
    """The ``assay-model.yaml`` document (format version 1, as ``assay.models.descriptor`` reads it) of an
    MLflow model directory, from its ``MLmodel``: flavor ``mlflow``, MLflow's own details in ``metadata``.
    Written as plain data: the importer sits beside the model flavors, not above them."""
    flavors = mlmodel.get("flavors")
    flavors = flavors if isinstance(flavors, dict) else {}
    pyfunc = flavors.get("python_function")
    pyfunc = pyfunc if isinstance(pyfunc, dict) else {}
    framework = next((str(f) for f in flavors if f != "python_function"), "python_function")
    details = flavors.get(framework)
    details = details if isinstance(details, dict) else {}
    return {
        "flavor": "mlflow",
        "serialization": "mlflow",
        "files": files,
        "model_class": str(pyfunc.get("loader_module") or framework),
        "framework": framework,
        "framework_version": str(details.get(f"{framework}_version") or ""),
        "python_version": str(pyfunc.get("python_version") or ""),
        "requirements": [],
        "signature": None,
        "metadata": {
            "mlflow_flavors": sorted(str(f) for f in flavors),
            "mlflow_source": source,
            "mlflow_model_id": mlmodel.get("model_id"),
            "mlflow_signature": mlmodel.get("signature"),
        },
        "format_version": 1,
    }

"""Models in runs, through an explicit ``Client``: ``log_model_to`` saves a model into a run's artifacts;
``load_model`` and ``load_predictor`` read it back from a local path, ``runs:/<run_id>/<path>`` or
``models:/<name>/<version>`` (``@<alias>``). ``assay.sdk.models`` puts the fluent API's defaults (the
active run, the current store) in front of these; ``Client`` calls them directly (this module imports
neither, so the two can).

A logged model is a directory of artifacts, ``<name>/`` in the run: the flavor's files and
``assay-model.yaml``, uploaded last so that whoever sees the descriptor (the registry) sees a whole model.
Loading downloads it once into ``$ASSAY_HOME/cache/models/<run_id>/<path>``; a later load reads the run's
descriptor (one small read) and reuses the copy when it is the same, so a model logged again under the same
path is fetched anew.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay import bundle
from assay.artifacts import parse_runs_uri
from assay.artifacts.uri import clean_path
from assay.errors import Conflict, InvalidInput, NotFound, Unavailable
from assay.models import io
from assay.models.descriptor import DESCRIPTOR_FILE, ModelDescriptor, read_descriptor
from assay.models.predictor import Predictor

if TYPE_CHECKING:
    from assay.sdk.client import Client

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class ModelInfo:
    """A logged model: where it is (``uri`` = ``runs:/<run_id>/<artifact_path>``) and what it is."""

    run_id: str
    artifact_path: str
    uri: str
    flavor: str
    signature: dict[str, Any] | None
    descriptor: ModelDescriptor


def log_model_to(
    client: Client,
    run_id: str,
    model: Any,
    name: str = "model",
    input_example: Any = None,
    serialization: str = "safe",
    trusted_types: Sequence[str] | None = None,
    extra_requirements: Sequence[str] | None = None,
    options: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> ModelInfo:
    """Save ``model`` (see ``assay.models.save_model`` for the arguments) under the artifact path ``name``
    of run ``run_id``; ``Conflict`` if the run already has a model there."""
    path = clean_path(name)
    if not path:
        raise InvalidInput("a model needs a name: its artifact path in the run, e.g. 'model'")
    try:
        existing = client.list_artifacts(run_id, path)
    except Unavailable:
        existing = []  # the store cannot be reached: the files are spooled, and nothing can be checked
    if any(f.path == f"{path}/{DESCRIPTOR_FILE}" for f in existing):
        raise Conflict(f"run {run_id} already has a model at {path!r}: log this one under another name")
    with tempfile.TemporaryDirectory(prefix="assay-model-") as tmp:
        local = Path(tmp) / "model"
        descriptor = io.save_model(
            model, local, input_example, serialization, trusted_types, extra_requirements, options, metadata
        )
        for child in sorted(local.iterdir()):  # the descriptor last: it says the model is whole
            if child.name != DESCRIPTOR_FILE:
                client.log_artifact(run_id, child, path)
        client.log_artifact(run_id, local / DESCRIPTOR_FILE, path)
    return ModelInfo(
        run_id, path, f"runs:/{run_id}/{path}", descriptor.flavor, descriptor.signature, descriptor
    )


def load_model(
    uri: str | os.PathLike[str],
    trust_pickle: bool = False,
    trusted_types: Sequence[str] | None = None,
    *,
    client: Client,
) -> Any:
    """The native model at ``uri``: a local directory, ``runs:/<run_id>/<path>``, ``models:/<name>/<version>``
    or ``models:/<name>@<alias>``, read through ``client``. ``trust_pickle`` and ``trusted_types`` as in
    ``assay.models.load_model``."""
    return io.load_model(local_model_dir(uri, client), trust_pickle, trusted_types)


def load_predictor(
    uri: str | os.PathLike[str],
    trust_pickle: bool = False,
    trusted_types: Sequence[str] | None = None,
    *,
    client: Client,
) -> Predictor:
    """A ``Predictor`` (input checked against the signature; ``predict``, ``predict_proba``) for ``uri``."""
    return io.load_predictor(local_model_dir(uri, client), trust_pickle, trusted_types)


def local_model_dir(uri: str | os.PathLike[str], client: Client) -> Path:
    """A local directory holding the model ``uri`` names (downloaded into the cache for a run's model)."""
    text = os.fspath(uri)
    if text.startswith("models:/"):
        ref = _resolve_registry_uri(client, text)
        if not ref.run_id:
            raise NotFound(f"{text!r} names a version whose source run is gone")
        return _cached(client, ref.run_id, clean_path(ref.source_path))
    if text.startswith("runs:/"):
        run_id, path = parse_runs_uri(text)
        return _cached(client, run_id, path)
    return Path(text)


def _resolve_registry_uri(client: Client, uri: str) -> Any:
    """The version a ``models:/`` URI names, from the model registry of ``client``'s store: its ``.run_id``
    and ``.source_path`` (the model's artifact path in that run)."""
    return client.registry.resolve_uri(uri)


def cache_dir() -> Path:
    """Where models downloaded from runs are kept: ``$ASSAY_HOME/cache/models``."""
    return bundle.assay_home() / "cache" / "models"


def _cached(client: Client, run_id: str, path: str) -> Path:
    if not _RUN_ID.fullmatch(run_id):
        raise InvalidInput(f"{run_id!r} is not a run id")
    try:
        remote = client.read_artifact(run_id, f"{path}/{DESCRIPTOR_FILE}" if path else DESCRIPTOR_FILE)
    except NotFound:
        raise NotFound(
            f"runs:/{run_id}/{path} is not a model logged by assay (no {DESCRIPTOR_FILE} there)"
        ) from None
    local = cache_dir() / run_id / (path or "_root")
    if _is_complete(local, remote):
        return local
    local.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=local.parent))
    try:
        fetched = client.download_artifacts(run_id, path or None, staging)
        if local.exists():  # a stale copy: the run's model was logged again
            old = Path(tempfile.mkdtemp(prefix=".stale-", dir=local.parent))
            os.replace(local, old / "model")
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.replace(fetched, local)
        except OSError:
            if not _is_complete(local, remote):  # another process put a copy in place first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return local


def _is_complete(local: Path, descriptor: bytes) -> bool:
    """Whether ``local`` holds the model whose descriptor is ``descriptor``, with all of its files."""
    try:
        if (local / DESCRIPTOR_FILE).read_bytes() != descriptor:
            return False
        return all((local / f).is_file() for f in read_descriptor(descriptor).files)
    except (OSError, InvalidInput):
        return False

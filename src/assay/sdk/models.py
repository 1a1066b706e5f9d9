"""Models in runs, the fluent way: ``log_model`` saves a model into the active run's artifacts;
``load_model`` and ``load_predictor`` read it back from a local path, ``runs:/<run_id>/<path>``,
``models:/<name>/<version>`` or ``models:/<name>@<alias>``.

The work is done by ``assay.sdk.model_artifacts`` with an explicit client; this module supplies the
fluent API's defaults: the active run, and the client of the current tracking URI.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from assay.errors import InvalidState
from assay.models.predictor import Predictor
from assay.sdk import fluent, model_artifacts
from assay.sdk.client import Client
from assay.sdk.model_artifacts import ModelInfo

__all__ = ["ModelInfo", "load_model", "load_predictor", "log_model"]


def log_model(
    model: Any,
    name: str = "model",
    input_example: Any = None,
    serialization: str = "safe",
    trusted_types: Sequence[str] | None = None,
    extra_requirements: Sequence[str] | None = None,
    options: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    client: Client | None = None,
) -> ModelInfo:
    """Save ``model`` under the artifact path ``name`` (default "model") of the active run, or of ``run_id``
    (through ``client``, default the fluent API's); returns a ``ModelInfo`` whose ``uri`` is
    ``runs:/<run_id>/<name>``.

    ``input_example``: a few rows of what the model takes; the signature is inferred from it and from the
    model's output on it. ``serialization``: "safe" (the flavor's own format: skops, UBJSON, LightGBM text,
    torch.export or safetensors, .keras) or "pickle" (any object with ``predict``; loading it then needs
    ``trust_pickle=True``). ``trusted_types``, ``extra_requirements``, ``options``, ``metadata``: see
    ``assay.models.save_model``. ``Conflict`` if the run already has a model under ``name``.
    """
    if run_id is None:
        active = fluent.active_run()
        if active is None:
            raise InvalidState("no active run: start one with assay.start_run(), or pass run_id=")
        run_id, client = active.id, client or active.client
    return model_artifacts.log_model_to(
        client or fluent._client(),
        run_id,
        model,
        name,
        input_example,
        serialization,
        trusted_types,
        extra_requirements,
        options,
        metadata,
    )


def load_model(
    uri: str | os.PathLike[str],
    trust_pickle: bool = False,
    trusted_types: Sequence[str] | None = None,
    client: Client | None = None,
) -> Any:
    """The native model (an estimator, a Booster, an ``nn.Module``, a Keras model) at ``uri``: a local
    directory, ``runs:/<run_id>/<path>``, ``models:/<name>/<version>`` or ``models:/<name>@<alias>``.

    ``trust_pickle``: load a model saved with pickle (it runs code from the file). ``trusted_types``
    (scikit-learn): type names outside skops' defaults that you trust, as the refusal message lists them.
    """
    return model_artifacts.load_model(uri, trust_pickle, trusted_types, client=client or fluent._client())


def load_predictor(
    uri: str | os.PathLike[str],
    trust_pickle: bool = False,
    trusted_types: Sequence[str] | None = None,
    client: Client | None = None,
) -> Predictor:
    """A ``Predictor`` for the model at ``uri`` (as ``load_model``): ``predict`` (labels for classifiers)
    and ``predict_proba``, each input checked against the model's signature first."""
    return model_artifacts.load_predictor(uri, trust_pickle, trusted_types, client=client or fluent._client())

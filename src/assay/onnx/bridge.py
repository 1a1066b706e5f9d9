"""The ONNX bridge for registered models: convert a ``models:/`` version, check it, keep the results with it.

``convert(uri)`` loads the version's native model (as ``assay.load_model`` does), converts it, compares it
with its ONNX (``ParityReport``), measures both (``LatencyCard``) and stores with the version, through the
registry: the file ``onnx/model.onnx`` and the reports "parity", "latency" and, last, "onnx" (the
conversion info, whose sha256 names the file: a reader that finds the "onnx" report finds its file). A
model that does not convert raises ``ConversionError`` and stores nothing; one that converts but fails
parity is stored with its failing report, for the serving layer and the UI to show and refuse.

``report(uri)`` reads the reports back; ``predictor(uri)`` builds an ``OnnxPredictor`` from the stored file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from assay.errors import InvalidInput, NotFound
from assay.models import io
from assay.onnx.check import OnnxResult, PrecisionChoice, convert_checked
from assay.onnx.info import OnnxInfo
from assay.onnx.latency import LatencyCard
from assay.onnx.parity import ParityReport, Tolerance, Tolerances
from assay.onnx.runtime import OnnxPredictor
from assay.registry.entities import ModelVersion
from assay.sdk import fluent, model_artifacts

if TYPE_CHECKING:
    from assay.sdk.client import Client

#: Where the ONNX file is kept among the version's files.
ONNX_FILE = "onnx/model.onnx"
#: The report kinds the bridge writes.
INFO, PARITY, LATENCY = "onnx", "parity", "latency"


def convert(
    uri: str,
    data: Any = None,
    tolerances: Tolerances | None = None,
    client: Client | None = None,
    *,
    precision: PrecisionChoice = "auto",
    latency: bool = True,
    trusted_types: Sequence[str] | None = None,
    trust_pickle: bool = False,
) -> OnnxResult:
    """Convert the registered model ``uri`` (``models:/<name>/<version>``, ``@<alias>``, ``/latest``) to ONNX,
    check parity on ``data`` (rows the model takes; default: rows drawn from its signature) against
    ``tolerances`` (by output name or role: ``{"probabilities": {"atol": 1e-4}}``; see
    ``assay.onnx.parity``), measure latency, and store the file and reports with the version.

    ``precision``: "auto" (float32 inputs, float64 if float32 fails parity and helps), "float32", "float64".
    ``trusted_types`` / ``trust_pickle``: as for ``assay.load_model`` (a tree model saved with skops needs
    ``trusted_types=['sklearn.tree._tree.Tree']``). ``ConversionError`` if the model cannot be converted.
    """
    client = client or fluent._client()
    version = _version(client, uri)
    local = model_artifacts.local_model_dir(version.uri, client)
    native = io.load_predictor(local, trust_pickle=trust_pickle, trusted_types=trusted_types)
    tolerances = project_tolerances(client, version.project, tolerances)
    result = convert_checked(native, data, tolerances, precision=precision, latency=latency)
    registry = client.registry
    registry.put_version_file(version.qualified_name, version.version, ONNX_FILE, result.onnx)
    registry.set_version_report(version.qualified_name, version.version, PARITY, result.parity.to_dict())
    if result.latency is not None:
        registry.set_version_report(
            version.qualified_name, version.version, LATENCY, result.latency.to_dict()
        )
    registry.set_version_report(version.qualified_name, version.version, INFO, result.info.to_dict())
    return replace(result, uri=version.uri)


#: The project setting holding the parity tolerances its conversions start from.
TOLERANCES_SETTING = "onnx.tolerances"


def project_tolerances(client: Client, project: str, given: Tolerances | None) -> Tolerances | None:
    """The project's tolerances (``assay onnx tolerances``), overridden field by field by ``given``."""
    stored = client.registry.project_setting(project, TOLERANCES_SETTING) or {}
    if not stored:
        return given
    merged: dict[str, dict[str, float]] = {k: dict(v) for k, v in stored.items() if isinstance(v, Mapping)}
    for key, change in (given or {}).items():
        fields = change.to_dict() if isinstance(change, Tolerance) else dict(change)
        merged[key] = {**merged.get(key, {}), **fields}
    return merged


def report(
    uri: str, client: Client | None = None
) -> tuple[OnnxInfo, ParityReport | None, LatencyCard | None]:
    """The conversion info, parity report and latency card stored with ``uri``'s version (None for a report
    it lacks); ``NotFound`` if the version was never converted."""
    client = client or fluent._client()
    version = _version(client, uri)
    reports = client.registry.version_reports(version.qualified_name, version.version)
    if INFO not in reports:
        raise NotFound(f"{version.uri} has no ONNX conversion: run assay.onnx.convert({version.uri!r})")
    parity = reports.get(PARITY)
    card = reports.get(LATENCY)
    return (
        OnnxInfo.from_dict(reports[INFO]),
        None if parity is None else ParityReport.from_dict(parity),
        None if card is None else LatencyCard.from_dict(card),
    )


def load_onnx(uri: str, client: Client | None = None) -> bytes:
    """The ONNX file stored with ``uri``'s version; ``NotFound`` if it was never converted."""
    client = client or fluent._client()
    version = _version(client, uri)
    try:
        return client.registry.read_version_file(version.qualified_name, version.version, ONNX_FILE)
    except NotFound:
        raise NotFound(
            f"{version.uri} has no ONNX conversion: run assay.onnx.convert({version.uri!r})"
        ) from None


def predictor(uri: str, client: Client | None = None, threads: int = 1) -> OnnxPredictor:
    """An ``OnnxPredictor`` over the ONNX file stored with ``uri``'s version, checked by its signature."""
    return OnnxPredictor(load_onnx(uri, client), threads=threads)


def _version(client: Client, uri: str | os.PathLike[str]) -> ModelVersion:
    text = os.fspath(uri)
    if not text.startswith("models:/"):
        raise InvalidInput(
            f"{text!r} is not a registered model: the ONNX bridge converts models:/<name>/<version> "
            "(register a logged model with assay.register_model first)"
        )
    return client.registry.resolve_uri(text)

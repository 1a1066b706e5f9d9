"""The model a served URI names, loaded, and kept current when an alias moves.

``ModelSource`` resolves ``models:/name@alias`` (or a fixed version) through the registry, loads the
version's ONNX conversion into onnxruntime (or the native model with ``native=True``), and starts a
thread that resolves the URI again every ``poll_s`` seconds. When the alias points at another version,
the new model is loaded on that thread while requests keep being answered by the old one; the swap is one
reference assignment, so a request sees either model whole, never a mix. A version that fails to load is
logged and skipped (the old one stays), and tried again at the next move.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from assay.errors import AssayError, InvalidInput, NotFound
from assay.registry.entities import ModelVersion
from assay.registry.uris import parse_model_uri

log = logging.getLogger("assay.serving")

#: The ONNX conversion's file among a version's files (written by ``assay onnx convert``).
ONNX_FILE = "onnx/model.onnx"


@dataclass(frozen=True)
class Loaded:
    """One loaded version: what predicts, and what ``/metadata`` shows."""

    version: ModelVersion
    predictor: Any
    runtime: str  # "onnxruntime" or "native"
    takes_frame: bool
    reports: dict[str, Any] = field(default_factory=dict)
    loaded_at: float = 0.0

    def metadata(self, uri: str) -> dict[str, Any]:
        mv = self.version
        parity = self.reports.get("parity") or {}
        return {
            "uri": uri,
            "name": mv.name,
            "version": mv.version,
            "aliases": list(mv.aliases),
            "flavor": mv.flavor,
            "runtime": self.runtime,
            "signature": mv.signature,
            "source": mv.source,
            "parity": {"verdict": _verdict(parity), **parity} if parity else {"verdict": "not checked"},
            "latency": self.reports.get("latency"),
            "onnx": self.reports.get("onnx"),
            "loaded_at": self.loaded_at,
        }


def _verdict(parity: dict[str, Any]) -> str:
    passed = parity.get("passed")
    return "passed" if passed is True else "failed" if passed is False else "unknown"


def load(
    client: Any,
    version: ModelVersion,
    native: bool,
    trusted_types: Sequence[str] = (),
    trust_pickle: bool = False,
) -> Loaded:
    """Load ``version`` for serving: its ONNX conversion, or with ``native`` the model itself (trusting
    ``trusted_types`` and, with ``trust_pickle``, pickle, as ``assay.load_model`` does)."""
    registry = client.registry
    reports = registry.version_reports(version.qualified_name, version.version)
    signature = version.signature or {}
    takes_frame = (signature.get("inputs") or {}).get("type") == "dataframe"
    if native:
        from assay.sdk import model_artifacts

        predictor = model_artifacts.load_predictor(
            version.uri, trust_pickle, list(trusted_types), client=client
        )
        return Loaded(version, predictor, "native", takes_frame, reports, time.time())
    try:
        onnx_bytes = registry.read_version_file(version.qualified_name, version.version, ONNX_FILE)
    except NotFound:
        raise InvalidInput(
            f"{version.name} v{version.version} has no ONNX conversion: run `assay onnx convert "
            f"{version.uri}`, or serve the native model with --native"
        ) from None
    from assay.onnx.runtime import OnnxPredictor

    return Loaded(
        version, OnnxPredictor(onnx_bytes, signature), "onnxruntime", takes_frame, reports, time.time()
    )


class ModelSource:
    """The current model of ``uri``, reloaded in the background when the alias it names moves."""

    def __init__(
        self,
        uri: str,
        client: Any,
        native: bool = False,
        poll_s: float = 5.0,
        trusted_types: Sequence[str] = (),
        trust_pickle: bool = False,
    ) -> None:
        self.uri = uri
        self.ref = parse_model_uri(uri)
        self.client = client
        self.native = native
        self.poll_s = poll_s
        self.trusted_types = tuple(trusted_types)
        self.trust_pickle = trust_pickle
        self.current = self._load(client.registry.resolve(self.ref))
        self.reloads = 0
        self.reload_failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _load(self, version: ModelVersion) -> Loaded:
        return load(self.client, version, self.native, self.trusted_types, self.trust_pickle)

    @property
    def follows(self) -> bool:
        """Whether the URI can name another version later (an alias, or ``latest``)."""
        return self.ref.version is None

    def start(self) -> None:
        if self.follows and self._thread is None:
            self._thread = threading.Thread(target=self._follow, name="assay-serve-follow", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def check_now(self) -> bool:
        """Resolve the URI once; load and swap in a new version if it moved. True if it swapped."""
        target = self.client.registry.resolve(self.ref)
        if target.version == self.current.version.version:
            return False
        fresh = self._load(target)
        self.current = fresh  # one assignment: a request holds the old or the new, whole
        self.reloads += 1
        log.info("assay serve: %s now serves v%s", self.uri, target.version)
        return True

    def _follow(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.check_now()
            except AssayError as exc:  # the registry unreachable, the new version unloadable: keep serving
                self.reload_failures += 1
                log.warning(
                    "assay serve: keeping v%s for %s: %s", self.current.version.version, self.uri, exc
                )
            except Exception:
                self.reload_failures += 1
                log.exception("assay serve: keeping v%s for %s", self.current.version.version, self.uri)

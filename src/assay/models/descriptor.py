"""The model descriptor: what a saved model is and how to load it, in ``assay-model.yaml`` beside its files.

Pure (yaml, stdlib and ``assay.errors`` only): the registry reads the flavor and signature of a logged model
from this file at registration without importing any framework or the rest of ``assay.models``.

The descriptor is data, never trust: nothing in it widens what a loader accepts. A model saved with pickle
still needs the caller's ``trust_pickle=True``; types a skops file needs are listed here for review, and
are trusted only when the caller names them.
"""

from __future__ import annotations

import posixpath
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import yaml

from assay.errors import InvalidInput

#: The descriptor's file name in a model directory (and under a run's ``<name>/`` artifact path).
DESCRIPTOR_FILE = "assay-model.yaml"
#: Bumped when a change would mislead an older reader; a newer file is refused with a clear message.
FORMAT_VERSION = 1
#: ``serialization`` of a model saved with (cloud)pickle: loading it runs code from the file.
PICKLE = "pickle"


@dataclass
class ModelDescriptor:
    """One saved model: its flavor, the files that hold it, its signature and the environment it came from.

    ``serialization`` names the file format: a safe one ("skops", "xgboost-ubj", "lightgbm-text",
    "torch-export", "safetensors", "torch-weights", "keras") or "pickle". ``signature`` is
    ``Signature.to_dict()`` (or None without an input example). ``trusted_types`` lists the types of a
    skops file that skops does not trust by default (a loader must name them). ``metadata`` holds what a
    flavor needs to rebuild the model (a wrapper's params, a module's class path) and the caller's own.
    """

    flavor: str
    serialization: str
    files: list[str]
    model_class: str
    framework: str
    framework_version: str
    python_version: str
    requirements: list[str] = field(default_factory=list)
    signature: dict[str, Any] | None = None
    trusted_types: list[str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    assay_version: str = ""
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    format_version: int = FORMAT_VERSION

    @property
    def is_pickle(self) -> bool:
        return self.serialization == PICKLE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_yaml(self) -> bytes:
        """The YAML text of ``assay-model.yaml`` (safe_dump: plain data only, keys in field order)."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True).encode()


_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "flavor": str,
    "serialization": str,
    "files": list,
    "model_class": str,
    "framework": str,
    "framework_version": str,
    "python_version": str,
}
_OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "requirements": list,
    "signature": (dict, type(None)),
    "trusted_types": (list, type(None)),
    "metadata": (dict, type(None)),
    "assay_version": str,
    "created": str,
    "format_version": int,
}


def read_descriptor(data: bytes) -> ModelDescriptor:
    """Parse ``assay-model.yaml``; ``InvalidInput`` naming what is wrong if it is not a model descriptor.

    Unknown keys are ignored (a newer assay may add some); a newer ``format_version`` is refused.
    """
    try:
        raw = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{DESCRIPTOR_FILE} is not valid YAML: {_one_line(exc)}") from None
    if not isinstance(raw, dict):
        raise InvalidInput(f"{DESCRIPTOR_FILE} must be a mapping of keys to values, got {type(raw).__name__}")
    missing = sorted(k for k in _REQUIRED if k not in raw)
    if missing:
        raise InvalidInput(f"{DESCRIPTOR_FILE} lacks {', '.join(missing)}: it was not written by assay")
    for key, kind in {**_REQUIRED, **_OPTIONAL}.items():
        if key in raw and not isinstance(raw[key], kind):
            raise InvalidInput(f"{DESCRIPTOR_FILE}: {key} has the wrong type ({type(raw[key]).__name__})")
    version = raw.get("format_version", FORMAT_VERSION)
    if version > FORMAT_VERSION:
        raise InvalidInput(
            f"{DESCRIPTOR_FILE} has format version {version}; this assay reads up to {FORMAT_VERSION}: "
            "upgrade assay to load this model"
        )
    for name in raw["files"]:
        _check_file_name(name)
    for key in ("requirements", "trusted_types"):
        if any(not isinstance(item, str) for item in raw.get(key) or []):
            raise InvalidInput(f"{DESCRIPTOR_FILE}: {key} must be a list of strings")
    fields = {k: raw[k] for k in (*_REQUIRED, *_OPTIONAL) if k in raw}
    fields["metadata"] = fields.get("metadata") or {}
    return ModelDescriptor(**fields)


def _check_file_name(name: object) -> None:
    """A model's files sit inside its directory: relative, no ``..``, so a descriptor points nowhere else."""
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{DESCRIPTOR_FILE}: files must be a list of file names")
    norm = posixpath.normpath(name.replace("\\", "/"))
    if norm.startswith(("/", "../")) or norm == ".." or ":" in norm.split("/")[0]:
        raise InvalidInput(f"{DESCRIPTOR_FILE}: file {name!r} lies outside the model's directory")


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())

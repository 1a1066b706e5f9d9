"""``models:/`` and ``runs:/`` URIs, parsed. Pure module.

``models:/<name>/<version>``, ``models:/<name>@<alias>`` and ``models:/<name>/latest`` name a registered
version; ``runs:/<run_id>/<path>`` a model logged by a run.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from assay.errors import InvalidInput

_MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-. ]{0,255}$")
_ALIAS_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,127}$")


#: The largest version number or dataset id (the columns are 32-bit integers).
MAX_ID = 2**31 - 1


class ModelRef(NamedTuple):
    """A registered version named by number, by alias, or as the latest one."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.alias is not None:
            return f"models:/{self.name}@{self.alias}"
        return f"models:/{self.name}/{'latest' if self.version is None else self.version}"


def check_model_name(name: object) -> str:
    """A model name: letters, digits, ``_ - .`` and spaces, up to 256 characters (no ``/`` or ``@``,
    which separate the parts of a ``models:/`` URI)."""
    if not isinstance(name, str) or not _MODEL_NAME_RE.match(name) or name != name.strip():
        raise InvalidInput(
            f"model name {name!r} is not valid: use 1-256 letters, digits, '_', '-', '.' or spaces, "
            "starting with a letter, digit or '_' (no '/' or '@')"
        )
    return name


def check_alias(alias: object) -> str:
    """An alias such as ``champion``: a letter or ``_``, then letters, digits, ``_`` or ``-``. A number
    would be mistaken for a version, so an alias cannot be one."""
    if not isinstance(alias, str) or not _ALIAS_RE.match(alias):
        raise InvalidInput(
            f"alias {alias!r} is not valid: use a name such as 'champion' (a letter or '_', then letters, "
            "digits, '_' or '-')"
        )
    if alias.lower() == "latest":
        raise InvalidInput("'latest' is reserved (models:/<name>/latest names the newest version)")
    return alias


def check_version(version: object) -> int:
    """A version number: an integer from 1 (a string of digits is accepted)."""
    if isinstance(version, bool):
        raise InvalidInput(f"version must be a number such as 3, got {version!r}")
    if isinstance(version, str) and version.strip().isdigit():
        version = int(version.strip())
    if not isinstance(version, int) or not 1 <= version <= MAX_ID:
        raise InvalidInput(f"version must be a number from 1 to {MAX_ID}, such as 3, got {version!r}")
    return version


def is_model_uri(uri: str) -> bool:
    return uri.startswith("models:/")


def parse_model_uri(uri: str) -> ModelRef:
    """``models:/churn/3`` -> ModelRef("churn", 3); ``models:/churn@champion`` -> alias; ``/latest``."""
    if not is_model_uri(uri):
        raise InvalidInput(
            f"{uri!r} is not a models:/ URI: use models:/<name>/<version> or models:/<name>@<alias>"
        )
    rest = uri[len("models:/") :].strip("/")
    if "@" in rest:
        name, _, alias = rest.rpartition("@")
        return ModelRef(check_model_name(name), alias=check_alias(alias))
    name, sep, ref = rest.rpartition("/")
    if not sep:
        raise InvalidInput(
            f"{uri!r} names no version: use models:/{rest}/<version>, models:/{rest}@<alias> "
            f"or models:/{rest}/latest"
        )
    if ref.lower() == "latest":
        return ModelRef(check_model_name(name))
    try:
        return ModelRef(check_model_name(name), version=check_version(ref))
    except InvalidInput:
        raise InvalidInput(
            f"{uri!r}: {ref!r} is not a version number; use models:/{name}/<number>, models:/{name}@<alias> "
            f"or models:/{name}/latest"
        ) from None


def parse_runs_uri(uri: str) -> tuple[str, str]:
    """``runs:/<run_id>/<path>`` -> (run_id, path); the path may be empty (the run's artifact root)."""
    if not uri.startswith("runs:/"):
        raise InvalidInput(f"{uri!r} is not a runs:/ URI: use runs:/<run_id>/<artifact path>")
    run_id, _, path = uri[len("runs:/") :].strip("/").partition("/")
    if not run_id:
        raise InvalidInput(f"{uri!r} names no run: use runs:/<run_id>/<artifact path>")
    return run_id, path.strip("/")

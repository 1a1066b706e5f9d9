"""``models:/`` and ``runs:/`` URIs, parsed. Pure module.

``models:/<name>/<version>``, ``models:/<name>@<alias>`` and ``models:/<name>/latest`` name a registered
version; ``runs:/<run_id>/<path>`` a model logged by a run.

Model names are unique within a project, so wherever a model is named, ``<project>/<name>`` names it in
one project (``models:/vision/churn/3``, ``models:/vision/churn@champion``); a plain name is the one model
of that name the caller may read (``assay.registry.names``). Neither a model name nor a project name may
contain '/', so the reading is never in doubt; after a name, a number or ``latest`` is a version.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from assay.errors import InvalidInput

_MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-. ]{0,255}$")
#: Project names as ``assay.services.access.check_name`` allows them (no '/').
_PROJECT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")
_ALIAS_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,127}$")


#: The largest version number or dataset id (the columns are 32-bit integers).
MAX_ID = 2**31 - 1


class ModelRef(NamedTuple):
    """A registered version named by number, by alias, or as the latest one; in ``project`` when given."""

    name: str
    version: int | None = None
    alias: str | None = None
    project: str | None = None

    @property
    def model(self) -> str:
        """The model as every ``Registry`` method takes it: ``name``, or ``project/name``."""
        return self.name if self.project is None else qualify(self.project, self.name)

    def __str__(self) -> str:
        if self.alias is not None:
            return f"models:/{self.model}@{self.alias}"
        return f"models:/{self.model}/{'latest' if self.version is None else self.version}"


def check_model_name(name: object) -> str:
    """A model name: letters, digits, ``_ - .`` and spaces, up to 256 characters (no ``/`` or ``@``,
    which separate the parts of a ``models:/`` URI)."""
    if not isinstance(name, str) or not _MODEL_NAME_RE.match(name) or name != name.strip():
        raise InvalidInput(
            f"model name {name!r} is not valid: use 1-256 letters, digits, '_', '-', '.' or spaces, "
            "starting with a letter, digit or '_' (no '@'; '/' only after a project: project/name)"
        )
    return name


def split_model_name(text: object) -> tuple[str | None, str]:
    """``churn`` -> (None, "churn"); ``vision/churn`` -> ("vision", "churn"): a model named alone or in a
    project, each part checked. ``InvalidInput`` for anything else."""
    if isinstance(text, str) and "/" in text:
        project, _, name = text.partition("/")
        if not _PROJECT_RE.fullmatch(project) or "/" in name:
            raise InvalidInput(
                f"model {text!r} is not valid: name a model as NAME, or as PROJECT/NAME in a project "
                "(such as vision/churn)"
            )
        return project, check_model_name(name)
    return None, check_model_name(text)


def qualify(project: str, name: str) -> str:
    """``project/name``: how to name a model whichever projects the caller reads."""
    return f"{project}/{name}"


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


def is_version_text(text: str) -> bool:
    """Whether ``text``, after a model's name and a '/', names a version: a number or ``latest``."""
    return text.isdigit() or text.lower() == "latest"


def parse_model_uri(uri: str) -> ModelRef:
    """``models:/churn/3`` -> ModelRef("churn", 3); ``models:/churn@champion`` -> alias; ``/latest``; each
    also as ``models:/<project>/churn/...`` for the model of that name in one project."""
    if not is_model_uri(uri):
        raise InvalidInput(
            f"{uri!r} is not a models:/ URI: use models:/<name>/<version> or models:/<name>@<alias>"
        )
    rest = uri[len("models:/") :].strip("/")
    head, _, last = rest.rpartition("/")
    if "@" in last:  # names hold no '@': the last part's first one starts the alias
        name, _, alias = last.partition("@")
        model = f"{head}/{name}" if head else name
        project, plain = split_model_name(model)
        return ModelRef(plain, alias=check_alias(alias), project=project)
    if not head:
        raise InvalidInput(
            f"{uri!r} names no version: use models:/{rest}/<version>, models:/{rest}@<alias> "
            f"or models:/{rest}/latest"
        )
    if "/" not in head and not is_version_text(last) and _MODEL_NAME_RE.match(last):
        raise InvalidInput(
            f"{uri!r} names no version: {last!r} is not a version number; use models:/{head}/<number>, "
            f"models:/{head}@<alias> or models:/{head}/latest (or models:/{rest}/<number> for model "
            f"{last!r} in project {head!r})"
        )
    project, name = split_model_name(head)
    if last.lower() == "latest":
        return ModelRef(name, project=project)
    try:
        return ModelRef(name, version=check_version(last), project=project)
    except InvalidInput:
        raise InvalidInput(
            f"{uri!r}: {last!r} is not a version number; use models:/{head}/<number>, models:/{head}@<alias> "
            f"or models:/{head}/latest"
        ) from None


def parse_runs_uri(uri: str) -> tuple[str, str]:
    """``runs:/<run_id>/<path>`` -> (run_id, path); the path may be empty (the run's artifact root)."""
    if not uri.startswith("runs:/"):
        raise InvalidInput(f"{uri!r} is not a runs:/ URI: use runs:/<run_id>/<artifact path>")
    run_id, _, path = uri[len("runs:/") :].strip("/").partition("/")
    if not run_id:
        raise InvalidInput(f"{uri!r} names no run: use runs:/<run_id>/<artifact path>")
    return run_id, path.strip("/")

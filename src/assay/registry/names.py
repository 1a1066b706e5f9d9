"""Finding a registered model by name, now that names are unique within a project rather than across a
server. Pure module: the rule and its messages, kept once for every ``Registry`` implementation.

- ``project/name`` names the model ``name`` in ``project``.
- A plain name names the one model of that name among those the caller may read. When several projects
  hold it, the name is ambiguous and ``InvalidInput`` lists the candidates as ``project/name``.
- A project the caller cannot read is never revealed: its models are neither found nor named as
  candidates, and ``project/name`` in it is ``NotFound`` with the very message of a model that does not
  exist (never a refusal, which would tell that it does).
- Creating a model, or registering a version under a name, takes a project (the one in ``project/name``,
  else the one given, else the caller's default or the run's), never a lookup across projects.
"""

from __future__ import annotations

from collections.abc import Sequence

from assay.errors import InvalidInput, NotFound
from assay.registry.uris import qualify


def no_model(name: str, project: str | None = None) -> NotFound:
    """The error for a model that does not exist (or that the caller may not know of)."""
    if project is None:
        return NotFound(f"no model named {name!r}: list them with `assay models ls`")
    return NotFound(
        f"no model named {name!r} in project {project!r}: list them with `assay models ls --project {project}`"
    )


def ambiguous(name: str, projects: Sequence[str]) -> InvalidInput:
    """The error for a plain name several projects hold, naming each candidate as ``project/name``."""
    candidates = [qualify(p, name) for p in sorted(projects)]
    return InvalidInput(
        f"model name {name!r} is in several projects: {', '.join(candidates)}; name one as project/name "
        f"(such as {candidates[0]!r}, or models:/{candidates[0]}/<version>)"
    )


def pick_project(name: str, projects: Sequence[str]) -> str:
    """The project of the one model called ``name`` among those the caller sees (``projects``: the
    projects holding a live model of that name that the caller may read)."""
    if not projects:
        raise no_model(name)
    if len(projects) > 1:
        raise ambiguous(name, projects)
    return projects[0]


def check_same_project(model: str, named: str | None, given: str | None) -> str | None:
    """The project a creation targets: the one in ``project/name`` (``named``), else ``given``; both must
    agree when both are there."""
    if named is not None and given is not None and named != given:
        raise InvalidInput(
            f"model {model!r} is in project {named!r} but project={given!r} was given: give one of them"
        )
    return named if named is not None else given

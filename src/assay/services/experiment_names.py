"""Finding an experiment by name, now that names are unique within a project rather than across a server.

One rule for every ``Tracking`` implementation (embedded, in front of a caller, and so the server), kept
here once and free of I/O: the caller hands in how to list the experiments it may see under a name.

- With ``project``: the experiment of that name in that project, or None.
- Without: the one experiment the caller sees under that exact name. If several projects hold it, the name
  is ambiguous and ``InvalidInput`` lists the candidates as ``project/name``.
- Else ``project/name`` names ``name`` in ``project``. Names may contain '/', so this reading is tried
  only when no experiment is called the whole text, and only in a project the caller can read: a project
  the caller cannot see reads as no match, never as a refusal (which would tell it exists).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from assay.entities import Experiment
from assay.errors import InvalidInput, NotFound, PermissionDenied

#: ``named(name, project)``: the experiments the caller sees called exactly ``name`` (deleted ones too),
#: only ``project``'s if given; ``NotFound`` or ``PermissionDenied`` for a project it cannot read.
Named = Callable[[str, str | None], Sequence[Experiment]]


def find_experiment(name: str, project: str | None, named: Named) -> Experiment | None:
    """The experiment ``name`` (or ``project/name``) designates, by the rules of the module docstring."""
    if project is not None:
        return _only(named(name, project))
    found = named(name, None)
    if len(found) > 1:
        raise ambiguous(name, found)
    if found:
        return found[0]
    prefix, sep, rest = name.partition("/")
    if not (sep and prefix and rest):
        return None
    try:
        return _only(named(rest, prefix))
    except (NotFound, PermissionDenied):  # no such project, or one the caller may not read: no match
        return None


def ambiguous(name: str, found: Sequence[Experiment]) -> InvalidInput:
    """The error for a plain name several projects hold, naming each candidate as ``project/name``."""
    candidates = ", ".join(qualified(e) for e in sorted(found, key=lambda e: e.project))
    return InvalidInput(
        f"experiment name {name!r} is in several projects: {candidates}; give one of these, or pass project="
    )


def qualified(experiment: Experiment) -> str:
    """``project/name``: how to name ``experiment`` whichever project the caller is in."""
    return f"{experiment.project}/{experiment.name}"


def _only(found: Sequence[Experiment]) -> Experiment | None:
    """The one experiment of a name within a project (the store keeps them unique), or None."""
    return found[0] if found else None

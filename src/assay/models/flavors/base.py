"""The ``Flavor`` interface: how one framework's models are recognised, saved, loaded and asked to predict.

A flavor imports its framework only when it saves, loads or predicts (``assay.optional.require``), so
``import assay.models`` loads no framework, and a missing one fails with the extra to install.
"""

from __future__ import annotations

import importlib.metadata
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from assay.models.descriptor import ModelDescriptor
from assay.optional import require

Predict = Callable[[Any], Any]


@dataclass
class Saved:
    """What ``Flavor.save`` wrote: file names (relative to the model directory), the format, what the loader
    needs back (``metadata``), the skops types a loader must trust, and the pip requirements it used."""

    files: list[str]
    serialization: str
    metadata: dict[str, Any] = field(default_factory=dict)
    trusted_types: list[str] | None = None
    requirements: list[str] = field(default_factory=list)


class Flavor(ABC):
    """One framework's models. Subclasses set the class attributes and implement the three abstract methods.

    Contract: ``handles`` never imports the framework (it looks at the model's classes by module name);
    ``save`` writes only inside ``directory``; ``load`` never runs code stored in the files (a pickle is
    the caller's explicit choice, handled outside the flavors) and raises ``InvalidInput`` naming what it
    refuses; ``predictor`` returns a callable that predicts on input already checked against the signature.
    """

    #: The flavor's name in descriptors (``descriptor.flavor``).
    name: ClassVar[str]
    #: The framework's import name, and the assay extra that installs it.
    module: ClassVar[str]
    extra: ClassVar[str]
    #: The pip distributions a load needs, each a group of alternatives (the first installed one of each
    #: group is pinned in the descriptor's requirements), e.g. ``(("xgboost-cpu", "xgboost"),)``.
    distributions: ClassVar[tuple[tuple[str, ...], ...]]
    #: What the flavor takes, for the "unknown flavor" message.
    describes: ClassVar[str]

    @abstractmethod
    def handles(self, model: Any) -> bool:
        """Whether ``model`` is one of this flavor's, decided without importing the framework."""

    @abstractmethod
    def save(
        self,
        model: Any,
        directory: Path,
        input_example: Any,
        *,
        trusted_types: Sequence[str] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Saved:
        """Write ``model`` into the existing, empty ``directory`` in the flavor's safe format."""

    @abstractmethod
    def load(self, directory: Path, descriptor: ModelDescriptor, *, trusted_types: Sequence[str] = ()) -> Any:
        """The native model saved in ``directory``."""

    def prepare_example(self, model: Any, example: Any) -> Any:
        """The input example as the model takes it (the signature is inferred from this); default: as is."""
        return example

    def predictor(self, native: Any) -> Predict:
        """The callable that predicts with ``native`` (default: its ``predict`` method, bound once)."""
        return native.predict  # type: ignore[no-any-return]

    def predict(self, native: Any, X: Any) -> Any:
        """Predictions of ``native`` on ``X`` (labels for classifiers, numpy or DataFrame)."""
        return self.predictor(native)(X)

    def proba(self, native: Any) -> Predict | None:
        """The class-probability callable of ``native``, or None when it has none."""
        return getattr(native, "predict_proba", None)

    def framework(self) -> ModuleType:
        return require(self.module, self.extra, f"the {self.name} flavor")

    def requirements(self) -> list[str]:
        """pip specifiers pinning the installed distributions the flavor needs."""
        found = (installed_version(*group) for group in self.distributions)
        return [f for f in found if f]


def installed_version(*distributions: str) -> str | None:
    """``name==version`` of the first of ``distributions`` that is installed, else None."""
    for dist in distributions:
        try:
            return f"{dist}=={importlib.metadata.version(dist)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def class_path(obj: Any) -> str:
    """``module.QualName`` of ``obj``'s class."""
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def from_modules(model: Any, *top_level: str) -> bool:
    """Whether a class in ``model``'s MRO comes from one of the packages ``top_level``."""
    return any(c.__module__.split(".", 1)[0] in top_level for c in type(model).__mro__)


def plain(params: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The params YAML can hold as plain data (numpy scalars unwrapped, tuples as lists), and the names
    of those it cannot (dropped: a callable, a random generator, an object)."""
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in params.items():
        try:
            kept[key] = _plain(value)
        except TypeError:
            dropped.append(key)
    return kept, dropped


def _plain(value: Any) -> Any:
    if hasattr(value, "item") and type(value).__module__ == "numpy" and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if value is None or type(value) in (str, bool, int, float):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict) and all(type(k) in (str, int) for k in value):
        return {k: _plain(v) for k, v in value.items()}
    raise TypeError(type(value).__name__)

"""The flavor of a pickled object that no other flavor handles: anything with a ``predict`` method.

It exists for ``serialization="pickle"`` only (never detected, never saved in a safe format): the pickle
itself is written and read by ``assay.models.pickling``, and this flavor just calls ``predict``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assay.errors import InvalidInput
from assay.models.descriptor import ModelDescriptor
from assay.models.flavors.base import Flavor, Saved


class PythonFlavor(Flavor):
    name = "python"
    module = "pickle"
    extra = "frameworks"
    distributions = ()
    describes = ""

    def handles(self, model: Any) -> bool:
        return False

    def accepts(self, model: Any) -> bool:
        """Whether ``model`` can be pickled and predicted with: it has a callable ``predict``."""
        return callable(getattr(model, "predict", None))

    def save(
        self,
        model: Any,
        directory: Path,
        input_example: Any,
        *,
        trusted_types: Sequence[str] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Saved:
        raise InvalidInput("a model of the python flavor is saved with serialization='pickle' only")

    def load(self, directory: Path, descriptor: ModelDescriptor, *, trusted_types: Sequence[str] = ()) -> Any:
        raise InvalidInput("a model of the python flavor is loaded from its pickle only")

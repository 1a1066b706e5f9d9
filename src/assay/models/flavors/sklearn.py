"""scikit-learn estimators, Pipelines and ColumnTransformers, saved with skops (``model.skops``).

skops stores the object tree as data and rebuilds only types it trusts: scikit-learn's, numpy's and scipy's
by default. Any other type in the file (a custom transformer, a function given to FunctionTransformer) is
refused at load with its name, until the caller passes it in ``trusted_types``. The types a file needs
are listed in the descriptor at save time for review (never trusted from there: the descriptor is data).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assay.errors import InvalidInput
from assay.models.descriptor import ModelDescriptor
from assay.models.flavors.base import Flavor, Saved, from_modules
from assay.optional import require

FILE = "model.skops"


class SklearnFlavor(Flavor):
    name = "sklearn"
    module = "sklearn"
    extra = "sklearn"
    distributions = (("scikit-learn",), ("skops",))
    describes = "scikit-learn estimators and pipelines (sklearn)"

    def handles(self, model: Any) -> bool:
        return from_modules(model, "sklearn")

    def _skops(self) -> Any:
        return require("skops.io", "sklearn", "the sklearn flavor (safe skops format)")

    def save(
        self,
        model: Any,
        directory: Path,
        input_example: Any,
        *,
        trusted_types: Sequence[str] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Saved:
        sio = self._skops()
        path = directory / FILE
        sio.dump(model, path)
        needed = list(sio.get_untrusted_types(file=path))
        if trusted_types is not None:
            uncovered = sorted(set(needed) - set(trusted_types))
            if uncovered:
                raise InvalidInput(
                    f"the model holds types skops does not trust by default and trusted_types does not "
                    f"list: {', '.join(uncovered)}; add them to trusted_types if a loader may trust them"
                )
        return Saved([FILE], "skops", trusted_types=needed or None, requirements=self.requirements())

    def load(self, directory: Path, descriptor: ModelDescriptor, *, trusted_types: Sequence[str] = ()) -> Any:
        sio = self._skops()
        path = directory / FILE
        needed = sio.get_untrusted_types(file=path)
        refused = sorted(set(needed) - set(trusted_types))
        if refused:
            names = ", ".join(refused)
            reasons = getattr(
                require("skops.io.exceptions", "sklearn", "skops"), "UNTRUSTED_TYPE_REASONS", {}
            )
            why = (
                " (scikit-learn's tree storage among them: skops cannot check its node indices, so a crafted "
                "file could crash predict)"
                if any(n in reasons for n in refused)
                else ""
            )
            raise InvalidInput(
                f"{FILE} holds types that are not trusted by default: {names}{why}. Loading them can run "
                f"their code; if you trust this model's author, pass trusted_types={refused!r}"
            )
        return sio.load(path, trusted=list(needed))

"""Keras 3 models, in the native ``.keras`` format (``model.keras``), loaded with ``safe_mode=True``.

The ``.keras`` file is a zip of the model's config (JSON) and weights (HDF5); ``safe_mode`` refuses to
deserialize Python bytecode (a ``Lambda`` layer's function). Custom layers load when their class is
registered with ``keras.saving.register_keras_serializable`` in the loading process. The model is loaded
without its optimizer (``compile=False``): prediction does not need it, and loading is faster.

Prediction calls ``predict_on_batch`` (no ``tf.data`` pipeline: ~100x less overhead on one row than
``predict``) up to ``BATCH`` rows, and ``predict`` in batches above that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assay.models.descriptor import ModelDescriptor
from assay.models.flavors.base import Flavor, Predict, Saved, from_modules, installed_version

FILE = "model.keras"
BATCH = 4096
#: The pip distributions of each Keras backend (pinned beside keras in the requirements).
_BACKENDS = {"tensorflow": ("tensorflow-cpu", "tensorflow"), "jax": ("jax",), "torch": ("torch",)}


class KerasFlavor(Flavor):
    name = "keras"
    module = "keras"
    extra = "keras"
    distributions = (("keras",),)
    describes = "Keras 3 models (keras)"

    def handles(self, model: Any) -> bool:
        return from_modules(model, "keras") and hasattr(model, "predict_on_batch")

    def save(
        self,
        model: Any,
        directory: Path,
        input_example: Any,
        *,
        trusted_types: Sequence[str] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Saved:
        keras = self.framework()
        model.save(str(directory / FILE))
        backend = keras.backend.backend()
        found = installed_version(*_BACKENDS.get(backend, (backend,)))
        return Saved(
            [FILE], "keras", {"backend": backend}, requirements=[*self.requirements(), *filter(None, [found])]
        )

    def load(self, directory: Path, descriptor: ModelDescriptor, *, trusted_types: Sequence[str] = ()) -> Any:
        keras = self.framework()
        return keras.saving.load_model(str(directory / FILE), compile=False, safe_mode=True)

    def predictor(self, native: Any) -> Predict:
        def predict(X: Any) -> Any:
            if _rows(X) <= BATCH:
                return native.predict_on_batch(X)
            return native.predict(X, batch_size=BATCH, verbose=0)

        return predict

    def proba(self, native: Any) -> Predict | None:
        return None


def _rows(X: Any) -> int:
    """The batch size of one input, or of the first of several (a list or dict of arrays)."""
    if isinstance(X, dict):
        X = next(iter(X.values()), ())
    elif isinstance(X, (list, tuple)) and X and hasattr(X[0], "shape"):
        X = X[0]
    return len(X)

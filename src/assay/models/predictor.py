"""``Predictor``: one way to predict with a saved model of any flavor, its input checked first.

The per-call cost above the model's own ``predict`` is the compiled input check (``assay.models.checks``:
a few comparisons for an array or DataFrame already in the signature's shape) and one extra Python call:
the flavor's predict callable is bound once, when the predictor is built, not looked up per call.
``benchmarks/bench_predictor.py`` measures it (target: at most 20 us for one row).
"""

from __future__ import annotations

from typing import Any

from assay.errors import InvalidInput
from assay.models.checks import compile_check
from assay.models.descriptor import ModelDescriptor
from assay.models.flavors import Flavor
from assay.models.signature import Signature


def _unchecked(X: Any) -> Any:
    return X


class Predictor:
    """A loaded model: ``predict`` (labels for classifiers), ``predict_proba`` when the model has it.

    ``model`` is the native object (an estimator, a Booster, an ``nn.Module``, a Keras model);
    ``descriptor`` and ``signature`` describe it. Without a signature (saved with no input example)
    inputs go to the model unchecked. Thread-safe as far as the native model is.
    """

    def __init__(self, model: Any, flavor: Flavor, descriptor: ModelDescriptor) -> None:
        self.model = model
        self.flavor = flavor
        self.descriptor = descriptor
        raw = descriptor.signature
        self.signature = None if raw is None else Signature.from_dict(raw)
        self._check = _unchecked if self.signature is None else compile_check(self.signature.inputs)
        self._predict = flavor.predictor(model)
        self._proba = flavor.proba(model)

    @property
    def has_proba(self) -> bool:
        return self._proba is not None

    def predict(self, X: Any) -> Any:
        """Predictions on ``X`` (a DataFrame, array, records...), checked against the signature first."""
        return self._predict(self._check(X))

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities on ``X``; ``InvalidInput`` if the model gives none (a regressor, a network)."""
        if self._proba is None:
            raise InvalidInput(
                f"this {self.flavor.name} model ({self.descriptor.model_class}) has no predict_proba"
            )
        return self._proba(self._check(X))

    def check(self, X: Any) -> Any:
        """``X`` as ``predict`` would pass it to the model (coerced), or ``InvalidInput``."""
        return self._check(X)

    def __repr__(self) -> str:
        return f"<Predictor {self.flavor.name} {self.descriptor.model_class}>"

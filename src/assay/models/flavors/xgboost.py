"""XGBoost Boosters and scikit-learn wrappers, in XGBoost's own UBJSON format (``model.ubj``).

The file is the booster (trees, objective, feature names) plus, for a wrapper, the attributes XGBoost's
``load_model`` restores (``classes_``, ``n_classes_``). The wrapper's class is recorded and rebuilt from a
fixed list (never imported by the name in the descriptor), and its plain params are set back so
``get_params`` reads as before. A Booster predicts with ``inplace_predict`` (no DMatrix to build).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assay.errors import InvalidInput
from assay.models.descriptor import ModelDescriptor
from assay.models.flavors.base import Flavor, Predict, Saved, from_modules, plain

FILE = "model.ubj"
#: The classes a file may be restored as.
CLASSES = ("Booster", "XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor")


class XGBoostFlavor(Flavor):
    name = "xgboost"
    module = "xgboost"
    extra = "xgboost"
    distributions = (("xgboost-cpu", "xgboost"),)
    describes = "XGBoost Boosters and XGBClassifier/XGBRegressor/XGBRanker (xgboost)"

    def handles(self, model: Any) -> bool:
        return from_modules(model, "xgboost")

    def save(
        self,
        model: Any,
        directory: Path,
        input_example: Any,
        *,
        trusted_types: Sequence[str] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Saved:
        xgb = self.framework()
        kind = type(model).__name__
        if kind not in CLASSES or getattr(xgb, kind, None) is not type(model):
            raise InvalidInput(
                f"the xgboost flavor saves {', '.join(CLASSES)}; got {type(model).__qualname__}"
            )
        model.save_model(str(directory / FILE))
        metadata: dict[str, Any] = {"class": kind}
        if kind != "Booster":
            params, dropped = plain(model.get_params())
            metadata["params"] = params
            if dropped:
                metadata["dropped_params"] = dropped
        return Saved([FILE], "xgboost-ubj", metadata=metadata, requirements=self.requirements())

    def load(self, directory: Path, descriptor: ModelDescriptor, *, trusted_types: Sequence[str] = ()) -> Any:
        xgb = self.framework()
        kind = descriptor.metadata.get("class", "Booster")
        if kind not in CLASSES:
            raise InvalidInput(f"{descriptor.model_class!r} is not an xgboost class assay restores")
        model = getattr(xgb, kind)()
        model.load_model(str(directory / FILE))
        params = descriptor.metadata.get("params")
        if kind != "Booster" and isinstance(params, dict):
            model.set_params(**params)
        return model

    def predictor(self, native: Any) -> Predict:
        if type(native).__name__ == "Booster":
            return native.inplace_predict  # type: ignore[no-any-return]
        return native.predict  # type: ignore[no-any-return]

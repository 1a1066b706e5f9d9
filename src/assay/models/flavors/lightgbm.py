"""LightGBM Boosters and scikit-learn wrappers, in LightGBM's text model format (``model.txt``).

The text file holds the booster. LightGBM has no way to load a wrapper (LGBMClassifier, LGBMRegressor,
LGBMRanker) from it, so the wrapper is rebuilt: its class from a fixed list, its plain params, and the
fitted state its ``predict`` reads (classes and their dtype, the resolved objective, the feature count)
recorded in the descriptor. A custom objective function cannot be recorded: such a model needs pickle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assay.errors import InvalidInput
from assay.models.descriptor import ModelDescriptor
from assay.models.flavors.base import Flavor, Saved, from_modules, plain

FILE = "model.txt"
WRAPPERS = ("LGBMClassifier", "LGBMRegressor", "LGBMRanker")


class LightGBMFlavor(Flavor):
    name = "lightgbm"
    module = "lightgbm"
    extra = "lightgbm"
    distributions = (("lightgbm",),)
    describes = "LightGBM Boosters and LGBMClassifier/LGBMRegressor/LGBMRanker (lightgbm)"

    def handles(self, model: Any) -> bool:
        return from_modules(model, "lightgbm")

    def save(
        self,
        model: Any,
        directory: Path,
        input_example: Any,
        *,
        trusted_types: Sequence[str] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Saved:
        lgb = self.framework()
        kind = type(model).__name__
        if kind == "Booster" and type(model) is lgb.Booster:
            model.save_model(str(directory / FILE))
            return Saved([FILE], "lightgbm-text", {"class": kind}, requirements=self.requirements())
        if kind not in WRAPPERS or getattr(lgb, kind, None) is not type(model):
            raise InvalidInput(f"the lightgbm flavor saves Booster, {', '.join(WRAPPERS)}; got {kind}")
        if callable(getattr(model, "_objective", None)):
            raise InvalidInput(
                "a LightGBM model with a custom objective function cannot be saved in a safe format: "
                "save it with serialization='pickle'"
            )
        model.booster_.save_model(str(directory / FILE))
        params, dropped = plain(model.get_params())
        metadata: dict[str, Any] = {
            "class": kind,
            "params": params,
            "objective": model._objective,
            "n_features_in": int(model.n_features_in_),
            "fitted_with_feature_names": bool(getattr(model, "_fitted_with_feature_names", False)),
        }
        if dropped:
            metadata["dropped_params"] = dropped
        if kind == "LGBMClassifier":
            classes = np.asarray(model.classes_)
            metadata["classes"] = classes.tolist()
            metadata["classes_dtype"] = classes.dtype.str if classes.dtype.kind != "O" else "object"
        return Saved([FILE], "lightgbm-text", metadata, requirements=self.requirements())

    def load(self, directory: Path, descriptor: ModelDescriptor, *, trusted_types: Sequence[str] = ()) -> Any:
        lgb = self.framework()
        booster = lgb.Booster(model_file=str(directory / FILE))
        meta = descriptor.metadata
        kind = meta.get("class", "Booster")
        if kind == "Booster":
            return booster
        if kind not in WRAPPERS:
            raise InvalidInput(f"{descriptor.model_class!r} is not a lightgbm class assay restores")
        model = getattr(lgb, kind)(**meta.get("params", {}))
        _restore_fitted_state(model, booster, meta)
        return model


def _restore_fitted_state(model: Any, booster: Any, meta: Mapping[str, Any]) -> None:
    """Set what ``LGBMModel.fit`` sets and ``predict`` reads (lightgbm 4.x's private attributes)."""
    model._Booster = booster
    model._objective = meta["objective"]
    model._n_features = booster.num_feature()
    model._n_features_in = int(meta["n_features_in"])
    model._fitted_with_feature_names = bool(meta.get("fitted_with_feature_names", False))
    model._best_iteration = booster.best_iteration
    model._best_score = booster.best_score
    model._evals_result = {}
    if "classes" in meta:
        from sklearn.preprocessing import LabelEncoder

        classes = np.asarray(meta["classes"], dtype=np.dtype(meta.get("classes_dtype", "object")))
        model._le = LabelEncoder().fit(classes)
        model._classes = model._le.classes_
        model._n_classes = len(model._classes)
        model._class_map = dict(zip(model._classes, model._le.transform(model._classes), strict=True))
    model.fitted_ = True

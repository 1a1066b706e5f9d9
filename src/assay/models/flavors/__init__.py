"""The flavor registry: one visible place that maps a model to the flavor that saves, loads and runs it.

Detection asks the most recently registered flavor first, so a flavor registered by a user (or a more
specific built-in: xgboost and lightgbm wrappers are scikit-learn estimators too) wins over an earlier one.
Registering a flavor under an existing name replaces it.
"""

from __future__ import annotations

from typing import Any

from assay.errors import InvalidInput
from assay.models.flavors.base import Flavor, Saved
from assay.models.flavors.keras import KerasFlavor
from assay.models.flavors.lightgbm import LightGBMFlavor
from assay.models.flavors.python import PythonFlavor
from assay.models.flavors.sklearn import SklearnFlavor
from assay.models.flavors.torch import TorchFlavor
from assay.models.flavors.xgboost import XGBoostFlavor

__all__ = ["Flavor", "Saved", "detect_flavor", "get_flavor", "register_flavor", "registered_flavors"]

_REGISTRY: dict[str, Flavor] = {}


def register_flavor(flavor: Flavor) -> None:
    """Make ``flavor`` known by its name, and asked first by ``detect_flavor``."""
    _REGISTRY.pop(flavor.name, None)
    _REGISTRY[flavor.name] = flavor


def registered_flavors() -> list[Flavor]:
    """The registered flavors, in the order ``detect_flavor`` asks them."""
    return list(reversed(_REGISTRY.values()))


def get_flavor(name: str) -> Flavor:
    """The flavor a descriptor names; ``InvalidInput`` if none is registered under it."""
    flavor = _REGISTRY.get(name)
    if flavor is None:
        raise InvalidInput(
            f"unknown flavor {name!r}: this assay knows {', '.join(sorted(_REGISTRY))}; "
            "a custom flavor must be registered (assay.models.register_flavor) before loading"
        )
    return flavor


def detect_flavor(model: Any) -> Flavor:
    """The flavor that handles ``model``; ``InvalidInput`` listing the supported kinds if none does."""
    for flavor in registered_flavors():
        if flavor.handles(model):
            return flavor
    cls = type(model)
    supported = "; ".join(f.describes for f in registered_flavors() if f.describes)
    raise InvalidInput(
        f"unknown flavor: {cls.__module__}.{cls.__qualname__} is not a model assay saves safely. "
        f"Supported: {supported}. Save it with serialization='pickle' (any object with a predict method), "
        "or register a flavor with assay.models.register_flavor"
    )


for _builtin in (
    PythonFlavor(),
    SklearnFlavor(),
    KerasFlavor(),
    TorchFlavor(),
    LightGBMFlavor(),
    XGBoostFlavor(),
):
    register_flavor(_builtin)

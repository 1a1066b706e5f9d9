"""Pickle, the explicit opt-in: ``serialization="pickle"`` saves any model (cloudpickle when installed, so
lambdas and classes defined in a notebook survive), and loading it needs ``trust_pickle=True``.

Unpickling runs whatever code the file names, with the loading process's rights: a model from a run or a
registry is only as safe as everyone who could write it. So the descriptor records the choice, and a
loader must say it trusts the file; nothing in the descriptor can say it for them.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from assay.errors import InvalidInput
from assay.models.descriptor import PICKLE, ModelDescriptor
from assay.models.flavors.base import Saved, installed_version

FILE = "model.pkl"


def save_pickle(model: Any, directory: Path) -> Saved:
    """Pickle ``model`` into ``directory`` (cloudpickle if installed, else the standard library)."""
    try:
        import cloudpickle

        dump: Any = cloudpickle.dump
        pickler = "cloudpickle"
    except ImportError:
        dump, pickler = pickle.dump, "pickle"
    with open(directory / FILE, "wb") as f:
        dump(model, f, protocol=pickle.HIGHEST_PROTOCOL)
    found = installed_version("cloudpickle") if pickler == "cloudpickle" else None
    return Saved([FILE], PICKLE, {"pickler": pickler}, requirements=[found] if found else [])


def load_pickle(directory: Path, descriptor: ModelDescriptor, trust_pickle: bool) -> Any:
    """The unpickled model; ``InvalidInput`` explaining the risk unless ``trust_pickle`` is True."""
    if not trust_pickle:
        raise InvalidInput(
            f"this {descriptor.flavor} model was saved with pickle (serialization='pickle'): loading it "
            "runs code from the file, which can do anything this process can. Load it only if you trust "
            "everyone who could have written it: pass trust_pickle=True"
        )
    with open(directory / FILE, "rb") as f:
        return pickle.load(f)  # the caller said trust_pickle=True

"""Save a model to a local directory and load it back: the native model, or a ``Predictor``.

A model directory holds the flavor's files and ``assay-model.yaml`` (``ModelDescriptor``). It is written
in a sibling staging directory and renamed into place, so a failed save leaves nothing behind and a reader
never sees half a model.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assay._version import __version__
from assay.errors import InvalidInput, NotFound
from assay.models.descriptor import DESCRIPTOR_FILE, PICKLE, ModelDescriptor, read_descriptor
from assay.models.flavors import Flavor, Saved, detect_flavor, get_flavor
from assay.models.flavors.base import class_path, plain
from assay.models.flavors.python import PythonFlavor
from assay.models.pickling import load_pickle, save_pickle
from assay.models.predictor import Predictor
from assay.models.signature import Signature, infer_signature

SERIALIZATIONS = ("safe", PICKLE)


def save_model(
    model: Any,
    path: str | os.PathLike[str],
    input_example: Any = None,
    serialization: str = "safe",
    trusted_types: Sequence[str] | None = None,
    extra_requirements: Sequence[str] | None = None,
    options: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> ModelDescriptor:
    """Save ``model`` into the new (or empty) directory ``path``; returns its descriptor.

    ``input_example``: a few rows of what the model takes; the signature is inferred from it and from the
    model's predictions on it (without one, a Predictor checks nothing). ``serialization``: "safe" (the
    flavor's format; the default) or "pickle" (any object with ``predict``; loading needs trust).
    ``trusted_types`` (scikit-learn): types outside skops' defaults the author vouches for; saving fails
    if the model holds one not listed. ``extra_requirements``: pip specifiers added to the descriptor's.
    ``options``: flavor-specific (torch: ``export``, ``init_kwargs``). ``metadata``: plain data kept in the
    descriptor under ``metadata["user"]``.
    """
    if serialization not in SERIALIZATIONS:
        raise InvalidInput(f"serialization must be one of {', '.join(SERIALIZATIONS)}, not {serialization!r}")
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidInput(f"{str(target)!r} exists and is not an empty directory: save to a new path")
    flavor = _flavor_for(model, serialization)
    example = None if input_example is None else flavor.prepare_example(model, input_example)
    signature = None if example is None else _signature(flavor, model, example)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        if serialization == PICKLE:
            saved = save_pickle(model, staging)
        else:
            saved = flavor.save(model, staging, example, trusted_types=trusted_types, options=options)
        descriptor = _describe(model, flavor, saved, signature, extra_requirements, metadata)
        (staging / DESCRIPTOR_FILE).write_bytes(descriptor.to_yaml())
        if target.exists():
            target.rmdir()
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return descriptor


def load_model(
    path: str | os.PathLike[str], trust_pickle: bool = False, trusted_types: Sequence[str] | None = None
) -> Any:
    """The native model saved in ``path`` (an estimator, a Booster, an ``nn.Module``, a Keras model).

    ``trust_pickle``: load a model saved with pickle (it runs code from the file). ``trusted_types``
    (scikit-learn): type names outside skops' defaults that you trust, as the refusal message lists them.
    """
    model, _, _ = _load(Path(path), trust_pickle, trusted_types)
    return model


def load_predictor(
    path: str | os.PathLike[str], trust_pickle: bool = False, trusted_types: Sequence[str] | None = None
) -> Predictor:
    """A ``Predictor`` over the model saved in ``path`` (arguments as ``load_model``)."""
    return Predictor(*_load(Path(path), trust_pickle, trusted_types))


def read_model_descriptor(path: str | os.PathLike[str]) -> ModelDescriptor:
    """The descriptor of the model in directory ``path``; ``NotFound`` if there is none."""
    file = Path(path) / DESCRIPTOR_FILE
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise NotFound(
            f"{str(path)!r} holds no {DESCRIPTOR_FILE}: it is not a model saved by assay"
        ) from None
    return read_descriptor(data)


def _load(
    directory: Path, trust_pickle: bool, trusted_types: Sequence[str] | None
) -> tuple[Any, Flavor, ModelDescriptor]:
    descriptor = read_model_descriptor(directory)
    flavor = get_flavor(descriptor.flavor)
    missing = [f for f in descriptor.files if not (directory / f).is_file()]
    if missing:
        raise NotFound(f"the model in {str(directory)!r} lacks its file {missing[0]!r}")
    if descriptor.is_pickle:
        return load_pickle(directory, descriptor, trust_pickle), flavor, descriptor
    return flavor.load(directory, descriptor, trusted_types=tuple(trusted_types or ())), flavor, descriptor


def _flavor_for(model: Any, serialization: str) -> Flavor:
    if serialization != PICKLE:
        return detect_flavor(model)
    try:
        return detect_flavor(model)
    except InvalidInput:
        python = get_flavor("python")
        if isinstance(python, PythonFlavor) and python.accepts(model):
            return python
        raise InvalidInput(
            f"a pickled model needs a predict method; {type(model).__qualname__} has none"
        ) from None


def _signature(flavor: Flavor, model: Any, example: Any) -> Signature:
    try:
        output = flavor.predict(model, example)
    except Exception as exc:
        raise InvalidInput(
            f"the model cannot predict on its input example ({type(exc).__name__}: {exc}); "
            "give an example of what it takes"
        ) from exc
    return infer_signature(example, output)


def _describe(
    model: Any,
    flavor: Flavor,
    saved: Saved,
    signature: Signature | None,
    extra_requirements: Sequence[str] | None,
    metadata: Mapping[str, Any] | None,
) -> ModelDescriptor:
    framework = flavor.module if flavor.name != "python" else type(model).__module__.split(".")[0]
    meta = dict(saved.metadata)
    if metadata:
        user, dropped = plain(metadata)
        if dropped:
            raise InvalidInput(f"metadata must be plain data (numbers, strings, lists, dicts): {dropped}")
        meta["user"] = user
    return ModelDescriptor(
        flavor=flavor.name,
        serialization=saved.serialization,
        files=saved.files,
        model_class=class_path(model),
        framework=framework,
        framework_version=_version_of(framework),
        python_version=platform.python_version(),
        requirements=[*saved.requirements, f"assay=={__version__}", *(extra_requirements or ())],
        signature=None if signature is None else signature.to_dict(),
        trusted_types=saved.trusted_types,
        metadata=meta,
        assay_version=__version__,
    )


def _version_of(module: str) -> str:
    return str(getattr(sys.modules.get(module), "__version__", ""))

"""PyTorch ``nn.Module``: an exported program (``model.pt2``) when it exports, else its weights.

With an input example, the module (in eval mode) is exported with ``torch.export`` with a dynamic batch
dimension and saved with ``torch.export.save``: the file holds the graph and the weights, so loading needs
neither the module's code nor pickle (the archive is audited first: ``assay.models.flavors.pt2``).

Without an example, or when export fails (data-dependent control flow), or with ``options={"export":
False}``, the weights are saved as safetensors (``model.safetensors``; or ``weights.pt`` loaded with
``weights_only=True`` where safetensors is not installed), with the module's class import path. Loading
imports that class (it must be an ``nn.Module`` subclass), builds it with ``options["init_kwargs"]`` (plain
data, recorded in the descriptor) and loads the weights. No path runs a pickle from the files.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assay.errors import InvalidInput
from assay.models.descriptor import ModelDescriptor
from assay.models.flavors.base import Flavor, Predict, Saved, from_modules, installed_version, plain
from assay.models.flavors.pt2 import audit_pt2
from assay.optional import require

EXPORTED = "model.pt2"
SAFETENSORS = "model.safetensors"
WEIGHTS = "weights.pt"


class TorchFlavor(Flavor):
    name = "torch"
    module = "torch"
    extra = "torch"
    distributions = (("torch",),)
    describes = "PyTorch nn.Module (torch)"

    def handles(self, model: Any) -> bool:
        return from_modules(model, "torch") and hasattr(model, "state_dict")

    def save(
        self,
        model: Any,
        directory: Path,
        input_example: Any,
        *,
        trusted_types: Sequence[str] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Saved:
        torch = self.framework()
        opts = dict(options or {})
        was_training = model.training
        model.eval()
        try:
            failure = "no input example"
            if input_example is not None and opts.get("export", True):
                try:
                    return self._export(torch, model, directory, input_example)
                except Exception as exc:  # any tracing failure: fall back to the weights
                    failure = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            elif input_example is not None:
                failure = "export=False"
            return self._save_weights(torch, model, directory, opts, failure)
        finally:
            model.train(was_training)

    def prepare_example(self, model: Any, example: Any) -> Any:
        """Floating inputs in the dtype of the module's weights (a float64 array for a float32 module), so
        the export traces what the module computes and the signature asks for that dtype."""
        torch = self.framework()
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
        name = str(dtype).removeprefix("torch.")
        if name not in ("float16", "float32", "float64"):
            return example
        np_dtype = np.dtype(name)

        def cast(value: Any) -> Any:
            if isinstance(value, torch.Tensor):
                return value.to(dtype) if value.is_floating_point() else value
            arr = np.asarray(value)
            return arr.astype(np_dtype) if arr.dtype.kind == "f" else value

        if isinstance(example, (list, tuple)):
            return [cast(v) for v in example]
        if isinstance(example, dict):
            return {k: cast(v) for k, v in example.items()}
        return cast(example)

    def _export(self, torch: Any, model: Any, directory: Path, example: Any) -> Saved:
        args = tuple(_widen_batch(torch, a) for a in to_args(torch, example))
        dynamic = tuple({0: torch.export.Dim.DYNAMIC} if a.dim() else None for a in args)
        program = torch.export.export(model, args, dynamic_shapes=dynamic)
        torch.export.save(program, str(directory / EXPORTED))
        return Saved(
            [EXPORTED], "torch-export", {"class": _class_path(model)}, requirements=self.requirements()
        )

    def _save_weights(
        self, torch: Any, model: Any, directory: Path, opts: Mapping[str, Any], why: str
    ) -> Saved:
        init_kwargs, dropped = plain(opts.get("init_kwargs") or {})
        if dropped:
            raise InvalidInput(f"init_kwargs must be plain data (numbers, strings, lists, dicts): {dropped}")
        metadata = {"class": _class_path(model), "init_kwargs": init_kwargs, "not_exported": why}
        requirements = self.requirements()
        try:
            from safetensors.torch import save_model
        except ImportError:
            torch.save(model.state_dict(), str(directory / WEIGHTS))
            return Saved([WEIGHTS], "torch-weights", metadata, requirements=requirements)
        save_model(model, str(directory / SAFETENSORS))
        requirements += [r for r in [installed_version("safetensors")] if r]
        return Saved([SAFETENSORS], "safetensors", metadata, requirements=requirements)

    def load(self, directory: Path, descriptor: ModelDescriptor, *, trusted_types: Sequence[str] = ()) -> Any:
        torch = self.framework()
        if descriptor.serialization == "torch-export":
            path = directory / EXPORTED
            audit_pt2(path, torch)
            return torch.export.load(str(path)).module()
        model = _rebuild(torch, descriptor)
        if descriptor.serialization == "safetensors":
            st = require("safetensors.torch", "torch", "loading torch weights saved as safetensors")
            st.load_model(model, str(directory / SAFETENSORS))
        elif descriptor.serialization == "torch-weights":
            state = torch.load(str(directory / WEIGHTS), map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        else:
            raise InvalidInput(f"the torch flavor does not read {descriptor.serialization!r} files")
        return model.eval()

    def predictor(self, native: Any) -> Predict:
        torch = self.framework()
        no_grad = torch.no_grad

        def predict(X: Any) -> Any:
            with no_grad():
                if isinstance(X, dict):
                    out = native(**{k: _tensor(torch, v) for k, v in X.items()})
                else:
                    out = native(*to_args(torch, X))
            return to_numpy(out)

        return predict

    def proba(self, native: Any) -> Predict | None:
        return None


def to_args(torch: Any, example: Any) -> list[Any]:
    """The positional tensors of a call: one array or tensor, or a list/tuple of them."""
    if isinstance(example, (list, tuple)):
        return [_tensor(torch, e) for e in example]
    return [_tensor(torch, example)]


def _tensor(torch: Any, value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value
    arr = np.asarray(value)
    if not arr.flags.writeable:
        arr = arr.copy()  # torch.from_numpy warns on a read-only array
    return torch.from_numpy(arr)


def _widen_batch(torch: Any, arg: Any) -> Any:
    """An example with a batch of one, repeated to two rows: export specialises a dimension of size 1."""
    if arg.dim() and arg.shape[0] == 1:
        return torch.cat([arg, arg])
    return arg


def to_numpy(out: Any) -> Any:
    """A module's output as numpy: a tensor, or a list/tuple/dict of them."""
    if isinstance(out, (list, tuple)):
        return [to_numpy(o) for o in out]
    if isinstance(out, dict):
        return {k: to_numpy(v) for k, v in out.items()}
    if hasattr(out, "detach"):
        return out.detach().cpu().numpy()
    return out


def _class_path(model: Any) -> str:
    cls = type(model)
    return f"{cls.__module__}:{cls.__qualname__}"


def _rebuild(torch: Any, descriptor: ModelDescriptor) -> Any:
    """The module's class, imported by the recorded path and checked to be an ``nn.Module``, built anew."""
    path = str(descriptor.metadata.get("class", ""))
    module_name, _, qualname = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError, ValueError) as exc:
        raise InvalidInput(
            f"the module's class {path!r} cannot be imported ({exc}): the weights need the code that "
            "defines it; install or import it, or save the model with an input example to export it"
        ) from None
    if not (isinstance(obj, type) and issubclass(obj, torch.nn.Module)):
        raise InvalidInput(f"{path!r} is not a torch.nn.Module subclass; refusing to call it")
    kwargs = descriptor.metadata.get("init_kwargs") or {}
    try:
        return obj(**kwargs)
    except TypeError as exc:
        raise InvalidInput(
            f"cannot build {path} with init_kwargs={kwargs!r} ({exc}): save it with "
            "options={'init_kwargs': {...}} giving the arguments of its __init__"
        ) from None

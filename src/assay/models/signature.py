"""A model's signature: the inputs it takes and the outputs it gives, inferred from an input example.

Saved in the model's descriptor (``Signature.to_dict``), read back by the registry and by ``Predictor``,
which checks every input against it before the model sees it (``check_input``; see ``assay.models.checks``
for what is coerced and what is refused).

An input example may be a pandas DataFrame (column names and dtypes), a numpy array or torch tensor (dtype,
and shape with -1 for the batch dimension), a list or dict of arrays (several inputs), or records (a dict
or a list of dicts, read as a DataFrame). The outputs are inferred the same way from the model's
predictions on the example.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assay.errors import InvalidInput
from assay.models.checks import compile_check
from assay.models.schema import ColSpec, Schema, TensorSpec, infer_schema

__all__ = ["ColSpec", "Schema", "Signature", "TensorSpec", "check_input", "infer_signature"]


@dataclass(frozen=True)
class Signature:
    """Inputs (always) and outputs (when the model's output on the example was known)."""

    inputs: Schema
    outputs: Schema | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs.to_dict(),
            "outputs": None if self.outputs is None else self.outputs.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Signature:
        if not isinstance(data, dict) or "inputs" not in data:
            raise InvalidInput("a signature is a mapping with 'inputs' (and 'outputs')")
        outputs = data.get("outputs")
        return cls(Schema.from_dict(data["inputs"]), None if outputs is None else Schema.from_dict(outputs))


def infer_signature(input_example: Any, output: Any = None) -> Signature:
    """The signature of a model that takes ``input_example`` and gave ``output`` for it (None: unknown)."""
    return Signature(infer_schema(input_example), None if output is None else infer_schema(output))


def check_input(signature: Signature, X: Any) -> Any:
    """``X``, checked against the signature's inputs and safely coerced; ``InvalidInput`` in one line naming
    the wrong, missing or extra column, or the wrong dtype or shape, and what was expected.

    Each call compiles the check anew; ``Predictor`` compiles it once per model.
    """
    return compile_check(signature.inputs)(X)

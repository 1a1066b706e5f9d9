"""Convert a loaded model, check its parity and measure its latency: everything but the registry.

``convert_checked`` is the bridge's work on a model in hand (``bridge.convert`` adds loading it from a
``models:/`` URI and storing the results with the version). With ``precision="auto"`` (the default) a
model is converted with float32 inputs first; when that fails parity and the signature has float64 inputs,
it is converted again with float64 inputs (preprocessing in double, as scikit-learn computes it) and that
one is kept if it passes: a StandardScaler or a ColumnTransformer in front of trees needs it (see
``sklearn_converter``), a plain estimator does not pay for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from assay.errors import InvalidInput
from assay.models.descriptor import ModelDescriptor
from assay.models.flavors import detect_flavor
from assay.models.flavors.base import class_path
from assay.models.predictor import Predictor
from assay.models.schema import Schema, is_frame, is_text
from assay.models.signature import Signature, infer_signature
from assay.onnx.base import ConversionError, Precision
from assay.onnx.converters import convert_model
from assay.onnx.info import OnnxInfo
from assay.onnx.latency import LatencyCard, measure_latency
from assay.onnx.parity import ParityReport, Tolerances, WorstRow, compare, outputs_of, resolve_tolerances
from assay.onnx.runtime import OnnxPredictor

PrecisionChoice = Literal["auto", "float32", "float64"]
#: Parity runs on at most this many rows of the data given (a seeded random sample, in order).
MAX_ROWS = 5000
#: Rows drawn from the signature when no data is given.
SYNTHETIC_ROWS = 256


@dataclass(frozen=True)
class OnnxResult:
    """A conversion and its checks: the ONNX file, what it is, its parity report and latency card;
    ``uri`` is the model version it is stored with (``bridge.convert``), else None."""

    onnx: bytes
    info: OnnxInfo
    parity: ParityReport
    latency: LatencyCard | None
    uri: str | None = None

    @property
    def passed(self) -> bool:
        return self.parity.passed

    def predictor(self, threads: int = 1) -> OnnxPredictor:
        return OnnxPredictor(self.onnx, threads=threads)

    def render(self) -> str:
        parts = [self.info.render(), self.parity.render()]
        if self.latency is not None:
            parts.append(self.latency.render())
        return "\n".join(parts)


def convert_checked(
    native: Predictor,
    data: Any = None,
    tolerances: Tolerances | None = None,
    *,
    precision: PrecisionChoice = "auto",
    latency: bool = True,
    latency_budget_s: float = 3.0,
) -> OnnxResult:
    """Convert ``native`` (a loaded model: ``assay.models.load_predictor``), compare it with its ONNX on
    ``data`` (default: rows drawn from the signature), and measure both. ``ConversionError`` if it cannot
    be converted; a parity failure is a report with ``passed=False``, not an exception."""
    if precision not in ("auto", "float32", "float64"):
        raise InvalidInput(f"precision must be auto, float32 or float64, not {precision!r}")
    signature = native.signature
    if signature is None:
        raise ConversionError(
            "the model has no signature (it was logged without an input example), so the ONNX inputs "
            "cannot be typed: log it again with input_example="
        )
    trial = _Trial(native, signature, *validation_sample(native, signature, data), tolerances)
    first = trial.run("float32" if precision == "auto" else precision)
    helps = first.info.precision == "float32" and _has_float64(signature)  # double inputs could change it
    if precision == "auto" and not first.parity.passed and helps:
        first = trial.retry_float64(first)
    card = None
    if latency:
        card = measure_latency(native.predict, first.onnx, trial.sample, signature, budget_s=latency_budget_s)
    return replace(first, latency=card)


def native_predictor(model: Any, input_example: Any) -> Predictor:
    """A ``Predictor`` over a model in memory (not saved), its signature inferred from ``input_example`` as
    ``log_model`` would: what ``convert_checked`` takes, for a model that was never logged."""
    flavor = detect_flavor(model)
    example = flavor.prepare_example(model, input_example)
    signature = infer_signature(example, flavor.predict(model, example))
    descriptor = ModelDescriptor(
        flavor=flavor.name,
        serialization="memory",
        files=[],
        model_class=class_path(model),
        framework=flavor.module,
        framework_version="",
        python_version="",
        signature=signature.to_dict(),
    )
    return Predictor(model, flavor, descriptor)


@dataclass(frozen=True)
class _Trial:
    """One model, its validation sample and tolerances: converted and checked at a given precision."""

    native: Predictor
    signature: Signature
    sample: Any
    positions: Any
    source: str
    tolerances: Tolerances | None

    def run(self, precision: Precision) -> OnnxResult:
        native = self.native
        converted, info = convert_model(
            native.model, native.flavor.name, self.signature, precision, self.sample
        )
        onnx = OnnxPredictor(converted.onnx, self.signature)
        report = check_parity(native, onnx, self.sample, self.tolerances, self.source, self.positions)
        return OnnxResult(converted.onnx, info, report, None)

    def retry_float64(self, failed: OnnxResult) -> OnnxResult:
        """The float64 conversion if it passes parity where ``failed`` (float32) did not; else ``failed``,
        its notes saying what was tried."""
        why = f"float32 inputs failed parity ({summary(failed.parity)})"
        try:
            again = self.run("float64")
        except ConversionError as exc:
            return replace(
                failed, info=failed.info.with_notes(f"{why}; float64 inputs do not convert: {exc.message}")
            )
        if again.parity.passed:
            return replace(
                again, info=again.info.with_notes(f"{why}; converted again with float64 inputs, which pass")
            )
        note = f"{why}; float64 inputs failed too ({summary(again.parity)})"
        return replace(failed, info=failed.info.with_notes(note))


def summary(report: ParityReport) -> str:
    """The failing outputs in a few words each."""
    failed = [
        f"{o.name}: max abs error {o.max_abs_error:.3g}"
        if o.max_abs_error is not None
        else f"{o.name}: {o.problem or 'labels differ'}"
        for o in report.outputs
        if not o.passed
    ]
    return ", ".join(failed) or "passed"


def check_parity(
    native: Predictor,
    onnx: OnnxPredictor,
    sample: Any,
    tolerances: Tolerances | None = None,
    source: str = "data",
    positions: Any = None,
) -> ParityReport:
    """Native against ONNX on ``sample`` (already in the signature's form): ``predict``, and
    ``predict_proba`` where both have it. ``positions``: each sample row's index in the data given."""
    outputs = onnx.outputs
    native_out = outputs_of(native.predict(sample), outputs.predict)
    onnx_out = outputs_of(onnx.predict(sample), outputs.predict)
    methods = dict.fromkeys(outputs.predict, "predict")
    roles = outputs.roles()
    probabilities = None
    if outputs.proba is not None:
        if native.has_proba:
            probabilities = native.predict_proba(sample)
            native_out[outputs.proba] = probabilities
            onnx_out[outputs.proba] = onnx.predict_proba(sample)
            methods[outputs.proba] = "predict_proba"
        else:
            roles.pop(outputs.proba)
    report = compare(
        native_out,
        onnx_out,
        roles,
        methods,
        resolve_tolerances(roles, tolerances),
        source=source,
        precision=onnx.precision,
        probabilities=probabilities,
    )
    if positions is None:
        return report
    return replace(
        report,
        outputs=tuple(replace(o, worst=tuple(_at(w, positions) for w in o.worst)) for o in report.outputs),
    )


def _at(row: WorstRow, positions: Any) -> WorstRow:
    return replace(row, index=int(positions[row.index]))


def _has_float64(signature: Signature) -> bool:
    schema = signature.inputs
    dtypes = (
        [c.dtype for c in schema.columns] if schema.kind == "dataframe" else [t.dtype for t in schema.tensors]
    )
    return any(d.lower() == "float64" for d in dtypes)


# ---- the validation sample -----------------------------------------------------------------------------


def validation_sample(native: Predictor, signature: Signature, data: Any) -> tuple[Any, Any, str]:
    """The rows parity runs on, checked against the signature: ``(sample, positions, source)``.

    ``data`` given: at most ``MAX_ROWS`` of its rows (a seeded random sample, kept in order; ``positions``
    are their indices in ``data``). None: ``SYNTHETIC_ROWS`` rows drawn from the signature (standard normal
    floats, small integers), which exercise the conversion but not the model's real input range."""
    if data is None:
        return synthetic(signature.inputs), None, "synthetic"
    checked = native.check(data)
    n = _rows(checked)
    if n == 0:
        raise InvalidInput("the validation data has no rows")
    if n <= MAX_ROWS:
        return checked, None, "data"
    positions = np.sort(np.random.default_rng(0).choice(n, MAX_ROWS, replace=False))
    return _select(checked, positions), positions, "data"


def _rows(value: Any) -> int:
    if isinstance(value, Mapping):
        value = next(iter(value.values()))
    elif isinstance(value, (list, tuple)):
        value = value[0]
    return len(value)


def _select(value: Any, positions: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _select(v, positions) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_select(v, positions) for v in value]
    if is_frame(value):
        return value.iloc[positions].reset_index(drop=True)
    return value[positions]


def synthetic(schema: Schema, rows: int = SYNTHETIC_ROWS, seed: int = 0) -> Any:
    """Rows of ``schema`` drawn at random: standard normal floats, integers 0-9, booleans; ``InvalidInput``
    for text (no draw stands for a category the model knows)."""
    rng = np.random.default_rng(seed)
    if schema.kind == "dataframe":
        import pandas as pd

        text = [c.name for c in schema.columns if is_text(c.dtype) or c.dtype in ("object", "category")]
        if text:
            raise InvalidInput(
                f"column {text[0]!r} holds text, which random rows cannot stand for: pass data= (rows the model "
                "takes) to check the ONNX model's parity"
            )
        return pd.DataFrame({c.name: _draw(rng, c.dtype, (rows,)) for c in schema.columns})
    arrays = [_draw(rng, t.dtype, tuple(rows if n == -1 else n for n in t.shape)) for t in schema.tensors]
    if schema.kind == "tensor":
        return arrays[0]
    if all(t.name is not None for t in schema.tensors):
        return {str(t.name): a for t, a in zip(schema.tensors, arrays, strict=True)}
    return arrays


def _draw(rng: Any, dtype: str, shape: tuple[int, ...]) -> Any:
    try:
        kind = np.dtype(dtype.lower() if dtype != "boolean" else "bool")
    except TypeError:
        raise InvalidInput(f"cannot draw random values of dtype {dtype}: pass data=") from None
    if kind.kind == "f":
        return rng.standard_normal(shape).astype(kind)
    if kind.kind in "iu":
        return rng.integers(0, 10, shape).astype(kind)
    if kind.kind == "b":
        return rng.random(shape) < 0.5
    raise InvalidInput(f"cannot draw random values of dtype {dtype}: pass data=")

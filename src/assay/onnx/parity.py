"""Parity: does the ONNX model predict what the native model predicts, on the same rows?

Both run on one validation sample: the native model through its flavor's ``predict`` / ``predict_proba``,
the ONNX model through ``OnnxPredictor`` (inputs cast to the ONNX types, float32 by default). Each output
is compared element by element:

- values and probabilities: an element is within tolerance when ``|onnx - native| <= atol + rtol * scale``,
  ``scale`` being the output's largest magnitude in the sample (float32 rounding is relative to the size
  of what is summed, not of the result, so an output near zero gets the same allowance as the rest);
- labels: the share of rows with the same label, leaving out rows whose native top two probabilities are
  closer than twice the probability tolerance: a tie that rounding may break either way (a 100-tree forest
  gives exactly 0.5 often enough) is reported, not counted as a disagreement.

Defaults (``DEFAULTS``), from the errors measured on this bridge's models (float32 inputs against the
native model on float64 data; ``benchmarks/bench_onnx.py`` and the tests rerun such cases):

- probabilities differed by at most 1.6e-6: random forest 6.6e-7, logistic regression on unscaled
  features 9.4e-7 to 1.6e-6, ColumnTransformer + logistic regression 7.7e-8, XGBoost 1.2e-7, LightGBM
  1.0e-7. ``atol=1e-5`` leaves 6x room over the worst and still fails a real drift (a scaler before XGBoost
  in float32: 0.34; k-nearest neighbours breaking distance ties another way: 0.2);
- regression outputs differed by 3e-7 to 5.4e-7 of their scale (gradient boosting 1.3e-4 near 350,
  XGBoost 1.8e-4 near 340, LightGBM 9.9e-5, a random forest 1.3 on values near 3.9e6): ``rtol=1e-5`` of the
  scale leaves 18x room; ``atol=1e-6`` covers outputs that are all near zero;
- networks (torch, Keras) differed by 1.2e-7, inside the same ``values`` tolerance;
- labels agreed on every row of every model above. They must agree on every unambiguous row: a different
  label is a different answer for a user (float32 rounding before a scaler and XGBoost flipped one label
  in 400; float64 inputs, which "auto" precision then picks, agree on all).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from assay.errors import InvalidInput
from assay.onnx.graph import ROLES

#: How many of the worst rows a report keeps per output.
WORST = 5


@dataclass(frozen=True)
class Tolerance:
    """``atol`` and ``rtol`` (relative to the output's largest magnitude) bound each element's error;
    ``min_share`` is the share of elements (labels: of unambiguous rows) that must be within it."""

    atol: float = 0.0
    rtol: float = 0.0
    min_share: float = 1.0

    def __post_init__(self) -> None:
        for name in ("atol", "rtol", "min_share"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
                raise InvalidInput(f"tolerance {name} must be a number >= 0, got {value!r}")
        if self.min_share > 1:
            raise InvalidInput(f"tolerance min_share is a share between 0 and 1, got {self.min_share!r}")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


#: The default tolerance of each role (see the module docstring for the measurements behind them).
DEFAULTS: dict[str, Tolerance] = {
    "label": Tolerance(min_share=1.0),
    "probabilities": Tolerance(atol=1e-5),
    "values": Tolerance(atol=1e-6, rtol=1e-5),
}

Tolerances = Mapping[str, "Tolerance | Mapping[str, float]"]


def resolve_tolerances(roles: Mapping[str, str], given: Tolerances | None) -> dict[str, Tolerance]:
    """The tolerance of each output: its role's default, overridden by ``given`` keyed by role and then by
    output name (a mapping such as ``{"atol": 1e-4}`` changes only the fields it names)."""
    given = dict(given or {})
    unknown = [k for k in given if k not in roles and k not in ROLES]
    if unknown:
        keys = ", ".join([*ROLES, *roles])
        raise InvalidInput(f"no output or role {unknown[0]!r} to set a tolerance for; use one of {keys}")
    for change in given.values():
        _merge(Tolerance(), change)  # a typo in a role this model lacks is still a typo
    out = {}
    for name, role in roles.items():
        tol = DEFAULTS[role]
        for key in (role, name):
            if key in given:
                tol = _merge(tol, given[key])
        out[name] = tol
    return out


def _merge(base: Tolerance, change: Tolerance | Mapping[str, float]) -> Tolerance:
    if isinstance(change, Tolerance):
        return change
    if not isinstance(change, Mapping):
        raise InvalidInput(
            f"a tolerance is a Tolerance or a mapping of atol, rtol, min_share; got {change!r}"
        )
    bad = [k for k in change if k not in ("atol", "rtol", "min_share")]
    if bad:
        raise InvalidInput(f"unknown tolerance field {bad[0]!r}: use atol, rtol or min_share")
    return Tolerance(**{**base.to_dict(), **change})


@dataclass(frozen=True)
class WorstRow:
    """One of the rows an output differs most on: its index in the sample, the column (of a 2-D output),
    both values and the absolute error (labels: None)."""

    index: int
    native: Any
    onnx: Any
    error: float | None = None
    column: int | None = None


@dataclass(frozen=True)
class OutputParity:
    """The comparison of one output (``name``, ``role``, the native ``method`` it comes from)."""

    name: str
    role: str
    method: str
    passed: bool
    count: int
    tolerance: Tolerance
    within_share: float
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    label_agreement: float | None = None
    ambiguous_rows: int = 0
    worst: tuple[WorstRow, ...] = ()
    problem: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["tolerance"] = self.tolerance.to_dict()
        out["worst"] = [asdict(w) for w in self.worst]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutputParity:
        fields = dict(data)
        fields["tolerance"] = Tolerance(**fields["tolerance"])
        fields["worst"] = tuple(WorstRow(**w) for w in fields.get("worst", ()))
        return cls(**fields)


@dataclass(frozen=True)
class ParityReport:
    """Native against ONNX on ``rows`` rows from ``source`` ("data", or "synthetic": drawn from the
    signature when no data was given), with the ONNX model's input ``precision``."""

    passed: bool
    rows: int
    source: str
    precision: str
    outputs: tuple[OutputParity, ...]

    def output(self, name: str) -> OutputParity:
        for o in self.outputs:
            if o.name == name:
                return o
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "outputs": [o.to_dict() for o in self.outputs]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParityReport:
        try:
            return cls(
                passed=bool(data["passed"]),
                rows=int(data["rows"]),
                source=str(data["source"]),
                precision=str(data["precision"]),
                outputs=tuple(OutputParity.from_dict(o) for o in data["outputs"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"malformed parity report: {exc!r}") from None

    def render(self) -> str:
        """A few lines for the CLI: the verdict, then each output's figures and its worst rows."""
        verdict = "PASSED" if self.passed else "FAILED"
        synthetic = " (synthetic rows from the signature: pass data= to check real inputs)"
        lines = [
            f"parity {verdict}: native vs onnxruntime on {self.rows:,} rows, {self.precision} inputs"
            + (synthetic if self.source == "synthetic" else "")
        ]
        for o in self.outputs:
            mark = "ok  " if o.passed else "FAIL"
            lines.append(f"  {mark} {o.name} ({o.method}): {_figures(o)}")
            if o.problem:
                lines.append(f"       {o.problem}")
            for w in o.worst[: 3 if o.passed else WORST]:
                at = f"row {w.index}" + (f" [{w.column}]" if w.column is not None else "")
                err = "" if w.error is None else f"  error {w.error:.3g}"
                lines.append(f"       {at}: native {_show(w.native)}  onnx {_show(w.onnx)}{err}")
        return "\n".join(lines)


def _figures(o: OutputParity) -> str:
    t = o.tolerance
    if o.role == "label":
        amb = f", {o.ambiguous_rows} tied rows left out" if o.ambiguous_rows else ""
        agree = "n/a" if o.label_agreement is None else f"{o.label_agreement:.2%}"
        return f"labels agree on {agree} of {o.count:,} rows{amb} (need {t.min_share:.2%})"
    if o.max_abs_error is None:
        return "not compared"
    return (
        f"max abs error {o.max_abs_error:.3g}, max rel error {o.max_rel_error or 0:.3g}, "
        f"{o.within_share:.2%} within atol={t.atol:g} rtol={t.rtol:g} (need {t.min_share:.2%})"
    )


def _show(value: Any) -> str:
    return f"{value:.7g}" if isinstance(value, float) else repr(value)


# ---- comparing ----------------------------------------------------------------------------------------


def compare(
    native: Mapping[str, Any],
    onnx: Mapping[str, Any],
    roles: Mapping[str, str],
    methods: Mapping[str, str],
    tolerances: Mapping[str, Tolerance],
    *,
    source: str,
    precision: str,
    probabilities: Any = None,
) -> ParityReport:
    """The report for outputs ``native`` and ``onnx`` (by name; roles, methods and tolerances by name too).

    ``probabilities``: the native class probabilities, which tell tied rows for the label comparison."""
    results = []
    rows = 0
    proba_atol = next(
        (tolerances[n].atol for n, r in roles.items() if r == "probabilities"), DEFAULTS["probabilities"].atol
    )
    for name, role in roles.items():
        a, b = np.asarray(native[name]), np.asarray(onnx[name])
        rows = max(rows, len(a) if a.ndim else 1)
        tol = tolerances[name]
        if a.shape != b.shape and a.size == b.size and a.ndim <= 2 and b.ndim <= 2:
            b = b.reshape(a.shape)
        if a.shape != b.shape:
            results.append(
                OutputParity(
                    name,
                    role,
                    methods[name],
                    False,
                    len(a),
                    tol,
                    0.0,
                    problem=f"shapes differ: native {a.shape}, onnx {b.shape}",
                )
            )
        elif role == "label":
            results.append(_labels(name, methods[name], a, b, tol, proba_atol, probabilities))
        else:
            results.append(_values(name, role, methods[name], a, b, tol))
    return ParityReport(all(r.passed for r in results), rows, source, precision, tuple(results))


def _values(name: str, role: str, method: str, a: Any, b: Any, tol: Tolerance) -> OutputParity:
    if a.dtype.kind not in "fiub" or b.dtype.kind not in "fiub":
        return _labels(name, method, a, b, tol, 0.0, None, role=role)
    x, y = a.astype(np.float64), b.astype(np.float64)
    both_nan = np.isnan(x) & np.isnan(y)
    err = np.where(both_nan, 0.0, np.abs(x - y))
    err = np.where(np.isnan(err), np.inf, err)
    finite = np.abs(x[np.isfinite(x)])
    scale = float(finite.max()) if finite.size else 0.0
    within = err <= tol.atol + tol.rtol * scale
    share = float(within.mean()) if within.size else 1.0
    max_abs = float(err.max()) if err.size else 0.0
    rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else math.inf)
    flat = err.reshape(len(err), -1) if err.ndim else err.reshape(1, 1)
    row_err = flat.max(axis=1)
    order = np.argsort(-row_err, kind="stable")[:WORST]
    worst = []
    for i in order:
        if row_err[i] == 0:
            break
        col = int(flat[i].argmax()) if err.ndim == 2 else None
        nat = x[i, col] if col is not None else x[i]
        onx = y[i, col] if col is not None else y[i]
        worst.append(WorstRow(int(i), float(nat), float(onx), float(row_err[i]), col))
    passed = share >= tol.min_share
    problem = "" if passed else f"{int((~within).sum()):,} of {within.size:,} values outside the tolerance"
    return OutputParity(
        name,
        role,
        method,
        passed,
        len(err),
        tol,
        share,
        max_abs_error=max_abs,
        max_rel_error=rel,
        worst=tuple(worst),
        problem=problem,
    )


def _labels(
    name: str,
    method: str,
    a: Any,
    b: Any,
    tol: Tolerance,
    proba_atol: float,
    probabilities: Any,
    role: str = "label",
) -> OutputParity:
    same = _equal(a, b)
    if same.ndim > 1:
        same = same.all(axis=tuple(range(1, same.ndim)))
    tied = np.zeros(len(same), dtype=bool)
    if probabilities is not None:
        proba = np.asarray(probabilities, dtype=np.float64)
        if proba.ndim == 2 and proba.shape[0] == len(same) and proba.shape[1] >= 2:
            top = np.sort(proba, axis=1)
            tied = (top[:, -1] - top[:, -2]) <= 2 * proba_atol
    counted = ~tied
    agreement = float(same[counted].mean()) if counted.any() else 1.0
    wrong = np.flatnonzero(~same & counted)[:WORST]
    worst = tuple(WorstRow(int(i), _plain(a[i]), _plain(b[i])) for i in wrong)
    passed = agreement >= tol.min_share
    problem = "" if passed else f"{int((~same & counted).sum()):,} rows with another label"
    return OutputParity(
        name,
        role,
        method,
        passed,
        len(same),
        tol,
        agreement,
        label_agreement=agreement,
        ambiguous_rows=int(tied.sum()),
        worst=worst,
        problem=problem,
    )


def _equal(a: Any, b: Any) -> Any:
    if a.dtype.kind in "biuf" and b.dtype.kind in "biuf":
        return np.asarray(a == b)
    return np.asarray(a.astype(str) == b.astype(str))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


# ---- running both models ------------------------------------------------------------------------------


def outputs_of(predict_result: Any, names: Sequence[str]) -> dict[str, Any]:
    """A ``predict`` result (one array, or a list of them) by output name."""
    if len(names) == 1:
        return {names[0]: predict_result}
    if isinstance(predict_result, Mapping):
        predict_result = list(predict_result.values())
    return dict(zip(names, predict_result, strict=True))

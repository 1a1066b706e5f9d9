"""The ONNX bridge: convert + parity + latency card of a 100-tree RandomForest (target <= 10 s), and the
in-process one-row predict of ``OnnxPredictor`` against the native model.

Part 1 times ``assay.onnx.convert_checked`` on a RandomForestClassifier (100 trees, breast cancer, 569
rows: all of them in the parity check) with its default latency budget (3 s), split into conversion,
parity and latency card by timing the first two alone (latency=False), best of 3.

Part 2 is what a server pays per one-row request in-process: ``OnnxPredictor.predict`` (input checked
against the signature, one intra-op thread) against the native model's own ``predict`` and against
``assay.models.Predictor`` (the native model behind the same check), on one-row DataFrames (a different
frame each call, as a server builds one per request). Per-call medians of 40 interleaved rounds of 100
calls (fewer for the slow native forest). MLflow has no counterpart (``mlflow.onnx`` stores an ONNX model
you converted; it neither converts nor checks parity), so no MLflow side runs.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import _common as c


def _per_call_us(fn: Callable[[Any], Any], rows: list[Any], calls: int) -> float:
    t0 = time.perf_counter_ns()
    for i in range(calls):
        fn(rows[i % len(rows)])
    return (time.perf_counter_ns() - t0) / calls / 1000


def interleaved(
    fns: dict[str, Callable[[Any], Any]], rows: list[Any], calls: int, rounds: int
) -> dict[str, float]:
    """Median per-call microseconds of each function, rounds interleaved so drift hits all alike."""
    for fn in fns.values():
        _per_call_us(fn, rows, min(calls, 10))
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            times[name].append(_per_call_us(fn, rows, calls))
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    c.quiet_assay_env(c.fresh_dir("onnx"))
    warnings.simplefilter("ignore")
    import lightgbm as lgb
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    from assay.onnx import OnnxPredictor, convert_checked, native_predictor

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    forest = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
    native = native_predictor(forest, X[:5])

    print("ONNX bridge: convert + parity + latency card, RandomForestClassifier (100 trees), 569 rows")
    whole, checks = [], []
    result = None
    for _ in range(3):
        t0 = time.perf_counter()
        result = convert_checked(native, X)
        whole.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        convert_checked(native, X, latency=False)
        checks.append(time.perf_counter() - t0)
    assert result is not None and result.latency is not None
    best, check = min(whole), min(checks)
    print(f"  {'convert + parity + latency card (best of 3)':<48} {best:6.2f} s   target <= 10 s")
    print(f"  {'  of which convert + parity':<48} {check:6.2f} s")
    print(f"  {'  of which latency card (budget 3 s)':<48} {best - check:6.2f} s")
    print(
        f"  parity: {'passed' if result.passed else 'FAILED'}; "
        + result.parity.render().splitlines()[2].strip()
    )
    print("  " + "\n  ".join(result.latency.render().splitlines()))

    print("\nOne-row predict in-process (one-row DataFrame per call), per-call median")
    frames = [X.iloc[[i]].copy() for i in range(100)]
    booster = lgb.LGBMClassifier(n_estimators=100, verbose=-1).fit(X, y)
    for label, model, calls in (
        ("RandomForestClassifier, 100 trees", forest, 10),
        ("LGBMClassifier, 100 trees", booster, 100),
    ):
        wrapped = native_predictor(model, X[:5])
        onnx = OnnxPredictor(convert_checked(wrapped, X, latency=False).onnx, threads=1)
        fig = interleaved(
            {"native": model.predict, "predictor": wrapped.predict, "onnx": onnx.predict},
            frames,
            calls,
            rounds=20 if calls < 100 else 40,
        )
        print(f"  {label}")
        print(
            f"    native predict {fig['native']:>10,.1f} us   assay Predictor {fig['predictor']:>10,.1f} us   "
            f"OnnxPredictor {fig['onnx']:>8,.1f} us   onnx {fig['native'] / fig['onnx']:,.0f}x faster than native"
        )


if __name__ == "__main__":
    main()

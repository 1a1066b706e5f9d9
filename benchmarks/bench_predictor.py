"""Target: ``load_predictor(...).predict`` costs <= 20 us more than the native ``predict`` on one row.

The overhead is the input check against the signature plus the calls around the model's. A one-row
``predict`` of scikit-learn takes hundreds of microseconds and varies by more than the overhead, so the
overhead is measured with the loaded model's ``predict`` replaced by a stub that returns its input: what is
left is exactly what the wrapper adds (the same is done to MLflow's pyfunc). The real models are timed too,
per call over batches of 100 one-row predictions, native and wrapped batches interleaved (40 each), medians.
Cases: scikit-learn LogisticRegression on a numpy row and on a one-row DataFrame (a different frame each
call, as a server builds one per request), and an XGBClassifier on a numpy row.
MLflow side: ``mlflow.pyfunc.load_model(...).predict`` over the same scikit-learn models, saved with
``mlflow.sklearn.save_model(..., input_example=...)`` so its signature is enforced too.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import _common as c

CALLS = 100
ROUNDS = 40


def _batch_us(fn: Callable[[Any], Any], rows: list[Any]) -> float:
    t0 = time.perf_counter_ns()
    for i in range(CALLS):
        fn(rows[i % len(rows)])
    return (time.perf_counter_ns() - t0) / CALLS / 1000


def compare(native: Callable[[Any], Any], wrapped: Callable[[Any], Any], rows: list[Any]) -> dict[str, float]:
    """Median per-call microseconds of ``native`` and ``wrapped`` on ``rows`` (cycled), interleaved."""
    for fn in (native, wrapped):
        _batch_us(fn, rows)  # warm up
    a, b = [], []
    for _ in range(ROUNDS):
        a.append(_batch_us(native, rows))
        b.append(_batch_us(wrapped, rows))
    return {"native_us": statistics.median(a), "wrapped_us": statistics.median(b)}


def stub(X: Any) -> Any:
    return X


def iris_frames() -> tuple[Any, Any, Any, list[Any]]:
    import pandas as pd
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    df = pd.DataFrame(X, columns=["sepal_length", "sepal_width", "petal_length", "petal_width"])
    return X, y, df, [df.iloc[[i]].copy() for i in range(100)]


def assay_side() -> dict[str, dict[str, float]]:
    c.quiet_assay_env(c.fresh_dir("predictor"))
    import xgboost as xgb
    from sklearn.linear_model import LogisticRegression

    from assay.models import Predictor, get_flavor, load_model, read_model_descriptor, save_model

    X, y, df, frames = iris_frames()
    rows = [X[i : i + 1] for i in range(100)]
    home = c.fresh_dir("predictor-models")
    cases = {
        "sklearn-numpy": (LogisticRegression(max_iter=500).fit(X, y), X, rows),
        "sklearn-frame": (LogisticRegression(max_iter=500).fit(df, y), df, frames),
        "xgboost-numpy": (xgb.XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1).fit(X, y), X, rows),
    }
    out: dict[str, dict[str, float]] = {}
    for case, (model, data, inputs) in cases.items():
        save_model(model, home / case, input_example=data[:5])
        descriptor = read_model_descriptor(home / case)
        flavor = get_flavor(descriptor.flavor)
        real = Predictor(load_model(home / case), flavor, descriptor)
        out[case] = compare(model.predict, real.predict, inputs)
        native = load_model(home / case)
        native.predict = stub  # the wrapper binds predict when it is built: stub it first
        out[case].update(
            {
                f"stub_{k}": v
                for k, v in compare(stub, Predictor(native, flavor, descriptor).predict, inputs).items()
            }
        )
    return out


def mlflow_side() -> None:
    import warnings

    warnings.simplefilter("ignore")
    import mlflow
    from sklearn.linear_model import LogisticRegression

    home = c.fresh_dir("predictor-mlflow")
    X, y, df, frames = iris_frames()
    rows = [X[i : i + 1] for i in range(100)]
    cases = {
        "sklearn-numpy": (LogisticRegression(max_iter=500).fit(X, y), X, rows),
        "sklearn-frame": (LogisticRegression(max_iter=500).fit(df, y), df, frames),
    }
    out: dict[str, dict[str, float]] = {}
    for case, (model, data, inputs) in cases.items():
        mlflow.sklearn.save_model(model, str(home / case), input_example=data[:5])
        out[case] = compare(model.predict, mlflow.pyfunc.load_model(str(home / case)).predict, inputs)
        pyfunc = mlflow.pyfunc.load_model(str(home / case))
        pyfunc.get_raw_model().predict = stub  # _SklearnModelWrapper calls sklearn_model.predict(data)
        out[case].update({f"stub_{k}": v for k, v in compare(stub, pyfunc.predict, inputs).items()})
    c.emit(out)


LABELS = {
    "sklearn-numpy": "LogisticRegression, numpy row",
    "sklearn-frame": "LogisticRegression, one-row DataFrame",
    "xgboost-numpy": "XGBClassifier, numpy row",
}


def main() -> None:
    if c.side() == "mlflow":
        mlflow_side()
        return
    print("Predictor.predict: what it adds to the native predict, one row")
    a = assay_side()
    m = c.mlflow_side(__file__) or {}
    for case, label in LABELS.items():
        ours, theirs = a[case], m.get(case)
        added = ours["stub_wrapped_us"] - ours["stub_native_us"]
        their_added = None if theirs is None else theirs["stub_wrapped_us"] - theirs["stub_native_us"]
        print(f"  {label}")
        c.row("  overhead (model's predict stubbed)", added, "us", their_added, "lower", "<= 20 us")
        line = f"    real model: native {ours['native_us']:,.1f} us, Predictor {ours['wrapped_us']:,.1f} us"
        if theirs is not None:
            line += f"; mlflow native {theirs['native_us']:,.1f} us, pyfunc {theirs['wrapped_us']:,.1f} us"
        print(line)


if __name__ == "__main__":
    main()

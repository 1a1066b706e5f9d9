"""``assay serve`` over real HTTP: a registered scikit-learn pipeline (a string column included) answers
predictions in every payload form, refuses bad payloads with a 422 naming the column, exposes metadata,
health and Prometheus metrics, and follows an alias move with no failed request during the switch."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import assay
from assay.server.testing import ServerThread
from assay.serving.app import create_serving_app
from assay.serving.source import ModelSource


def _data(seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"age": rng.uniform(18, 80, 300), "plan": rng.choice(["free", "pro", "team"], 300)})
    y = ((X["age"] > 45) ^ (X["plan"] == "pro")).to_numpy().astype(int)
    return X, y


def _register(c: float) -> tuple[Any, int]:
    X, y = _data(0)
    pre = make_column_transformer((StandardScaler(), ["age"]), (OneHotEncoder(), ["plan"]))
    model = make_pipeline(pre, LogisticRegression(C=c)).fit(X, y)
    with assay.start_run():
        info = assay.log_model(model, "model", input_example=X[:3])
    return model, assay.register_model(info.uri, "churn").version


@pytest.fixture
def served(sqlite_uri: str) -> Iterator[tuple[str, ModelSource, dict[int, Any]]]:
    models = {}
    for c in (1.0, 0.001):
        model, version = _register(c)
        models[version] = model
    registry = assay.Client().registry
    registry.set_alias("churn", "champion", 1)
    source = ModelSource("models:/churn@champion", assay.Client(), native=True, poll_s=0.1)
    with ServerThread(app=create_serving_app(source)) as url:
        yield url, source, models


def test_predicts_in_every_form_and_refuses_bad_payloads(
    served: tuple[str, ModelSource, dict[int, Any]],
) -> None:
    url, _, models = served
    X, _ = _data(1)
    expected = models[1].predict(X[:3]).tolist()
    rows = X[:3].to_dict(orient="records")
    forms: list[Any] = [
        {"dataframe_records": rows},
        {"records": rows},
        {"dataframe_split": {"columns": ["age", "plan"], "data": X[:3].values.tolist()}},
        {"columns": {"age": X["age"][:3].tolist(), "plan": X["plan"][:3].tolist()}},
        rows,
    ]
    with httpx.Client(base_url=url) as http:
        for body in forms:
            r = http.post("/predict", json=body)
            assert r.status_code == 200, r.text
            assert r.json()["predictions"] == expected and r.json()["version"] == 1
        one = http.post("/predict", json={"record": rows[0]})
        assert one.json()["predictions"] == expected[:1]
        for bad, words in [
            ({"records": [{"age": 30}]}, "plan"),
            ({"records": [{"age": 30, "plan": "pro", "extra": 1}]}, "extra"),
            ({"records": [{"age": "old", "plan": "pro"}]}, "age"),
            ({"nothing": 1}, "missing column 'age'"),  # a bare object is one row
            ({"records": []}, "no rows"),
        ]:
            r = http.post("/predict", json=bad)
            assert r.status_code == 422, (bad, r.text)
            assert words in r.json()["error"]["message"], (bad, r.text)
        r = http.post("/predict", content=b"{not json")
        assert r.status_code == 422 and "not JSON" in r.json()["error"]["message"]
        meta = http.get("/metadata").json()
        assert (
            meta["version"] == 1
            and meta["runtime"] == "native"
            and meta["parity"]["verdict"] == "not checked"
        )
        assert [c["name"] for c in meta["signature"]["inputs"]["columns"]] == ["age", "plan"]
        assert http.get("/health").json()["status"] == "ok"
        text = http.get("/metrics").text
        assert 'assay_requests_total{route="/predict",status="200"} 6' in text
        assert 'assay_requests_total{route="/predict",status="422"} 6' in text
        assert 'assay_predict_seconds_bucket{le="+Inf"} 12' in text


def test_an_alias_move_is_followed_without_a_failed_request(
    served: tuple[str, ModelSource, dict[int, Any]],
) -> None:
    url, source, _ = served
    X, _ = _data(2)
    body = {"records": X[:5].to_dict(orient="records")}
    seen: list[list[int]] = [[], [], []]
    failures: list[str] = []
    stop = threading.Event()

    def hammer(mine: list[int]) -> None:
        with httpx.Client(base_url=url) as http:
            while not stop.is_set():
                r = http.post("/predict", json=body)
                if r.status_code != 200:
                    failures.append(r.text)
                else:
                    mine.append(r.json()["version"])

    threads = [threading.Thread(target=hammer, args=(mine,)) for mine in seen]
    for t in threads:
        t.start()
    time.sleep(0.3)
    assay.Client().registry.set_alias("churn", "champion", 2, reason="switch")
    deadline = time.monotonic() + 20
    while source.current.version.version != 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    assert not failures
    for mine in seen:
        assert mine[0] == 1 and mine[-1] == 2
        assert mine == sorted(mine)  # once a client got v2, its later requests never went back to v1
    with httpx.Client(base_url=url) as http:
        assert http.get("/metadata").json()["version"] == 2
        assert 'assay_model_reloads_total{result="ok"} 1' in http.get("/metrics").text


def test_serving_reads_the_model_like_any_client(tracking_uri: str) -> None:
    """Embedded, on PostgreSQL, and from a team server with a token (as a non-admin owner): the same."""
    model, version = _register(1.0)
    assay.Client().registry.set_alias("churn", "champion", version)
    source = ModelSource("models:/churn@champion", assay.Client(), native=True)
    X, _ = _data(3)
    with ServerThread(app=create_serving_app(source)) as url, httpx.Client(base_url=url) as http:
        r = http.post("/predict", json={"records": X[:10].to_dict(orient="records")})
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == model.predict(X[:10]).tolist()

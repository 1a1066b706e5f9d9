"""End-to-end tests of run search: filters, ordering, paging and errors, through ``assay.Client`` and the store.

Parsing is covered by test_query.py; here every filter runs as SQL on SQLite and on PostgreSQL (the
``tracking_uri`` fixture), and the runs that come back are checked. The last test builds 300 runs and compare
seeded random filters, orderings and pages with a pure-Python reference implementation of the semantics.
"""

from __future__ import annotations

import base64
import math
import operator
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cmp_to_key
from typing import Any

import numpy as np
import pytest

import assay
from assay.entities import RunCount, RunStatus, SeriesBatch

NO_CAPTURE: dict[str, Any] = {"capture_git": False, "capture_environment": False, "log_system_metrics": False}
BASE_TIME = 1_700_000_000_000  # ms; runs created with an explicit start time are all ended (never reaped)

MetricValue = float | list[tuple[int, float]]


# -- helpers -----------------------------------------------------------------------------------------


@pytest.fixture
def client(tracking_uri: str) -> assay.Client:
    return assay.Client()


def is_postgres(tracking_uri: str) -> bool:
    return tracking_uri.startswith("postgres")


def xfail_on(request: pytest.FixtureRequest, backend: str, tracking_uri: str, reason: str) -> None:
    """Mark the running test as a strict expected failure on one backend only."""
    if ("postgres" if is_postgres(tracking_uri) else "sqlite") == backend:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


def add_run(
    c: assay.Client,
    experiment_id: str,
    name: str,
    *,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    metrics: Mapping[str, MetricValue] | None = None,
    status: str | None = "FINISHED",
    parent_run_id: str | None = None,
) -> str:
    """Create a run through the Client; ``status=None`` leaves it RUNNING (its metrics flushed)."""
    info = c.create_run(
        experiment_id, name=name, params=params, tags=tags, parent_run_id=parent_run_id, **NO_CAPTURE
    )
    for key, value in (metrics or {}).items():
        points = value if isinstance(value, list) else [(0, value)]
        for step, x in points:
            c.log_metric(info.run_id, key, x, step=step)
    if status is None:
        c.flush()
    else:
        c.set_terminated(info.run_id, status)
    return info.run_id


def batch(run_id: str, key: str, points: Sequence[tuple[int, float]]) -> SeriesBatch:
    steps = np.array([s for s, _ in points], dtype=np.int64)
    return SeriesBatch(
        run_id,
        key,
        steps,
        BASE_TIME + steps * 10,
        np.array([x for _, x in points], dtype=np.float64),
    )


def add_timed_run(
    c: assay.Client,
    experiment_id: str,
    name: str,
    start_time: int,
    *,
    run_id: str | None = None,
    duration: int = 1000,
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
) -> str:
    """Create and end a run with a chosen start time (and run id) through the backend, for ordering tests."""
    info = c.backend.create_run(experiment_id, name=name, params=params, run_id=run_id, start_time=start_time)
    batches = [batch(info.run_id, k, [(0, x)]) for k, x in (metrics or {}).items()]
    c.backend.end_run(info.run_id, RunStatus.FINISHED, end_time=start_time + duration, batches=batches)
    return info.run_id


def names(
    c: assay.Client,
    filter: str | None = None,
    experiment: str | Sequence[str] | None = "e",
    order_by: Sequence[str] | str | None = None,
    **kwargs: Any,
) -> list[str]:
    return [r.info.name for r in c.search_runs(experiment, filter, order_by, **kwargs)]


def check_filters(c: assay.Client, expected: Mapping[str, set[str]], experiment: str | None = "e") -> None:
    """Every filter returns exactly its expected run names; all mismatches are reported at once."""
    wrong = {}
    for text, want in expected.items():
        got = set(names(c, text, experiment))
        if got != want:
            wrong[text] = f"expected {sorted(want)}, got {sorted(got)}"
    assert not wrong, "\n".join(f"{t!r}: {msg}" for t, msg in wrong.items())


def all_pages(c: assay.Client, max_results: int, **kwargs: Any) -> list[list[str]]:
    """Follow page tokens from the first page to the last; the names of each page."""
    pages: list[list[str]] = []
    token: str | None = None
    while True:
        page = c.search_runs(max_results=max_results, page_token=token, **kwargs)
        pages.append([r.info.name for r in page])
        token = page.next_page_token
        if token is None:
            return pages
        assert len(pages) < 1000, "page tokens never ran out"


# -- comparisons on metrics ------------------------------------------------------------------------


@pytest.fixture
def scored(client: assay.Client) -> assay.Client:
    """Runs a, b, c with auc .5, .7, .9; d without auc; n whose auc is NaN."""
    eid = client.create_experiment("e").experiment_id
    for name, auc in [("a", 0.5), ("b", 0.7), ("c", 0.9), ("n", math.nan)]:
        add_run(client, eid, name, metrics={"auc": auc, "loss": 1.0})
    add_run(client, eid, "d", metrics={"loss": 1.0})
    return client


def test_metric_comparison_operators_select_the_right_runs(scored: assay.Client) -> None:
    check_filters(
        scored,
        {
            "metrics.auc = 0.7": {"b"},
            "metrics.auc == 0.7": {"b"},
            "metrics.auc != 0.7": {"a", "c"},
            "metrics.auc <> 0.7": {"a", "c"},
            "metrics.auc < 0.7": {"a"},
            "metrics.auc <= 0.7": {"a", "b"},
            "metrics.auc > 0.7": {"c"},
            "metrics.auc >= 0.7": {"b", "c"},
            "metrics.auc > 0.95": set(),
            "metrics.auc >= -1e9": {"a", "b", "c"},
            "metrics.auc = 7e-1": {"b"},
            "metrics.auc in (0.5, 0.9, 3)": {"a", "c"},
            "metrics.auc not in (0.5, 0.9)": {"b", "n"},
        },
    )


def test_metric_condition_compares_the_value_at_the_highest_step(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    info = client.create_run(eid, name="late-low-step", **NO_CAPTURE)
    client.log_metric(info.run_id, "auc", 0.9, step=5)
    client.flush()
    client.log_metric(info.run_id, "auc", 0.1, step=2)  # logged later, but at a lower step
    client.set_terminated(info.run_id)
    add_run(client, eid, "rising", metrics={"auc": [(0, 0.1), (1, 0.5), (2, 0.95)]})
    add_run(client, eid, "out-of-order", metrics={"auc": [(3, 0.2), (0, 0.99), (1, 0.98)]})
    add_run(client, eid, "same-step-twice", metrics={"auc": [(4, 0.99), (4, 0.3)]})
    check_filters(
        client,
        {
            "metrics.auc > 0.8": {"late-low-step", "rising"},
            "metrics.auc < 0.35": {"out-of-order", "same-step-twice"},
            "metrics.auc = 0.3": {"same-step-twice"},
        },
    )


def test_nan_metric_is_stored_and_matches_only_nan_comparisons(scored: assay.Client) -> None:
    check_filters(
        scored,
        {
            "metrics.auc = nan": {"n"},
            "metrics.auc = NaN": {"n"},
            "metrics.auc != nan": {"a", "b", "c"},
            "metrics.auc < nan": set(),
            "metrics.auc > 0": {"a", "b", "c"},
            "metrics.auc < 1e9": {"a", "b", "c"},
            "not (metrics.auc > 0)": {"d", "n"},
        },
    )
    (run,) = scored.search_runs("e", "attributes.name = 'n'")
    assert math.isnan(run.metrics["auc"])
    assert run.metrics["loss"] == 1.0


def test_infinite_metrics_compare_as_numbers(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    add_run(client, eid, "pos", metrics={"m": math.inf})
    add_run(client, eid, "neg", metrics={"m": -math.inf})
    add_run(client, eid, "big", metrics={"m": 1e300})
    add_run(client, eid, "zero", metrics={"m": 0.0})
    check_filters(
        client,
        {
            "metrics.m > 1e308": {"pos"},
            "metrics.m < -1e308": {"neg"},
            "metrics.m = inf": {"pos"},
            "metrics.m = -inf": {"neg"},
            "metrics.m = +Infinity": {"pos"},
            "metrics.m != inf": {"neg", "big", "zero"},
            "metrics.m >= 1e300": {"pos", "big"},
            "metrics.m in (inf, 0)": {"pos", "zero"},
        },
    )
    found = {r.info.name: r.metrics["m"] for r in client.search_runs("e")}
    assert found == {"pos": math.inf, "neg": -math.inf, "big": 1e300, "zero": 0.0}
    assert client.get_run(next(r.id for r in client.search_runs("e", "metrics.m > 1e308"))).metrics == {
        "m": math.inf
    }


# -- params and tags ----------------------------------------------------------------------------------


def test_param_equality_and_in_compare_the_text_given(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    add_run(client, eid, "p1", params={"lr": 0.1, "model": "rf"})
    add_run(client, eid, "p10", params={"lr": "0.10", "model": "RF"})
    add_run(client, eid, "p1e", params={"lr": "1e-1", "model": "gbm"})
    add_run(client, eid, "none", params={"model": "lin"})
    check_filters(
        client,
        {
            "params.lr = 0.1": {"p1"},
            "params.lr = '0.1'": {"p1"},
            'params.lr = "0.10"': {"p10"},
            "params.lr = 0.10": {"p10"},
            "params.lr = 1e-1": {"p1e"},
            "params.lr != 0.1": {"p10", "p1e"},
            "params.lr in (0.1, '1e-1')": {"p1", "p1e"},
            "params.lr not in (0.1)": {"p10", "p1e"},
            "params.model = 'rf'": {"p1"},
            "params.model in ('rf', 'lin', 'xgb')": {"p1", "none"},
        },
    )


def test_param_ordering_operators_with_a_number_compare_numerically(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    for name, n in [("n100", "100"), ("n9", "9"), ("n50", "50"), ("n5e1", "5e1"), ("abc", "abc")]:
        add_run(client, eid, name, params={"n": n})
    add_run(client, eid, "float", params={"n": 50.5})
    add_run(client, eid, "neg", params={"n": "-3"})
    add_run(client, eid, "inf", params={"n": "inf"})
    add_run(client, eid, "missing")
    check_filters(
        client,
        {
            "params.n > 50": {"n100", "float", "inf"},
            "params.n >= 50": {"n100", "n50", "n5e1", "float", "inf"},
            "params.n < 50": {"n9", "neg"},
            "params.n <= 9": {"n9", "neg"},
            "params.n > -1e308": {"n100", "n9", "n50", "n5e1", "float", "neg", "inf"},
            "params.n < 0": {"neg"},
            # a number literal with = still compares text
            "params.n = 50": {"n50"},
            "params.n = 50.0": set(),
            # a string literal with < > compares text: '9' > '50' as text
            "params.n > '50'": {"n9", "n5e1", "float", "abc", "inf"},
        },
    )


def test_tags_compare_like_params_and_follow_overwrites_and_deletes(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    r1 = add_run(client, eid, "t1", tags={"prio": 3, "team": "vision"})
    add_run(client, eid, "t2", tags={"prio": "10", "team": "nlp"})
    add_run(client, eid, "t3", tags={"prio": "high"})
    check_filters(
        client,
        {
            "tags.prio > 5": {"t2"},
            "tags.prio = 3": {"t1"},
            "tags.prio < '2'": {"t2"},
            "tags.team != 'nlp'": {"t1"},
            "tags.team in ('nlp', 'x')": {"t2"},
        },
    )
    client.set_tag(r1, "prio", "30")
    client.delete_tag(r1, "team")
    check_filters(
        client,
        {
            "tags.prio > 5": {"t1", "t2"},
            "tags.prio = 3": set(),
            "tags.prio = '30'": {"t1"},
            "tags.team != 'nlp'": set(),
            "not (tags.team = 'nlp')": {"t1", "t3"},
        },
    )


def test_non_numeric_param_never_matches_a_numeric_comparison(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    for value in ["abc", "", "nan", "1.2.3", "12abc"]:
        add_run(client, eid, f"v={value}", params={"n": value})
    for op in ["<", "<=", ">", ">="]:
        assert names(client, f"params.n {op} 0") == [], op
        assert names(client, f"params.n {op} -inf") == [], op
        assert names(client, f"params.n {op} inf") == [], op


def test_condition_on_a_missing_field_is_false_and_its_negation_true(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    add_run(client, eid, "has-a", params={"x": "a"}, tags={"t": "a"}, metrics={"m": 1.0})
    add_run(client, eid, "has-b", params={"x": "b"}, tags={"t": "b"}, metrics={"m": 2.0})
    add_run(client, eid, "without")
    check_filters(
        client,
        {
            "params.x != 'a'": {"has-b"},
            "not (params.x = 'a')": {"has-b", "without"},
            "not params.x = 'a'": {"has-b", "without"},
            "params.x not in ('a')": {"has-b"},
            "not (params.x in ('a'))": {"has-b", "without"},
            "params.x not like 'a%'": {"has-b"},
            "params.x < 'z'": {"has-a", "has-b"},
            "params.x > -1": set(),
            "tags.t != 'a'": {"has-b"},
            "not (tags.t = 'a')": {"has-b", "without"},
            "metrics.m != 1": {"has-b"},
            "metrics.m not in (1)": {"has-b"},
            "not (metrics.m = 1)": {"has-b", "without"},
            "metrics.m <= 2 or params.x = 'a'": {"has-a", "has-b"},
            "params.nope = 'a' or not params.nope = 'a'": {"has-a", "has-b", "without"},
        },
    )


def test_like_is_case_sensitive_and_ilike_is_not(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    for model in ["ResNet50", "resnet18", "RESNET", "vit_b", "vitXb", "50%off"]:
        add_run(client, eid, model, params={"model": model}, tags={"arch": model})
    check_filters(
        client,
        {
            "params.model like 'res%'": {"resnet18"},
            "params.model like 'Res%'": {"ResNet50"},
            "params.model ilike 'res%'": {"ResNet50", "resnet18", "RESNET"},
            "params.model ilike 'RESNET%'": {"ResNet50", "resnet18", "RESNET"},
            "params.model not like 'res%'": {"ResNet50", "RESNET", "vit_b", "vitXb", "50%off"},
            "params.model not ilike 'res%'": {"vit_b", "vitXb", "50%off"},
            "params.model like 'vit_b'": {"vit_b", "vitXb"},
            "params.model like '%50%'": {"ResNet50", "50%off"},
            "params.model like 'resnet'": set(),
            "params.model like 'RESNET'": {"RESNET"},
            "tags.arch like '%net%'": {"resnet18"},
            "tags.arch ilike '%NET%'": {"ResNet50", "resnet18", "RESNET"},
            "attributes.name like 'Res%'": {"ResNet50"},
            "attributes.name ilike 'res%'": {"ResNet50", "resnet18", "RESNET"},
        },
    )


def test_quoted_keys_with_spaces_and_keys_with_dots_and_slashes(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    add_run(
        client,
        eid,
        "spaced",
        params={"learning rate": "0.01", "optim.name": "adam"},
        tags={"data set": "cifar"},
        metrics={"val loss": 0.25, "train/loss": 0.5},
    )
    add_run(client, eid, "other", params={"learning rate": "0.1"}, metrics={"val loss": 0.75})
    check_filters(
        client,
        {
            "metrics.`val loss` < 0.5": {"spaced"},
            'metrics."val loss" > 0.5': {"other"},
            "params.\"learning rate\" = '0.01'": {"spaced"},
            "params.`learning rate` > 0.05": {"other"},
            "tags.`data set` = 'cifar'": {"spaced"},
            "metrics.train/loss = 0.5": {"spaced"},
            "params.optim.name = 'adam'": {"spaced"},
        },
    )
    assert names(client, order_by="metrics.`val loss` desc") == ["other", "spaced"]


# -- boolean structure ------------------------------------------------------------------------------


def test_and_or_not_and_parentheses_combine_conditions(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    grid = [(m, lr) for m in ("rf", "gbm") for lr in ("0.1", "0.01")]
    for i, (model, lr) in enumerate(grid):
        add_run(
            client, eid, f"{model}-{lr}", params={"model": model, "lr": lr}, metrics={"auc": 0.6 + i / 10}
        )
    check_filters(
        client,
        {
            "params.model = 'rf' and params.lr = '0.1'": {"rf-0.1"},
            "params.model = 'rf' AND params.lr = '0.1'": {"rf-0.1"},
            "params.model = 'rf' or params.lr = '0.1'": {"rf-0.1", "rf-0.01", "gbm-0.1"},
            # and binds tighter than or
            "params.model = 'gbm' and params.lr = '0.1' or metrics.auc < 0.65": {"gbm-0.1", "rf-0.1"},
            "params.model = 'gbm' and (params.lr = '0.1' or metrics.auc < 0.65)": {"gbm-0.1"},
            "not params.model = 'rf' and params.lr = '0.01'": {"gbm-0.01"},
            "not (params.model = 'rf' and params.lr = '0.01')": {"rf-0.1", "gbm-0.1", "gbm-0.01"},
            "not not params.model = 'rf'": {"rf-0.1", "rf-0.01"},
            "((metrics.auc > 0.85))": {"gbm-0.01"},
            "metrics.auc > 0.65 and metrics.auc < 0.85 and params.lr = '0.01'": {"rf-0.01"},
            "params.model = 'x' or params.model = 'y' or params.lr = '0.01'": {"rf-0.01", "gbm-0.01"},
        },
    )


# -- attributes -------------------------------------------------------------------------------------------


def test_status_compares_case_insensitively(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    add_run(client, eid, "ok", status="FINISHED")
    add_run(client, eid, "bad", status="FAILED")
    add_run(client, eid, "stopped", status="KILLED")
    add_run(client, eid, "live", status=None)
    check_filters(
        client,
        {
            "attributes.status = 'finished'": {"ok"},
            "attributes.status = 'FINISHED'": {"ok"},
            "attributes.status = 'Failed'": {"bad"},
            "attributes.status != 'running'": {"ok", "bad", "stopped"},
            "attributes.status = 'running'": {"live"},
            "attributes.status in ('finished', 'killed')": {"ok", "stopped"},
            "attributes.status not in ('finished', 'Killed')": {"bad", "live"},
            "attr.status = 'failed'": {"bad"},
        },
    )


def test_attribute_filters_on_name_ids_user_and_times(client: assay.Client) -> None:
    e1 = client.create_experiment("e")
    e2 = client.create_experiment("f")
    parent = client.backend.create_run(e1.experiment_id, name="parent", start_time=BASE_TIME, user="alice")
    client.backend.end_run(parent.run_id, RunStatus.FINISHED, end_time=BASE_TIME + 5_000)
    child = client.backend.create_run(
        e1.experiment_id,
        name="child",
        start_time=BASE_TIME + 1_000,
        user="bob",
        parent_run_id=parent.run_id,
    )
    client.backend.end_run(child.run_id, RunStatus.FINISHED, end_time=BASE_TIME + 61_000)
    other = client.backend.create_run(e2.experiment_id, name="elsewhere", start_time=BASE_TIME + 2_000)
    client.backend.end_run(other.run_id, RunStatus.FAILED, end_time=BASE_TIME + 2_500)
    expected = {
        "attributes.name = 'child'": {"child"},
        "run.run_name = 'child'": {"child"},
        "attributes.name != 'child'": {"parent", "elsewhere"},
        "attributes.name in ('child', 'nobody')": {"child"},
        f"attributes.run_id = '{parent.run_id}'": {"parent"},
        f"attributes.id in ('{parent.run_id}', '{other.run_id}')": {"parent", "elsewhere"},
        f"attributes.run_id like '{child.run_id[:6]}%'": {"child"},
        "attributes.user = 'alice'": {"parent"},
        "attributes.user != 'alice'": {"child", "elsewhere"},
        f"attributes.parent_run_id = '{parent.run_id}'": {"child"},
        f"attributes.experiment_id = {e2.experiment_id}": {"elsewhere"},
        f"attributes.experiment_id = '{e1.experiment_id}'": {"parent", "child"},
        f"attributes.experiment_id in ({e1.experiment_id})": {"parent", "child"},
        f"attributes.start_time > {BASE_TIME}": {"child", "elsewhere"},
        f"attributes.start_time >= {BASE_TIME + 1_000} and attributes.start_time < {BASE_TIME + 2_000}": {
            "child"
        },
        f"attributes.end_time <= {BASE_TIME + 5_000}": {"parent", "elsewhere"},
        "attributes.duration = 5000": {"parent"},
        "attributes.duration > 10000": {"child"},
        "attributes.duration < 1000": {"elsewhere"},
        "attributes.duration >= 500 and attributes.duration <= 5000": {"parent", "elsewhere"},
    }
    check_filters(client, expected, experiment=None)


def test_duration_and_end_time_are_null_while_running(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    add_run(client, eid, "done")
    add_run(client, eid, "live", status=None)
    check_filters(
        client,
        {
            "attributes.duration >= 0": {"done"},
            "attributes.duration < 1e15": {"done"},
            "attributes.end_time > 0": {"done"},
            "attributes.start_time > 0": {"done", "live"},
        },
    )
    by_name = {r.info.name: r.info for r in client.search_runs("e")}
    assert by_name["live"].end_time is None and by_name["live"].duration is None
    assert by_name["done"].duration is not None and by_name["done"].duration >= 0


# -- ordering ---------------------------------------------------------------------------------------------


def test_default_order_is_newest_start_first_with_ties_broken_by_run_id(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    add_timed_run(client, eid, "old", BASE_TIME, run_id="dddd")
    add_timed_run(client, eid, "tie-b", BASE_TIME + 5, run_id="bbbb")
    add_timed_run(client, eid, "tie-a", BASE_TIME + 5, run_id="aaaa")
    add_timed_run(client, eid, "tie-c", BASE_TIME + 5, run_id="cccc")
    add_timed_run(client, eid, "new", BASE_TIME + 9, run_id="0000")
    assert names(client) == ["new", "tie-a", "tie-b", "tie-c", "old"]
    assert names(client, order_by=[]) == ["new", "tie-a", "tie-b", "tie-c", "old"]
    assert names(client, order_by="attributes.start_time") == ["old", "tie-a", "tie-b", "tie-c", "new"]
    assert names(client, order_by="start_time desc") == ["new", "tie-a", "tie-b", "tie-c", "old"]
    assert names(client, order_by="attributes.run_id desc") == ["old", "tie-c", "tie-b", "tie-a", "new"]


def test_order_by_name_and_by_several_keys(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    rows = [("b", "rf", 0.5), ("a", "gbm", 0.5), ("d", "rf", 0.9), ("c", "gbm", 0.7)]
    for i, (name, model, auc) in enumerate(rows):
        add_timed_run(client, eid, name, BASE_TIME + i, params={"model": model}, metrics={"auc": auc})
    assert names(client, order_by="name") == ["a", "b", "c", "d"]
    assert names(client, order_by=["attributes.name desc"]) == ["d", "c", "b", "a"]
    assert names(client, order_by=["params.model", "metrics.auc desc"]) == ["c", "a", "d", "b"]
    assert names(client, order_by=["metrics.auc", "name desc"]) == ["b", "a", "c", "d"]
    assert names(client, order_by=["metrics.auc"]) == ["a", "b", "c", "d"]  # tie: newer start first


def test_order_by_metric_puts_runs_without_it_last_in_both_directions(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    runs = [
        ("low", 0.1),
        ("none-old", None),
        ("high", 0.9),
        ("nan", math.nan),
        ("mid", 0.5),
        ("none-new", None),
    ]
    for i, (name, auc) in enumerate(runs):
        add_timed_run(
            client, eid, name, BASE_TIME + i, metrics={"other": 1.0} if auc is None else {"auc": auc}
        )
    missing = ["none-new", "nan", "none-old"]  # missing (and NaN) last, newest first among them
    assert names(client, order_by="metrics.auc") == ["low", "mid", "high", *missing]
    assert names(client, order_by="metrics.auc asc") == ["low", "mid", "high", *missing]
    assert names(client, order_by="metrics.auc desc") == ["high", "mid", "low", *missing]
    inf_id = add_timed_run(client, eid, "inf", BASE_TIME + 99, metrics={"auc": math.inf})
    assert names(client, order_by="metrics.auc desc")[:2] == ["inf", "high"]
    assert names(client, order_by="metrics.auc")[3] == "inf"
    assert client.get_run(inf_id).metrics["auc"] == math.inf


def test_order_by_param_is_numeric_for_numbers_then_text_then_missing(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    values = {"ten": "10", "nine": "9", "hundred": "1e2", "text-x": "xyz", "text-a": "abc", "tenth": "0.1"}
    for i, (name, n) in enumerate(values.items()):
        add_timed_run(client, eid, name, BASE_TIME + i, params={"n": n})
    add_timed_run(client, eid, "missing", BASE_TIME + 50)
    add_timed_run(client, eid, "tenth-padded", BASE_TIME + 60, params={"n": "0.10"})
    assert names(client, order_by="params.n") == [
        "tenth",
        "tenth-padded",  # same number: then by text, '0.1' < '0.10'
        "nine",
        "ten",
        "hundred",
        "text-a",
        "text-x",
        "missing",
    ]
    assert names(client, order_by="params.n desc") == [
        "hundred",
        "ten",
        "nine",
        "tenth-padded",
        "tenth",
        "text-x",
        "text-a",
        "missing",
    ]


def test_order_by_duration_puts_running_runs_last(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    add_timed_run(client, eid, "short", BASE_TIME, duration=10)
    add_timed_run(client, eid, "long", BASE_TIME + 1, duration=10_000)
    add_run(client, eid, "live", status=None)
    assert names(client, order_by="attributes.duration") == ["short", "long", "live"]
    assert names(client, order_by="attributes.duration desc") == ["long", "short", "live"]


# -- paging -----------------------------------------------------------------------------------------------


def test_page_tokens_yield_every_run_exactly_once_in_order(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    for i in range(23):
        add_timed_run(client, eid, f"r{i:02d}", BASE_TIME + i // 3, metrics={"auc": (i * 7 % 10) / 10})
    order = ["metrics.auc desc"]
    everything = names(client, order_by=order)
    assert len(everything) == 23
    pages = all_pages(client, 5, experiment="e", order_by=order)
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [n for p in pages for n in p] == everything
    filtered = names(client, "metrics.auc >= 0.5", order_by=order)
    pages = all_pages(client, 4, experiment="e", filter="metrics.auc >= 0.5", order_by=order)
    assert [n for p in pages for n in p] == filtered
    assert all(len(p) == 4 for p in pages[:-1]) and 1 <= len(pages[-1]) <= 4


def test_last_page_has_no_token_even_when_runs_divide_evenly(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    for i in range(10):
        add_timed_run(client, eid, f"r{i}", BASE_TIME + i)
    first = client.search_runs("e", max_results=5)
    assert len(first) == 5 and first.next_page_token is not None
    second = client.search_runs("e", max_results=5, page_token=first.next_page_token)
    assert len(second) == 5 and second.next_page_token is None
    assert [r.info.name for r in first + second] == [f"r{i}" for i in range(9, -1, -1)]
    whole = client.search_runs("e", max_results=10)
    assert len(whole) == 10 and whole.next_page_token is None
    assert client.search_runs("e", max_results=11).next_page_token is None
    assert client.search_runs("e").next_page_token is None
    assert client.search_runs("e", filter="attributes.name = 'zzz'", max_results=3).next_page_token is None


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "!!!",
        base64.urlsafe_b64encode(b"x:5").decode(),
        base64.urlsafe_b64encode(b"o:-1").decode(),
        base64.urlsafe_b64encode(b"o:abc").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_garbage_page_token_raises_invalid_input(client: assay.Client, token: str) -> None:
    eid = client.create_experiment("e").experiment_id
    add_run(client, eid, "r")
    with pytest.raises(assay.InvalidInput, match="page token"):
        client.search_runs("e", max_results=1, page_token=token)


def add_paging_runs(c: assay.Client, experiment_id: str, n: int = 30) -> None:
    """``n`` runs whose sort keys tie and go missing: three to a start time, an auc among four values
    (two equal), NaN or none, an lr among numbers that tie ('0.1', '0.10'), text or none, a team tag or
    none, durations that tie, and every seventh run still running (no duration: a test that pages them
    keeps ASSAY_HEARTBEAT_TIMEOUT long, lest they be reaped meanwhile)."""
    for i in range(n):
        params = {"lr": ["0.1", "0.10", "0.01", "abc", "1e-3"][i % 5]} if i % 6 else {}
        tags = {"team": ["a", "b", "a"][i % 3]} if i % 4 else {}
        start = BASE_TIME + i // 3
        info = c.backend.create_run(
            experiment_id, name=f"r{i:02d}", params=params, tags=tags, start_time=start
        )
        auc = [0.1, 0.5, 0.5, 0.9, math.nan, None][i % 6]
        batches = [] if auc is None else [batch(info.run_id, "auc", [(0, auc)])]
        if i % 7 == 3:
            c.backend.log_series(batches)
        else:
            c.backend.end_run(info.run_id, RunStatus.FINISHED, end_time=start + 10 * (i % 4), batches=batches)


PAGED_ORDERS: list[list[str]] = [
    [],
    ["attributes.start_time"],
    ["name"],
    ["metrics.auc desc"],
    ["metrics.auc"],
    ["metrics.auc desc", "params.lr desc"],
    ["params.lr"],
    ["params.lr desc", "metrics.auc"],
    ["tags.team desc"],
    ["attributes.duration"],
    ["attributes.duration desc", "tags.team"],
]


def pages_back(c: assay.Client, token: str, max_results: int, **kwargs: Any) -> list[list[str]]:
    """Follow previous-page tokens from ``token`` back to the first page; the names of each page, first
    page first."""
    pages: list[list[str]] = []
    while True:
        page = c.search_runs(max_results=max_results, page_token=token, **kwargs)
        pages.insert(0, [r.info.name for r in page])
        if page.prev_page_token is None:
            return pages
        token = page.prev_page_token
        assert len(pages) < 1000, "previous-page tokens never ran out"


@pytest.mark.parametrize("size", [4, 7])
def test_pages_of_every_order_hold_every_run_once_across_ties_and_missing_values(
    client: assay.Client, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_HEARTBEAT_TIMEOUT", "3600")  # the running runs stay running while paged
    eid = client.create_experiment("e").experiment_id
    add_paging_runs(client, eid)
    wrong = []
    for order in PAGED_ORDERS:
        for text in (None, "metrics.auc >= 0.5 or params.lr = 'abc'"):
            everything = names(client, text, order_by=order)
            pages: list[list[str]] = []
            page = client.search_runs("e", text, order, max_results=size)
            while True:
                pages.append([r.info.name for r in page])
                if page.next_page_token is None:
                    break
                page = client.search_runs("e", text, order, max_results=size, page_token=page.next_page_token)
            if [n for p in pages for n in p] != everything or any(len(p) != size for p in pages[:-1]):
                wrong.append(f"{order} {text!r}: {pages}, unpaged {everything}")
            elif (page.prev_page_token is None) != (len(pages) == 1):
                wrong.append(f"{order} {text!r}: the last of {len(pages)} pages has no previous page")
            elif page.prev_page_token is not None:  # and back: the previous pages of the last one
                back = pages_back(
                    client, page.prev_page_token, size, experiment="e", filter=text, order_by=order
                )
                if [*back, pages[-1]] != pages:
                    wrong.append(f"{order} {text!r} backwards: {back}, forwards {pages}")
    assert not wrong, "\n".join(wrong)


def test_runs_logged_between_page_fetches_neither_repeat_nor_push_runs_off(
    client: assay.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_HEARTBEAT_TIMEOUT", "3600")
    eid = client.create_experiment("e").experiment_id
    add_paging_runs(client, eid, 24)
    for k, order in enumerate([["metrics.auc desc"], [], ["params.lr"]]):
        before = names(client, order_by=order)
        seen: list[str] = []
        page = client.search_runs("e", order_by=order, max_results=5)
        seen += [r.info.name for r in page]
        # new runs everywhere in the order: newest, oldest, and ties of the values already paged
        add_timed_run(client, eid, f"new-top-{k}", BASE_TIME + 100, metrics={"auc": 2.0}, params={"lr": "0"})
        add_timed_run(client, eid, f"new-low-{k}", BASE_TIME - 100, metrics={"auc": -1.0})
        add_timed_run(client, eid, f"new-tie-{k}", BASE_TIME + 5, metrics={"auc": 0.5}, params={"lr": "0.1"})
        while page.next_page_token is not None:
            page = client.search_runs("e", order_by=order, max_results=5, page_token=page.next_page_token)
            seen += [r.info.name for r in page]
        assert len(seen) == len(set(seen)), f"{order}: a run came twice: {seen}"
        assert set(before) <= set(seen), f"{order}: runs went missing: {set(before) - set(seen)}"
        after = names(client, order_by=order)
        assert seen == [n for n in after if n in seen], f"{order}: out of order: {seen}"


def test_a_page_token_belongs_to_its_order_and_offset_tokens_still_work(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    for i in range(6):
        add_timed_run(client, eid, f"r{i}", BASE_TIME + i, metrics={"auc": i / 10})
    token = client.search_runs("e", order_by=["metrics.auc"], max_results=2).next_page_token
    assert token is not None
    with pytest.raises(assay.InvalidInput, match="another order"):
        client.search_runs("e", order_by=["metrics.auc desc"], max_results=2, page_token=token)
    forged = base64.urlsafe_b64decode(token)[:-3]
    with pytest.raises(assay.InvalidInput, match="page token"):
        client.search_runs(
            "e", order_by=["metrics.auc"], page_token=base64.urlsafe_b64encode(forged).decode()
        )
    # an offset token (what earlier versions issued) skips that many runs; its page hands out cursors
    skip = client.search_runs("e", max_results=2, page_token=base64.urlsafe_b64encode(b"o:3").decode())
    assert [r.info.name for r in skip] == ["r2", "r1"]
    assert skip.next_page_token is not None and skip.prev_page_token is not None
    rest = client.search_runs("e", max_results=2, page_token=skip.next_page_token)
    assert [r.info.name for r in rest] == ["r0"] and rest.next_page_token is None
    back = client.search_runs("e", max_results=2, page_token=skip.prev_page_token)
    assert [r.info.name for r in back] == ["r4", "r3"] and back.prev_page_token is not None
    first = client.search_runs("e", max_results=2, page_token=back.prev_page_token)
    assert [r.info.name for r in first] == ["r5", "r4"]  # one run before the cursor: the (full) first page
    assert first.prev_page_token is None


def test_count_runs_is_exact_up_to_its_bound_and_beyond_it_an_estimate_or_exact(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    client.create_experiment("other")
    for i in range(12):
        add_timed_run(client, eid, f"r{i}", BASE_TIME + i)
    client.delete_run(add_timed_run(client, eid, "gone", BASE_TIME))
    assert client.backend.count_runs(eid) == RunCount(12)
    assert client.backend.get_experiment(eid).run_count == 12
    assert client.backend.get_experiment(eid, with_run_count=False).name == "e"
    bounded = client.backend.count_runs(eid, exact_up_to=5)
    assert bounded == RunCount(12) or (not bounded.exact and bounded.n >= 6), bounded
    assert client.backend.count_runs(client.get_experiment_by_name("other").experiment_id) == RunCount(0)  # type: ignore[union-attr]
    with pytest.raises(assay.NotFound):
        client.backend.count_runs("999999")


@pytest.mark.parametrize("max_results", [0, -1])
def test_max_results_below_one_raises_invalid_input(client: assay.Client, max_results: int) -> None:
    client.create_experiment("e")
    with pytest.raises(assay.InvalidInput, match="max_results"):
        client.search_runs("e", max_results=max_results)


# -- deleted runs and the experiment argument ------------------------------------------------------------


def test_deleted_runs_are_hidden_unless_included_and_come_back_when_restored(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    add_run(client, eid, "keep", params={"x": "1"})
    gone = add_run(client, eid, "gone", params={"x": "1"})
    client.delete_run(gone)
    assert names(client) == ["keep"]
    assert names(client, "params.x = '1'") == ["keep"]
    assert names(client, experiment=None) == ["keep"]
    assert set(names(client, "params.x = '1'", include_deleted=True)) == {"keep", "gone"}
    (deleted,) = client.search_runs("e", "attributes.name = 'gone'", include_deleted=True)
    assert deleted.info.lifecycle.value == "deleted"
    client.restore_run(gone)
    assert set(names(client, "params.x = '1'")) == {"keep", "gone"}


def test_experiment_argument_takes_names_ids_and_lists(client: assay.Client) -> None:
    e1 = client.create_experiment("first")
    e2 = client.create_experiment("second")
    e3 = client.create_experiment("third")
    add_run(client, e1.experiment_id, "one")
    add_run(client, e2.experiment_id, "two")
    add_run(client, e3.experiment_id, "three")
    assert names(client, experiment="first") == ["one"]
    assert names(client, experiment=e2.experiment_id) == ["two"]
    assert set(names(client, experiment=["first", e3.experiment_id])) == {"one", "three"}
    assert set(names(client, experiment=None)) == {"one", "two", "three"}
    assert set(names(client, experiment=[])) == {"one", "two", "three"}
    assert set(names(client, "attributes.name != 'two'", experiment=None)) == {"one", "three"}
    assert {r.info.experiment_id for r in client.search_runs("second")} == {e2.experiment_id}
    assert names(client, experiment="third", order_by="metrics.nothing desc") == ["three"]


@pytest.mark.parametrize("experiment", ["no such experiment", "999999", ["first", "missing"]])
def test_unknown_experiment_raises_not_found(client: assay.Client, experiment: str | list[str]) -> None:
    eid = client.create_experiment("first").experiment_id
    add_run(client, eid, "one")
    with pytest.raises(assay.NotFound):
        client.search_runs(experiment)


def test_empty_experiment_returns_an_empty_list_without_token(client: assay.Client) -> None:
    client.create_experiment("empty")
    found = client.search_runs("empty", max_results=3)
    assert list(found) == [] and found.next_page_token is None


# -- errors -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("metrics.auc > 0.9 adn params.model = 'rf'", 18),
        ("params.model = rf", 15),
        ("(metrics.auc > 1", 16),
        ("metrics.auc >", 13),
    ],
)
def test_malformed_filter_raises_filter_syntax_error_with_a_caret(
    client: assay.Client, text: str, position: int
) -> None:
    client.create_experiment("e")
    with pytest.raises(assay.FilterSyntaxError) as info:
        client.search_runs("e", filter=text)
    message = str(info.value)
    assert isinstance(info.value, assay.InvalidInput)
    assert f"\n  {text}\n" in message
    assert message.splitlines()[-1] == " " * (2 + position) + "^"


def test_malformed_order_by_raises_filter_syntax_error(client: assay.Client) -> None:
    client.create_experiment("e")
    with pytest.raises(assay.FilterSyntaxError, match="asc or desc"):
        client.search_runs("e", order_by=["metrics.auc downward"])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("metrics.auc = 'high'", "metrics compare with numbers"),
        ("metrics.auc > '0.5'", "metrics compare with numbers"),
        ("metrics.auc in (0.5, 'x')", "metrics compare with numbers"),
        ("metrics.auc like '0.%'", "metrics are numbers"),
        ("metrics.auc ilike '0.%'", "metrics are numbers"),
        ("metrics.auc not like '0.%'", "metrics are numbers"),
        ("attributes.start_time > 'yesterday'", "use a number"),
        ("attributes.duration like '1%'", "is a number"),
    ],
)
def test_type_errors_in_filters_raise_invalid_input(client: assay.Client, text: str, match: str) -> None:
    eid = client.create_experiment("e").experiment_id
    add_run(client, eid, "r", metrics={"auc": 0.5})
    with pytest.raises(assay.InvalidInput, match=match) as info:
        client.search_runs("e", filter=text)
    assert not isinstance(info.value, assay.FilterSyntaxError)


# -- what comes back ---------------------------------------------------------------------------------------


def test_search_results_carry_params_tags_and_last_metric_summaries(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    parent = add_run(client, eid, "parent", status="FAILED")
    rid = add_run(
        client,
        eid,
        "child",
        params={"lr": 0.01, "layers": 3},
        tags={"team": "nlp"},
        metrics={"loss": [(0, 2.5), (1, 1.5), (2, 1.75)], "acc": 0.5},
        parent_run_id=parent,
    )
    (run,) = client.search_runs("e", "params.lr = 0.01")
    assert run.id == rid
    assert dict(run.params) == {"lr": "0.01", "layers": "3"}
    assert dict(run.tags) == {"team": "nlp"}
    assert run.metrics == {"loss": 1.75, "acc": 0.5}
    loss = run.metric_summaries["loss"]
    assert (loss.last, loss.min, loss.max, loss.last_step, loss.num_points) == (1.75, 1.5, 2.5, 2, 3)
    assert run.info.parent_run_id == parent and run.info.status is RunStatus.FINISHED
    assert run.info.experiment_id == eid
    stored = client.get_run(rid)
    assert (stored.info, dict(stored.params), dict(stored.tags)) == (run.info, run.params, run.tags)
    assert stored.metric_summaries == run.metric_summaries
    (p,) = client.search_runs("e", "attributes.status = 'failed'")
    assert p.id == parent and dict(p.params) == {} and dict(p.tags) == {} and p.metrics == {}


def test_to_pandas_gives_a_row_per_run_with_prefixed_columns(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    add_timed_run(client, eid, "a", BASE_TIME, params={"lr": "0.1"}, metrics={"auc": 0.75})
    add_timed_run(client, eid, "b", BASE_TIME + 1, params={"lr": "0.2", "depth": "3"})
    df = client.search_runs("e", order_by="name").to_pandas()
    assert list(df["name"]) == ["a", "b"]
    assert {
        "run_id",
        "status",
        "start_time",
        "duration_s",
        "params.lr",
        "params.depth",
        "metrics.auc",
    } <= set(df.columns)
    assert list(df["params.lr"]) == ["0.1", "0.2"]
    assert df["metrics.auc"].iloc[0] == 0.75 and math.isnan(df["metrics.auc"].iloc[1])
    assert list(df["duration_s"]) == [1.0, 1.0]
    assert client.search_runs("e", "params.lr = 'none'").to_pandas().empty


def test_fluent_api_runs_are_found_by_fluent_search(tracking_uri: str) -> None:
    assay.set_experiment("fluent")
    for lr in (0.1, 0.01):
        with assay.start_run(name=f"lr={lr}", params={"lr": lr}, tags={"kind": "sweep"}, **NO_CAPTURE):
            for step in range(3):
                assay.log_metric("acc", lr * 10 - step / 100, step=step)
    found = assay.search_runs("fluent", "params.lr < 0.05 and tags.kind = 'sweep'")
    assert [r.info.name for r in found] == ["lr=0.01"]
    assert found[0].metrics == {"acc": pytest.approx(0.08)}
    assert found[0].info.status is RunStatus.FINISHED
    ordered = assay.search_runs(filter="metrics.acc > 0", order_by=["metrics.acc desc"], max_results=1)
    assert [r.info.name for r in ordered] == ["lr=0.1"] and ordered.next_page_token is not None


# -- edge cases: absent attributes, NaN, exact floats, like escapes, number spellings ---------------------------


def test_not_of_condition_on_an_absent_attribute_includes_runs_without_it(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    parent = add_run(client, eid, "parent")
    add_run(client, eid, "child", parent_run_id=parent)
    add_run(client, eid, "live", status=None)
    check_filters(
        client,
        {
            f"not (attributes.parent_run_id = '{parent}')": {"parent", "live"},
            f"not (attributes.parent_run_id in ('{parent}'))": {"parent", "live"},
            f"not (attributes.parent_run_id like '{parent[:4]}%')": {"parent", "live"},
            "not (attributes.duration >= 0)": {"live"},
            "not (attributes.end_time > 0)": {"live"},
            "not (attributes.end_time in (0, 1))": {"parent", "child", "live"},
            # like a missing param, a missing attribute fails every condition, != and not in included
            f"attributes.parent_run_id != '{parent}'": set(),
            "attributes.parent_run_id not in ('nope')": {"child"},
            "not (attributes.parent_run_id != 'nope')": {"parent", "live"},
            "attributes.end_time not in (0)": {"parent", "child"},
            "not (attributes.duration < 0 or attributes.name = 'child')": {"parent", "live"},
        },
    )


def test_metric_in_list_with_nan_matches_like_equals_nan(scored: assay.Client) -> None:
    check_filters(
        scored,
        {
            "metrics.auc = nan": {"n"},
            "metrics.auc in (nan)": {"n"},
            "metrics.auc in (0.5, nan)": {"a", "n"},
            "metrics.auc not in (nan)": {"a", "b", "c"},
            "metrics.auc not in (0.5, NaN)": {"b", "c"},
            "not (metrics.auc in (nan))": {"a", "b", "c", "d"},
            # a NaN metric fails every comparison with a number, != included (as a missing metric does)
            "metrics.auc != 0.5": {"b", "c"},
            "not (metrics.auc = 0.5)": {"b", "c", "d", "n"},
        },
    )


def test_nan_literal_on_an_attribute_matches_nothing_but_not_equal(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    add_run(client, eid, "done")
    add_run(client, eid, "live", status=None)
    check_filters(
        client,
        {
            "attributes.start_time = nan": set(),
            "attributes.start_time < nan": set(),
            "attributes.start_time != nan": {"done", "live"},
            "not (attributes.start_time >= nan)": {"done", "live"},
            "attributes.end_time != nan": {"done"},
            "not (attributes.end_time = nan)": {"done", "live"},
            "attributes.start_time in (nan)": set(),
            "attributes.start_time not in (nan)": {"done", "live"},
        },
    )


def test_search_returns_metric_values_at_full_precision(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    values = {"third": 1 / 3, "sum": 0.1 + 0.2, "tiny": 1.2345678901234567e-300, "big": 123456789.12345678}
    rid = add_run(client, eid, "precise", metrics=values)
    assert client.get_run(rid).metrics == values
    (run,) = client.search_runs("e")
    assert run.metrics == values
    assert (run.metric_summaries["third"].min, run.metric_summaries["third"].max) == (1 / 3, 1 / 3)


def same_summaries(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Equal metric summaries, NaN equal to NaN."""

    def canon(x: Any) -> Any:
        return "nan" if isinstance(x, float) and math.isnan(x) else (type(x), x)

    return a.keys() == b.keys() and all([canon(x) for x in a[k]] == [canon(y) for y in b[k]] for k in a)


def test_search_returns_every_float_exactly_as_get_run_does(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    rng = random.Random(5)
    bits = np.frombuffer(rng.randbytes(8 * 300), dtype=np.float64).tolist()  # every exponent
    edge = [0.0, 1e29, 1e31, 1e-29, 1e-31, 1e300, -1e-300, 5e-324, 2.2250738585072014e-308]
    edge += [1.7976931348623157e308, -1.3569638649312073e228, 2.0**63, 1e16 + 2, 7.0, -1.5]
    finite = [x for x in bits if math.isfinite(x)] + edge + [rng.random() * 10 ** rng.randint(-40, 40)]
    special = [math.inf, -math.inf, math.nan]
    runs = []
    for start in range(0, len(finite), 50):
        chunk = finite[start : start + 50]
        runs.append(add_run(client, eid, f"r{start}", metrics={f"m{i}": x for i, x in enumerate(chunk)}))
    # series: last, min and max differ; some of them infinite or NaN
    series = {
        "rising": [(0, 0.1), (1, 1 / 3), (2, 2 / 3)],
        "falling": [(0, 2 / 3), (1, 0.1 + 0.2)],
        "inf-max": [(0, math.inf), (1, 1 / 7)],
        "neg-inf-last": [(0, 1 / 7), (1, -math.inf)],
        "nan-last": [(0, 1 / 7), (1, math.nan)],
        "all-nan": [(0, math.nan)],
        "huge-min": [(0, -1e300), (1, 1 / 3)],
    }
    series.update({f"s{i}": [(0, x)] for i, x in enumerate(special)})
    runs.append(add_run(client, eid, "series", metrics=series))
    found = {r.id: r for r in client.search_runs("e")}
    assert found.keys() == set(runs)
    for rid in runs:
        stored = client.get_run(rid).metric_summaries
        got = found[rid].metric_summaries
        assert same_summaries(got, stored), rid
        assert all(type(s.last) is float and type(s.min) is float for s in got.values())
    summaries = found[runs[-1]].metric_summaries
    assert (summaries["inf-max"].max, summaries["neg-inf-last"].last) == (math.inf, -math.inf)
    assert math.isnan(summaries["nan-last"].last) and summaries["nan-last"].max == 1 / 7
    assert math.isnan(summaries["all-nan"].min) and summaries["huge-min"].min == -1e300
    rising = summaries["rising"]
    assert (rising.last, rising.min, rising.max) == (2 / 3, 0.1, 2 / 3)
    assert (rising.last_step, rising.num_points) == (2, 3)


def test_like_backslash_escapes_percent_underscore_and_itself_on_both_backends(
    client: assay.Client,
) -> None:
    """In a pattern ``\\%``, ``\\_``, ``\\\\`` are a literal ``%``, ``_``, backslash; any other backslash is itself.

    The filters are raw strings: the filter's quoted string reads ``\\\\`` as one backslash first.
    """
    eid = client.create_experiment("e").experiment_id
    add_run(client, eid, "win", params={"path": "C:\\data\\x"})
    add_run(client, eid, "unix", params={"path": "C:data/x"})
    add_run(client, eid, "pct", params={"path": "50%off"})
    add_run(client, eid, "under", params={"path": "a_b"})
    add_run(client, eid, "aXb", params={"path": "aXb"})
    add_run(client, eid, "trailing", params={"path": "dir\\"})
    check_filters(
        client,
        {
            r"params.path = 'C:\\data\\x'": {"win"},
            # a backslash before a letter is a backslash: Windows paths need no doubling
            r"params.path like 'C:\\data\\x'": {"win"},
            r"params.path like 'C:\data\x'": {"win"},
            r"params.path like 'C:\\\\%'": {"win"},  # pattern C:\\% : a backslash, then anything
            r"params.path like 'C:\\%'": set(),  # pattern C:\% : a literal percent sign
            r"params.path like 'C:%'": {"win", "unix"},
            r"params.path like '50\%off'": {"pct"},
            r"params.path like '%\%%'": {"pct"},
            r"params.path like '50\%'": set(),
            r"params.path not like '%\%%'": {"win", "unix", "under", "aXb", "trailing"},
            r"params.path like 'a\_b'": {"under"},
            r"params.path like 'a_b'": {"under", "aXb"},
            r"params.path like '%\\'": {"trailing"},  # a backslash at the end is itself
            r"params.path ilike 'c:\\\\D%'": {"win"},
            r"params.path ilike 'A\_B'": {"under"},
            r"attributes.name like 'a\_b'": set(),
            r"attributes.name like 'a_b'": {"aXb"},
        },
    )


def test_ilike_folds_case_of_non_ascii_letters(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    add_run(client, eid, "accented", tags={"city": "Élan Zürich"})
    add_run(client, eid, "Ärger", tags={"city": "Straße"})
    assert names(client, "tags.city ilike 'élan zürich'") == ["accented"]
    assert names(client, "tags.city ilike '%ZÜRICH'") == ["accented"]
    assert names(client, "tags.city not ilike '%zürich'") == ["Ärger"]
    assert names(client, "tags.city ilike 'STRA_E'") == ["Ärger"]  # ß is one character
    assert names(client, "attributes.name ilike 'ä%'") == ["Ärger"]
    assert names(client, "tags.city like 'élan%'") == []  # like stays case-sensitive


def test_python_only_number_spellings_are_not_numeric_params(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    add_run(client, eid, "underscored", params={"n": "1_000"})
    add_run(client, eid, "arabic-digits", params={"n": "\u0661\u0662"})
    add_run(client, eid, "plain", params={"n": "1000"})
    assert names(client, "params.n > 10") == ["plain"]


def test_numeric_params_are_plain_decimal_numbers_and_infinities(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    numeric = {
        "int": "12",
        "signed": "+12.5",
        "neg": "-.5",
        "point": "12.",
        "exp": "1.2E2",
        "inf": "Infinity",
    }
    numeric |= {"ninf": "-INF"}
    text = {"spaced": " 7 ", "newline": "7\n", "hex": "0x10", "bare-e": "1e", "nan": "NaN", "dots": "1.2.3"}
    text |= {"fullwidth": "\uff17", "superscript": "\u00b2", "underscored": "1_0"}
    for name, n in {**numeric, **text}.items():
        add_run(client, eid, name, params={"n": n}, tags={"n": n})
    check_filters(
        client,
        {
            "params.n > 10": {"int", "signed", "point", "exp", "inf"},
            "params.n < 0": {"neg", "ninf"},
            "tags.n >= -inf": set(numeric),
            "params.n = ' 7 '": {"spaced"},
        },
    )
    ordered = names(client, order_by="params.n")
    assert ordered[: len(numeric)] == ["ninf", "neg", "int", "point", "signed", "exp", "inf"]
    assert set(ordered[len(numeric) :]) == set(text)


def test_fractional_experiment_id_literal_is_not_truncated(client: assay.Client) -> None:
    eid = client.create_experiment("e").experiment_id
    add_run(client, eid, "r")
    assert names(client, f"attributes.experiment_id = {eid}.5") == []
    assert names(client, f"attributes.experiment_id < {eid}.5") == ["r"]
    assert names(client, f"attributes.experiment_id > {eid}.5") == []
    assert names(client, f"attributes.experiment_id != {eid}.5") == ["r"]
    assert names(client, f"attributes.experiment_id in ({eid}.5, 0.5)") == []
    assert names(client, f"attributes.experiment_id in ({eid}.0)") == ["r"]
    assert names(client, f"attributes.experiment_id = {eid}e0") == ["r"]
    assert names(client, f"attributes.experiment_id = '{eid}'") == ["r"]
    with pytest.raises(assay.InvalidInput, match="use a number"):
        client.search_runs("e", f"attributes.experiment_id = '{eid}.5'")


def test_runs_of_a_deleted_experiment_are_hidden_unless_included(client: assay.Client) -> None:
    kept = client.create_experiment("e").experiment_id
    gone = client.create_experiment("gone").experiment_id
    add_run(client, kept, "kept", params={"x": "1"})
    add_run(client, gone, "orphan", params={"x": "1"})
    deleted_run = add_run(client, gone, "deleted-orphan", params={"x": "1"})
    client.delete_run(deleted_run)
    client.delete_experiment(gone)
    assert names(client, experiment=None) == ["kept"]
    assert names(client, "params.x = '1'", experiment=None) == ["kept"]
    assert names(client, experiment="gone") == []
    assert names(client, experiment=["e", "gone"]) == ["kept"]
    assert client.search_runs("gone", max_results=1).next_page_token is None
    assert set(names(client, experiment="gone", include_deleted=True)) == {"orphan", "deleted-orphan"}
    everything = names(client, "params.x = '1'", experiment=None, include_deleted=True)
    assert set(everything) == {"kept", "orphan", "deleted-orphan"}
    client.restore_experiment(gone)
    assert set(names(client, experiment=None)) == {"kept", "orphan"}


# -- 300 runs against a pure-Python reference ---------------------------------------------------------------


@dataclass
class RefRun:
    run_id: str
    name: str
    status: str
    start_time: int
    end_time: int
    user: str
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, float] = field(default_factory=dict)  # last value (at the highest step)
    deleted: bool = False

    @property
    def duration(self) -> int:
        return self.end_time - self.start_time


Pred = Callable[[RefRun], bool]


@dataclass(frozen=True)
class Cond:
    text: str
    pred: Pred
    kind: str = "leaf"  # leaf, and, or, not


OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
ORDERING_OPS = ["<", "<=", ">", ">="]
PARAM_POOLS = {
    "lr": ["0.1", "0.10", "0.01", "0.001", "1e-3", "0.3"],
    "n": ["9", "50", "100", "abc", "200", "7"],
    "model": ["rf", "RF", "gbm", "Linear", "linear", "lin_reg", "linXreg"],
    "opt": ["adam", "sgd", "Adam"],
    "batch size": ["16", "32", "64", "128"],
}
TAG_POOLS = {"team": ["vision", "nlp", "Vision"], "prio": ["1", "2", "3", "4", "5"]}
LIKE_PATTERNS = ["lin%", "%F", "r_", "lin_reg", "%a%", "Lin%", "%e%", "_d_m", "rf"]
USERS = ["alice", "bob", "carol"]
NUMBER_TOKEN = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def number_of(text: str) -> float | None:
    try:
        x = float(text)
    except ValueError:
        return None
    return None if math.isnan(x) else x


def like(pattern: str, value: str, ignore_case: bool) -> bool:
    rx = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(rx, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def key_ref(entity: str, key: str) -> str:
    return f"{entity}.`{key}`" if " " in key else f"{entity}.{key}"


def last_value(points: Sequence[tuple[int, float]]) -> float:
    """The value at the highest step; the last logged one among equal steps."""
    top = max(s for s, _ in points)
    return [x for s, x in points if s == top][-1]


def build_reference_runs(c: assay.Client, rng: random.Random) -> list[RefRun]:
    eid = c.create_experiment("big").experiment_id
    other = c.create_experiment("other").experiment_id
    for i in range(10):
        add_timed_run(c, other, f"other-{i}", BASE_TIME + i, params={"lr": "0.1"}, metrics={"auc": 0.5})
    out: list[RefRun] = []
    for i in range(300):
        params = {k: rng.choice(pool) for k, pool in PARAM_POOLS.items() if k != "opt"}
        params["n"] = rng.choice([params["n"], str(rng.randint(1, 300))])
        if rng.random() < 0.7:
            params["opt"] = rng.choice(PARAM_POOLS["opt"])
        tags = {"team": rng.choice(TAG_POOLS["team"])} if rng.random() < 0.7 else {}
        if rng.random() < 0.6:
            tags["prio"] = rng.choice(TAG_POOLS["prio"])
        start = BASE_TIME + rng.randrange(150) * 1000  # ~2 runs per start time: ties
        ref = RefRun(
            run_id="",
            name=f"run-{i:03d}",
            status=rng.choice(["FINISHED", "FINISHED", "FAILED", "KILLED"]),
            start_time=start,
            end_time=start + rng.randrange(100_000),
            user=rng.choice(USERS),
            params=params,
            tags=tags,
        )
        series: dict[str, list[tuple[int, float]]] = {}
        roll = rng.random()
        if roll < 0.85:
            series["auc"] = [(0, round(rng.random(), 3))]
        elif roll < 0.92:
            series["auc"] = [(0, math.nan)]
        steps = rng.sample(range(6), rng.randint(1, 5))
        if rng.random() < 0.2:
            steps.append(max(steps))  # the highest step logged twice: the later one counts
        series["loss"] = [(s, round(rng.uniform(0, 5), 2)) for s in steps]
        roll = rng.random()
        if roll < 0.03:
            series["val acc"] = [(0, math.inf)]
        elif roll < 0.05:
            series["val acc"] = [(0, -math.inf)]
        elif roll < 0.9:
            series["val acc"] = [(0, 0.5), (1, round(rng.random(), 2))]
        ref.metrics = {k: last_value(points) for k, points in series.items()}

        info = c.backend.create_run(
            eid, name=ref.name, params=params, tags=tags, start_time=start, user=ref.user
        )
        ref.run_id = info.run_id
        loss = series["loss"]
        if len(loss) > 1 and rng.random() < 0.5:  # loss in two writes: the summary merges them
            cut = rng.randint(1, len(loss) - 1)
            c.backend.log_series([batch(info.run_id, "loss", loss[:cut])])
            series["loss"] = loss[cut:]
        batches = [batch(info.run_id, k, points) for k, points in series.items()]
        c.backend.end_run(info.run_id, RunStatus(ref.status), end_time=ref.end_time, batches=batches)
        if rng.random() < 0.05:
            c.delete_run(info.run_id)
            ref.deleted = True
        out.append(ref)
    return out


def metric_cond(rng: random.Random, runs: list[RefRun]) -> Cond:
    key = rng.choice(["auc", "loss", "val acc"])
    values = sorted({v for r in runs if not math.isnan(v := r.metrics.get(key, math.nan))})
    if rng.random() < 0.2:
        vals = rng.sample(values, 3)
        negated = rng.random() < 0.5
        text = f"{key_ref('metrics', key)} {'not in' if negated else 'in'} ({', '.join(map(repr, vals))})"

        def in_pred(r: RefRun) -> bool:
            if key not in r.metrics:
                return False
            x = r.metrics[key]
            hit = not math.isnan(x) and x in vals
            return not hit if negated else hit

        return Cond(text, in_pred)
    op = rng.choice(list(OPS))
    x = rng.choice(values) if op in ("=", "!=") or rng.random() < 0.5 else rng.choice([0.25, 0.5, 2.5, 1e308])
    text = f"{key_ref('metrics', key)} {op} {x!r}"
    return Cond(text, lambda r: not math.isnan(v := r.metrics.get(key, math.nan)) and OPS[op](v, x))


def kv_cond(
    rng: random.Random, entity: str, pools: Mapping[str, list[str]], of: Callable[[RefRun], dict[str, str]]
) -> Cond:
    key = rng.choice(list(pools))
    ref = key_ref(entity, key)
    pool = pools[key]
    kind = rng.choice(["eq", "eq", "in", "num", "like", "text-order"])
    if kind == "num" and any(number_of(v) is not None for v in pool):
        op = rng.choice(ORDERING_OPS)
        x = rng.choice([n for v in pool if (n := number_of(v)) is not None] + [0.05, 60.0])
        return Cond(
            f"{ref} {op} {x!r}",
            lambda r: key in of(r) and (n := number_of(of(r)[key])) is not None and OPS[op](n, x),
        )
    if kind == "like":
        op = rng.choice(["like", "ilike", "not like", "not ilike"])
        v = rng.choice(pool)
        pattern = rng.choice([*LIKE_PATTERNS, v[:2] + "%", "%" + v[-1], "_" + v[1:], v.upper(), v])
        negated, ci = op.startswith("not"), "ilike" in op
        return Cond(
            f"{ref} {op} {quote(pattern)}",
            lambda r: key in of(r) and like(pattern, of(r)[key], ci) != negated,
        )
    if kind == "text-order":
        op = rng.choice(ORDERING_OPS)
        bound = rng.choice(["b", "r", "5"])  # case and collation never decide these
        return Cond(f"{ref} {op} {quote(bound)}", lambda r: key in of(r) and OPS[op](of(r)[key], bound))

    def literal(v: str) -> str:
        return v if NUMBER_TOKEN.fullmatch(v) and rng.random() < 0.5 else quote(v)

    if kind == "in":
        vals = rng.sample(pool, min(len(pool), rng.randint(1, 3)))
        negated = rng.random() < 0.5
        text = f"{ref} {'not in' if negated else 'in'} ({', '.join(literal(v) for v in vals)})"
        return Cond(text, lambda r: key in of(r) and (of(r)[key] in vals) != negated)
    op = rng.choice(["=", "!="])
    v = rng.choice(pool)
    return Cond(f"{ref} {op} {literal(v)}", lambda r: key in of(r) and OPS[op](of(r)[key], v))


def attribute_cond(rng: random.Random, runs: list[RefRun]) -> Cond:
    kind = rng.choice(["status", "name", "user", "start_time", "duration", "run_id"])
    if kind == "status":
        vals = rng.sample(["finished", "FAILED", "Killed", "running"], rng.randint(1, 2))
        if len(vals) == 1 and rng.random() < 0.6:
            op = rng.choice(["=", "!="])
            return Cond(
                f"attributes.status {op} {quote(vals[0])}", lambda r: OPS[op](r.status, vals[0].upper())
            )
        negated = rng.random() < 0.5
        upper = [v.upper() for v in vals]
        text = f"attributes.status {'not in' if negated else 'in'} ({', '.join(map(quote, vals))})"
        return Cond(text, lambda r: (r.status in upper) != negated)
    if kind == "name":
        pattern = rng.choice(["run-1%", "run-_5%", "%7", "run-0__"])
        return Cond(f"attributes.name like {quote(pattern)}", lambda r: like(pattern, r.name, False))
    if kind == "user":
        op, who = rng.choice(["=", "!="]), rng.choice(USERS)
        return Cond(f"attributes.user {op} {quote(who)}", lambda r: OPS[op](r.user, who))
    if kind == "run_id":
        ids = [r.run_id for r in rng.sample(runs, 12)]
        return Cond(f"attributes.run_id in ({', '.join(map(quote, ids))})", lambda r: r.run_id in ids)
    op = rng.choice(ORDERING_OPS)
    if kind == "start_time":
        t = BASE_TIME + rng.randrange(150) * 1000
        return Cond(f"attributes.start_time {op} {t}", lambda r: OPS[op](r.start_time, t))
    d = rng.randrange(100_000)
    return Cond(f"attributes.duration {op} {d}", lambda r: OPS[op](r.duration, d))


def leaf_cond(rng: random.Random, runs: list[RefRun]) -> Cond:
    kind = rng.choice(["metric", "metric", "param", "param", "tag", "attribute"])
    if kind == "metric":
        return metric_cond(rng, runs)
    if kind == "param":
        return kv_cond(rng, "params", PARAM_POOLS, lambda r: r.params)
    if kind == "tag":
        return kv_cond(rng, "tags", TAG_POOLS, lambda r: r.tags)
    return attribute_cond(rng, runs)


def random_filter(rng: random.Random, runs: list[RefRun], depth: int) -> Cond:
    if depth == 0 or rng.random() < 0.3:
        return leaf_cond(rng, runs)
    kind = rng.choice(["and", "or", "not"])
    if kind == "not":
        inner = random_filter(rng, runs, depth - 1)
        text = f"not {inner.text}" if inner.kind == "leaf" and rng.random() < 0.5 else f"not ({inner.text})"
        return Cond(text, lambda r: not inner.pred(r), "not")
    items = [random_filter(rng, runs, depth - 1) for _ in range(rng.randint(2, 3))]
    # `and` binds tighter than `or`: an `and` inside an `or` may go without parentheses
    parts = [
        c.text
        if c.kind in ("leaf", "not") or (kind == "or" and c.kind == "and" and rng.random() < 0.5)
        else f"({c.text})"
        for c in items
    ]
    combine = all if kind == "and" else any
    return Cond(f" {kind} ".join(parts), lambda r: combine(c.pred(r) for c in items), kind)


def compare_nullable(a: Any, b: Any, descending: bool) -> int:
    if a is None or b is None:
        return (a is None) - (b is None)  # missing last, whatever the direction
    if a == b:
        return 0
    return (1 if a > b else -1) * (-1 if descending else 1)


def order_values(r: RefRun, item: str) -> list[Any]:
    """What the store sorts on for one order_by entry (a list: params sort by number, then by text)."""
    ref = item.rsplit(" ", 1)[0] if item.endswith((" asc", " desc")) else item
    if ref.startswith("metrics."):
        v = r.metrics.get(ref.removeprefix("metrics.").strip("`"), math.nan)
        return [None if math.isnan(v) else v]
    if ref.startswith(("params.", "tags.")):
        entity, _, key = ref.partition(".")
        text = (r.params if entity == "params" else r.tags).get(key.strip("`"))
        return [None if text is None else number_of(text), text]
    return [getattr(r, ref.removeprefix("attributes."))]


def reference_search(runs: list[RefRun], pred: Pred, order_by: Sequence[str]) -> list[str]:
    def cmp(a: RefRun, b: RefRun) -> int:
        for item in order_by:
            descending = item.endswith(" desc")
            for x, y in zip(order_values(a, item), order_values(b, item), strict=True):
                if c := compare_nullable(x, y, descending):
                    return c
        return compare_nullable(a.start_time, b.start_time, True) or compare_nullable(
            a.run_id, b.run_id, False
        )

    return [r.name for r in sorted((r for r in runs if not r.deleted and pred(r)), key=cmp_to_key(cmp))]


ORDERINGS: list[list[str]] = [
    [],
    ["metrics.auc desc"],
    ["metrics.loss"],
    ["params.lr"],
    ["params.n desc"],
    ["attributes.start_time"],
    ["name desc"],
    ["tags.prio desc", "metrics.`val acc`"],
    ["params.`batch size`", "attributes.duration desc"],
    ["attributes.status", "metrics.`val acc` desc"],
    ["attributes.user desc", "params.lr desc", "metrics.loss desc"],
]


def test_random_filters_orderings_and_pages_match_a_python_reference_on_300_runs(
    client: assay.Client,
) -> None:
    rng = random.Random(20240607)
    runs = build_reference_runs(client, rng)
    everything = reference_search(runs, lambda r: True, [])
    assert len(everything) == sum(not r.deleted for r in runs)
    mismatches: list[str] = []

    def check(text: str | None, order_by: list[str], want: list[str], page_size: int | None) -> None:
        got = names(client, text, experiment="big", order_by=order_by)
        if got != want:
            mismatches.append(f"{text!r} order_by={order_by}:\n  want {want}\n  got  {got}")
        if page_size is not None:
            pages = all_pages(client, page_size, experiment="big", filter=text, order_by=order_by)
            sizes = [len(p) for p in pages]
            if [n for p in pages for n in p] != want or any(n != page_size for n in sizes[:-1]):
                mismatches.append(f"{text!r} order_by={order_by} paged by {page_size}: got {pages}")

    # every ordering of all runs, each also read in pages of 60
    for order_by in ORDERINGS:
        check(None, order_by, reference_search(runs, lambda r: True, order_by), 60)
    # seeded random filters, each with an ordering, every third also read in pages
    sizes = []
    for i in range(18):
        cond = random_filter(rng, runs, depth=1 + i % 3)
        order_by = ORDERINGS[i % len(ORDERINGS)]
        want = reference_search(runs, cond.pred, order_by)
        sizes.append(len(want))
        check(cond.text, order_by, want, 7 + i if i % 3 == 0 else None)
    assert not mismatches, "\n".join(mismatches)
    # the seeded filters are informative: most select some runs but not all of them
    assert sum(0 < n < len(everything) for n in sizes) >= 12, sizes

    with_deleted = client.search_runs("big", include_deleted=True)
    assert len(with_deleted) == 300
    deleted = sorted(r.info.name for r in with_deleted if r.info.lifecycle.value == "deleted")
    assert deleted == sorted(r.name for r in runs if r.deleted)
    assert deleted, "the seed deletes a few runs"

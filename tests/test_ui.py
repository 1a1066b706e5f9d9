"""The web UI in a real browser: Debian's Chromium, headless, driven by Playwright (the PyPI package).

A real server (on a thread, real TCP) serves a store with a few runs. The tests open the runs table, filter
with a valid and an invalid expression, sort, select runs, open the compare view and assert on what is
drawn. Screenshots of each page go to ``$ASSAY_SCREENSHOTS`` (default ``test-screenshots/``) for review.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from assay.embedded.tracking import TrackingService
from assay.entities import RunStatus, SeriesBatch
from assay.server.main import build_services
from assay.server.testing import ServerThread

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(os.environ.get("ASSAY_SCREENSHOTS", "test-screenshots"))

pytestmark = pytest.mark.slow


def _evaluation(c: float) -> bytes:
    """What assay.evaluate logs for a logistic regression of strength ``c`` on scikit-learn's bundled data."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    from assay.evaluation import evaluate_model

    X, y = load_breast_cancer(return_X_y=True)
    model = LogisticRegression(C=c, max_iter=3000).fit(X[:400], y[:400])
    return orjson.dumps(evaluate_model(model, X[400:], y[400:]).to_json())


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, TrackingService, dict[str, Any]]]:
    root = tmp_path_factory.mktemp("ui")
    services = build_services(str(root / "assay.db"), str(root / "artifacts"))
    service = services.tracking
    assert isinstance(service, TrackingService)
    exp = service.create_experiment("ui-demo")
    ids = {}
    specs = [
        ("rf-small", "rf", 0.1, 0.71),
        ("rf-big", "rf", 0.01, 0.93),
        ("lr", "lr", 0.1, 0.62),
        ("lr-2", "lr", 1.0, 0.55),
    ]
    for name, model, lr, acc in specs:
        run = service.create_run(exp.experiment_id, name=name, params={"model": model, "lr": lr, "seed": 7})
        steps = np.arange(200)
        curve = acc * (1 - np.exp(-steps / 30))
        service.log_series(
            [
                SeriesBatch(run.run_id, "acc", steps, 1_700_000_000_000 + steps * 1000, curve),
                SeriesBatch(run.run_id, "loss", steps, 1_700_000_000_000 + steps * 1000, 1 - curve),
            ]
        )
        if name == "rf-big":  # a long series: the run page draws it downsampled, with its min/max band
            big = np.arange(200_000)
            service.log_series([SeriesBatch(run.run_id, "grad_norm", big, big + 1, np.sin(big / 1000.0))])
        service.write_artifact(run.run_id, "notes.txt", f"notes of {name}".encode())
        service.write_artifact(run.run_id, "evaluation/eval.json", _evaluation(lr))
        service.write_artifact(run.run_id, "table.csv", b"a,b\n1,2\n3,4\n")
        service.end_run(run.run_id, RunStatus.FINISHED)
        ids[name] = run.run_id
    _registry(services, ids)
    with ServerThread(services) as url:
        yield url, service, {"experiment_id": exp.experiment_id, **ids}
    services.close()


def _registry(services: Any, ids: dict[str, Any]) -> None:
    """Model "churn": v1 from rf-small, v2 from rf-big promoted over it by rule, evaluations of v2 on later
    data, and the training dataset both runs used."""
    from assay.registry.entities import Dataset

    reg, service = services.registry, services.tracking
    signature = (
        "signature:\n  inputs:\n    type: dataframe\n    columns:\n    - {name: age, dtype: float64}\n"
        "    - {name: plan, dtype: object}\n  outputs: {type: tensor, dtype: int64, shape: [-1]}\n"
    )
    train = Dataset(
        name="customers",
        digest="xxh3-128:5f1e",
        kind="pandas",
        rows=1200,
        size_bytes=96_000,
        schema=[{"name": "age", "dtype": "float64"}, {"name": "plan", "dtype": "object"}],
        stats={"age": {"count": 1200, "nulls": 3, "min": 18.0, "max": 90.0, "mean": 41.5, "std": 12.2}},
    )
    for name in ("rf-small", "rf-big"):
        service.write_artifact(ids[name], "model/assay-model.yaml", f"flavor: sklearn\n{signature}".encode())
        reg.log_dataset(ids[name], train)
        reg.create_version("churn", f"runs:/{ids[name]}/model")
    reg.set_alias("churn", "champion", 1, reason="first model")
    reg.promote("churn", 2, "champion", rule="metrics.acc >= champion.metrics.acc + 0.01", reason="retrained")
    for i, auc in enumerate((0.91, 0.89, 0.86)):
        reg.record_performance("churn", 2, {"acc": auc}, evaluation=f"month-{i + 1}")
    ids["dataset_id"] = reg.list_datasets()[0].dataset_id


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: scripts/ensure-chromium.sh installs it (make test runs it)")
        pytest.skip("Chromium is not installed (scripts/ensure-chromium.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _rows(page: Any) -> list[str]:
    return [n.strip() for n in page.locator("#runs tbody tr td:nth-child(2) a").all_inner_texts()]


def test_runs_table_filters_sorts_and_selects_into_compare(
    site: tuple[str, Any, dict[str, Any]], page: Any
) -> None:
    url, _, ids = site
    page.goto(f"{url}/")
    assert "ui-demo" in page.locator("#experiments").inner_text()
    _shot(page, "experiments")
    page.click("text=ui-demo")
    assert sorted(_rows(page)) == ["lr", "lr-2", "rf-big", "rf-small"]
    _shot(page, "runs-table")

    page.fill("#filter", "metrics.acc > 0.6 and params.model = 'rf'")
    page.press("#filter", "Enter")
    page.wait_for_url(re.compile(r"filter=metrics"))
    assert sorted(_rows(page)) == ["rf-big", "rf-small"]
    assert page.locator("#filter-error").count() == 0

    page.fill("#filter", "metrics.acc >> 0.6")
    page.press("#filter", "Enter")
    page.wait_for_selector("#filter-error")
    error = page.locator("#filter-error").inner_text()
    assert "metrics.acc >> 0.6" in error and "^" in error
    _shot(page, "runs-filter-error")

    page.goto(f"{url}/experiments/{ids['experiment_id']}")
    page.click('th[data-ref="metrics.acc"] a')
    page.wait_for_url(re.compile(r"o=metrics.acc\+desc"))
    assert _rows(page) == ["rf-big", "rf-small", "lr", "lr-2"]
    page.click('th[data-ref="metrics.acc"] a')
    page.wait_for_url(re.compile(r"o=metrics.acc\+asc"))
    assert _rows(page) == ["lr-2", "lr", "rf-small", "rf-big"]

    assert page.is_disabled("#compare")
    for name in ("rf-big", "rf-small", "lr"):
        page.check(f'#runs tbody tr[data-run="{ids[name]}"] input[name="run"]')
    assert page.locator("#selected-count").inner_text() == "3 selected"
    page.click("#compare")
    page.wait_for_url(re.compile(r"/compare\?"))
    page.wait_for_function("document.querySelector('#curves .chart[data-key=\"acc\"]')?.data !== undefined")
    traces = page.evaluate(
        "document.querySelector('#curves .chart[data-key=\"acc\"]').data.filter(t => t.meta === 'run').length"
    )
    assert traces == 3
    # The diff table marks the params that differ (model, lr) and not the one all runs share (seed).
    assert "differs" in (page.get_attribute('#diff tr[data-key="params.lr"]', "class") or "")
    assert "differs" in (page.get_attribute('#diff tr[data-key="params.model"]', "class") or "")
    assert "differs" not in (page.get_attribute('#diff tr[data-key="params.seed"]', "class") or "")
    assert page.evaluate("document.getElementById('parallel').data[0].dimensions.length") >= 3
    overlay = "document.querySelector('#evaluation-overlays .chart[data-plot=\"roc\"]')"
    assert page.evaluate(f"{overlay}.data.filter(t => t.meta === 'run').length") == 3
    _shot(page, "compare")

    # Chart options live in the URL, so the link shows the same view.
    page.select_option('#controls select[name="x"]', "relative")
    page.check('#controls input[name="log"]')
    page.wait_for_url(re.compile(r"x=relative.*log=1|log=1.*x=relative"))
    shared = page.url
    page.goto(shared)
    page.wait_for_function("document.querySelector('#curves .chart[data-key=\"acc\"]')?.layout !== undefined")
    assert (
        page.evaluate("document.querySelector('#curves .chart[data-key=\"acc\"]').layout.yaxis.type") == "log"
    )


def test_run_page_draws_every_series_and_previews_artifacts(
    site: tuple[str, Any, dict[str, Any]], page: Any
) -> None:
    url, _, ids = site
    page.goto(f"{url}/runs/{ids['rf-big']}")
    page.wait_for_function(
        "[...document.querySelectorAll('#charts .chart')].every(d => d.data !== undefined)"
    )
    keys = page.evaluate("[...document.querySelectorAll('#charts .chart')].map(d => d.dataset.key)")
    assert keys == ["acc", "grad_norm", "loss"]
    # The 200,000-point series arrives as at most 1,000 buckets, drawn with its min/max band.
    grad = "document.querySelector('#charts .chart[data-key=\"grad_norm\"]')"
    assert page.evaluate(f"{grad}.data.find(t => t.meta === 'run').x.length") == 1000
    assert page.evaluate(f"{grad}.data.filter(t => t.meta === 'band').length") == 2
    assert "lr" in page.locator("#params").inner_text()
    charts = "[...document.querySelectorAll('[data-evaluation=\"eval\"] .chart')]"
    drawn = page.evaluate(f"{charts}.filter(d => d.data).map(d => d.dataset.plot)")
    assert drawn == ["confusion_matrix", "roc", "pr", "calibration", "coefficients"]
    _shot(page, "run")
    page.click("text=table.csv")
    assert page.locator("table.preview").inner_text().split() == ["a", "b", "1", "2", "3", "4"]
    page.goto(f"{url}/runs/{ids['rf-big']}/files?path=notes.txt")
    assert page.locator("pre.preview").inner_text() == "notes of rf-big"
    _shot(page, "artifact")


def test_registry_pages_show_versions_lineage_audit_and_performance(
    site: tuple[str, Any, dict[str, Any]], page: Any
) -> None:
    url, _, _ = site
    page.goto(f"{url}/models")
    assert "@champion v2" in page.locator("#models").inner_text()
    _shot(page, "models")
    page.click("#models >> text=churn")
    versions = page.locator("#versions").inner_text()
    assert "v2" in versions and "@champion" in versions and "acc" in versions
    page.wait_for_function("document.getElementById('performance').data !== undefined")
    names = page.evaluate("document.getElementById('performance').data.map(t => t.name)")
    assert sorted(names) == ["v1 acc", "v1 loss", "v2 acc", "v2 grad_norm", "v2 loss"]
    _shot(page, "model")
    page.click("#versions >> text=v2")
    assert page.locator("#lineage").inner_text().count("customers") == 1
    assert "rf-big" in page.locator("#lineage").inner_text()
    assert "age" in page.locator("#signature").inner_text()
    audit = page.locator("#audit").inner_text()
    assert "retrained" in audit and "holds" in audit
    page.wait_for_function("document.getElementById('performance').data !== undefined")
    acc = "document.getElementById('performance').data.find(t => t.name === 'v2 acc')"
    assert page.evaluate(f"{acc}.y.length") == 4  # training, then three evaluations
    _shot(page, "model-version")
    page.click("#lineage >> text=customers")
    assert page.locator("#schema").inner_text().count("age") == 1
    assert page.locator("#versions").inner_text().split() == ["churn", "v2", "churn", "v1"]
    _shot(page, "dataset")

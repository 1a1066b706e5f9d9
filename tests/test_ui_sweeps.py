"""The sweep page in Chromium: an Optuna sweep's trials table with the best highlighted, the parallel
coordinates of params and objective, and the optimization history with its best-so-far line, reached
from the parent run's page. A screenshot goes to ``$ASSAY_SCREENSHOTS`` (default ``test-screenshots/``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import assay
from assay.runner.engines import open_engine
from assay.sdk import session
from assay.server.main import build_services
from assay.server.testing import ServerThread
from test_ui import _shot, browser, page  # noqa: F401 - the browser fixtures

pytestmark = pytest.mark.slow


def test_sweep_page_shows_trials_parallel_coordinates_and_history(
    sqlite_uri: str,
    tmp_path: Path,
    page: Any,  # noqa: F811
) -> None:
    with open_engine("local", 2) as engine:
        result = assay.sweep(
            "sweep_targets:quadratic",
            {"x": assay.uniform(-1.0, 1.0), "y": assay.randint(0, 4), "kind": ["a", "b"]},
            method="optuna",
            trials=12,
            metric="loss",
            engine=engine,
            name="quad-sweep",
        )
    session.reset()
    assert result.best is not None
    services = build_services(sqlite_uri, str(tmp_path / "artifacts"))
    with ServerThread(services) as url:
        page.goto(f"{url}/runs/{result.parent_run_id}")
        page.click("#sweep-link")
        page.wait_for_selector("#parallel.js-plotly-plot", timeout=15000)
        page.wait_for_selector("#history.js-plotly-plot", timeout=15000)
        rows = page.locator("#trials tbody tr")
        assert rows.count() == 12
        best = page.locator("#trials tbody tr.best")
        assert best.count() == 1 and best.get_attribute("data-run") == result.best.run_id
        assert rows.first.get_attribute("data-run") == result.best.run_id  # best first
        parcoords = page.evaluate("document.querySelector('#parallel.js-plotly-plot').data[0]")
        assert parcoords["type"] == "parcoords"
        assert [d["label"] for d in parcoords["dimensions"]] == ["x", "y", "kind", "loss"]
        history = page.evaluate("document.querySelector('#history.js-plotly-plot').data")
        assert [t["name"] for t in history] == ["loss", "best so far"]
        assert len(history[0]["y"]) == 12
        line = [v for v in history[1]["y"] if v is not None]
        assert line == sorted(line, reverse=True) and line[-1] == pytest.approx(result.best.value)
        assert "trial" in page.inner_text("#best")
        _shot(page, "sweep")
        page.goto(f"{url}/runs/{result.best.run_id}")  # a trial's page leads back to its sweep
        page.click("text=of its sweep")
        page.wait_for_selector("#trials")
    services.close()

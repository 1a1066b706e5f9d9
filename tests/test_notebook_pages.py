"""The notebooks pages over real executions (ipykernel): the list, a notebook's launch form validating as
`assay run` does and submitting a job, its executions, an executed notebook at a stable link, and two
executions compared."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import nbformat
import pytest

import assay
from assay import bundle
from assay.server.app import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.slow


def _notebook(path: Path) -> str:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(
        'lr: float = 0.1  # learning rate\nmodel: Literal["rf", "gb"] = "rf"\nrows: int = 3'
    )
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_code_cell("from typing import Literal\nimport assay"),
        params,
        nbformat.v4.new_code_cell("assay.log_metric('score', lr * rows)\nprint('score', lr * rows)"),
        nbformat.v4.new_code_cell("print('done')"),
    ]
    nbformat.write(nb, path)
    return str(path)


def test_notebook_pages(sqlite_uri: str, tmp_path: Path) -> None:
    source = _notebook(tmp_path / "train.ipynb")
    first = assay.run_notebook(source, {"lr": 0.1}, experiment="nb")
    second = assay.run_notebook(source, {"lr": 0.5, "model": "gb"}, experiment="nb")
    with TestClient(create_app(bundle.services()), base_url="http://127.0.0.1") as http:
        listing = http.get("/notebooks").text
        assert "train.ipynb" in listing and ">2<" in listing.replace(" ", "")
        view = http.get("/notebooks/view", params={"source": source}).text
        assert 'name="p.lr"' in view and "<option>gb</option>" in view and "learning rate" in view
        bad = http.post("/notebooks/launch", data={"source": source, "p.lr": "fast"})
        assert bad.status_code == 400
        assert 'id="launch-error"' in bad.text and "parameter &#39;lr&#39;" in bad.text
        assert bundle.services().jobs.list_jobs() == []  # refused before anything was queued
        good = http.post(
            "/notebooks/launch",
            data={"source": source, "p.lr": "0.2", "p.model": "gb", "p.rows": ""},
            follow_redirects=False,
        )
        assert good.status_code == 303 and good.headers["location"].startswith("/jobs/")
        job = bundle.services().jobs.get_job(good.headers["location"].rsplit("/", 1)[1])
        assert job.spec.kind == "notebook" and job.spec.target == source and job.spec.experiment == "nb"
        assert dict(job.spec.params) == {"lr": 0.2, "model": "gb"}
        (claimed,) = bundle.services().jobs.claim("test-worker", 1, lease_s=60)
        assert claimed.job_id == job.job_id and b'"parameters"' in (claimed.spec.source or b"")
        executed = http.get(f"/runs/{second.info.run_id}/notebook").text
        assert f"/runs/{second.info.run_id}/notebook/html" in executed and 'sandbox=""' in executed
        for _ in range(2):  # rendered on the first view, then served from the cache
            page = http.get(f"/runs/{second.info.run_id}/notebook/html")
            assert (
                page.status_code == 200 and page.text.startswith("<!DOCTYPE html>") and "score" in page.text
            )
            assert page.headers["content-security-policy"] == "sandbox"
        download = http.get(f"/runs/{second.info.run_id}/notebook/html", params={"download": 1})
        assert download.headers["content-disposition"] == f'attachment; filename="{second.info.run_id}.html"'
        assert http.get(f"/runs/{first.info.run_id}/notebook/html").text != page.text
        assert "/notebook" in http.get(f"/runs/{first.info.run_id}").text
        compared = http.get(
            "/notebooks/compare", params={"run": [first.info.run_id, second.info.run_id]}
        ).text
        assert 'class="differs"' in compared and "score 0.30000000000000004" in compared
        assert "score 1.5" in compared and "print(&#39;done&#39;)" not in compared  # only differing cells
        assert http.get("/notebooks/compare", params={"run": first.info.run_id}).status_code == 400
        assert http.get("/notebooks/view", params={"source": "nope.ipynb"}).status_code == 404


def test_notebook_pages_in_a_browser(sqlite_uri: str, tmp_path: Path) -> None:
    """Check two executions in Chromium and compare them; screenshots for review."""
    import os

    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: scripts/ensure-chromium.sh installs it (make test runs it)")
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright

    from assay.server.testing import ServerThread

    source = _notebook(tmp_path / "train.ipynb")
    for lr in (0.1, 0.5):
        assay.run_notebook(source, {"lr": lr}, experiment="nb")
    shots = Path(os.environ.get("ASSAY_SCREENSHOTS", "test-screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    with ServerThread(bundle.services()) as url, sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(chromium),
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(f"{url}/notebooks")
        page.click("#notebooks >> text=train.ipynb")
        page.fill("#p-lr", "0.25")
        page.select_option("#p-model", "gb")
        page.screenshot(path=str(shots / "notebook.png"), full_page=True)
        page.click("#launch-button")
        page.wait_for_url(re.compile(r".*/jobs/[0-9a-f]+$"))
        assert page.locator("#job-state").inner_text() == "queued"  # no worker runs in this test
        assert "0.25" in page.locator("#job-params").inner_text()
        page.screenshot(path=str(shots / "notebook-launched.png"), full_page=True)
        page.go_back()
        for box in page.locator("#executions input[type=checkbox]").all():
            box.check()
        page.click("text=Compare two executions")
        assert "score 1.5" in page.locator("#cells").inner_text()
        page.screenshot(path=str(shots / "notebook-compare.png"), full_page=True)
        page.goto(page.url.replace("/notebooks/compare", "/notebooks"))  # back to the list
        browser.close()

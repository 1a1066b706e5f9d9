"""The runner's pages: jobs, one job (with its live log and Cancel), schedules (Pause, Resume). Over a real
store whose jobs are claimed, logged and finished through the real ``Jobs`` service, as a worker does;
rendered HTML checked without a browser, then what Chromium draws (screenshots for review).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from assay.runner.entities import PYTHON, JobSpec, JobState, Result, ScheduleSpec
from assay.server.app import create_app
from assay.server.main import build_services
from assay.services import Services

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

HTML = {"Accept": "text/html"}
SHOTS = Path(os.environ.get("ASSAY_SCREENSHOTS", "test-screenshots"))


@dataclass
class Site:
    services: Services
    queued: str
    running: str
    done: str


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    services = build_services(str(tmp_path / "assay.db"), str(tmp_path / "artifacts"))
    jobs = services.jobs
    done = jobs.submit(JobSpec(PYTHON, "math:sqrt", {"x": 4}, priority=1))
    running = jobs.submit(JobSpec(PYTHON, "time:sleep", {"secs": 60}, priority=2, max_attempts=2))
    claimed = {j.job_id for j in jobs.claim("test-worker", 2, lease_s=600)}
    assert claimed == {done.job_id, running.job_id}
    jobs.append_log(done.job_id, 1, 0, b"2.0\n")
    jobs.finish(done.job_id, "test-worker", Result.SUCCEEDED)
    jobs.append_log(running.job_id, 1, 0, b"starting <b>\n")
    queued = jobs.submit(JobSpec(PYTHON, "math:floor", {"x": 2.5}, project="default"))
    jobs.add_schedule(
        ScheduleSpec("nightly", "0 2 * * *", JobSpec(PYTHON, "math:sqrt", {"x": 9}), "Europe/Paris")
    )
    yield Site(services, queued.job_id, running.job_id, done.job_id)
    services.close()


def test_jobs_pages(site: Site) -> None:
    with TestClient(create_app(site.services), base_url="http://127.0.0.1") as http:
        page = http.get("/jobs", headers=HTML)
        assert page.status_code == 200
        for section, job_id in (("queued", site.queued), ("running", site.running), ("history", site.done)):
            table = page.text.split(f'id="jobs-{section}"', 1)[1].split("</table>", 1)[0]
            assert job_id[:8] in table
        only = http.get("/jobs", params={"state": "succeeded"}).text
        assert site.done[:8] in only and site.running[:8] not in only
        assert http.get("/jobs", params={"state": "bogus"}).status_code == 400
        assert site.queued[:8] not in http.get("/jobs", params={"project": "elsewhere"}).text

        job = http.get(f"/jobs/{site.running}").text
        assert "time:sleep" in job and "secs" in job and 'id="cancel"' in job
        done = http.get(f"/jobs/{site.done}").text
        assert 'id="cancel"' not in done  # done: nothing to cancel
        assert "on <code>test-worker</code>" in done  # who ran it, after it ended
        log = http.get(f"/jobs/{site.running}/log").json()
        assert log["text"] == "starting <b>\n" and log["attempt"] == 1 and not log["complete"]
        assert (
            http.get(f"/jobs/{site.running}/log", params={"offset": log["next_offset"]}).json()["text"] == ""
        )
        finished = http.get(f"/jobs/{site.done}/log").json()
        assert finished["text"] == "2.0\n" and finished["complete"]
        assert http.get(f"/jobs/{site.queued}/log").json()["attempt"] == 0

        cancelled = http.post(f"/jobs/{site.queued}/cancel", follow_redirects=False)
        assert cancelled.status_code == 303 and cancelled.headers["location"] == f"/jobs/{site.queued}"
        assert site.services.jobs.get_job(site.queued).state == JobState.CANCELLED
        assert http.get("/jobs/nope", headers=HTML).status_code == 404


def test_a_character_cut_by_a_chunk_waits_for_the_next_read(site: Site) -> None:
    jobs = site.services.jobs
    start = len(b"starting <b>\n")
    euro = "€".encode()  # three bytes
    jobs.append_log(site.running, 1, start, b"price " + euro[:2])
    with TestClient(create_app(site.services), base_url="http://127.0.0.1") as http:
        first = http.get(f"/jobs/{site.running}/log", params={"offset": start}).json()
        assert first["text"] == "price " and first["next_offset"] == start + 6
        jobs.append_log(site.running, 1, start + 8, euro[2:] + b"\n")
        second = http.get(f"/jobs/{site.running}/log", params={"offset": first["next_offset"]}).json()
        assert second["text"] == "€\n"


def test_schedules_page_pauses_and_resumes(site: Site) -> None:
    with TestClient(create_app(site.services), base_url="http://127.0.0.1") as http:
        page = http.get("/schedules").text
        assert "nightly" in page and "Europe/Paris" in page and "0 2 * * *" in page
        assert page.count("02:00:00 CE") == 3 and "Pause" in page  # three next fire times
        r = http.post("/schedules/default/nightly/pause", follow_redirects=False)
        assert r.status_code == 303
        assert site.services.jobs.get_schedule("nightly", "default").paused
        assert "Resume" in http.get("/schedules").text
        http.post("/schedules/default/nightly/resume")
        assert not site.services.jobs.get_schedule("nightly", "default").paused


@pytest.mark.slow
def test_jobs_pages_in_a_browser(site: Site) -> None:
    """Follow a running job's log as it grows, cancel it, pause a schedule; screenshots for review."""
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: scripts/ensure-chromium.sh installs it (make test runs it)")
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright

    from assay.server.testing import ServerThread

    SHOTS.mkdir(parents=True, exist_ok=True)
    jobs = site.services.jobs
    with ServerThread(site.services) as url, sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(chromium),
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(f"{url}/jobs")
        page.click(f"#jobs-running >> text={site.running[:8]}")
        log = page.locator("#log")
        log.filter(has_text="starting <b>").wait_for(timeout=10_000)
        offset = len(b"starting <b>\n")
        for i in range(3):  # the worker writes on; the page follows without a reload
            line = f"epoch {i}\n".encode()
            jobs.append_log(site.running, 1, offset, line)
            offset += len(line)
            log.filter(has_text=f"epoch {i}").wait_for(timeout=10_000)
        page.screenshot(path=str(SHOTS / "job-running.png"), full_page=True)
        page.click("#cancel")
        page.wait_for_url(f"{url}/jobs/{site.running}")
        assert page.locator("#cancel").is_disabled()  # asked: the worker stops it at its next heartbeat
        assert jobs.get_job(site.running).cancel_requested
        page.goto(f"{url}/jobs")
        page.screenshot(path=str(SHOTS / "jobs.png"), full_page=True)
        page.click("header >> text=schedules")
        row = page.locator("#schedule-default-nightly")
        assert row.locator("td.next").inner_text().count("CE") == 3
        row.locator("button.pause").click()
        page.locator("#schedule-default-nightly .badge.PAUSED").wait_for(timeout=10_000)
        page.screenshot(path=str(SHOTS / "schedules.png"), full_page=True)
        assert jobs.get_schedule("nightly", "default").paused
        browser.close()

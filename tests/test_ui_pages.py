"""The UI's pages without a browser: what the server renders (escaping, errors, paging, previews).

The browser-driven tests (tests/test_ui.py) check what is drawn; these check the HTML quickly.
"""

from __future__ import annotations

import html
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from assay.embedded.tracking import TrackingService
from assay.entities import RunStatus, SeriesBatch
from assay.server.app import create_app
from assay.server.main import build_services
from assay.services import Services

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

HTML = {"Accept": "text/html"}


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    found = build_services(str(tmp_path / "assay.db"), str(tmp_path / "artifacts"))
    yield found
    found.close()


@pytest.fixture
def service(services: Services) -> TrackingService:
    assert isinstance(services.tracking, TrackingService)
    return services.tracking


def test_names_are_escaped_everywhere(services: Services, service: TrackingService) -> None:
    exp = service.create_experiment("churn <b>")
    run = service.create_run(exp.experiment_id, name="<script>x</script>", params={"p": "<i>"})
    with TestClient(create_app(services), base_url="http://127.0.0.1") as http:
        for path in ("/", f"/experiments/{exp.experiment_id}", f"/runs/{run.run_id}"):
            page = http.get(path, headers=HTML)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert "<script>x</script>" not in page.text and "churn <b>" not in page.text
        assert "churn &lt;b&gt;" in http.get("/").text


def test_runs_table_pages_and_keeps_its_state_in_links(services: Services, service: TrackingService) -> None:
    exp = service.create_experiment("e")
    for i in range(30):
        r = service.create_run(exp.experiment_id, name=f"r{i:02d}", params={"i": i})
        service.log_series([SeriesBatch(r.run_id, "acc", np.array([0]), np.array([1]), np.array([i / 30]))])
        service.end_run(r.run_id, RunStatus.FINISHED)
    with TestClient(create_app(services), base_url="http://127.0.0.1") as http:
        base = f"/experiments/{exp.experiment_id}"
        first = http.get(base, params={"n": 25, "o": "metrics.acc desc", "filter": "params.i >= 2"}).text
        assert first.count('name="run"') == 25 and "r29" in first and 'rel="next"' in first
        second = http.get(
            base, params={"n": 25, "o": "metrics.acc desc", "filter": "params.i >= 2", "page": 2}
        ).text
        assert second.count('name="run"') == 3 and "r02" in second and 'rel="prev"' in second
        assert "filter=params.i+%3E%3D+2" in second  # the links carry the filter along
        chosen = http.get(base, params={"c": ["params.i"]}).text
        assert 'data-ref="params.i"' in chosen and 'data-ref="metrics.acc"' not in chosen
        rows = http.get(base, params={"rows": 1}).text
        assert rows.startswith("<tbody") and rows.count("<tr") == 30


def _link(page: str, rel: str) -> str | None:
    """The href of the pager's ``rel`` link, unescaped, or None."""
    found = re.search(rf'<a href="([^"]*)" rel="{rel}">', page)
    return None if found is None else html.unescape(found.group(1))


def _names(page: str) -> list[str]:
    return re.findall(r'<a href="/runs/\w+">([^<]*)</a>', page)


def test_runs_table_pages_by_cursor_first_to_last_and_back(
    services: Services, service: TrackingService
) -> None:
    exp = service.create_experiment("e")
    for i in range(30):
        r = service.create_run(
            exp.experiment_id, name=f"r{i:02d}", params={"i": i}, start_time=1_700_000_000_000 + i
        )
        service.end_run(r.run_id, RunStatus.FINISHED)
    newest_first = [f"r{i:02d}" for i in range(29, -1, -1)]
    with TestClient(create_app(services), base_url="http://127.0.0.1") as http:
        base = f"/experiments/{exp.experiment_id}"
        page = http.get(base, params={"n": 7}).text
        assert "30 runs" in page and "page 1 of 5" in page and _link(page, "prev") is None
        assert _names(page) == newest_first[:7] and _link(page, "first") is None
        pages = [_names(page)]
        while (following := _link(page, "next")) is not None:
            page = http.get(following).text
            pages.append(_names(page))
        assert pages == [newest_first[i : i + 7] for i in range(0, 30, 7)] and "page 5 of 5" in page
        last = http.get(_link(http.get(base, params={"n": 7}).text, "last") or "").text
        assert _names(last) == newest_first[28:] and "page 5 of 5" in last  # the remainder, as counted
        back = [_names(last)]
        page = last
        while (previous := _link(page, "prev")) is not None:
            page = http.get(previous).text
            back.insert(0, _names(page))
        assert back == pages and "page 1 of 5" in page
        # filtered, the pages are not counted: the last page is numbered from the end
        query = {"n": 7, "filter": "params.i >= 3"}
        last = http.get(_link(http.get(base, params=query).text, "last") or "").text
        assert "last page" in last and _names(last) == newest_first[20:27]
        before = http.get(_link(last, "prev") or "").text
        assert "page 2 from the end" in before and _names(before) == newest_first[13:20]
        assert _names(http.get(_link(before, "next") or "").text) == newest_first[20:27]
        # a page number without a cursor skips runs, not too many
        assert _names(http.get(base, params={**query, "page": 2}).text) == newest_first[7:14]
        deep = http.get(base, params={**query, "page": 5000}).text
        assert 'id="filter-error"' in deep and "too far to jump" in deep
        assert "page 5 of 5" in http.get(base, params={"n": 7, "page": 5000}).text  # counted: the last
        by_metric = http.get(base, params={"n": 7, "o": "metrics.acc desc"}).text
        assert _link(by_metric, "next") is not None and _link(by_metric, "last") is None


def test_a_bad_filter_is_shown_under_the_box(services: Services, service: TrackingService) -> None:
    exp = service.create_experiment("e")
    with TestClient(create_app(services), base_url="http://127.0.0.1") as http:
        page = http.get(f"/experiments/{exp.experiment_id}", params={"filter": "metrics.acc >"})
    assert page.status_code == 200
    assert 'id="filter-error"' in page.text and "^" in page.text


def test_page_errors_are_pages_for_people(services: Services, service: TrackingService) -> None:
    exp = service.create_experiment("e")
    run = service.create_run(exp.experiment_id)
    with TestClient(create_app(services), base_url="http://127.0.0.1") as http:
        missing = http.get("/runs/" + "0" * 32, headers=HTML)
        assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
        assert "no run with id" in missing.text
        one = http.get("/compare", params={"run": run.run_id}, headers=HTML)
        assert one.status_code == 400 and "compare 2 to 50 runs" in one.text
        api = http.get("/runs/" + "0" * 32)  # no Accept: text/html, so the JSON error shape
        assert api.json()["error"]["code"] == "NOT_FOUND"


def test_artifact_previews_and_raw_files_are_sandboxed(services: Services, service: TrackingService) -> None:
    exp = service.create_experiment("e")
    run = service.create_run(exp.experiment_id)
    service.write_artifact(run.run_id, "report.html", b"<script>alert(1)</script>")
    service.write_artifact(run.run_id, "m.json", b'{"b": 1, "a": [1, 2]}')
    service.write_artifact(run.run_id, "plots/roc.png", b"\x89PNG\r\n")
    with TestClient(create_app(services), base_url="http://127.0.0.1") as http:
        raw = http.get(f"/runs/{run.run_id}/raw/report.html")
        assert raw.headers["content-security-policy"] == "sandbox"
        assert raw.headers["content-type"].startswith("text/html")
        preview = http.get(f"/runs/{run.run_id}/files", params={"path": "report.html"}).text
        assert '<iframe class="preview" sandbox' in preview
        pretty = http.get(f"/runs/{run.run_id}/files", params={"path": "m.json"}).text
        assert "&#34;a&#34;: [\n    1," in pretty or '"a": [\n    1,' in pretty
        listing = http.get(f"/runs/{run.run_id}/files", params={"path": "plots"}).text
        assert "roc.png" in listing
        service.write_artifact(run.run_id, "big.bin", b"x" * (3 << 20))
        big = http.get(f"/runs/{run.run_id}/raw/big.bin", follow_redirects=False)
        assert (
            big.status_code == 307
            and big.headers["location"] == f"/api/v1/runs/{run.run_id}/artifacts/big.bin"
        )
        assert len(http.get(f"/runs/{run.run_id}/raw/big.bin").content) == 3 << 20
        image = http.get(f"/runs/{run.run_id}/files", params={"path": "plots/roc.png"}).text
        assert f'<img class="preview" src="/runs/{run.run_id}/raw/plots/roc.png"' in image


def test_plotly_is_served_from_the_installed_package(services: Services, service: TrackingService) -> None:
    import plotly

    bundle = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    with TestClient(create_app(services), base_url="http://127.0.0.1") as http:
        js = http.get("/static/plotly.min.js")
        assert js.status_code == 200 and js.content == bundle.read_bytes()
        assert http.get("/static/app.js").status_code == 200
        assert http.get("/static/nope.js").status_code == 404


def test_runs_that_share_a_name_are_told_apart_in_compare(
    services: Services, service: TrackingService
) -> None:
    """Issue 8, item 15: three runs named ``logreg`` read ``logreg``, ``logreg``, ``logreg`` in legends."""
    exp = service.create_experiment("e")
    same = [service.create_run(exp.experiment_id, name="logreg", params={"C": c}) for c in (0.1, 1, 10)]
    other = service.create_run(exp.experiment_id, name="rf")
    ids = [r.run_id for r in [*same, other]]
    with TestClient(create_app(services), base_url="http://127.0.0.1") as http:
        page = http.get("/compare", params=[("run", i) for i in ids], headers=HTML).text
    for r in same:
        assert f"logreg · {r.run_id[:8]}" in page  # in the plot data and in the differences table
    assert "rf · " not in page


def test_the_header_count_reads_exact_or_about_two_significant_digits() -> None:
    from assay.entities import RunCount
    from assay.ui.runs_table import count_text

    assert [count_text(RunCount(n)) for n in (0, 1, 12_345)] == ["0 runs", "1 run", "12,345 runs"]
    estimates = [count_text(RunCount(n, exact=False)) for n in (10_001, 98_765, 1_000_167, 1_234_567)]
    assert estimates == [
        "about 10,000 runs",
        "about 99,000 runs",
        "about 1,000,000 runs",
        "about 1,200,000 runs",
    ]

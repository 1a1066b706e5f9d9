"""Targets (issue "team mode for real teams"): one experiment of 1,000,000 runs (20 params, 10 metrics, 5 tags
each) on PostgreSQL, as the web UI's runs table asks for it (server time, in-process, 50 rows a page):

- the first page (newest first) <= 100 ms;
- filtered (``params.param_0 != 'lr'``) and sorted by a metric <= 300 ms;
- page 1,000 of that sorted view <= 300 ms.

The store: 1,000 runs logged through the service, then copied 999 times inside PostgreSQL (new ids, start
times and metric values; the same params), which takes minutes instead of the hour of logging them. The
database (``assay_bench_scale``) is kept between runs of this script and rebuilt when it does not hold the
expected runs.

MLflow is not measured here: its UI's runs table asks for every run of the experiment at once (its search
has no useful server-side paging for a table sorted by a metric), which already takes seconds at 10,000 runs
(bench_search, bench_ui) and grows linearly: a million runs is out of its reach, not a ratio to report.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import warnings

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import _common as c
import numpy as np

N_TEMPLATE = 1_000
COPIES = 999  # 1,000 x (1 + 999) = 1,000,000 runs
DB = "assay_bench_scale"
ADMIN_URL = os.environ.get("ASSAY_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
URL = ADMIN_URL.rsplit("/", 1)[0] + f"/{DB}"
PAGE_QUERY = {"o": "metrics.metric_0 desc", "filter": "params.param_0 != 'lr'"}


def _count_runs() -> int:
    """The runs of a store this script finished building (its last step leaves a mark), else 0."""
    import psycopg

    try:
        with psycopg.connect(URL, connect_timeout=3) as conn:
            row = conn.execute("SELECT runs FROM bench_built").fetchone()
            return int(row[0]) if row else 0
    except psycopg.Error:
        return 0


def build() -> float:
    """(Re)create the database with its million runs; seconds taken."""
    import psycopg

    from assay import bundle
    from assay.entities import RunEnd, RunStatus, SeriesBatch, WriteBatch
    from assay.services.tracking import new_run

    t0 = time.perf_counter()
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")
    services = bundle.embedded_services(URL, str(c.fresh_dir("scale-artifacts")))
    exp = services.tracking.create_experiment("scale")
    rng = random.Random(11)
    runs = [
        new_run(
            exp.experiment_id,
            params={
                "param_0": ("rf", "gb", "lr")[i % 3],
                **{f"param_{j}": rng.random() for j in range(1, 20)},
            },
            tags={f"tag_{j}": rng.choice("abc") for j in range(5)},
            start_time=1_700_000_000_000 + i,
        )
        for i in range(N_TEMPLATE)
    ]
    one = np.array([0])
    series = [
        SeriesBatch(r.run_id, f"metric_{k}", one, one, np.array([rng.random()]))
        for r in runs
        for k in range(10)
    ]
    ends = [RunEnd(r.run_id, RunStatus.FINISHED, r.start_time + 1000) for r in runs]
    services.tracking.ingest(WriteBatch(new_runs=runs, series=series, ends=ends))
    services.close()
    copy = f"""
        SET synchronous_commit = off;
        CREATE TEMP TABLE g AS SELECT generate_series(1, {COPIES}) AS g;
        CREATE TEMP TABLE t AS SELECT run_pk, run_id FROM runs;
        INSERT INTO runs (run_id, experiment_id, name, status, start_time, end_time, user_name, artifact_uri,
                          lifecycle, parent_run_id, heartbeat_at, params_doc, tags_doc, metrics_doc)
        SELECT md5(r.run_id || ':' || g.g), r.experiment_id, r.name || '-' || g.g, r.status,
               r.start_time + g.g * {N_TEMPLATE}, r.end_time + g.g * {N_TEMPLATE}, r.user_name, r.artifact_uri,
               r.lifecycle, NULL, NULL, r.params_doc, r.tags_doc, r.metrics_doc
        FROM runs r JOIN t ON t.run_pk = r.run_pk CROSS JOIN g;
        CREATE TEMP TABLE m AS
        SELECT o.run_pk AS old_pk, n.run_pk AS new_pk
        FROM t o CROSS JOIN g JOIN runs n ON n.run_id = md5(o.run_id || ':' || g.g);
        INSERT INTO params SELECT m.new_pk, p.key, p.value, p.num_value FROM params p JOIN m ON m.old_pk = p.run_pk;
        INSERT INTO tags SELECT m.new_pk, t.key, t.value, t.num_value FROM tags t JOIN m ON m.old_pk = t.run_pk;
        INSERT INTO latest_metrics
        SELECT m.new_pk, l.key, v.x, v.x, v.x, l.last_step, l.last_timestamp, l.count
        FROM latest_metrics l JOIN m ON m.old_pk = l.run_pk CROSS JOIN LATERAL (SELECT random() AS x) v;
        INSERT INTO metric_chunks (run_pk, key, n, steps, timestamps, vals)
        SELECT m.new_pk, k.key, k.n, k.steps, k.timestamps, k.vals FROM metric_chunks k JOIN m ON m.old_pk = k.run_pk;
    """
    with psycopg.connect(URL, autocommit=True) as conn:
        for statement in copy.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("VACUUM ANALYZE")
        conn.execute("CREATE TABLE bench_built AS SELECT count(*) AS runs FROM runs")
    return time.perf_counter() - t0


def measure() -> dict[str, float]:
    from fastapi.testclient import TestClient

    from assay import bundle
    from assay.server.app import create_app

    services = bundle.embedded_services(URL, str(c.fresh_dir("scale-artifacts")))
    exp = services.tracking.get_experiment_by_name("scale")
    assert exp is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        http = TestClient(create_app(services), base_url="http://127.0.0.1")

    def page(**query: object) -> None:
        response = http.get(f"/experiments/{exp.experiment_id}", params=query)
        assert response.status_code == 200 and response.text.count('name="run"') == 50, response.text[:300]

    with http:
        first, _ = c.timeit(page, 7)
        ordered, _ = c.timeit(lambda: page(**PAGE_QUERY), 7)
        deep, _ = c.timeit(lambda: page(**PAGE_QUERY, page=1000), 7)
    services.close()
    return {"first_s": first, "sorted_s": ordered, "deep_s": deep}


def main() -> None:
    subprocess.run([str(c.ROOT / "scripts" / "ensure-postgres.sh")], check=True)
    c.quiet_assay_env(c.fresh_dir("scale"))
    print(
        "scale: one experiment of 1,000,000 runs (20 params, 10 metrics, 5 tags) on PostgreSQL, runs table pages"
    )
    n = _count_runs()
    if n != N_TEMPLATE * (COPIES + 1):
        print(f"  building the store ({n:,} runs found): minutes, once")
        print(f"  built in {build():.0f} s")
    m = measure()
    c.row("first page (newest first)", m["first_s"] * 1000, "ms", None, "lower", "<= 100 ms")
    c.row("filtered, sorted by a metric", m["sorted_s"] * 1000, "ms", None, "lower", "<= 300 ms")
    c.row("page 1,000 of that", m["deep_s"] * 1000, "ms", None, "lower", "<= 300 ms")


if __name__ == "__main__":
    main()

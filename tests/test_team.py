"""Team mode end to end, as README tells it: a server on PostgreSQL with S3 artifacts and auth, users and
tokens made with the CLI, a training script logging from another process over HTTP, and the runs found.

Every piece is real: the ``assay`` CLI and ``assay server`` run as child processes, PostgreSQL on
127.0.0.1:5432, and a moto S3 server on loopback.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import boto3
import pytest

from conftest import _truncate_pg
from processes import ServerProcess, assay_cli, moto_s3, s3_env

pytestmark = pytest.mark.postgres

TRAIN = textwrap.dedent(
    """
    import assay
    assay.set_experiment("segmentation")
    with assay.start_run(name="unet", params={"lr": 0.01}) as run:
        for step in range(1000):
            assay.log_metric("loss", 1.0 / (step + 1))
        assay.log_text("confusion: none", "report.txt")
    print(run.info.run_id)
    """
)


def _train(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    import os

    full = {"PATH": os.environ.get("PATH", ""), **env}
    return subprocess.run(
        [sys.executable, "-c", TRAIN], env=full, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_team_quickstart_on_postgres_with_s3_artifacts(pg_database: str, tmp_path: Path) -> None:
    _truncate_pg(pg_database)
    with moto_s3("team-bucket") as endpoint:
        base = {"ASSAY_HOME": str(tmp_path), "ASSAY_SYSTEM_METRICS": "0", **s3_env(endpoint)}
        # The first admin is made on the store itself; the command prints the token alone on stdout.
        root = assay_cli("admin", "create-user", "root", "--admin", "--store", pg_database, env=base)
        root_token = root.stdout.strip()
        assert root_token.startswith("assay_") and "shown once" in root.stderr

        server = ServerProcess(tmp_path, pg_database, "s3://team-bucket/artifacts", ["--auth"], env=base)
        server.start()
        try:
            admin = {**base, "ASSAY_TRACKING_URI": server.url, "ASSAY_TRACKING_TOKEN": root_token}
            assay_cli("projects", "create", "vision", env=admin)
            ada = assay_cli("admin", "create-user", "ada", env=admin).stdout.strip()
            bob = assay_cli("admin", "create-user", "bob", env=admin).stdout.strip()
            assay_cli("projects", "add-member", "vision", "ada", "--role", "editor", env=admin)
            assay_cli("projects", "add-member", "vision", "bob", "--role", "viewer", env=admin)

            as_ada = {**base, "ASSAY_TRACKING_URI": server.url, "ASSAY_TRACKING_TOKEN": ada}
            assert assay_cli("whoami", env=as_ada).stdout.strip() == "ada"
            trained = _train({**as_ada, "ASSAY_PROJECT": "vision"}, tmp_path)
            assert trained.returncode == 0, trained.stderr
            run_id = trained.stdout.strip()

            # Found by the viewer, with every point and the artifact, which lives in S3.
            as_bob = {**base, "ASSAY_TRACKING_URI": server.url, "ASSAY_TRACKING_TOKEN": bob}
            runs = json.loads(assay_cli("runs", "ls", "-e", "segmentation", "--json", env=as_bob).stdout)
            assert [r["run_id"] for r in runs] == [run_id]
            assert runs[0]["status"] == "FINISHED" and runs[0]["params"] == {"lr": "0.01"}
            assert runs[0]["metrics"]["loss"] == pytest.approx(1 / 1000)
            exps = json.loads(assay_cli("experiments", "ls", "--json", env=as_bob).stdout)
            assert [(e["name"], e["project"]) for e in exps] == [("segmentation", "vision")]
            s3 = boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id="test",
                aws_secret_access_key="test",
            )
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket="team-bucket").get("Contents", [])]
            assert any(k.endswith(f"{run_id}/artifacts/report.txt") for k in keys), keys

            # A viewer cannot log; the refusal says why and how to get the role.
            refused = _train({**as_bob, "ASSAY_PROJECT": "vision"}, tmp_path)
            assert refused.returncode == 1
            last = refused.stderr.strip().splitlines()[-1]
            assert last.startswith("assay.errors.PermissionDenied: you are a viewer in project 'vision'"), (
                last
            )
            assert "dropped" not in refused.stderr  # refused at start_run, before anything was logged

            # No token: one clear line, exit 1.
            anon = assay_cli("runs", "ls", env={**base, "ASSAY_TRACKING_URI": server.url}, check=False)
            assert anon.returncode == 1 and "ASSAY_TRACKING_TOKEN" in anon.stderr
            assert "Traceback" not in anon.stderr

            # Ada makes a second token, then revokes it: it stops working at once.
            second = assay_cli("token", "create", "--name", "ci", env=as_ada).stdout.strip()
            listed = json.loads(assay_cli("token", "ls", "--json", env=as_ada).stdout)
            ci = next(t for t in listed if t["name"] == "ci")
            as_ci = {**as_ada, "ASSAY_TRACKING_TOKEN": second}
            assert assay_cli("whoami", env=as_ci).stdout.strip() == "ada"
            assay_cli("token", "revoke", ci["token_id"], env=as_ada)
            gone = assay_cli("whoami", env=as_ci, check=False)
            assert gone.returncode == 1 and "revoked" in gone.stderr

            # Issue 15 on PostgreSQL: a password and a browser session, expiring scoped tokens, revoke --all.
            _sign_in_on_postgres(server.url, root_token)
            ro = assay_cli("token", "create", "--read-only", "--expires", "12h", env=as_ada).stdout.strip()
            as_ro = {**as_ada, "ASSAY_TRACKING_TOKEN": ro}
            assert assay_cli("whoami", env=as_ro).stdout.strip() == "ada"
            assert json.loads(assay_cli("runs", "ls", "-e", "segmentation", "--json", env=as_ro).stdout)
            listed = json.loads(assay_cli("token", "ls", "--json", env=as_ada).stdout)
            mine = next(t for t in listed if t["read_only"])
            assert (
                mine["last_used_at"] is not None and mine["expires_at"] - mine["created_at"] == 12 * 3_600_000
            )
            assay_cli("token", "revoke", "--all", "--user", "ada", env=admin)
            assert assay_cli("whoami", env=as_ro, check=False).returncode == 1
        finally:
            server.stop()


def _sign_in_on_postgres(url: str, admin_token: str) -> None:
    """An admin sets bob's password; bob signs in through the form and out again."""
    import re

    import httpx

    r = httpx.put(
        f"{url}/api/v1/users/bob/password",
        json={"password": "bob-password-1"},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert r.status_code == 204, r.text
    with httpx.Client(base_url=url, headers={"Accept": "text/html"}) as browser:
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', browser.get("/login").text)
        assert token is not None
        form = {"username": "bob", "password": "bob-password-1", "csrf": token.group(1), "next": "/"}
        assert browser.post("/login", data=form).status_code == 303
        page = browser.get("/account")
        assert page.status_code == 200 and "vision" in page.text
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert token is not None
        assert browser.post("/logout", data={"csrf": token.group(1)}).status_code == 303
        assert browser.get("/account").status_code == 303


def test_a_server_open_to_the_network_needs_a_user_first(tmp_path: Path) -> None:
    store = str(tmp_path / "assay.db")
    env = {"ASSAY_HOME": str(tmp_path)}
    refused = assay_cli(
        "server", "--store", store, "--host", "0.0.0.0", "--port", "5999", env=env, check=False
    )
    assert refused.returncode == 1
    assert "no users yet" in refused.stderr and "assay admin create-user" in refused.stderr
    assert "Traceback" not in refused.stderr

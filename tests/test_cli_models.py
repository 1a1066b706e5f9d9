"""``assay models`` and ``assay datasets``: listing, showing, moving aliases, promoting by rule (exit 1 with
both values when the rule fails), deleting; each failure one line on stderr."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner, Result

import assay
from assay.cli.main import app

runner = CliRunner()


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def ok(*args: str) -> Result:
    result = invoke(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


@pytest.fixture
def models(sqlite_uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Model "churn" with versions 1 (auc 0.80) and 2 (auc 0.90), and a dataset both runs used."""
    monkeypatch.setenv("COLUMNS", "200")
    client = assay.Client()
    for auc in (0.80, 0.90):
        with assay.start_run(params={"auc_target": auc}) as run:
            assay.log_metric("auc", auc)
            assay.log_text("flavor: sklearn\n", "model/assay-model.yaml")
            assay.log_dataset(np.arange(30.0).reshape(10, 3), name="train")
        client.register_model(f"runs:/{run.id}/model", "churn")
    yield client


def test_ls_versions_and_show(models: Any) -> None:
    assert "churn" in ok("models", "ls").stdout
    listed = json.loads(ok("models", "ls", "--json").stdout)
    assert listed[0]["name"] == "churn" and listed[0]["latest_version"] == 2
    versions = ok("models", "versions", "churn").stdout
    assert "auc=0.9" in versions and "auc=0.8" in versions
    shown = ok("models", "show", "churn/2").stdout
    assert "runs:/" in shown and "train (training)" in shown and "performance history" in shown
    data = json.loads(ok("models", "show", "models:/churn/1", "--json").stdout)
    assert data["version"]["version"] == 1 and data["lineage"]["datasets"][0]["dataset"]["name"] == "train"


def test_alias_promote_and_audit(models: Any) -> None:
    assert "churn@champion -> v1" in ok("models", "alias", "churn", "champion", "1", "-m", "first").stdout
    rule = "metrics.auc >= champion.metrics.auc + 0.2"
    refused = invoke("models", "promote", "churn", "2", "--to", "champion", "--rule", rule)
    assert refused.exit_code == 1
    assert "0.9 >= 1 fails" in refused.stderr and "to @champion refused" in refused.stderr
    moved = ok(
        "models", "promote", "churn", "2", "--to", "champion", "--rule", "metrics.auc > champion.metrics.auc"
    )
    assert "0.9 > 0.8 holds" in moved.stdout
    trail = ok("models", "show", "churn").stdout
    assert "v1 -> v2 (refused)" in trail and "none -> v1" in trail and "first" in trail
    bad = invoke("models", "promote", "churn", "2", "--to", "champion", "--rule", "metrics.auc >>")
    assert bad.exit_code == 1 and "^" in bad.stderr and "Traceback" not in bad.stderr
    ok("models", "alias", "churn", "champion", "--delete")
    missing = invoke("models", "alias", "churn", "gold", "7")
    assert missing.exit_code == 1 and "has no version 7" in missing.stderr


def test_policy_delete_and_datasets(models: Any) -> None:
    ok("models", "policy", "champion", "--rule", "metrics.auc > 0.85")
    refused = invoke("models", "promote", "churn", "1", "--to", "champion")
    assert refused.exit_code == 1 and "0.8 > 0.85 fails" in refused.stderr
    ok("models", "delete", "churn", "1", "--yes")
    assert [v["version"] for v in json.loads(ok("models", "versions", "churn", "--json").stdout)] == [2]
    listed = json.loads(ok("datasets", "ls", "--json").stdout)
    assert [d["name"] for d in listed] == ["train"] and listed[0]["rows"] == 10
    shown = ok("datasets", "show", str(listed[0]["dataset_id"])).stdout
    assert "churn v2" in shown and "column" in shown
    assert invoke("datasets", "show", "99").exit_code == 1


def test_unknown_model_is_one_line(models: Any, tmp_path: Path) -> None:
    result = invoke("models", "show", "ghost")
    assert (
        result.exit_code == 1 and result.stderr.count("\n") == 1 and "no model named 'ghost'" in result.stderr
    )


def test_a_name_two_projects_hold_is_named_as_project_slash_name(models: Any) -> None:
    """ "churn" in "default" and "vision": project/name picks one in every command (and in models:/ URIs),
    the plain name is refused on one line listing both, ls shows the project of each."""
    assay.bundle.get_access().create_project("vision")
    source = models.registry.get_version("churn", 1).source
    models.register_model(source, "churn", project="vision")
    result = invoke("models", "show", "churn")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: model name 'churn' is in several projects: default/churn, vision/churn; name one as "
        "project/name (such as 'default/churn', or models:/default/churn/<version>)\n"
    )
    assert invoke("models", "alias", "churn", "champion", "1").exit_code == 1
    shown = ok("models", "show", "vision/churn").stdout
    assert "(project vision)" in shown and "1 versions, latest v1" in shown
    assert "default/churn v2" in ok("models", "show", "default/churn/2").stdout
    data = json.loads(ok("models", "show", "models:/vision/churn/latest", "--json").stdout)
    assert (data["version"]["project"], data["version"]["version"]) == ("vision", 1)
    assert "vision/churn@champion -> v1" in ok("models", "alias", "vision/churn", "champion", "1").stdout
    versions = json.loads(ok("models", "versions", "vision/churn", "--json").stdout)
    assert [(v["version"], v["aliases"]) for v in versions] == [(1, ["champion"])]
    assert (
        json.loads(ok("models", "show", "vision/churn@champion", "--json").stdout)["version"]["version"] == 1
    )
    listed = json.loads(ok("models", "ls", "--json").stdout)
    assert [(m["project"], m["name"], m["aliases"]) for m in listed] == [
        ("default", "churn", {}),
        ("vision", "churn", {"champion": 1}),
    ]
    ok("models", "delete", "vision/churn", "--yes")
    assert "(project default)" in ok("models", "show", "churn").stdout

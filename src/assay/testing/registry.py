"""The ``Registry`` conformance suite: run on every implementation through the ``tracking_uri`` fixture
(embedded SQLite, PostgreSQL, and a server with auth on, as a non-admin owner of "default").

Import it into a test module (``from assay.testing.registry import *``) with ``assay.testing.fixtures``
loaded as a pytest plugin. Models are "logged" by writing a descriptor, so no ML framework is needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import assay
from assay import Client, Conflict, FilterSyntaxError, InvalidInput, InvalidState, NotFound
from assay.sdk import model_artifacts
from assay.services import Services
from assay.services.registry import DESCRIPTOR_FILE

__all__ = [
    "test_a_protected_alias_needs_passed_parity_or_a_forced_reason",
    "test_aliases_move_with_an_audit_trail",
    "test_bad_input_is_one_clear_error",
    "test_concurrent_registrations_from_processes_get_distinct_numbers",
    "test_datasets_are_recorded_listed_and_searchable",
    "test_files_and_reports_are_kept_with_a_version",
    "test_lineage_names_run_params_commit_and_datasets",
    "test_model_names_are_unique_per_project",
    "test_models_create_get_list_tag_and_describe",
    "test_models_of_a_project_the_caller_cannot_read_are_not_revealed",
    "test_performance_history_and_version_metrics",
    "test_project_settings_are_kept_per_project",
    "test_promotion_rules_move_or_refuse_and_are_audited",
    "test_uris_resolve_by_number_alias_and_latest",
    "test_version_numbers_are_never_reused",
]

SIGNATURE = {"inputs": [{"name": "x", "dtype": "float64"}], "outputs": [{"name": "y", "dtype": "int64"}]}


def logged_model(client: Client, metrics: dict[str, float] | None = None, path: str = "model") -> str:
    """A finished run holding a model descriptor at ``path`` (and ``metrics``); its ``runs:/`` URI."""
    exp = client.get_or_create_experiment("registry-tests")
    run = client.create_run(
        exp.experiment_id,
        params={"C": 1.0},
        tags={"assay.git.commit": "abc123"},
        capture_git=False,
        capture_environment=False,
    )
    import yaml

    descriptor = yaml.safe_dump({"flavor": "sklearn", "serialization": "skops", "signature": SIGNATURE})
    client.log_text(run.run_id, descriptor, f"{path}/{DESCRIPTOR_FILE}")
    for key, value in (metrics or {}).items():
        client.log_metric(run.run_id, key, value)
    client.set_terminated(run.run_id)
    client.flush()
    return f"runs:/{run.run_id}/{path}"


def test_models_create_get_list_tag_and_describe(tracking_uri: str) -> None:
    reg = Client().registry
    made = reg.create_model("churn", description="predicts churn", tags={"team": "growth"})
    assert (made.name, made.project, made.description, dict(made.tags)) == (
        "churn",
        "default",
        "predicts churn",
        {"team": "growth"},
    )
    assert made.latest_version is None and made.version_count == 0
    with pytest.raises(Conflict, match="already exists"):
        reg.create_model("churn")
    reg.create_model("fraud")
    assert [m.name for m in reg.list_models()] == ["churn", "fraud"]
    assert [m.name for m in reg.list_models(project="default")] == ["churn", "fraud"]
    assert reg.update_model("churn", "v2 of the text").description == "v2 of the text"
    reg.set_model_tag("churn", "stage", "beta")
    reg.delete_model_tag("churn", "team")
    assert dict(reg.get_model("churn").tags) == {"stage": "beta"}
    with pytest.raises(NotFound, match="no model named 'nope'"):
        reg.get_model("nope")
    with pytest.raises(NotFound):
        reg.delete_model_tag("churn", "team")


def test_version_numbers_are_never_reused(tracking_uri: str) -> None:
    client = Client()
    reg = client.registry
    uri = logged_model(client)
    versions = [assay.register_model(uri, "churn").version for _ in range(3)]
    assert versions == [1, 2, 3]
    mv = reg.get_version("churn", 2)
    assert (mv.flavor, mv.source, mv.status, mv.source_path) == ("sklearn", uri, "READY", "model")
    assert dict(mv.signature or {}) == SIGNATURE
    assert mv.run_id == uri.split("/")[1]
    reg.delete_version("churn", 3)
    assert client.register_model(uri, "churn").version == 4
    assert [v.version for v in reg.list_versions("churn")] == [4, 2, 1]
    with pytest.raises(NotFound, match="no version 3"):
        reg.get_version("churn", 3)
    reg.delete_model("churn")
    with pytest.raises(NotFound):
        reg.get_model("churn")
    assert client.register_model(uri, "churn").version == 5  # a re-created name goes on counting
    assert reg.get_model("churn").version_count == 1
    reg.update_version("churn", 5, "retrained")
    reg.set_version_tag("churn", 5, "validated", "yes")
    got = reg.get_version("churn", 5)
    assert (got.description, dict(got.tags)) == ("retrained", {"validated": "yes"})
    reg.delete_version_tag("churn", 5, "validated")
    assert dict(reg.get_version("churn", 5).tags) == {}


def test_aliases_move_with_an_audit_trail(tracking_uri: str) -> None:
    client = Client()
    reg = client.registry
    uri = logged_model(client)
    for _ in range(3):
        client.register_model(uri, "churn")
    reg.set_alias("churn", "champion", 1, reason="first")
    reg.set_alias("churn", "challenger", 3)
    moved = reg.set_alias("churn", "champion", 2, reason="better auc")
    assert (moved.from_version, moved.to_version, moved.reason) == (1, 2, "better auc")
    assert reg.get_version_by_alias("churn", "champion").version == 2
    assert reg.get_model("churn").aliases == {"challenger": 3, "champion": 2}
    assert reg.get_version("churn", 2).aliases == ("champion",)
    with pytest.raises(NotFound, match="no version 9"):
        reg.set_alias("churn", "champion", 9)
    with pytest.raises(NotFound, match="no alias 'gold'"):
        reg.get_version_by_alias("churn", "gold")
    reg.delete_version("churn", 3)  # removes the challenger alias, audited
    assert "challenger" not in reg.get_model("churn").aliases
    reg.delete_alias("churn", "champion", reason="rollback")
    with pytest.raises(NotFound):
        reg.delete_alias("churn", "champion")
    trail = [(e.alias, e.from_version, e.to_version) for e in reg.alias_history("churn")]
    assert trail == [
        ("champion", 2, None),
        ("challenger", 3, None),
        ("champion", 1, 2),
        ("challenger", None, 3),
        ("champion", None, 1),
    ]
    events = reg.alias_history("churn", "champion")
    assert [e.reason for e in events] == ["rollback", "better auc", "first"]
    assert all(e.actor and e.at > 0 for e in events)


def test_uris_resolve_by_number_alias_and_latest(tracking_uri: str) -> None:
    client = Client()
    reg = client.registry
    uri = logged_model(client)
    client.register_model(uri, "churn")
    client.register_model(uri, "churn")
    reg.set_alias("churn", "champion", 1)
    assert reg.resolve_uri("models:/churn/2").version == 2
    assert reg.resolve_uri("models:/churn@champion").version == 1
    assert reg.resolve_uri("models:/churn/latest").version == 2
    assert client.register_model("models:/churn@champion", "copy").source == uri
    with pytest.raises(NotFound, match="no model named 'ghost'"):
        reg.resolve_uri("models:/ghost/1")
    with pytest.raises(InvalidInput, match="names no version"):
        reg.resolve_uri("models:/churn")
    with pytest.raises(InvalidInput, match="not a version number"):
        reg.resolve_uri("models:/churn/abc")


def test_promotion_rules_move_or_refuse_and_are_audited(tracking_uri: str) -> None:
    client = Client()
    reg = client.registry
    v1 = client.register_model(logged_model(client, {"auc": 0.80}), "churn").version
    v2 = client.register_model(logged_model(client, {"auc": 0.802}), "churn").version
    v3 = client.register_model(logged_model(client, {"auc": 0.90}), "churn").version
    rule = "metrics.auc >= champion.metrics.auc + 0.005"
    first = reg.promote("churn", v1, "champion", rule=rule, reason="first model")
    assert first.moved and "no version has alias 'champion' yet" in first.verdict
    with pytest.raises(InvalidState, match=r"0\.802 >= 0\.805 fails"):
        reg.promote("churn", v2, "champion", rule=rule)
    assert reg.get_version_by_alias("churn", "champion").version == v1
    refused = reg.alias_history("churn", "champion")[0]
    assert refused.refused and refused.to_version == v2 and refused.rule == rule
    assert refused.verdict is not None and "fails" in refused.verdict
    done = reg.promote("churn", v3, "champion", rule=rule)
    assert done.moved and done.event is not None and done.event.from_version == v1
    assert reg.get_version_by_alias("churn", "champion").version == v3
    with pytest.raises(FilterSyntaxError, match="expected a number or a metric"):
        reg.promote("churn", v2, "champion", rule="metrics.auc >= ")
    with pytest.raises(InvalidInput, match="not a metric of the candidate"):
        reg.promote("churn", v2, "champion", rule="metrics.f1 > 0")
    # The project's default rule for an alias applies when none is given.
    reg.set_alias_policy("default", "champion", protected=True, rule="metrics.auc > champion.metrics.auc")
    assert [(p.alias, p.protected) for p in reg.list_alias_policies("default")] == [("champion", True)]
    with pytest.raises(InvalidState, match="to @champion refused"):
        reg.promote("churn", v2, "champion")
    assert reg.promote("churn", v2, "staging").moved  # no policy, no rule: moves
    with pytest.raises(FilterSyntaxError):
        reg.set_alias_policy("default", "champion", protected=True, rule="auc >")


def test_performance_history_and_version_metrics(tracking_uri: str) -> None:
    client = Client()
    reg = client.registry
    v = client.register_model(logged_model(client, {"auc": 0.8, "loss": 0.3}), "churn").version
    ds = assay.Dataset(name="march", digest="xxh3-128:abc")
    reg.record_performance("churn", v, {"auc": 0.75}, evaluation="march", dataset=ds)
    reg.record_performance("churn", v, {"auc": 0.7}, evaluation="april")
    history = reg.performance_history("churn", v)
    assert [(r.source, r.metrics.get("auc")) for r in history] == [
        ("training", 0.8),
        ("evaluation", 0.75),
        ("evaluation", 0.7),
    ]
    assert history[1].dataset_digest == "xxh3-128:abc" and history[1].evaluation == "march"
    assert reg.version_metrics("churn", v) == {"auc": 0.7, "loss": 0.3}
    with pytest.raises(InvalidInput, match="at least one metric"):
        reg.record_performance("churn", v, {})
    with pytest.raises(NotFound):
        reg.record_performance("churn", 99, {"auc": 1.0})


def test_lineage_names_run_params_commit_and_datasets(tracking_uri: str) -> None:
    client = Client()
    uri = logged_model(client)
    run_id = uri.split("/")[1]
    client.log_dataset(run_id, np.arange(12.0).reshape(4, 3), "train")
    mv = client.register_model(uri, "churn")
    lineage = client.registry.lineage("churn", mv.version)
    assert lineage.run_id == run_id and lineage.git_commit == "abc123"
    assert dict(lineage.params) == {"C": "1.0"}
    assert [(u.dataset.name, u.context, u.dataset.rows) for u in lineage.datasets] == [
        ("train", "training", 4)
    ]


def test_datasets_are_recorded_listed_and_searchable(tracking_uri: str) -> None:
    client = Client()
    reg = client.registry
    a, b = logged_model(client).split("/")[1], logged_model(client).split("/")[1]
    data = np.arange(20.0).reshape(10, 2)
    changed = data.copy()
    changed[-1, -1] = -1.0
    use_a = client.log_dataset(a, data, "train")
    use_a2 = client.log_dataset(a, data, "train")  # the same use twice is recorded once
    use_b = client.log_dataset(b, changed, "train", context="validation")
    assert use_a.dataset.dataset_id == use_a2.dataset.dataset_id
    assert use_a.dataset.digest != use_b.dataset.digest
    assert [u.dataset.digest for u in reg.run_datasets(a)] == [use_a.dataset.digest]
    assert {d.digest for d in reg.list_datasets()} == {use_a.dataset.digest, use_b.dataset.digest}
    got = reg.get_dataset(use_a.dataset.dataset_id)
    assert (got.name, got.rows, got.kind) == ("train", 10, "numpy")
    mv = client.register_model(f"runs:/{a}/model", "churn")
    uses, versions = reg.dataset_usage(use_a.dataset.dataset_id)
    assert [u.run_id for u in uses] == [a] and [v.version for v in versions] == [mv.version]
    assert {r.info.run_id for r in client.search_runs(filter="datasets.name = 'train'")} == {a, b}
    found = client.search_runs(filter=f"datasets.hash = '{use_b.dataset.digest}'")
    assert [r.info.run_id for r in found] == [b]
    assert [r.info.run_id for r in client.search_runs(filter="datasets.context = 'validation'")] == [b]
    with pytest.raises(FilterSyntaxError, match="unknown dataset field"):
        client.search_runs(filter="datasets.rows = 3")
    with pytest.raises(NotFound):
        reg.get_dataset(999)


def test_bad_input_is_one_clear_error(tracking_uri: str) -> None:
    client = Client()
    reg = client.registry
    uri = logged_model(client)
    run_id = uri.split("/")[1]
    with pytest.raises(InvalidInput, match=r"not a model logged with assay\.log_model"):
        client.register_model(f"runs:/{run_id}/nothing-here", "churn")
    with pytest.raises(NotFound):
        reg.get_model("churn")  # a failed registration leaves nothing behind
    client.log_text(run_id, "just: text\n", f"broken/{DESCRIPTOR_FILE}")
    with pytest.raises(InvalidInput, match="not a model descriptor"):
        client.register_model(f"runs:/{run_id}/broken", "churn")
    with pytest.raises(InvalidInput, match="model name"):
        client.register_model(uri, "a@b")
    with pytest.raises(InvalidInput, match="name a model as NAME, or as PROJECT/NAME"):
        client.register_model(uri, "a/b/c")
    with pytest.raises(InvalidInput, match="names a run but no model"):
        client.register_model(f"runs:/{run_id}", "churn")
    with pytest.raises(NotFound):
        client.register_model("runs:/" + "0" * 32 + "/model", "churn")
    assert client.register_model(uri, "churn").version == 1  # the failures consumed no number
    with pytest.raises(InvalidInput, match="alias"):
        reg.set_alias("churn", "2", 1)
    with pytest.raises(InvalidInput, match="reserved"):
        reg.set_alias("churn", "latest", 1)


def test_concurrent_registrations_from_processes_get_distinct_numbers(tracking_uri: str) -> None:
    client = Client()
    uri = logged_model(client)
    client.registry.create_model("race")
    script = textwrap.dedent(
        f"""
        import assay
        print(",".join(str(assay.register_model({uri!r}, "race").version) for _ in range(5)))
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(os.environ),
            text=True,
        )
        for _ in range(4)
    ]
    numbers: list[int] = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        numbers += [int(x) for x in out.strip().split(",")]
    assert sorted(numbers) == list(range(1, 21))
    assert len(client.registry.list_versions("race")) == 20


def test_files_and_reports_are_kept_with_a_version(tracking_uri: str) -> None:
    client = Client()
    reg = client.registry
    uri = logged_model(client)
    client.register_model(uri, "churn")
    client.register_model(uri, "churn")
    blob = bytes(range(256)) * 4096  # 1 MiB of every byte value
    reg.put_version_file("churn", 1, "onnx/model.onnx", blob)
    assert reg.read_version_file("churn", 1, "onnx/model.onnx") == blob
    with pytest.raises(NotFound):
        reg.read_version_file("churn", 2, "onnx/model.onnx")  # each version has its own files
    with pytest.raises(InvalidInput):
        reg.put_version_file("churn", 1, "../escape", b"x")
    reg.set_version_report("churn", 1, "parity", {"passed": True, "max_abs": 1.5e-7, "outputs": ["label"]})
    reg.set_version_report("churn", 1, "parity", {"passed": False})  # replaced, not appended
    reg.set_version_report("churn", 1, "latency", {"p50_us": {"1": 8.0}})
    assert reg.version_reports("churn", 1) == {"parity": {"passed": False}, "latency": {"p50_us": {"1": 8.0}}}
    assert reg.version_reports("churn", 2) == {}
    with pytest.raises(InvalidInput, match="report kind"):
        reg.set_version_report("churn", 1, "Bad Kind", {})
    with pytest.raises(NotFound):
        reg.set_version_report("churn", 9, "parity", {})
    # the source run's artifacts are untouched
    run_id = uri.split("/")[1]
    assert [f.path for f in client.list_artifacts(run_id, "model")] == [f"model/{DESCRIPTOR_FILE}"]


def test_a_protected_alias_needs_passed_parity_or_a_forced_reason(tracking_uri: str) -> None:
    client = Client()
    reg = client.registry
    uri = logged_model(client, {"auc": 0.9})
    for _ in range(3):
        client.register_model(uri, "churn")
    reg.set_alias("churn", "champion", 1)  # not protected yet: no gate
    reg.set_alias_policy("default", "champion", protected=True)
    with pytest.raises(InvalidState, match="parity was never checked"):
        reg.set_alias("churn", "champion", 2)
    reg.set_version_report("churn", 2, "parity", {"passed": False})
    with pytest.raises(InvalidState, match="parity check failed"):
        reg.promote("churn", 2, "champion")
    with pytest.raises(InvalidInput, match="needs a reason"):
        reg.set_alias("churn", "champion", 2, force=True)
    forced = reg.set_alias("churn", "champion", 2, reason="hotfix, parity known off by 1e-3", force=True)
    assert forced.verdict == "forced: its ONNX parity check failed"
    reg.set_version_report("churn", 3, "parity", {"passed": True})
    done = reg.promote("churn", 3, "champion", rule="metrics.auc >= champion.metrics.auc")
    assert done.moved and done.verdict.endswith("parity passed")
    trail = reg.alias_history("churn", "champion")
    assert [(e.to_version, e.refused) for e in trail] == [
        (3, False),
        (2, False),
        (2, True),
        (2, True),
        (1, False),
    ]
    reg.set_alias("churn", "challenger", 1)  # unprotected aliases move freely


def test_project_settings_are_kept_per_project(tracking_uri: str) -> None:
    reg = Client().registry
    assert reg.project_setting(None, "onnx.tolerances") is None
    reg.set_project_setting("default", "onnx.tolerances", {"probabilities": {"atol": 1e-4}})
    reg.set_project_setting(None, "onnx.tolerances", {"values": {"rtol": 1e-3}})  # replaced whole
    assert reg.project_setting("default", "onnx.tolerances") == {"values": {"rtol": 1e-3}}
    with pytest.raises(InvalidInput, match="setting"):
        reg.set_project_setting("default", "Bad Key", {})
    with pytest.raises(NotFound):
        reg.project_setting("no-such-project", "onnx.tolerances")


def test_model_names_are_unique_per_project(tracking_uri: str, services: Services) -> None:
    """Two projects may both have "churn": each is named as project/name (in models:/ URIs too) and keeps
    its own numbering, aliases and tags; the plain name is refused with the candidates listed; a name one
    project holds works alone as before; registering takes the run's project, or the one named."""
    for project in ("vision", "nlp"):
        services.access.create_project(project)
    client = Client()
    reg = client.registry
    uri = logged_model(client)  # a run of "default"
    vision = client.register_model(uri, "churn", project="vision")
    nlp = client.register_model(uri, "nlp/churn")
    assert [(mv.project, mv.name, mv.version) for mv in (vision, nlp)] == [
        ("vision", "churn", 1),
        ("nlp", "churn", 1),
    ]
    assert client.register_model(uri, "vision/churn").version == 2  # numbering is per model
    assert [v.version for v in reg.list_versions("nlp/churn")] == [1]
    with pytest.raises(Conflict, match="already exists in project 'vision'"):
        reg.create_model("churn", project="vision")
    with pytest.raises(InvalidInput, match="is in project 'vision' but project='nlp' was given"):
        client.register_model(uri, "vision/churn", project="nlp")
    assert [(m.project, m.version_count) for m in reg.list_models(name="churn")] == [
        ("nlp", 1),
        ("vision", 2),
    ]
    assert [m.qualified_name for m in reg.list_models()] == ["nlp/churn", "vision/churn"]
    assert [m.project for m in reg.list_models(name="vision/churn")] == ["vision"]

    ambiguous = (
        "model name 'churn' is in several projects: nlp/churn, vision/churn; name one as project/name "
        "(such as 'nlp/churn', or models:/nlp/churn/<version>)"
    )
    with pytest.raises(InvalidInput) as refused:
        reg.get_model("churn")
    assert str(refused.value) == ambiguous
    for call in (
        lambda: reg.get_version("churn", 1),
        lambda: reg.set_alias("churn", "champion", 1),
        lambda: reg.resolve_uri("models:/churn/latest"),
        lambda: client.register_model("models:/churn/1", "copy"),
    ):
        with pytest.raises(InvalidInput, match="is in several projects: nlp/churn, vision/churn;"):
            call()

    # project/name everywhere a name goes, and in models:/ URIs
    reg.set_alias("vision/churn", "champion", 1)
    reg.set_model_tag("nlp/churn", "team", "text")
    assert reg.get_model("vision/churn").aliases == {"champion": 1}
    assert (
        dict(reg.get_model("nlp/churn").tags) == {"team": "text"} and not reg.get_model("nlp/churn").aliases
    )
    latest = reg.resolve_uri("models:/vision/churn/latest")
    assert (latest.project, latest.version) == ("vision", 2)
    assert reg.resolve_uri("models:/vision/churn@champion").version == 1
    assert latest.uri == "models:/vision/churn/2" and reg.resolve_uri(latest.uri) == latest
    assert reg.get_version_by_alias("vision/churn", "champion") == reg.get_version("vision/churn", 1)
    assert [e.to_version for e in reg.alias_history("vision/churn")] == [1] and not reg.alias_history(
        "nlp/churn"
    )
    reg.record_performance("nlp/churn", 1, {"auc": 0.7}, evaluation="april")
    assert (
        reg.version_metrics("nlp/churn", 1) == {"auc": 0.7} and reg.version_metrics("vision/churn", 1) == {}
    )
    local = model_artifacts.local_model_dir("models:/nlp/churn/1", client)  # what load_model reads
    assert (local / DESCRIPTOR_FILE).is_file()
    with pytest.raises(NotFound, match="no model named 'churn' in project 'default'"):
        reg.get_model("default/churn")
    with pytest.raises(NotFound):
        reg.resolve_uri("models:/nowhere/churn/1")

    # Once one project holds the name alone, the plain name is that model again.
    reg.delete_model("nlp/churn")
    assert reg.get_model("churn").project == "vision"
    assert reg.resolve_uri("models:/churn@champion").version == 1
    assert client.register_model(uri, "nlp/churn").version == 2  # re-created in nlp: its numbering goes on
    # A plain name registers in the run's project, never into another project's model of that name.
    mine = client.register_model(uri, "churn")
    assert (mine.project, mine.version) == ("default", 1)
    with pytest.raises(InvalidInput, match="default/churn, nlp/churn, vision/churn;"):
        reg.get_model("churn")


def test_models_of_a_project_the_caller_cannot_read_are_not_revealed(
    tracking_uri: str, store_services: Services, caller_services: Services
) -> None:
    """A caller holding no role in "hidden" never learns of its models: a plain name finds only the
    caller's own (never ambiguous because of "hidden"), and "hidden/<name>" is NotFound with the message
    of a project that does not exist, for reads and writes alike."""
    store_services.access.create_project("hidden")
    for name in ("churn", "secret"):
        store_services.registry.create_model(name, project="hidden")
    reg = caller_services.registry
    mine = reg.create_model("churn")
    assert reg.get_model("churn") == mine and mine.project == "default"
    assert [m.qualified_name for m in reg.list_models()] == ["default/churn"]
    assert reg.list_models(name="secret") == []
    with pytest.raises(NotFound, match="no model named 'secret'"):
        reg.get_model("secret")
    with pytest.raises(NotFound) as hidden:
        reg.get_model("hidden/secret")
    with pytest.raises(NotFound) as nowhere:
        reg.get_model("nowhere/secret")
    assert str(hidden.value) == str(nowhere.value).replace("nowhere", "hidden")
    for call in (
        lambda: reg.list_versions("hidden/churn"),
        lambda: reg.resolve_uri("models:/hidden/churn/latest"),
        lambda: reg.set_model_tag("hidden/churn", "k", "v"),
        lambda: reg.delete_model("hidden/churn"),
    ):
        with pytest.raises(NotFound, match="no model named 'churn' in project 'hidden'"):
            call()
    # The store itself sees both, and so the ambiguity the caller was spared.
    with pytest.raises(InvalidInput, match="in several projects: default/churn, hidden/churn;"):
        store_services.registry.get_model("churn")
    assert store_services.registry.get_model("hidden/secret").project == "hidden"

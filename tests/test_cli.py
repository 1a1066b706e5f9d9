"""Tests for the ``assay`` command line (assay.cli), against a real embedded store in a temporary directory.

Data is created through the tracking backend directly; the CLI is driven with Typer's CliRunner. Output is
not a terminal here, so tables render at full width and without color unless FORCE_COLOR is set.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from assay.cli import render
from assay.cli.compare import DIFF_MARK, comparison_rows
from assay.cli.main import app, main
from assay.entities import MetricSummary, Run, RunInfo, RunStatus, SeriesBatch

runner = CliRunner()


def invoke(*args: str) -> Result:
    """Run ``assay <args>`` in-process; exceptions other than exits are left in ``result.exception``."""
    return runner.invoke(app, list(args))


def ok(*args: str) -> Result:
    result = invoke(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def as_json(*args: str) -> Any:
    return json.loads(ok(*args, "--json").stdout)


def line_with(text: str, output: str) -> str:
    """The only output line containing ``text``."""
    lines = [ln for ln in output.splitlines() if text in ln]
    assert len(lines) == 1, (text, output)
    return lines[0]


@pytest.fixture
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh embedded store in ``tmp_path``, made the default for both the test and the CLI."""
    from assay import bundle

    monkeypatch.setenv("ASSAY_TRACKING_URI", str(tmp_path / "assay.db"))
    monkeypatch.setenv("ASSAY_HEARTBEAT_TIMEOUT", "3600")  # RUNNING runs stay RUNNING during the test
    monkeypatch.delenv("ASSAY_ARTIFACT_ROOT", raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    bundle.reset()
    yield bundle.get_backend()
    bundle.reset()


def log(t: Any, run_id: str, key: str, values: list[float]) -> None:
    n = len(values)
    t.log_series(
        [
            SeriesBatch(
                run_id,
                key,
                steps=np.arange(n, dtype=np.int64),
                timestamps=np.arange(1, n + 1, dtype=np.int64) * 1000,
                values=np.array(values, dtype=np.float64),
            )
        ]
    )


@dataclass
class Seeded:
    baseline: str  # experiment ids
    tuned: str
    alpha: str  # run ids
    beta: str
    gamma: str


@pytest.fixture
def seeded(tracking: Any) -> Seeded:
    """Two experiments and three runs: alpha and beta (FINISHED, in baseline), gamma (RUNNING, in tuned)."""
    now = int(time.time() * 1000)
    baseline = tracking.create_experiment("baseline").experiment_id
    tuned = tracking.create_experiment("tuned").experiment_id
    alpha = tracking.create_run(
        baseline,
        name="alpha",
        params={"lr": 0.1, "model": "rf"},
        tags={"team": "vision"},
        start_time=now - 3000,
    ).run_id
    log(tracking, alpha, "auc", [0.7, 0.8])
    log(tracking, alpha, "loss", [2.0, 1.23456789])
    tracking.end_run(alpha, RunStatus.FINISHED, end_time=now - 2500)
    tracking.write_artifact(alpha, "notes.md", b"# alpha\n")
    tracking.write_artifact(alpha, "model/weights.bin", b"\x00" * 3000)

    beta = tracking.create_run(
        baseline, name="beta", params={"lr": 0.01, "model": "rf"}, tags={"team": "nlp"}, start_time=now - 2000
    ).run_id
    log(tracking, beta, "auc", [0.85, 0.9])
    log(tracking, beta, "loss", [1.5, 0.5])
    tracking.end_run(beta, RunStatus.FINISHED, end_time=now - 1000)

    gamma = tracking.create_run(
        tuned, name="gamma", params={"lr": 0.1, "model": "gbm"}, start_time=now - 1000
    ).run_id
    log(tracking, gamma, "auc", [float("nan")])
    return Seeded(baseline, tuned, alpha, beta, gamma)


# ---- global behaviour ------------------------------------------------------------------------------------


def test_help_lists_the_command_groups() -> None:
    out = ok("--help").stdout
    for group in ("experiments", "runs", "artifacts", "--tracking-uri"):
        assert group in out


def test_tracking_uri_option_selects_another_store(tracking: Any, tmp_path: Path) -> None:
    from assay import bundle

    tracking.create_experiment("default-store")
    other = str(tmp_path / "other" / "other.db")
    (tmp_path / "other").mkdir()
    bundle.get_backend(other).create_experiment("other-store")
    names = [e["name"] for e in json.loads(ok("--tracking-uri", other, "experiments", "ls", "--json").stdout)]
    assert names == ["other-store"]
    assert [e["name"] for e in as_json("experiments", "ls")] == ["default-store"]


def test_main_is_the_entry_point_and_reports_errors(
    tracking: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["assay", "runs", "show", "deadbeef"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert captured.err == "error: no run with id 'deadbeef'\n"
    assert captured.out == ""


# ---- experiments ---------------------------------------------------------------------------------------


def test_experiments_ls_table(seeded: Seeded) -> None:
    out = ok("experiments", "ls").stdout
    assert "baseline" in out and "tuned" in out
    row = line_with("baseline", out)
    assert " 2 " in row  # two runs
    assert "ago" in row  # last activity as a human time
    assert str(Path(row.split("│")[-1].strip())).endswith(f"/{seeded.baseline}")


def test_experiments_ls_json(seeded: Seeded) -> None:
    data = as_json("experiments", "ls")
    assert [(e["experiment_id"], e["name"], e["run_count"]) for e in data] == [
        (seeded.baseline, "baseline", 2),
        (seeded.tuned, "tuned", 1),
    ]
    assert all(isinstance(e["last_activity"], int) and e["artifact_location"] for e in data)


def test_experiments_ls_all_includes_deleted(tracking: Any, seeded: Seeded) -> None:
    tracking.delete_experiment(seeded.tuned)
    assert [e["name"] for e in as_json("experiments", "ls")] == ["baseline"]
    assert [e["lifecycle"] for e in as_json("experiments", "ls", "--all")] == ["active", "deleted"]
    assert "tuned (deleted)" in ok("experiments", "ls", "--all").stdout


def test_experiments_ls_empty_store(tracking: Any) -> None:
    assert as_json("experiments", "ls") == []
    result = ok("experiments", "ls")
    assert result.stdout == "" and "no experiments" in result.stderr


# ---- runs ls -------------------------------------------------------------------------------------------


def test_runs_ls_default_table(seeded: Seeded) -> None:
    out = ok("runs", "ls").stdout
    header = out.splitlines()[0]
    for column in ("run id", "experiment", "name", "status", "start", "duration"):
        assert column in header
    for column in ("metrics.auc", "metrics.loss", "params.lr", "params.model"):
        assert column in header
    assert "tags.team" not in header  # tags only on request
    assert seeded.alpha[:8] in out and seeded.alpha not in out  # short ids in the table
    alpha = line_with("alpha", out)
    assert "FINISHED" in alpha and "baseline" in alpha and "1.23457" in alpha and "0.8" in alpha
    gamma = line_with("gamma", out)
    assert "RUNNING" in gamma and "nan" in gamma and "—" in gamma  # no loss, no duration yet
    names = [ln.split("│")[2].strip() for ln in out.splitlines()[2:]]
    assert names == ["gamma", "beta", "alpha"]  # newest first


def test_runs_ls_json(seeded: Seeded) -> None:
    data = as_json("runs", "ls")
    by_name = {r["name"]: r for r in data}
    assert by_name["alpha"]["run_id"] == seeded.alpha  # full ids in JSON
    assert by_name["alpha"]["metrics"] == {"auc": 0.8, "loss": 1.23456789}
    assert by_name["alpha"]["params"] == {"lr": "0.1", "model": "rf"}
    assert by_name["alpha"]["tags"] == {"team": "vision"}
    assert by_name["alpha"]["status"] == "FINISHED" and by_name["alpha"]["duration_ms"] == 500
    assert by_name["gamma"]["metrics"] == {"auc": None}  # NaN is not JSON: null
    assert by_name["gamma"]["end_time"] is None


def test_runs_ls_by_experiment_name_or_id(seeded: Seeded) -> None:
    assert {r["name"] for r in as_json("runs", "ls", "--experiment", "baseline")} == {"alpha", "beta"}
    assert [r["name"] for r in as_json("runs", "ls", "-e", seeded.tuned)] == ["gamma"]
    both = as_json("runs", "ls", "-e", "baseline", "-e", "tuned")
    assert len(both) == 3
    assert "experiment" not in ok("runs", "ls", "-e", "baseline").stdout.splitlines()[0]


def test_runs_ls_by_project_and_name_when_projects_share_a_name(tracking: Any, seeded: Seeded) -> None:
    """ "baseline" in two projects: -e vision/baseline picks one, the plain name is refused with both."""
    from assay import bundle

    bundle.get_access().create_project("vision")
    vision = tracking.create_experiment("baseline", "vision").experiment_id
    delta = tracking.create_run(vision, name="delta").run_id
    assert [r["run_id"] for r in as_json("runs", "ls", "-e", "vision/baseline")] == [delta]
    assert {r["name"] for r in as_json("runs", "ls", "-e", "default/baseline")} == {"alpha", "beta"}
    result = invoke("runs", "ls", "-e", "baseline")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: experiment name 'baseline' is in several projects: default/baseline, vision/baseline; "
        "give one of these, or pass project=\n"
    )


def test_experiments_and_runs_renamed(tracking: Any, seeded: Seeded) -> None:
    out = ok("experiments", "rename", "baseline", "baseline-2019").stdout
    assert out == f"experiment {seeded.baseline} (default) is now 'baseline-2019'\n"
    assert tracking.get_experiment(seeded.baseline).name == "baseline-2019"
    clash = invoke("experiments", "rename", "baseline-2019", "tuned")
    assert clash.exit_code == 1 and "named 'tuned' already exists" in clash.stderr
    assert ok("runs", "rename", seeded.alpha[:8], "alpha prime").stdout == (
        f"run {seeded.alpha} is now 'alpha prime'\n"
    )
    assert tracking.get_run(seeded.alpha).info.name == "alpha prime"


def test_runs_ls_filter_and_order_by(seeded: Seeded) -> None:
    data = as_json("runs", "ls", "--filter", "params.model = 'rf'", "--order-by", "metrics.auc desc")
    assert [r["name"] for r in data] == ["beta", "alpha"]
    data = as_json("runs", "ls", "-f", "metrics.auc > 0.5", "-o", "metrics.auc asc")
    assert [r["name"] for r in data] == ["alpha", "beta"]


def test_runs_ls_columns(seeded: Seeded) -> None:
    out = ok("runs", "ls", "--columns", "params.lr, tags.team,attributes.user").stdout
    header = out.splitlines()[0]
    assert "params.lr" in header and "tags.team" in header and "user" in header
    assert "metrics.auc" not in header and "params.model" not in header
    assert "vision" in line_with("alpha", out)


def test_runs_ls_caps_default_columns(tracking: Any) -> None:
    eid = tracking.create_experiment("wide").experiment_id
    rid = tracking.create_run(eid, name="wide", params={f"p{i:02d}": i for i in range(6)}).run_id
    for i in range(6):
        log(tracking, rid, f"m{i:02d}", [float(i)])
    result = ok("runs", "ls", "-o", "params.p05 desc")
    header = result.stdout.splitlines()[0]
    assert header.count("metrics.") + header.count("params.") == 8
    assert "params.p05" in header  # the sort key is shown even though params come last
    assert "4 more metric/param columns" in result.stderr
    assert "--columns" in result.stderr


def test_runs_ls_drops_columns_that_do_not_fit_the_terminal(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "90")
    result = ok("runs", "ls")
    lines = result.stdout.splitlines()
    assert all(len(line.rstrip()) <= 90 for line in lines)
    assert "FINISHED" in line_with("alpha", result.stdout)  # attributes are never squeezed
    assert "metrics.auc" in lines[0] and "params.model" not in lines[0]
    assert "more metric/param columns not shown" in result.stderr
    explicit = ok("runs", "ls", "--columns", "params.model").stdout
    assert "params.model" in explicit.splitlines()[0]


def test_runs_ls_max_results(seeded: Seeded) -> None:
    result = ok("runs", "ls", "--max-results", "1", "--json")
    assert [r["name"] for r in json.loads(result.stdout)] == ["gamma"]
    assert "more match" in result.stderr


def test_runs_ls_all_includes_deleted(tracking: Any, seeded: Seeded) -> None:
    tracking.delete_run(seeded.beta)
    assert {r["name"] for r in as_json("runs", "ls")} == {"alpha", "gamma"}
    data = as_json("runs", "ls", "--all")
    assert {r["name"]: r["lifecycle"] for r in data}["beta"] == "deleted"
    assert "beta (deleted)" in ok("runs", "ls", "--all").stdout


def test_runs_ls_no_runs(tracking: Any) -> None:
    assert as_json("runs", "ls") == []
    assert "no runs match" in ok("runs", "ls").stderr


def test_runs_ls_malformed_filter_shows_caret(seeded: Seeded) -> None:
    result = invoke("runs", "ls", "--filter", "metrics.auc > 0.9 adn params.model = 'rf'")
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: ") and "'adn'" in lines[0]
    assert lines[1] == "  metrics.auc > 0.9 adn params.model = 'rf'"
    assert lines[2].strip() == "^" and lines[2].index("^") == lines[1].index("adn")
    assert "Traceback" not in result.output


def test_runs_ls_unknown_experiment(seeded: Seeded) -> None:
    result = invoke("runs", "ls", "-e", "nope")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no experiment named 'nope'") and result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "args", [["--columns", "lr"], ["--columns", "attributes.shoe_size"], ["--max-results", "0"]]
)
def test_runs_ls_usage_errors_exit_2(seeded: Seeded, args: list[str]) -> None:
    result = invoke("runs", "ls", *args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_runs_ls_colors_statuses(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    out = ok("runs", "ls").stdout
    assert "\x1b[32mFINISHED" in out  # green
    assert "\x1b[34mRUNNING" in out  # blue
    assert render.status_text("FAILED").style == "red"
    assert render.status_text("KILLED").style == "yellow"


def test_json_output_is_plain_even_with_markup_in_names(
    tracking: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    eid = tracking.create_experiment("markup").experiment_id
    tracking.create_run(eid, name="x[bold]y", params={"note": "[red]z[/red]"})
    result = ok("runs", "ls", "--json")
    assert "\x1b[" not in result.stdout
    assert json.loads(result.stdout)[0]["params"] == {"note": "[red]z[/red]"}
    monkeypatch.delenv("FORCE_COLOR")
    out = ok("runs", "ls").stdout
    assert "x[bold]y" in out and "[red]z[/red]" in out  # user text is never read as Rich markup


# ---- runs show -----------------------------------------------------------------------------------------


def test_runs_show_table(seeded: Seeded) -> None:
    out = ok("runs", "show", seeded.alpha).stdout
    assert seeded.alpha in out
    assert "baseline" in line_with("experiment", out)
    assert "FINISHED" in line_with("status", out)
    assert "rf" in line_with("model", out)
    assert "vision" in line_with("team", out)
    loss = line_with("loss", out).split()
    assert loss[0] == "loss" and loss[1:] == ["│", "1.23457", "│", "1.23457", "│", "2", "│", "1", "│", "2"]


def test_runs_show_accepts_a_unique_prefix(seeded: Seeded) -> None:
    assert as_json("runs", "show", seeded.beta[:8])["info"]["run_id"] == seeded.beta


def test_runs_show_json(seeded: Seeded) -> None:
    data = as_json("runs", "show", seeded.gamma)
    assert data["info"]["name"] == "gamma" and data["info"]["status"] == "RUNNING"
    assert data["params"] == {"lr": "0.1", "model": "gbm"}
    assert data["tags"] == {}
    assert data["metrics"]["auc"] == {
        "last": None,
        "min": None,
        "max": None,
        "step": 0,
        "timestamp": 1000,
        "count": 1,
    }
    auc = as_json("runs", "show", seeded.alpha)["metrics"]["auc"]
    assert (auc["last"], auc["min"], auc["max"], auc["step"], auc["count"]) == (0.8, 0.7, 0.8, 1, 2)


def test_runs_show_unknown_run_is_one_clear_line(seeded: Seeded) -> None:
    result = invoke("runs", "show", "0123456789abcdef0123456789abcdef")
    assert result.exit_code == 1
    assert result.stderr == "error: no run with id '0123456789abcdef0123456789abcdef'\n"
    assert result.stdout == "" and "Traceback" not in result.output


def test_ambiguous_prefix_is_an_error(tracking: Any) -> None:
    eid = tracking.create_experiment("e").experiment_id
    tracking.create_run(eid, run_id="abc1" + "0" * 28)
    tracking.create_run(eid, run_id="abc2" + "0" * 28)
    result = invoke("runs", "show", "abc")
    assert result.exit_code == 1
    assert "ambiguous" in result.stderr and result.stderr.count("\n") == 1
    assert as_json("runs", "show", "abc2")["info"]["run_id"] == "abc2" + "0" * 28


# ---- runs compare --------------------------------------------------------------------------------------


def test_runs_compare_marks_differing_rows(seeded: Seeded) -> None:
    out = ok("runs", "compare", seeded.alpha, seeded.beta).stdout
    assert seeded.alpha[:8] in out and seeded.beta[:8] in out
    assert line_with("params.lr", out).startswith(DIFF_MARK)
    assert line_with("metrics.auc", out).startswith(DIFF_MARK)
    assert line_with("metrics.loss", out).startswith(DIFF_MARK)
    assert DIFF_MARK not in line_with("params.model", out)
    assert "3 of 4 rows differ" in out


def test_runs_compare_shows_missing_values(seeded: Seeded) -> None:
    out = ok("runs", "compare", seeded.alpha, seeded.gamma).stdout
    loss = line_with("metrics.loss", out)
    assert loss.startswith(DIFF_MARK) and "1.23457" in loss and "—" in loss  # gamma logged no loss
    assert "nan" in line_with("metrics.auc", out)


def test_runs_compare_highlights_in_bold_yellow(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    out = ok("runs", "compare", seeded.alpha, seeded.beta).stdout
    assert "\x1b[1;33m" in line_with("params.lr", out)
    assert "\x1b[1;33m" not in line_with("params.model", out)


def test_runs_compare_json(seeded: Seeded) -> None:
    data = as_json("runs", "compare", seeded.alpha, seeded.beta, seeded.gamma)
    assert [r["run_id"] for r in data["runs"]] == [seeded.alpha, seeded.beta, seeded.gamma]
    rows = {(r["section"], r["key"]): r for r in data["rows"]}
    assert rows["params", "lr"]["values"] == ["0.1", "0.01", "0.1"] and rows["params", "lr"]["differs"]
    assert rows["metrics", "loss"]["values"] == [1.23456789, 0.5, None]
    assert rows["metrics", "auc"]["values"] == [0.8, 0.9, None]
    same = as_json("runs", "compare", seeded.alpha, seeded.alpha)
    assert not any(r["differs"] for r in same["rows"])


def test_runs_compare_needs_two_runs(seeded: Seeded) -> None:
    result = invoke("runs", "compare", seeded.alpha)
    assert result.exit_code == 2
    assert "at least 2 runs" in result.output


def test_runs_compare_unknown_run(seeded: Seeded) -> None:
    result = invoke("runs", "compare", seeded.alpha, "nosuchrun")
    assert result.exit_code == 1
    assert result.stderr == "error: no run with id 'nosuchrun'\n"


def _run(run_id: str, params: dict[str, str], metrics: dict[str, float]) -> Run:
    info = RunInfo(run_id, "1", run_id, RunStatus.FINISHED, 0, 1, "u", "/tmp/a")
    summaries = {k: MetricSummary(k, v, v, v, 0, 0, 1) for k, v in metrics.items()}
    return Run(info, params, {}, summaries)


def test_comparison_rows_compare_raw_values_and_nan_equals_nan() -> None:
    a = _run("a", {"lr": "0.1"}, {"auc": math.nan, "acc": 0.1234567})
    b = _run("b", {"lr": "0.1", "seed": "1"}, {"auc": math.nan, "acc": 0.1234568})
    rows = {(r.section, r.key): r for r in comparison_rows([a, b])}
    assert not rows["metrics", "auc"].differs  # NaN in both: alike
    assert rows["metrics", "acc"].differs  # print alike at 6 digits, yet differ
    assert not rows["params", "lr"].differs
    assert rows["params", "seed"].differs and rows["params", "seed"].values == (None, "1")
    assert [r.section for r in comparison_rows([a, b])] == ["params", "params", "metrics", "metrics"]


# ---- runs delete / restore -----------------------------------------------------------------------------


def test_runs_delete_and_restore(seeded: Seeded) -> None:
    out = ok("runs", "delete", seeded.beta[:10]).stdout
    assert f"deleted run {seeded.beta}" in out
    assert "beta" not in {r["name"] for r in as_json("runs", "ls")}
    assert as_json("runs", "show", seeded.beta)["info"]["lifecycle"] == "deleted"
    out = ok("runs", "restore", seeded.beta[:10]).stdout  # prefixes find deleted runs too
    assert f"restored run {seeded.beta}" in out
    assert "beta" in {r["name"] for r in as_json("runs", "ls")}


@pytest.mark.parametrize("command", ["delete", "restore"])
def test_runs_delete_restore_unknown_run(seeded: Seeded, command: str) -> None:
    result = invoke("runs", command, "nosuchrun")
    assert result.exit_code == 1
    assert result.stderr == "error: no run with id 'nosuchrun'\n"


# ---- artifacts -----------------------------------------------------------------------------------------


def test_artifacts_ls_table(seeded: Seeded) -> None:
    out = ok("artifacts", "ls", seeded.alpha).stdout
    assert "model/" in out
    assert "8 B" in line_with("notes.md", out)
    assert out.index("model/") < out.index("notes.md")  # directories first


def test_artifacts_ls_json_with_path_and_runs_uri(seeded: Seeded) -> None:
    expected = [{"path": "model/weights.bin", "is_dir": False, "size": 3000}]
    assert as_json("artifacts", "ls", seeded.alpha, "model") == expected
    assert as_json("artifacts", "ls", f"runs:/{seeded.alpha}/model") == expected
    assert as_json("artifacts", "ls", f"runs:/{seeded.alpha}", "model") == expected
    root = as_json("artifacts", "ls", f"runs:/{seeded.alpha[:8]}")
    assert [(e["path"], e["is_dir"]) for e in root] == [("model", True), ("notes.md", False)]
    assert "2.9 KiB" in ok("artifacts", "ls", seeded.alpha, "model").stdout


def test_artifacts_ls_empty(seeded: Seeded) -> None:
    assert as_json("artifacts", "ls", seeded.beta) == []
    assert "no artifacts" in ok("artifacts", "ls", seeded.beta).stderr


def test_artifacts_get_file_and_directory(seeded: Seeded, tmp_path: Path) -> None:
    dest = tmp_path / "downloads"
    out = ok("artifacts", "get", seeded.alpha, "notes.md", "--dest", str(dest)).stdout
    assert Path(out.strip()) == (dest / "notes.md").resolve()
    assert Path(out.strip()).read_bytes() == b"# alpha\n"
    out = ok("artifacts", "get", f"runs:/{seeded.alpha}/model", "--dest", str(dest)).stdout
    assert (Path(out.strip()) / "weights.bin").stat().st_size == 3000
    out = ok("artifacts", "get", seeded.alpha, "--dest", str(dest / "all")).stdout
    local = Path(out.strip())
    assert sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()) == [
        "model/weights.bin",
        "notes.md",
    ]


def test_artifacts_get_defaults_to_the_current_directory(
    seeded: Seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = ok("artifacts", "get", seeded.alpha, "notes.md").stdout
    assert Path(out.strip()) == (tmp_path / "notes.md").resolve()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["get", "{alpha}", "missing.txt"], "error: run {alpha} has no artifact 'missing.txt'"),
        (["get", "{alpha}", "../../etc/passwd"], "error: artifact path '../../etc/passwd' leaves"),
        (["ls", "runs:alpha"], "error: 'runs:alpha' is not a runs URI"),
        (["ls", "nosuchrun"], "error: no run with id 'nosuchrun'"),
    ],
)
def test_artifacts_errors(seeded: Seeded, args: list[str], message: str) -> None:
    result = invoke("artifacts", *(a.format(alpha=seeded.alpha) for a in args))
    assert result.exit_code == 1
    assert result.stderr.startswith(message.format(alpha=seeded.alpha)) and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


def test_artifacts_get_into_a_file_is_an_os_error_line(seeded: Seeded, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = invoke("artifacts", "get", seeded.alpha, "notes.md", "--dest", str(blocker / "sub"))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    assert invoke("artifacts", "get", seeded.alpha, "--dest", str(blocker)).exit_code == 2  # not a directory


# ---- formatting ------------------------------------------------------------------------------------------


def test_number_formatting() -> None:
    assert render.fmt_number(0.123456789) == "0.123457"
    assert render.fmt_number(1234567.0) == "1.23457e+06"
    assert render.fmt_number(3.0) == "3"
    assert render.fmt_number(math.nan) == "nan"
    assert render.fmt_number(None) == render.MISSING
    assert render.json_number(math.inf) is None and render.json_number(0.5) == 0.5


def test_time_and_size_formatting() -> None:
    now = 10_000_000_000
    assert render.fmt_time_ago(now - 500, now) == "just now"
    assert render.fmt_time_ago(now - 42_000, now) == "42s ago"
    assert render.fmt_time_ago(now - 5 * 60_000, now) == "5m ago"
    assert render.fmt_time_ago(now - 3 * 3_600_000, now) == "3h ago"
    assert render.fmt_time_ago(now - 2 * 86_400_000, now) == "2d ago"
    assert render.fmt_time_ago(now - 30 * 86_400_000, now) == render.fmt_datetime(now - 30 * 86_400_000)
    assert render.fmt_duration(350) == "0.35s"
    assert render.fmt_duration(184_000) == "3m 04s"
    assert render.fmt_duration(7_500_000) == "2h 05m"
    assert render.fmt_duration(None) == render.MISSING
    assert render.fmt_size(512) == "512 B"
    assert render.fmt_size(1536) == "1.5 KiB"
    assert render.fmt_size(None) == render.MISSING

"""Issue 8, item 8: automatic capture stored credentials from git remotes and command lines."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from assay.redact import MASK, redact_argv, redact_url
from assay.sdk import capture


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://alice:ghp_secret@github.com/org/repo.git", f"https://{MASK}@github.com/org/repo.git"),
        ("https://ghp_tokenonly@github.com/org/repo.git", f"https://{MASK}@github.com/org/repo.git"),
        ("postgresql://me:pw@db:5432/x", f"postgresql://me:{MASK}@db:5432/x"),
        ("ssh://git@github.com/org/repo.git", "ssh://git@github.com/org/repo.git"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
        ("https://github.com/org/repo.git", "https://github.com/org/repo.git"),
    ],
)
def test_urls_lose_their_credentials(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_command_lines_lose_secret_values_and_keep_the_rest() -> None:
    argv = [
        "python",
        "train.py",
        "--password",
        "hunter2",
        "--api-key=abc123",
        "--token",
        "t0k",
        "AWS_SECRET_ACCESS_KEY=xyz",
        "OPENAI_API_KEY=sk-1",
        "--db",
        "postgresql://u:pw@h/db",
        "--lr",
        "0.1",
        "--sort-key",
        "name",
        "--epochs=3",
    ]
    out = redact_argv(argv)
    joined = " ".join(out)
    for secret in ("hunter2", "abc123", "t0k", "xyz", "sk-1", ":pw@"):
        assert secret not in joined
    assert out[:3] == ["python", "train.py", "--password"]
    assert "--lr 0.1" in joined and "--epochs=3" in joined and "--sort-key name" in joined
    assert f"postgresql://u:{MASK}@h/db" in joined


def test_capture_stores_no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("remote", "add", "origin", "https://alice:ghp_secret@example.invalid/org/repo.git")
    (tmp_path / "f.txt").write_text("x")
    git("add", "f.txt")
    git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "init")
    state = capture.git_state(tmp_path)
    assert state is not None
    assert capture.git_tags(state)["assay.git.remote"] == f"https://{MASK}@example.invalid/org/repo.git"

    monkeypatch.setattr("sys.argv", ["train.py", "--password", "hunter2", "HF_TOKEN=hf_x"])
    capture._env_cache.clear()
    try:
        command = capture.environment().tags["assay.command"]
    finally:
        capture._env_cache.clear()
    assert "hunter2" not in command and "hf_x" not in command and "train.py --password ***" in command


def test_common_ml_command_line_forms() -> None:
    """Hydra overrides, dashed names, query strings and headers carry secrets too; ``--max-tokens``,
    ``--tokenizer`` and flags without a value are not secrets and keep their neighbours."""
    argv = [
        "db.password=hunter2",
        "+wandb.api_key=abc",
        "hf-token=xyz",
        "--header",
        "Authorization: Bearer tok.en",
        "https://h/p?access_token=QS&sig=SG&x=1",
        "postgresql://me:p@ss@db/x",
        "--max-tokens",
        "512",
        "--tokenizer",
        "bert",
        "--no-auth",
        "data.csv",
        "model.name=rf",
        "dbPassword=camel",
    ]
    joined = " ".join(redact_argv(argv))
    for secret in ("hunter2", "abc", "xyz", "tok.en", "QS", "SG", "ss@db", "camel"):
        assert secret not in joined, secret
    for kept in ("--max-tokens 512", "--tokenizer bert", "--no-auth data.csv", "model.name=rf", "x=1"):
        assert kept in joined, kept

"""Artifacts on S3: the tracking flow against a real S3-protocol server process (moto) on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import assay
from assay import Client
from conftest import reset_sdk
from processes import moto_s3


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server process on a free loopback port, with a bucket ``assay-test``."""
    with moto_s3("assay-test") as url:
        yield url


@pytest.fixture
def s3_artifacts(
    s3_endpoint: str, sqlite_uri: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> str:
    """The embedded store with its artifacts in a fresh prefix of the S3 bucket."""
    import fsspec

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("FSSPEC_S3_ENDPOINT_URL", s3_endpoint)
    fsspec.config.conf.clear()
    fsspec.config.set_conf_env(fsspec.config.conf)  # fsspec reads FSSPEC_* at import: read them again
    root = f"s3://assay-test/{request.node.name}"
    monkeypatch.setenv("ASSAY_ARTIFACT_ROOT", root)

    reset_sdk()
    return root


def test_artifacts_round_trip_through_s3(s3_artifacts: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "model.bin").write_bytes(b"\x00\x01weights")
    (out / "sub" / "notes.txt").write_text("deep")
    assay.set_experiment("s3")
    with assay.start_run(capture_git=False) as run:
        assay.log_metric("loss", 0.5)
        assay.log_artifact(str(out))
        assay.log_text("hello", "notes.md")
        assay.log_dict({"a": 1}, "cfg/params.json")
    c = Client()
    info = c.get_run(run.id).info
    assert info.artifact_uri.startswith(s3_artifacts + "/")
    assert [(f.path, f.is_dir) for f in c.list_artifacts(run.id)] == [
        ("cfg", True),
        ("environment", True),
        ("out", True),
        ("notes.md", False),
    ]
    assert c.read_artifact(run.id, "out/model.bin") == b"\x00\x01weights"
    assert c.list_artifacts(run.id, "notes.md")[0].size == 5
    local = assay.download_artifacts(f"runs:/{run.id}/out", dst=tmp_path / "dl")
    assert (Path(local) / "sub" / "notes.txt").read_text() == "deep"
    requirements = c.read_artifact(run.id, "environment/requirements.txt").decode()
    assert "s3fs==" in requirements.lower()
    with pytest.raises(assay.NotFound):
        c.read_artifact(run.id, "missing.txt")


def test_missing_s3_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import fsspec

    from assay.artifacts import ArtifactRepository

    def no_s3fs(*_a: object, **_k: object) -> None:
        raise ImportError("Install s3fs to access S3")

    monkeypatch.setattr(fsspec.core, "url_to_fs", no_s3fs)
    with pytest.raises(assay.MissingDependency, match=r"pip install 'assay\[s3\]'"):
        ArtifactRepository("s3://bucket/prefix")

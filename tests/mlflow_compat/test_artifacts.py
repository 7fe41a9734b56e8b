"""The artifact proxy: round trip through the mlflow client, and traversal refused."""

from __future__ import annotations

import http.client
from pathlib import Path
from urllib.parse import urlsplit

import pytest

mlflow = pytest.importorskip("mlflow")

PROXY = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture
def run_ids(client, unique) -> tuple[str, str]:
    experiment_id = client.create_experiment(f"art-{unique}")
    return experiment_id, client.create_run(experiment_id).info.run_id


def test_upload_list_download_round_trip(client, run_ids, tmp_path: Path):
    _, run_id = run_ids
    local = tmp_path / "model.bin"
    local.write_bytes(b"\x00\x01weights" * 1000)
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "dir" / "a.txt").write_text("a")
    (tmp_path / "dir" / "sub" / "b.txt").write_text("bb")
    client.log_artifact(run_id, str(local), artifact_path="models")
    client.log_artifacts(run_id, str(tmp_path / "dir"), artifact_path="data")
    top = client.list_artifacts(run_id)
    assert [(f.path, f.is_dir) for f in top] == [("data", True), ("models", True)]
    listed = client.list_artifacts(run_id, "data")
    assert [(f.path, f.is_dir, f.file_size) for f in listed] == [("data/a.txt", False, 1), ("data/sub", True, None)]
    assert client.list_artifacts(run_id, "data/a.txt") == []  # a file lists as nothing, as in MLflow
    fetched = client.download_artifacts(run_id, "models/model.bin", str(tmp_path / "out"))
    assert Path(fetched).read_bytes() == local.read_bytes()
    folder = client.download_artifacts(run_id, "data", str(tmp_path / "out2"))
    assert (Path(folder) / "sub" / "b.txt").read_text() == "bb"


def _raw(url: str, method: str, target: str, body: bytes | None = None) -> tuple[int, bytes]:
    """Send ``target`` byte for byte (httpx and requests would normalise dot segments)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(method, target, body=body)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


TRAVERSALS = [
    "../../../../etc/passwd",
    "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "..%252F..%252Fetc%252Fpasswd",
    "%252e%252e/%252e%252e/etc/passwd",
    "/etc/passwd",
    "%2Fetc%2Fpasswd",
    "..\\..\\etc\\passwd",
    "..%5C..%5Cetc%5Cpasswd",
    "sub/../../../etc/passwd",
    "file:%2F%2F%2Fetc%2Fpasswd",
    "%00/x",
]


@pytest.mark.parametrize("evil", TRAVERSALS)
def test_traversal_is_refused_on_every_artifact_route(url, live_server, run_ids, evil):
    experiment_id, run_id = run_ids
    base = f"{PROXY}/{experiment_id}/{run_id}/artifacts"
    status, body = _raw(url, "PUT", f"{base}/{evil}", body=b"pwned")
    assert status in (400, 404), body
    status, body = _raw(url, "GET", f"{base}/{evil}")
    assert status in (400, 404) and b"root:" not in body
    status, body = _raw(url, "GET", f"{PROXY}?path={experiment_id}/{run_id}/artifacts/{evil}")
    assert status in (400, 404) or body == b'{"files":[]}', body
    status, body = _raw(url, "GET", f"/api/2.0/mlflow/artifacts/list?run_id={run_id}&path={evil}")
    assert (status in (400, 404) or b'"files":[]' in body) and b"root:" not in body
    written = [p for p in Path(live_server.home).rglob("*") if p.is_file() and p.read_bytes() == b"pwned"]
    assert written == []  # nothing stored anywhere, not even inside the store


@pytest.mark.parametrize("path", ["../../", "..", "%2e%2e%2f", "/", "x/y/artifacts", ""])
def test_list_path_outside_a_run_is_refused(url, path):
    status, body = _raw(url, "GET", f"{PROXY}?path={path}")
    assert status in (400, 404), body


def test_upload_to_a_run_of_another_experiment_is_refused(client, url, run_ids, unique):
    _, run_id = run_ids
    other = client.create_experiment(f"other-{unique}")
    status, _ = _raw(url, "PUT", f"{PROXY}/{other}/{run_id}/artifacts/x.txt", body=b"x")
    assert status == 404


@pytest.mark.parametrize("size", [1000, 5 * 1024 * 1024 + 3], ids=["small", "large"])
def test_download_of_a_corrupted_blob_fails(client, live_server, run_ids, tmp_path: Path, size, caplog):
    """A small file answers DATA_LOSS before any byte; a large one is cut short of its length."""
    import hashlib
    import logging
    import os

    _, run_id = run_ids
    local = tmp_path / "weights.bin"
    local.write_bytes(os.urandom(size))
    client.log_artifact(run_id, str(local), artifact_path="model")
    digest = hashlib.sha256(local.read_bytes()).hexdigest()
    blob = Path(live_server.home) / "artifacts" / "blobs" / digest[:2] / digest[2:]
    corrupt = b"!" + blob.read_bytes()[1:]
    blob.write_bytes(corrupt)
    out = tmp_path / "out"
    out.mkdir()
    # MLflow's client logs the cause at debug level and raises a generic error in its place.
    mlflow_log = logging.getLogger("mlflow.store.artifact.runs_artifact_repo")
    mlflow_log.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG, logger=mlflow_log.name)
    try:
        with pytest.raises(mlflow.exceptions.MlflowException, match="Failed to download artifacts"):
            client.download_artifacts(run_id, "model/weights.bin", str(out))
    finally:
        mlflow_log.removeHandler(caplog.handler)
    if size < 4 * 1024 * 1024:  # refused before any byte, with a 409 the client does not retry
        assert f"{digest} is corrupted" in caplog.text and "too many 500 error responses" not in caplog.text
    else:
        assert "IncompleteRead" in caplog.text
    assert all(p.read_bytes() != corrupt for p in out.rglob("*") if p.is_file())

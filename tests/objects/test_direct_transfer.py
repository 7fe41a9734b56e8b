"""Direct transfer by presigned URLs against moto's server mode, through a real server process."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from modelward.artifacts import ArtifactStore
from modelward.errors import IntegrityError
from modelward.sdk.client import Client
from tests.fixtures.servers import ServerProcess
from tests.objects.conftest import MIB, S3Root, random_file

MULTIPART = 70 * MIB + 3  # above the single-PUT limit of direct transfer (64 MiB): two parts


@pytest.fixture(scope="module")
def client(s3_modelward: ServerProcess):
    with Client(s3_modelward.url) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def run_id(client: Client) -> str:
    return client.runs.create(client.experiments.create("direct").id).id


def _http(server: ServerProcess, user: str = "operator") -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=120, headers={"x-modelward-user": user})


def test_the_server_advertises_direct_transfer(client: Client) -> None:
    assert client.artifacts.direct.available() is True


@pytest.mark.parametrize("size", [3 * MIB + 1, MULTIPART], ids=["single-put", "multipart"])
def test_a_direct_upload_completes_and_downloads_verified(client: Client, run_id: str, s3_root: S3Root,
                                                          tmp_path: Path, size: int) -> None:
    source = tmp_path / "model.bin"
    digest = random_file(source, size)
    stored = client.artifacts.upload_file(run_id, source, f"direct/{size}.bin")
    assert (stored.digest, stored.size) == (digest, size)
    assert s3_root.blob_key(digest) in s3_root.keys(f"blobs/{digest[:2]}/")
    assert s3_root.keys("staging/") == []  # the staged object went once it was adopted
    target = client.artifacts.download_file(run_id, f"direct/{size}.bin", tmp_path / "back.bin")
    assert hashlib.sha256(target.read_bytes()).hexdigest() == digest
    with Client(client.http.tracking_uri) as through_server:  # the same artifact by the server's path
        through_server.artifacts.direct.use = False
        assert hashlib.sha256(through_server.artifacts.read_bytes(run_id, f"direct/{size}.bin")).hexdigest() == digest
    events = client.audit.list(action="run.artifact_uploaded", limit=20)  # recorded as any upload is
    assert any(e.subject_id == run_id and e.details == {"path": f"direct/{size}.bin", "digest": digest, "size": size}
               for e in events)


def test_a_direct_download_checks_the_digest(client: Client, run_id: str, s3_root: S3Root, tmp_path: Path) -> None:
    source = tmp_path / "soon-corrupt.bin"
    digest = random_file(source, 2 * MIB)
    client.artifacts.upload_file(run_id, source, "soon-corrupt.bin")
    s3_root.corrupt(digest)
    with pytest.raises(IntegrityError, match="corrupted"):
        client.artifacts.download_file(run_id, "soon-corrupt.bin", tmp_path / "out.bin")
    assert not (tmp_path / "out.bin").exists()


def _begin(http: httpx.Client, run_id: str, path: str, size: int) -> dict:
    answer = http.post(f"/api/v1/runs/{run_id}/artifact-uploads", json={"path": path, "size": size})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_bytes_other_than_claimed_are_refused(s3_modelward: ServerProcess, run_id: str, s3_root: S3Root) -> None:
    claimed, sent = b"a" * 1000, b"b" * 1000
    with _http(s3_modelward) as http:
        grant = _begin(http, run_id, "claimed.bin", len(claimed))
        assert httpx.put(grant["urls"][0], content=sent).status_code == 200
        answer = http.post(f"/api/v1/runs/{run_id}/artifact-uploads/complete", json={
            "staging_id": grant["staging_id"], "path": "claimed.bin",
            "sha256": hashlib.sha256(claimed).hexdigest(), "size": len(claimed)})
        assert answer.status_code == 400, answer.text
        assert "not those claimed" in answer.json()["message"]
        assert http.get(f"/api/v1/runs/{run_id}/artifacts", params={"prefix": "claimed.bin"}).json()["files"] == []
    assert s3_root.keys("staging/") == []  # refused and deleted
    assert s3_root.blob_key(hashlib.sha256(sent).hexdigest()) not in s3_root.keys("blobs/")


def test_completing_someone_elses_or_a_foreign_key_is_refused(s3_modelward: ServerProcess, run_id: str,
                                                              client: Client) -> None:
    data = b"mine"
    claim = {"path": "x.bin", "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    other_run = client.runs.create(client.experiments.create("direct-other").id).id
    with _http(s3_modelward, "alice") as alice, _http(s3_modelward, "mallory") as mallory:
        grant = _begin(alice, run_id, "x.bin", len(data))
        assert httpx.put(grant["urls"][0], content=data).status_code == 200
        stolen = mallory.post(f"/api/v1/runs/{run_id}/artifact-uploads/complete",
                              json={**claim, "staging_id": grant["staging_id"]})
        assert stolen.status_code == 403, stolen.text
        assert "another user" in stolen.json()["message"]
        moved = alice.post(f"/api/v1/runs/{other_run}/artifact-uploads/complete",
                           json={**claim, "staging_id": grant["staging_id"]})
        assert moved.status_code == 400 and "handed out for run" in moved.json()["message"]
        digest = hashlib.sha256(b"anything").hexdigest()
        tag = grant["staging_id"].split("/")[2]
        for outside in (f"blobs/{digest[:2]}/{digest[2:]}", f"staging/{run_id}/{tag}/../../blobs/x",
                        f"staging/{run_id}/{tag}/not-an-id", "tmp/abc"):
            refused = alice.post(f"/api/v1/runs/{run_id}/artifact-uploads/complete",
                                 json={**claim, "staging_id": outside})
            assert refused.status_code == 400, (outside, refused.text)
            assert refused.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        done = alice.post(f"/api/v1/runs/{run_id}/artifact-uploads/complete",
                          json={**claim, "staging_id": grant["staging_id"]})
        assert done.status_code == 201, done.text  # the rightful owner still completes it


def test_abandoned_staging_uploads_are_collected(s3_modelward: ServerProcess, run_id: str, s3_root: S3Root) -> None:
    with _http(s3_modelward) as http:
        single = _begin(http, run_id, "abandoned.bin", 10)
        assert httpx.put(single["urls"][0], content=b"0123456789").status_code == 200
        multipart = _begin(http, run_id, "abandoned-big.bin", MULTIPART)
    assert multipart["upload_id"] and len(multipart["urls"]) == 2
    s3 = s3_root.client()

    def pending() -> list[str]:
        uploads = s3.list_multipart_uploads(Bucket=s3_root.bucket, Prefix=f"{s3_root.prefix}/staging/")
        return [u["UploadId"] for u in uploads.get("Uploads", [])]

    assert multipart["upload_id"] in pending() and s3_root.keys("staging/")
    store = ArtifactStore(s3_root.uri, s3_root.storage_options())
    store.remove_stale_temp_files(datetime.now(UTC) - timedelta(hours=1))
    # Within the grace the staged object is kept. (moto dates every multipart upload 2010-11-10, so
    # it is aborted already: real S3 reports when it began.)
    assert len(s3_root.keys("staging/")) == 1
    assert store.remove_stale_temp_files(datetime.now(UTC) + timedelta(minutes=1)) >= 1
    assert s3_root.keys("staging/") == [] and pending() == []


def test_direct_transfer_needs_write_and_read_like_the_server_path(s3_modelward: ServerProcess, run_id: str) -> None:
    with _http(s3_modelward) as http:
        missing = http.get(f"/api/v1/runs/{run_id}/artifact-links/no/such/file.bin")
        assert missing.status_code == 404
        bad = http.post(f"/api/v1/runs/{run_id}/artifact-uploads", json={"path": "../escape.bin", "size": 1})
        assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        huge = http.post(f"/api/v1/runs/{run_id}/artifact-uploads", json={"path": "huge.bin", "size": 10**15})
        assert huge.status_code == 413


def test_the_mlflow_client_logs_and_downloads_through_the_server_on_s3(s3_modelward: ServerProcess,
                                                                       s3_root: S3Root, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    source = tmp_path / "model.pkl"
    digest = random_file(source, 6 * MIB + 5)
    mlflow = MlflowClient(tracking_uri=s3_modelward.url)
    run = mlflow.create_run(mlflow.create_experiment("mlflow-on-s3"))
    mlflow.log_artifact(run.info.run_id, str(source), "model")
    assert s3_root.blob_key(digest) in s3_root.keys(f"blobs/{digest[:2]}/")
    assert [f.path for f in mlflow.list_artifacts(run.info.run_id, "model")] == ["model/model.pkl"]
    target = mlflow.download_artifacts(run.info.run_id, "model/model.pkl", str(tmp_path / "back"))
    assert hashlib.sha256(Path(target).read_bytes()).hexdigest() == digest

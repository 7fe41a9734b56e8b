"""Large artifacts through a real server on S3 (moto): streamed, multipart, verified on read."""

from __future__ import annotations

import hashlib
import socket
import time
from pathlib import Path

import httpx
import pytest

from modelward.errors import IntegrityError
from modelward.sdk.client import Client
from tests.fixtures.servers import ServerProcess
from tests.objects.conftest import MIB, PeakRss, S3Root, file_chunks, random_file

LARGE = 200 * MIB + 12345  # several S3 parts, and more than s3fs's single-copy threshold (150 MiB)


@pytest.fixture(scope="module")
def large_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("large") / "weights.bin"
    return path, random_file(path, LARGE)


@pytest.fixture(scope="module")
def uploaded(s3_modelward: ServerProcess, large_file: tuple[Path, str]) -> dict[str, object]:
    """The large file PUT through the server (streamed by httpx), with the server's peak RSS growth."""
    path, _ = large_file
    with httpx.Client(base_url=s3_modelward.url, timeout=300) as http:
        experiment = http.post("/api/v1/experiments", json={"name": "large"}).json()
        run = http.post("/api/v1/runs", json={"experiment_id": experiment["id"]}).json()
        meter = PeakRss(s3_modelward.process.pid)
        answer = http.put(f"/api/v1/runs/{run['id']}/artifacts/model/weights.bin", content=file_chunks(path))
        growth = meter.growth_bytes()
    assert answer.status_code == 201, answer.text
    return {"run_id": run["id"], "stored": answer.json(), "upload_growth": growth}


def test_a_large_upload_streams_in_bounded_memory(uploaded: dict[str, object], large_file) -> None:
    _, digest = large_file
    assert uploaded["stored"]["digest"] == digest and uploaded["stored"]["size"] == LARGE  # type: ignore[index]
    # The body is neither held in memory nor spooled to disk: a few 8 MiB parts at a time.
    assert uploaded["upload_growth"] < LARGE // 3, f"server RSS grew by {uploaded['upload_growth'] / MIB:.0f} MiB"


def test_the_stored_object_is_one_complete_multipart_object(uploaded, large_file, s3_root: S3Root) -> None:
    _, digest = large_file
    s3 = s3_root.client()
    head = s3.head_object(Bucket=s3_root.bucket, Key=s3_root.blob_key(digest))
    assert head["ContentLength"] == LARGE
    assert "-" in head["ETag"], head["ETag"]  # an S3 multipart object's ETag ends in -<parts>
    assert s3_root.keys("tmp/") == []  # the temp object of the upload is gone
    assert s3.list_multipart_uploads(Bucket=s3_root.bucket, Prefix=f"{s3_root.prefix}/").get("Uploads", []) == []
    # Byte for byte: the download below hashes all of it, through the server, against the file's SHA-256.


def test_a_large_download_is_byte_for_byte_and_streams_in_bounded_memory(uploaded, large_file, s3_modelward: ServerProcess) -> None:
    _, digest = large_file
    hasher, received = hashlib.sha256(), 0
    meter = PeakRss(s3_modelward.process.pid)
    with httpx.stream("GET", f"{s3_modelward.url}/api/v1/runs/{uploaded['run_id']}/artifacts/model/weights.bin",
                      timeout=300) as response:
        assert response.status_code == 200
        assert response.headers["x-modelward-digest"] == digest
        for chunk in response.iter_bytes(MIB):
            hasher.update(chunk)
            received += len(chunk)
    growth = meter.growth_bytes()
    assert (received, hasher.hexdigest()) == (LARGE, digest)
    assert growth < LARGE // 3, f"server RSS grew by {growth / MIB:.0f} MiB"


def test_an_upload_over_the_artifact_limit_is_refused(s3_modelward: ServerProcess, uploaded) -> None:
    """Refused on its declared length (the default max_artifact_bytes is 100 GiB), before any byte."""
    host, port = s3_modelward.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(f"PUT /api/v1/runs/{uploaded['run_id']}/artifacts/too-big.bin HTTP/1.1\r\nHost: {host}\r\n"
                     f"Content-Length: {200 * 1024**3}\r\n\r\n".encode())
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            if not (data := conn.recv(65536)):
                break
            answer += data
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"PAYLOAD_TOO_LARGE" in answer


@pytest.mark.parametrize("size", [1000, 6 * MIB + 7], ids=["small", "large"])
def test_a_corrupted_s3_object_is_refused_on_read(s3_modelward: ServerProcess, s3_root: S3Root, size: int,
                                                  tmp_path: Path) -> None:
    source = tmp_path / "data.bin"
    digest = random_file(source, size)
    with Client(s3_modelward.url) as client:
        client.artifacts.direct.use = False  # through the server
        run = client.runs.create(client.experiments.create(f"corrupt-{size}").id)
        client.artifacts.upload_file(run.id, source, "data.bin")
        s3_root.corrupt(digest)
        with pytest.raises(IntegrityError):
            client.artifacts.read_bytes(run.id, "data.bin")
        with pytest.raises(IntegrityError):
            client.artifacts.download_file(run.id, "data.bin", tmp_path / "out.bin")
        assert not (tmp_path / "out.bin").exists()
    url = f"{s3_modelward.url}/api/v1/runs/{run.id}/artifacts/data.bin"
    received = b""
    try:
        with httpx.stream("GET", url, timeout=60) as response:
            if response.status_code == 409:  # verified whole before the first byte
                response.read()
                assert response.json()["error_code"] == "DATA_INTEGRITY"
                return
            for chunk in response.iter_bytes():
                received += chunk
    except httpx.HTTPError:
        pass  # the server broke the transfer off instead of sending the last chunk
    assert len(received) < size  # never the complete corrupt file


def test_an_upload_cut_off_midway_leaves_nothing_behind(s3_modelward: ServerProcess, s3_root: S3Root,
                                                        uploaded) -> None:
    """The client goes away after 12 of 20 MiB: the multipart upload is aborted, not committed."""
    run_id = uploaded["run_id"]
    host, port = s3_modelward.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(f"PUT /api/v1/runs/{run_id}/artifacts/cut.bin HTTP/1.1\r\nHost: {host}\r\n"
                     f"Content-Length: {20 * MIB}\r\n\r\n".encode())
        for _ in range(12):
            conn.sendall(b"z" * MIB)
    s3 = s3_root.client()

    def pending() -> list[dict]:
        return s3.list_multipart_uploads(Bucket=s3_root.bucket, Prefix=f"{s3_root.prefix}/tmp/").get("Uploads", [])

    for _ in range(100):  # bounded: until the server has begun the multipart upload of the first part
        if pending():
            break
        time.sleep(0.1)
    for _ in range(300):  # bounded: until it noticed the disconnect and cleaned up
        if not pending() and not s3_root.keys("tmp/"):
            break
        time.sleep(0.1)
    assert pending() == [] and s3_root.keys("tmp/") == []
    listing = httpx.get(f"{s3_modelward.url}/api/v1/runs/{run_id}/artifacts", params={"prefix": "cut.bin"}).json()
    assert listing["files"] == []

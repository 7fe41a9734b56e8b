"""A corrupted artifact blob reaches every caller as an error, never as a clean copy.

Blobs are corrupted on disk in real stores (a live ``modelward server`` process, or an embedded
store), then read back through raw HTTP, the SDK and the CLI. Small files fail before their
first byte; large ones stream with the last chunk held back, and the transfer is cut.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from modelward.artifacts import VERIFY_WHOLE_BYTES
from modelward.errors import IntegrityError, InvalidInput
from modelward.sdk.client import Client
from modelward.settings import Settings
from tests.fixtures.servers import ServerProcess

LARGE = VERIFY_WHOLE_BYTES + (1 << 20) + 3  # streamed: verified only as its last chunk is due


@dataclass
class Corrupted:
    client: Client
    run_id: str
    experiment_id: str
    digests: dict[str, str]  # logical path -> digest recorded when logged


def _corrupt(artifact_root: Path, digest: str) -> None:
    """Flip one byte of the stored blob, keeping its size (only the hash can tell)."""
    blob = artifact_root / "blobs" / digest[:2] / digest[2:]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))


def _log_and_corrupt(client: Client, artifact_root: Path) -> Corrupted:
    experiment = client.experiments.create(f"integrity-{os.urandom(4).hex()}")
    run = client.runs.create(experiment.id)
    digests = {}
    for path, data in (("small.bin", os.urandom(1000)), ("large.bin", os.urandom(LARGE))):
        digests[path] = client.artifacts.upload_bytes(run.id, path, data).digest
        _corrupt(artifact_root, digests[path])
    client.artifacts.upload_bytes(run.id, "intact.txt", b"intact " + os.urandom(8).hex().encode())
    return Corrupted(client, run.id, experiment.id, digests)


@pytest.fixture
def remote(live_server: ServerProcess) -> Iterator[Corrupted]:
    with Client(live_server.url) as client:
        yield _log_and_corrupt(client, live_server.home / "artifacts")


@pytest.fixture(params=["embedded", "remote"])
def corrupted(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Corrupted]:
    if request.param == "remote":
        yield request.getfixturevalue("remote")
        return
    settings = Settings(home=tmp_path / "store")
    with Client(settings=settings) as client:
        yield _log_and_corrupt(client, Path(settings.resolved_artifact_root))


# -- raw HTTP against a live server ----------------------------------------------------------


def _artifact_urls(server: ServerProcess, found: Corrupted, path: str) -> list[str]:
    return [
        f"{server.url}/api/v1/runs/{found.run_id}/artifacts/{path}",
        f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{found.experiment_id}/{found.run_id}/artifacts/{path}",
    ]


def test_a_small_corrupted_file_is_an_error_answer_not_its_bytes(live_server, remote):
    for url in _artifact_urls(live_server, remote, "small.bin"):
        answer = httpx.get(url)
        assert answer.status_code == 409, url  # not a 500: retrying cannot help
        assert answer.json()["error_code"] in ("DATA_INTEGRITY", "DATA_LOSS")
        assert remote.digests["small.bin"] in answer.json()["message"]


def test_a_large_corrupted_file_is_cut_short_of_its_length(live_server, remote):
    for url in _artifact_urls(live_server, remote, "large.bin"):
        received = 0
        with httpx.stream("GET", url) as answer:
            assert answer.status_code == 200
            assert answer.headers["x-modelward-digest"] == remote.digests["large.bin"]
            assert int(answer.headers["content-length"]) == LARGE
            with pytest.raises(httpx.RemoteProtocolError):
                for chunk in answer.iter_bytes():
                    received += len(chunk)
        assert 0 < received < LARGE
    assert f"aborted mid-response: Artifact blob {remote.digests['large.bin']} is corrupted" in live_server.log()


def test_an_intact_file_comes_with_its_digest(live_server, remote):
    for url in _artifact_urls(live_server, remote, "intact.txt"):
        answer = httpx.get(url)
        assert answer.status_code == 200
        assert answer.headers["x-modelward-digest"] == hashlib.sha256(answer.content).hexdigest()


# -- the SDK ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["small.bin", "large.bin"])
def test_read_bytes_of_a_corrupted_file_raises(corrupted, path):
    with pytest.raises(IntegrityError, match=f"{path}|{corrupted.digests[path]}"):
        corrupted.client.artifacts.read_bytes(corrupted.run_id, path)


@pytest.mark.parametrize("path", ["small.bin", "large.bin"])
def test_download_of_a_corrupted_file_leaves_nothing_and_keeps_an_older_copy(corrupted, tmp_path, path):
    fresh, kept = tmp_path / "fresh", tmp_path / "kept"
    with pytest.raises(IntegrityError):
        corrupted.client.artifacts.download(corrupted.run_id, path, fresh)
    assert not fresh.exists() or list(fresh.iterdir()) == []
    kept.mkdir()
    (kept / path).write_bytes(b"an earlier, good download")
    with pytest.raises(IntegrityError):
        corrupted.client.artifacts.download(corrupted.run_id, path, kept)
    assert [p.name for p in kept.iterdir()] == [path]
    assert (kept / path).read_bytes() == b"an earlier, good download"


def test_an_intact_file_still_downloads(corrupted, tmp_path):
    target = corrupted.client.artifacts.download(corrupted.run_id, "intact.txt", tmp_path / "out")
    assert target == tmp_path / "out" / "intact.txt" and target.read_bytes().startswith(b"intact ")
    assert [p.name for p in target.parent.iterdir()] == ["intact.txt"]


def test_uploading_a_missing_local_file_is_invalid_input(corrupted, tmp_path):
    with pytest.raises(InvalidInput, match="does not exist"):
        corrupted.client.artifacts.upload(corrupted.run_id, tmp_path / "no-such-file.bin")


class _LyingHandler(http.server.BaseHTTPRequestHandler):
    """Serves bytes whose digest header does not match them (a broken proxy or server)."""

    body = b"these bytes were changed on the way"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        if "no-digest" not in self.path:
            self.send_header("X-Modelward-Digest", hashlib.sha256(b"the original bytes").hexdigest())
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def lying_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _LyingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_sdk_checks_the_digest_header_itself(lying_server, tmp_path):
    with Client(lying_server) as client:
        with pytest.raises(IntegrityError, match="is corrupted: its bytes hash to"):
            client.artifacts.read_bytes("run1", "model.bin")
        with pytest.raises(IntegrityError, match="without its X-Modelward-Digest header"):
            client.artifacts.read_bytes("run1", "no-digest.bin")
        with pytest.raises(IntegrityError):
            client.artifacts.download_file("run1", "model.bin", tmp_path / "model.bin")
    assert list(tmp_path.iterdir()) == []


# -- the CLI ---------------------------------------------------------------------------------


def _modelward(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MODELWARD_")}
    return subprocess.run([sys.executable, "-m", "modelward", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**base, "COLUMNS": "250", **env})


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


@pytest.mark.parametrize("path", ["small.bin", "large.bin"])
def test_cli_get_of_a_corrupted_file_is_one_error_line_and_writes_nothing(live_server, remote, tmp_path, path):
    out = tmp_path / "out"
    done = _modelward("artifacts", "get", remote.run_id, path, "-o", str(out), cwd=tmp_path,
                      env={"MODELWARD_TRACKING_URI": live_server.url})
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), done.stderr
    assert "corrupted" in lines[0] and "wrote" not in done.stdout
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.parametrize("path", ["small.bin", "large.bin"])
def test_cli_get_of_a_corrupted_file_fails_embedded_too(tmp_path, path):
    settings = Settings(home=tmp_path / ".modelward")
    with Client(settings=settings) as client:
        found = _log_and_corrupt(client, Path(settings.resolved_artifact_root))
    done = _modelward("artifacts", "get", found.run_id, path, "-o", "out", cwd=tmp_path, env={})
    assert done.returncode != 0
    assert len(_error_lines(done.stderr)) == 1 and "corrupted" in _error_lines(done.stderr)[0]
    assert "Traceback" not in done.stderr and "wrote" not in done.stdout
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_cli_get_of_a_missing_artifact_is_one_line_and_leaves_no_partial_file(live_server, remote, tmp_path):
    done = _modelward("artifacts", "get", remote.run_id, "no/such.bin", "-o", "out", cwd=tmp_path,
                      env={"MODELWARD_TRACKING_URI": live_server.url})
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "no/such.bin" in lines[0]
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_cli_log_of_a_missing_local_file_is_one_line(live_server, remote, tmp_path):
    done = _modelward("artifacts", "log", remote.run_id, "no-such-file.bin", cwd=tmp_path,
                      env={"MODELWARD_TRACKING_URI": live_server.url})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "no-such-file.bin" in lines[0]

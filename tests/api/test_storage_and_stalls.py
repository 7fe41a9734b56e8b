"""Limits of a real server process: a full disk is a 507 naming the cause (not a 500 the
mlflow client retries for minutes), and a request body that stalls does not hold the
connection for ever.

The disk fills for real: a small tmpfs mounted under the test's folder when the tests run as
root (ENOSPC, and SQLite's "database or disk is full"), and always a server whose file-size
limit (RLIMIT_FSIZE) is smaller than the upload (EFBIG).
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.servers import ServerProcess, free_port, start_server, stop_server

FILE_SIZE_LIMIT = 4 * 1024 * 1024
TMPFS_BYTES = 6 * 1024 * 1024


def _start_with_file_size_limit(home: Path) -> ServerProcess:
    """A ``modelward server`` whose files cannot grow past FILE_SIZE_LIMIT; SIGXFSZ is ignored
    (the disposition survives exec), so a write past it fails with EFBIG instead of killing."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))

    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "server.log"
    env = {**os.environ, "MODELWARD_HOME": str(home)}
    env.pop("MODELWARD_TRACKING_URI", None)
    process = subprocess.Popen([sys.executable, "-m", "modelward", "server", "--port", str(port)], env=env,
                               stdout=open(log_path, "wb"), stderr=subprocess.STDOUT, cwd=home, preexec_fn=limit)
    server = ServerProcess(f"http://127.0.0.1:{port}", home, process, log_path)
    _wait_ready(server)
    return server


def _wait_ready(server: ServerProcess) -> None:
    for _ in range(600):
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready:\n{server.log()}")


def _mount_tmpfs(where: Path) -> bool:
    if os.geteuid() != 0:
        return False
    where.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(where)],
                          capture_output=True)
    return done.returncode == 0


@pytest.fixture(params=["file-size-limit", "tmpfs"])
def small_disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, ServerProcess]]:
    if request.param == "file-size-limit":
        server = _start_with_file_size_limit(tmp_path / "store")
        yield request.param, server
        stop_server(server)
        return
    mount = tmp_path / "tmpfs"
    if not _mount_tmpfs(mount):
        pytest.skip("mounting a tmpfs needs root (the file-size-limit case covers the rest)")
    try:
        server = start_server(mount / "store")
        yield request.param, server
        stop_server(server)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _run(http: httpx.Client) -> tuple[str, str]:
    experiment = http.post("/api/v1/experiments", json={"name": "disk"}).json()
    run = http.post("/api/v1/runs", json={"experiment_id": experiment["id"]}).json()
    return experiment["id"], run["id"]


def test_a_full_disk_is_507_naming_the_cause(small_disk: tuple[str, ServerProcess]) -> None:
    how, server = small_disk
    too_big = b"x" * (TMPFS_BYTES + 1024 * 1024)
    with httpx.Client(base_url=server.url, timeout=120) as http:
        experiment_id, run_id = _run(http)
        native = http.put(f"/api/v1/runs/{run_id}/artifacts/big.bin", content=too_big,
                          headers={"content-type": "application/octet-stream"})
        assert native.status_code == 507, native.text
        assert native.json()["error_code"] == "INSUFFICIENT_STORAGE"
        assert "out of storage" in native.json()["message"]
        mlflow = http.put(f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/big.bin",
                          content=too_big)
        assert mlflow.status_code == 507, mlflow.text
        assert mlflow.json()["error_code"] == "RESOURCE_EXHAUSTED"  # MLflow's code; its client does not retry 507
        # Nothing half-written is listed, and the server goes on answering.
        listed = http.get(f"/api/v1/runs/{run_id}/artifacts").json()["files"]
        assert [f["path"] for f in listed] == []
        assert http.get(f"/api/v1/runs/{run_id}").status_code == 200
        assert http.put(f"/api/v1/runs/{run_id}/artifacts/small.txt", content=b"fits").status_code == 201


def test_a_full_database_is_507_and_writes_resume_once_space_is_free(tmp_path: Path) -> None:
    mount = tmp_path / "tmpfs"
    if not _mount_tmpfs(mount):
        pytest.skip("a full SQLite database needs a full file system: mounting a tmpfs needs root")
    try:
        server = start_server(mount / "store")
        try:
            with httpx.Client(base_url=server.url, timeout=120) as http:
                _, run_id = _run(http)
                filler = mount / "filler"
                with open(filler, "wb") as out:  # take every free byte
                    try:
                        while True:
                            out.write(b"\0" * 65536)
                            out.flush()
                    except OSError:
                        pass
                answers = []
                for i in range(50):  # the WAL has a little room left: write until it is gone
                    params = {f"p{i}_{j}": "v" * 5000 for j in range(50)}
                    answers.append(http.post(f"/api/v1/runs/{run_id}/batch", json={"params": params}))
                    if answers[-1].status_code != 204:
                        break
                full = answers[-1]
                assert full.status_code == 507, full.text
                assert full.json()["error_code"] == "INSUFFICIENT_STORAGE"
                assert all(a.status_code in (204, 507) for a in answers)
                filler.unlink()
                resumed = http.post(f"/api/v1/runs/{run_id}/batch", json={"params": {"after": "space"}})
                assert resumed.status_code == 204, resumed.text
                assert http.get(f"/api/v1/runs/{run_id}").json()["params"]["after"] == "space"
        finally:
            stop_server(server)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


# -- a body that never finishes -----------------------------------------------------------


@pytest.fixture
def quick_body_timeout_server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = start_server(tmp_path / "store", args=["--timeout-body", "3"])
    yield server
    stop_server(server)


def test_a_stalled_request_body_is_closed(quick_body_timeout_server: ServerProcess) -> None:
    port = int(quick_body_timeout_server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"POST /api/v1/experiments HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"name\": ")  # and then nothing more
        received = sock.recv(65536)  # the server closes the connection; the socket timeout is a backstop
        while received and not received.endswith(b"}"):
            more = sock.recv(65536)
            if not more:
                break
            received += more
        assert sock.recv(65536) == b""
    with httpx.Client(base_url=quick_body_timeout_server.url, timeout=30) as http:
        assert http.get("/api/v1/experiments").status_code == 200  # the worker is free again
        assert http.post("/api/v1/experiments", json={"name": "whole body"}).status_code == 201


def test_a_slow_but_moving_body_is_not_cut(quick_body_timeout_server: ServerProcess) -> None:
    port = int(quick_body_timeout_server.url.rsplit(":", 1)[1])
    body = b'{"name": "slow but steady"}'
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"POST /api/v1/experiments HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        for i in range(0, len(body), 9):  # each chunk well inside the 3 s allowed between chunks
            sock.sendall(body[i:i + 9])
            time.sleep(0.2)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 201"), answer[:200]

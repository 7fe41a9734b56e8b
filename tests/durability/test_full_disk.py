"""A full disk under the SQLite store while writers (mlflow client and SDK) write: each refused
write is a clear 507 naming the cause (never a 500), the database stays sound (PRAGMA
integrity_check, every acknowledged write present, the audit chain verifies), and writing
resumes by itself once space is freed.

Two ways to fill it (tests/api/test_storage_and_stalls.py covers single requests the same ways):

- ``tmpfs``: the store on a small tmpfs, filled for real by a file (ENOSPC; SQLite's
  SQLITE_FULL). Needs the right to mount: root, as in CI; skipped where ``mount`` fails.
- ``file-size-limit``: no privilege needed. The server runs with a soft RLIMIT_FSIZE just above
  its database's size (SIGXFSZ ignored, so a write past it fails with EFBIG: SQLite's
  SQLITE_IOERR_WRITE); "freeing space" raises the running process's limit with prlimit(2).
"""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.durability.harness import (
    Workload,
    audit_verifies,
    crashes_in_logs,
    create_experiment,
    end_all,
    missing_acknowledged,
    server_env,
)
from tests.fixtures.servers import ServerProcess, free_port, start_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

TMPFS_BYTES = 24 * 1024 * 1024
FILE_SIZE_HEADROOM = 3 * 1024 * 1024  # what the database may grow before its file-size limit
STORAGE_WORDS = ("out of storage", "INSUFFICIENT_STORAGE", "RESOURCE_EXHAUSTED", "507")


@dataclass
class SmallDisk:
    how: str
    server: ServerProcess
    mount: Path | None = None

    @property
    def database(self) -> Path:
        return self.server.home / "modelward.db"

    def fill(self) -> None:
        if self.mount is None:
            return  # the file-size limit is already there: the database fills it
        with open(self.mount / "filler", "wb") as out:  # every free byte
            try:
                for _ in range(TMPFS_BYTES // 65536 + 1):
                    out.write(b"\0" * 65536)
                    out.flush()
            except OSError:
                pass

    def free(self) -> None:
        if self.mount is not None:
            (self.mount / "filler").unlink()
        else:
            resource.prlimit(self.server.process.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def _start_with_file_size_limit(home: Path, env: dict[str, str]) -> ServerProcess:
    """``modelward server`` whose files may not grow past a soft limit just above its migrated
    database (the hard limit stays unlimited, so the test may raise the soft one later)."""
    first = start_server(home, env, ready_timeout_s=240)  # creates and migrates the database
    end_all([first])
    limit = (home / "modelward.db").stat().st_size + FILE_SIZE_HEADROOM

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the disposition survives exec
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    port = free_port()
    log_path = home / "server.log"
    full_env = {**os.environ, "MODELWARD_HOME": str(home), **env}
    full_env.pop("MODELWARD_TRACKING_URI", None)
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "modelward", "server", "--port", str(port)], env=full_env,
                                   stdout=log, stderr=subprocess.STDOUT, cwd=home, preexec_fn=limit_file_size)
    server = ServerProcess(f"http://127.0.0.1:{port}", home, process, log_path)
    deadline = time.monotonic() + 240
    while True:
        assert process.poll() is None, server.log()
        try:
            if httpx.get(f"{server.url}/ready", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.2)


def _mount_tmpfs(where: Path) -> bool:
    where.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(where)],
                          capture_output=True)
    return done.returncode == 0


@pytest.fixture(params=["file-size-limit", "tmpfs"])
def small_disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SmallDisk]:
    if request.param == "file-size-limit":
        home = tmp_path / "store"
        server = _start_with_file_size_limit(home, server_env(None, home / "artifacts", home))
        try:
            yield SmallDisk("file-size-limit", server)
        finally:
            end_all([server])
        return
    mount = tmp_path / "tmpfs"
    if not _mount_tmpfs(mount):
        pytest.skip("mounting a tmpfs needs root; the file-size-limit case runs without")
    try:
        home = mount / "store"
        server = start_server(home, server_env(None, home / "artifacts", home), ready_timeout_s=240)
        try:
            yield SmallDisk("tmpfs", server, mount)
        finally:
            end_all([server])
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _acknowledged(workload: Workload) -> int:
    return sum(1 for record in workload.acks() if record["op"] != "error")


def _until(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _fill_database(http: httpx.Client, run_id: str) -> httpx.Response:
    """Large writes until one is refused (bounded): the writers' own writes are small."""
    for i in range(400):
        params = {f"fill{i}_{j}": "v" * 5000 for j in range(50)}
        answer = http.post(f"/api/v1/runs/{run_id}/batch", json={"params": params})
        if answer.status_code != 204:
            return answer
    raise AssertionError("the disk never filled")


def test_a_full_disk_is_a_clear_507_and_nothing_is_corrupted(small_disk: SmallDisk, tmp_path: Path) -> None:
    url = small_disk.server.url
    experiment_id = create_experiment(url, "durability-disk")
    workload = Workload(tmp_path / "writers", [url], experiment_id, mlflow_writers=2, sdk_writers=2, seconds=240)
    with httpx.Client(base_url=url, timeout=120) as http:
        filler_run = http.post("/api/v1/runs", json={"experiment_id": experiment_id}).json()["id"]
        try:
            workload.start()
            workload.go()
            _until(lambda: _acknowledged(workload) > 100, 120, "the writers to get going")
            small_disk.fill()
            refused = _fill_database(http, filler_run)
            assert refused.status_code == 507, refused.text
            assert refused.json()["error_code"] == "INSUFFICIENT_STORAGE"
            assert "out of storage" in refused.json()["message"]
            _until(lambda: len(workload.errors()) >= 4, 120, "the writers to meet the full disk")
            small_disk.free()
            recovered_from = _acknowledged(workload)
            _until(lambda: _acknowledged(workload) > recovered_from + 200, 120, "the writers to resume")
            assert http.post(f"/api/v1/runs/{filler_run}/batch", json={"params": {"after": "space"}}).status_code == 204
            workload.stop()
            workload.wait(timeout=180)
        finally:
            workload.kill()

    errors = workload.errors()
    assert errors and all(any(word in e["error"] for word in STORAGE_WORDS) for e in errors), errors[:5]
    assert not crashes_in_logs([small_disk.server])
    missing = missing_acknowledged(url, workload.acks())
    assert not missing, f"{len(missing)} acknowledged writes missing, e.g. {missing[:10]}"
    with sqlite3.connect(f"file:{small_disk.database}?mode=ro", uri=True) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    verified = audit_verifies(url, tmp_path / "audit-cli")
    assert verified.returncode == 0, verified.stdout + verified.stderr

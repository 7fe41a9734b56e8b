"""``kill -9`` of server processes while writers write and while a large upload is in flight,
then a restart on the same ports: every acknowledged write is there, the killed upload left no
artifact row (every row downloads whole and verifies), the writers went on by themselves
(their clients retry refused connections), and the audit chain verifies."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.durability.harness import (
    Workload,
    audit_verifies,
    create_experiment,
    end_all,
    every_artifact_problems,
    kill_9,
    missing_acknowledged,
    restart,
    server_env,
    start_servers,
)
from tests.fixtures.postgres import drop_database, new_database
from tests.fixtures.servers import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(900)]

MIB = 1 << 20
BIG_UPLOAD_MIB = 256  # far more than is sent before the kill
SENT_BEFORE_KILL_MIB = 12


class SlowUpload(threading.Thread):
    """A PUT of a large artifact whose body is sent a MiB at a time, so it is in flight when the
    server dies; ``sent`` says how far it got, ``outcome`` how it ended."""

    def __init__(self, url: str, run_id: str, path: str, mib: int, pause_s: float) -> None:
        super().__init__(daemon=True)
        self.url, self.run_id, self.path, self.mib, self.pause_s = url, run_id, path, mib, pause_s
        self.sent, self.outcome = 0, ""

    def body(self) -> Iterator[bytes]:
        for i in range(self.mib):
            yield i.to_bytes(4, "big") * (MIB // 4)
            self.sent += MIB
            time.sleep(self.pause_s)

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.url, timeout=60) as http:
                answer = http.put(f"/api/v1/runs/{self.run_id}/artifacts/{self.path}", content=self.body(),
                                  headers={"content-type": "application/octet-stream"})
                self.outcome = f"answered {answer.status_code}"
        except httpx.HTTPError as exc:
            self.outcome = f"broke off: {type(exc).__name__}"


def _wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _acknowledged(workload: Workload) -> int:
    return sum(1 for record in workload.acks() if record["op"] != "error")


@pytest.fixture
def cluster(postgres_admin, tmp_path: Path) -> Iterator[tuple[list[ServerProcess], dict[str, str]]]:  # type: ignore[no-untyped-def]
    database_url = new_database(postgres_admin)
    env = server_env(database_url, tmp_path / "artifacts", tmp_path)
    servers = start_servers(tmp_path, 4, env)
    try:
        yield servers, env
    finally:
        end_all(servers)
        drop_database(postgres_admin, database_url)


def test_kill_9_mid_write_and_mid_upload_loses_nothing(cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    servers, env = cluster
    urls = [server.url for server in servers]
    experiment_id = create_experiment(urls[0], "durability-kill")
    upload_run = httpx.post(f"{urls[2]}/api/v1/runs", json={"experiment_id": experiment_id}, timeout=60).json()["id"]
    workload = Workload(tmp_path / "writers", urls, experiment_id, mlflow_writers=4, sdk_writers=4, seconds=240)
    try:
        workload.start()
        workload.go()
        _wait_for(lambda: _acknowledged(workload) > 200, 120, "the writers to get going")
        upload = SlowUpload(urls[0], upload_run, "big/killed.bin", BIG_UPLOAD_MIB, pause_s=0.02)
        upload.start()
        _wait_for(lambda: upload.sent >= SENT_BEFORE_KILL_MIB * MIB, 60, "the upload to be in flight")
        kill_9(servers[0])  # mid-upload (and mid-write for its writers)
        kill_9(servers[1])  # mid-write
        upload.join(timeout=60)
        assert upload.outcome.startswith("broke off"), upload.outcome
        before_restart = _acknowledged(workload)
        servers[0], servers[1] = restart(servers[:2], env)
        _wait_for(lambda: _acknowledged(workload) > before_restart + 400, 120, "the writers to recover")
        whole = httpx.put(f"{urls[0]}/api/v1/runs/{upload_run}/artifacts/big/whole.bin",
                          content=b"".join(SlowUpload("", "", "", 24, 0).body()), timeout=120)
        assert whole.status_code == 201, whole.text
        workload.stop()
        workload.wait(timeout=180)
    finally:
        workload.kill()

    # Calls in flight on a killed process may fail (the server died before answering); none
    # other may, and every writer went on writing after the restart.
    errors = workload.errors()
    unexpected = [e for e in errors if "cannot reach" not in e["error"] and "onnection" not in e["error"]]
    assert not unexpected, unexpected
    missing = missing_acknowledged(urls[3], workload.acks())
    assert not missing, f"{len(missing)} acknowledged writes missing, e.g. {missing[:10]}"
    listed = httpx.get(f"{urls[3]}/api/v1/runs/{upload_run}/artifacts", timeout=60).json()["files"]
    assert [f["path"] for f in listed] == ["big/whole.bin"]  # the killed upload recorded nothing
    checked, problems = every_artifact_problems(urls[2], experiment_id)
    assert checked > 16 and not problems, problems[:10]
    verified = audit_verifies(urls[1], tmp_path / "audit-cli")
    assert verified.returncode == 0, verified.stdout + verified.stderr

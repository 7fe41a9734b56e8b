"""PostgreSQL restarted under load (a cluster of this module's own: the other tests share theirs):
``pg_ctl restart -m fast``, then a stop, 3 s down, and a start, while 8 writers (mlflow client
and SDK) write through 2 server processes. A client sees a clear retryable answer — 503 with
Retry-After, the JSON error naming the database — never a 500 and never a hang past its
timeout; the writers' clients retry by themselves and no acknowledged write is lost."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import require_service
from tests.durability.harness import (
    ThrowawayPostgres,
    Workload,
    audit_verifies,
    available_postgres_binaries,
    crashes_in_logs,
    create_experiment,
    end_all,
    missing_acknowledged,
    server_env,
    start_servers,
)
from tests.fixtures.servers import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(600)]

PROBE_TIMEOUT_S = 30  # a probe answered later than this counts as a hang


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[ThrowawayPostgres]:
    require_service("PostgreSQL server binaries", available_postgres_binaries(), "apt-get install postgresql")
    # Under /tmp itself: the postgres user (scripts/start-postgres.sh runs it with runuser
    # under root) cannot enter pytest's private temporary folders.
    cluster = ThrowawayPostgres(Path(f"/tmp/modelward-durability-pg-{uuid.uuid4().hex[:8]}"))
    try:
        admin_url = cluster.start()
        engine = create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://"),
                               isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("CREATE DATABASE durability"))
        engine.dispose()
        cluster.url = admin_url.rsplit("/", 1)[0] + "/durability"
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def servers(own_postgres: ThrowawayPostgres, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    started = start_servers(tmp_path, 2, server_env(own_postgres.url, tmp_path / "artifacts", tmp_path))
    try:
        yield started
    finally:
        end_all(started)


class Probe(threading.Thread):
    """Raw requests without retries (native and MLflow routes, reads and writes), one every
    0.1 s: what a client without a retry policy sees of the outage."""

    def __init__(self, url: str, experiment_id: str, run_id: str) -> None:
        super().__init__(daemon=True)
        self.url, self.experiment_id, self.run_id = url, experiment_id, run_id
        self.answers: list[dict[str, Any]] = []
        self.stopping = threading.Event()

    def requests(self, n: int) -> tuple[str, str, dict[str, Any]]:
        return [
            ("GET", f"/api/v1/runs/{self.run_id}", {}),
            ("POST", f"/api/v1/runs/{self.run_id}/batch", {"json": {"params": {f"probe{n}": "x"}}}),
            ("GET", "/api/2.0/mlflow/runs/get", {"params": {"run_id": self.run_id}}),
            ("POST", "/api/2.0/mlflow/runs/set-tag", {"json": {"run_id": self.run_id, "key": f"probe{n}", "value": "y"}}),
        ][n % 4]

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=PROBE_TIMEOUT_S) as http:
            n = 0
            while not self.stopping.is_set() and n < 100_000:
                method, path, options = self.requests(n)
                try:
                    answer = http.request(method, path, **options)
                    self.answers.append({"path": path, "status": answer.status_code, "body": answer.text[:500],
                                         "retry_after": answer.headers.get("retry-after")})
                except httpx.HTTPError as exc:
                    self.answers.append({"path": path, "status": None, "body": f"{type(exc).__name__}: {exc}"})
                n += 1
                time.sleep(0.1)


def _acknowledged(workload: Workload) -> int:
    return sum(1 for record in workload.acks() if record["op"] != "error")


def _wait_for_more(workload: Workload, more: int, timeout: float) -> None:
    target, deadline = _acknowledged(workload) + more, time.monotonic() + timeout
    while _acknowledged(workload) < target:
        assert time.monotonic() < deadline, f"the writers did not write {more} more in {timeout} s\n{workload.logs()}"
        time.sleep(0.2)


def test_postgres_restart_is_a_retryable_503_and_clients_recover(
        own_postgres: ThrowawayPostgres, servers: list[ServerProcess], tmp_path: Path) -> None:
    urls = [server.url for server in servers]
    experiment_id = create_experiment(urls[0], "durability-pg-restart")
    probe_run = httpx.post(f"{urls[1]}/api/v1/runs", json={"experiment_id": experiment_id}, timeout=60).json()["id"]
    workload = Workload(tmp_path / "writers", urls, experiment_id, mlflow_writers=4, sdk_writers=4, seconds=240)
    probe = Probe(urls[1], experiment_id, probe_run)
    try:
        workload.start()
        workload.go()
        _wait_for_more(workload, 100, 120)
        probe.start()
        own_postgres.restart_fast()
        _wait_for_more(workload, 100, 120)
        own_postgres.stop_fast()
        time.sleep(3)  # down for a while: every request in these seconds meets no database
        own_postgres.start()
        _wait_for_more(workload, 200, 120)
        workload.stop()
        workload.wait(timeout=180)
    finally:
        probe.stopping.set()
        workload.kill()
        own_postgres.start()  # idempotent: up again for the checks (and after a failure)
    probe.join(timeout=PROBE_TIMEOUT_S + 10)

    errors = workload.errors()
    assert not errors, f"the clients did not recover by themselves: {errors[:5]}"
    statuses = {answer["status"] for answer in probe.answers}
    assert statuses <= {200, 204, 503}, [a for a in probe.answers if a["status"] not in (200, 204, 503)][:5]
    unavailable = [answer for answer in probe.answers if answer["status"] == 503]
    assert unavailable, "the probe never met the outage"
    for answer in unavailable:
        assert answer["retry_after"] and int(answer["retry_after"]) >= 1, answer
        assert '"error_code":"TEMPORARILY_UNAVAILABLE"' in answer["body"].replace(" ", ""), answer
        assert "database" in answer["body"], answer
    assert not crashes_in_logs(servers)
    missing = missing_acknowledged(urls[0], workload.acks())
    assert not missing, f"{len(missing)} acknowledged writes missing, e.g. {missing[:10]}"
    verified = audit_verifies(urls[0], tmp_path / "audit-cli")
    assert verified.returncode == 0, verified.stdout + verified.stderr

"""16 concurrent writers — 8 with the real mlflow client, 8 with modelward's SDK, each its own
process — for MODELWARD_DURABILITY_SECONDS (60 in CI): against 4 server processes on one
PostgreSQL database, and against 1 server process on SQLite. No call may fail, and every write
a server acknowledged must be in the store afterwards (read back through the API, artifacts
downloaded and verified). The p50/p99 latency of each call kind is printed (docs/performance.md,
"Durability load test")."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.durability.harness import (
    Workload,
    audit_verifies,
    crashes_in_logs,
    create_experiment,
    end_all,
    latency_table,
    load_seconds,
    missing_acknowledged,
    server_env,
    start_servers,
)
from tests.fixtures.postgres import drop_database, new_database
from tests.fixtures.servers import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """4 server processes on one fresh PostgreSQL database and one artifact root, or 1 on SQLite."""
    if request.param == "postgres":
        admin = request.getfixturevalue("postgres_admin")
        database_url = new_database(admin)
        env = server_env(database_url, tmp_path / "artifacts", tmp_path)
        servers = start_servers(tmp_path, 4, env)
    else:
        database_url = None
        env = server_env(None, tmp_path / "artifacts", tmp_path)
        servers = start_servers(tmp_path, 1, env)
    try:
        yield servers
    finally:
        end_all(servers)
        if database_url:
            drop_database(admin, database_url)


def test_sixteen_writers_lose_nothing(deployment: list[ServerProcess], tmp_path: Path,
                                      request: pytest.FixtureRequest) -> None:
    seconds = load_seconds()
    urls = [server.url for server in deployment]
    workload = Workload(tmp_path / "writers", urls, create_experiment(urls[0], "durability-load"), seconds=seconds)
    try:
        workload.start()
        workload.go()
        workload.wait(timeout=seconds + 240)
    finally:
        workload.kill()
    errors = workload.errors()
    assert not errors, f"{len(errors)} calls failed, e.g. {errors[:5]}"
    acks = workload.acks()
    assert len({a["writer"] for a in acks if a["op"] == "metric"}) == 16, "every writer must have written"
    missing = missing_acknowledged(urls[-1], acks)
    assert not missing, f"{len(missing)} acknowledged writes missing, e.g. {missing[:10]}"
    assert not crashes_in_logs(deployment)
    verified = audit_verifies(urls[0], tmp_path / "audit-cli")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    table = latency_table(workload.latencies(), seconds)
    where = request.node.callspec.params["deployment"]
    print(f"\ndurability load, {where}: {len(urls)} server process(es), 16 writers, {seconds:.0f} s, "
          f"{len(acks)} acknowledged writes\n{table}")

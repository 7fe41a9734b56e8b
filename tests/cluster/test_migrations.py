"""Migrations are one explicit command, never raced: several `modelward db upgrade` at once on an
empty PostgreSQL database all succeed, and a server started without migrating waits, unready."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from modelward.store.db import HEAD_REVISION, current_revision, make_engine
from tests.fixtures.cluster import db_upgrade
from tests.fixtures.servers import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(600)]  # three processes start on a busy machine


def _revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def test_three_upgrades_at_once_on_an_empty_database_all_succeed(
        empty_database: Callable[[], str], tmp_path: Path) -> None:
    url = empty_database()
    assert _revision(url) is None
    started = [db_upgrade({"MODELWARD_DATABASE_URL": url}, tmp_path / f"upgrade-{n}") for n in range(3)]
    outputs = [process.communicate(timeout=120)[0].decode(errors="replace") for process in started]
    assert [process.returncode for process in started] == [0, 0, 0], "\n".join(outputs)
    assert all(f"schema at revision {HEAD_REVISION}" in output for output in outputs), outputs
    assert _revision(url) == HEAD_REVISION


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None


def _wait_for(url: str, status: int, process: subprocess.Popen[bytes], log: Path) -> httpx.Response:
    for _ in range(600):  # bounded: at most a minute
        assert process.poll() is None, f"the server exited:\n{log.read_text(errors='replace')}"
        response = _get(url)
        if response is not None and response.status_code == status:
            return response
        time.sleep(0.1)
    raise AssertionError(f"{url} never answered {status}:\n{log.read_text(errors='replace')}")


def test_a_server_that_does_not_migrate_is_unready_until_db_upgrade_ran(
        empty_database: Callable[[], str], tmp_path: Path) -> None:
    database_url = empty_database()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELWARD_")}
    env.update({"MODELWARD_HOME": str(tmp_path / "home"), "MODELWARD_DATABASE_URL": database_url,
                "MODELWARD_MIGRATE_ON_START": "false"})
    port = free_port()
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "modelward", "server", "--port", str(port)],
                                  env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        health = _wait_for(f"{base}/health", 200, server, log)
        assert health.json()["status"] == "ok"
        unready = httpx.get(f"{base}/ready", timeout=5)
        assert unready.status_code == 503
        assert "modelward db upgrade" in unready.json()["message"], unready.text
        assert _revision(database_url) is None  # the server did not migrate on its own

        upgrade = db_upgrade({"MODELWARD_DATABASE_URL": database_url}, tmp_path / "upgrade")
        output = upgrade.communicate(timeout=120)[0].decode(errors="replace")
        assert upgrade.returncode == 0, output

        ready = _wait_for(f"{base}/ready", 200, server, log)
        assert ready.json() == {"status": "ready", "schema": HEAD_REVISION}
        created = httpx.post(f"{base}/api/2.0/mlflow/experiments/create", json={"name": "after-upgrade"}, timeout=10)
        assert created.status_code == 200, created.text
    finally:
        server.terminate()
        server.wait(timeout=15)

"""``modelward serve``: the gateway alone in two worker processes, answering MLflow's own scoring
client unchanged, and following a deployment change made by another process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from mlflow.pyfunc.scoring_server.client import ScoringServerClient

from modelward.services import deployments
from modelward.services.backend import Backend
from modelward.services.model_pool import ModelPool
from modelward.settings import Settings
from tests.deployments.helpers import APPROVER, approved_versions, iris
from tests.fixtures.servers import ServerProcess, start_server, stop_server

FEATURES, _ = iris()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Backend, list[int]]]:
    home = tmp_path_factory.mktemp("serve")
    backend = Backend.from_settings(Settings(home=home))
    versions = approved_versions(backend, "iris", 2)
    deployments.create(backend, APPROVER, "iris-prod", model="iris", environment="production", version=versions[0])
    running = start_server(home, env={"MODELWARD_GATEWAY_REFRESH_S": "0.2"},
                           args=["--workers", "2", "--endpoint", "iris-prod"], command="serve")
    yield running, backend, versions
    stop_server(running)
    backend.close()


def test_mlflow_scoring_client_works_unchanged(gateway) -> None:  # type: ignore[no-untyped-def]
    running, backend, (v1, _) = gateway
    port = int(running.url.rsplit(":", 1)[1])
    client = ScoringServerClient("127.0.0.1", port)
    client.wait_server_ready(timeout=30)
    answer = client.invoke(FEATURES.head(10))
    with ModelPool(backend) as pool:
        expected = pool.get("iris", v1).predict(FEATURES.head(10))
    assert list(np.asarray(answer.get_predictions()).ravel()) == list(np.asarray(expected).ravel())


def test_every_worker_follows_a_change_made_elsewhere(gateway) -> None:  # type: ignore[no-untyped-def]
    running, backend, (_, v2) = gateway
    revision = deployments.release(backend, APPROVER, "iris-prod", v2, strategy="direct").state.revision
    deadline, answered = time.monotonic() + 30, set()
    while time.monotonic() < deadline:
        # A new connection each time: uvicorn spreads them over both worker processes.
        answers = [httpx.post(f"{running.url}/serve/iris-prod/predict", json=FEATURES.head(1).to_dict("records"))
                   for _ in range(20)]
        answered = {(a.headers["modelward-version"], a.headers["modelward-deployment-revision"]) for a in answers}
        if answered == {(str(v2), str(revision))}:
            break
        time.sleep(0.1)
    assert answered == {(str(v2), str(revision))}
    ready = httpx.get(f"{running.url}/ready").json()
    assert ready["ready"] is True and ready["deployments"][0]["versions"] == [v2]


def test_unknown_endpoint_is_refused_in_one_line_before_any_worker_starts(tmp_path: Path) -> None:
    import subprocess
    import sys

    finished = subprocess.run([sys.executable, "-m", "modelward", "serve", "--endpoint", "nowhere", "--port", "1"],
                              env={**__import__("os").environ, "MODELWARD_HOME": str(tmp_path)},
                              capture_output=True, text=True, timeout=60)
    assert finished.returncode != 0
    lines = [line for line in (finished.stdout + finished.stderr).splitlines() if line.strip()]
    assert lines == ["Error: deployment 'nowhere' does not exist"], lines

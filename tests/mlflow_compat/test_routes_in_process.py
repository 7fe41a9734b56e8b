"""The MLflow routes in-process, on SQLite and PostgreSQL: JSON shapes and MLflow's errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from modelward.api.app import create_app

API = "/api/2.0/mlflow"


@pytest.fixture
def http(settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_run_life_cycle_in_mlflow_json(http):
    experiment_id = http.post(f"{API}/experiments/create", json={"name": "e"}).json()["experiment_id"]
    created = http.post(f"{API}/runs/create", json={"experiment_id": experiment_id, "run_name": "r", "start_time": 1_700_000_000_000})
    info = created.json()["run"]["info"]
    assert (info["run_name"], info["start_time"], info["status"]) == ("r", 1_700_000_000_000, "RUNNING")
    run_id = info["run_id"]
    batch = {"run_id": run_id, "metrics": [{"key": "m", "value": "NaN", "timestamp": "5", "step": "2"},
                                           {"key": "m", "value": 0.5, "timestamp": 6, "step": 3}],
             "params": [{"key": "p", "value": "x"}], "tags": [{"key": "t", "value": "v"}]}
    assert http.post(f"{API}/runs/log-batch", json=batch).json() == {}
    history = http.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "m"}).json()["metrics"]
    assert history == [{"key": "m", "value": "NaN", "timestamp": 5, "step": 2}, {"key": "m", "value": 0.5, "timestamp": 6, "step": 3}]
    ended = http.post(f"{API}/runs/update", json={"run_id": run_id, "status": "FINISHED", "end_time": 1_700_000_001_000})
    assert ended.json()["run_info"]["end_time"] == 1_700_000_001_000
    found = http.post(f"{API}/runs/search", json={"experiment_ids": [experiment_id], "filter": "params.p = 'x' and metrics.m > 0.1"}).json()
    run = found["runs"][0]
    assert run["data"]["params"] == [{"key": "p", "value": "x"}] and {"key": "t", "value": "v"} in run["data"]["tags"]
    assert run["info"]["artifact_uri"] == f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"


def test_errors_use_mlflows_codes_and_statuses(http):
    http.post(f"{API}/experiments/create", json={"name": "e"})
    again = http.post(f"{API}/experiments/create", json={"name": "e"})
    assert (again.status_code, again.json()["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")
    native = http.post("/api/v1/experiments", json={"name": "e"})
    assert native.status_code == 409  # the native API keeps its own table
    missing = http.get(f"{API}/experiments/get", params={"experiment_id": "f" * 32})
    assert (missing.status_code, missing.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    bad = http.post(f"{API}/runs/search", json={"experiment_ids": [], "filter": "metrics.m >"})
    assert (bad.status_code, bad.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert http.post(f"{API}/runs/log-metric", content=b"{not json").status_code == 400
    view = http.post(f"{API}/runs/search", json={"run_view_type": "SOMETIMES"})
    assert view.status_code == 400 and "run_view_type" in view.json()["message"]


def test_logging_to_a_deleted_run_is_a_409_not_a_retryable_500(http):
    experiment_id = http.post(f"{API}/experiments/create", json={"name": "e"}).json()["experiment_id"]
    run_id = http.post(f"{API}/runs/create", json={"experiment_id": experiment_id}).json()["run"]["info"]["run_id"]
    http.post(f"{API}/runs/delete", json={"run_id": run_id})
    answer = http.post(f"{API}/runs/log-parameter", json={"run_id": run_id, "key": "p", "value": "1"})
    assert answer.status_code == 409 and answer.json()["error_code"] == "RESOURCE_CONFLICT"


def test_ajax_api_prefix_serves_the_same_routes(http):
    http.post(f"{API}/experiments/create", json={"name": "e"})
    answer = http.get("/ajax-api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": "e"})
    assert answer.status_code == 200 and answer.json()["experiment"]["name"] == "e"

"""Malformed input on every kind of route, against a real server: a 4xx with our error body
naming the problem, never a 5xx, and nothing stored that cannot be read back."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.servers import ServerProcess, start_server, stop_server

JSON = {"content-type": "application/json"}
INT64_MAX = 2**63 - 1


@pytest.fixture
def http(live_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        yield client


def _post(http: httpx.Client, path: str, raw: bytes | str, method: str = "POST") -> httpx.Response:
    content = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    return http.request(method, path, content=content, headers=JSON)


def _refused(response: httpx.Response, *words: str) -> dict[str, str]:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    body = response.json()
    assert set(body) == {"error_code", "message"}, body
    for word in words:
        assert word in body["message"], body
    return body  # type: ignore[no-any-return]


def _run(http: httpx.Client) -> tuple[str, str]:
    experiment = http.post("/api/v1/experiments", json={"name": f"bad-input-{uuid.uuid4().hex}"}).json()
    run = http.post("/api/v1/runs", json={"experiment_id": experiment["id"]}).json()
    return experiment["id"], run["id"]


JSON_ROUTES = [
    "/api/v1/experiments", "/api/v1/runs", "/api/v1/runs/search", "/api/v1/models", "/api/v1/datasets",
    "/api/v1/lineage/record", "/api/v1/lineage/openlineage",
    "/api/2.0/mlflow/experiments/create", "/api/2.0/mlflow/runs/create", "/api/2.0/mlflow/runs/log-metric",
    "/api/2.0/mlflow/runs/log-batch", "/api/2.0/mlflow/runs/search", "/ajax-api/2.0/mlflow/runs/search",
    "/api/2.0/mlflow/registered-models/create", "/api/2.0/mlflow/model-versions/create",
]
MALFORMED = {
    "nested 100,000 deep": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    "an object nested 5,000 deep": ('{"a":' * 5000 + "1" + "}" * 5000, "nested too deeply"),
    "a 10,000-digit integer": ('{"name": %s}' % ("9" * 10_000), "JSON"),
    "1e999999": ('{"name": "x", "max_results": 1e999999, "value": 1e999999}', ""),
    "a lone surrogate": ('{"name": "x\\ud800"}', "JSON"),
    "a lone low surrogate": ('{"name": "\\udc00"}', "JSON"),
    "invalid UTF-8": (b'{"name": "\xff\xfe"}', "JSON"),
    "a NUL character": ('{"name": "a\\u0000b"}', "NUL"),
}


@pytest.mark.parametrize("route", JSON_ROUTES)
@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_json_is_a_4xx_on_every_json_route(http: httpx.Client, route: str, case: str) -> None:
    raw, word = MALFORMED[case]
    _refused(_post(http, route, raw), word)


def test_integers_beyond_64_bits_are_refused_naming_the_field(http: httpx.Client) -> None:
    _, run_id = _run(http)
    too_big = INT64_MAX + 1
    cases = [
        ("/api/2.0/mlflow/runs/log-metric", {"run_id": run_id, "key": "m", "value": 1, "timestamp": too_big}, "timestamp"),
        ("/api/2.0/mlflow/runs/log-metric", {"run_id": run_id, "key": "m", "value": 1, "timestamp": 1, "step": -too_big - 1}, "step"),
        ("/api/2.0/mlflow/runs/log-batch", {"run_id": run_id, "metrics": [{"key": "m", "value": 1, "timestamp": 2**64, "step": 0}]}, "metrics[0].timestamp"),
        ("/api/2.0/mlflow/runs/log-metric", {"run_id": run_id, "key": "m", "value": 1, "timestamp": str(too_big)}, "timestamp"),
        ("/api/2.0/mlflow/runs/create", {"experiment_id": "0", "start_time": too_big}, "start_time"),
        (f"/api/v1/runs/{run_id}/batch", {"metrics": {"keys": ["m"], "values": [1.0], "steps": [too_big]}}, "metrics.steps[0]"),
        (f"/api/v1/runs/{run_id}/batch", {"metrics": {"keys": ["m"], "values": [1.0], "timestamps_ms": [too_big]}}, "timestamps_ms[0]"),
    ]
    for path, body, field in cases:
        _refused(_post(http, path, json.dumps(body)), field, "64-bit")
    history = http.get("/api/2.0/mlflow/metrics/get-history", params={"run_id": run_id, "metric_key": "m"})
    assert history.status_code == 200 and history.json().get("metrics", []) == []


def test_a_version_of_2_to_the_63_is_refused_in_paths_and_queries(http: httpx.Client) -> None:
    name = f"bad-input-{uuid.uuid4().hex}"
    assert http.post("/api/2.0/mlflow/registered-models/create", json={"name": name}).status_code == 200
    for version in (str(2**63), "9" * 5000):
        _refused(http.get(f"/api/v1/models/{name}/versions/{version}"), "version", "64-bit")
        _refused(http.get("/api/2.0/mlflow/model-versions/get", params={"name": name, "version": version}), "version")
        page = http.get(f"/ui/models/{name}/versions/{version}")
        assert page.status_code == 400 and "64-bit" in page.text  # in words, on a page
    _refused(http.get("/api/v1/experiments", params={"offset": str(2**63)}), "offset")
    _refused(http.post("/api/v1/gc", params={"dry_run": "true", "grace_seconds": "inf"}, headers=JSON),
             "grace_seconds", "finite")


def test_nan_as_a_string_with_a_negative_timestamp_is_stored_and_read_back(http: httpx.Client) -> None:
    _, run_id = _run(http)
    logged = _post(http, "/api/2.0/mlflow/runs/log-metric",
                   json.dumps({"run_id": run_id, "key": "m", "value": "NaN", "timestamp": -5, "step": 0}))
    assert logged.status_code == 200, logged.text
    history = http.get("/api/2.0/mlflow/metrics/get-history", params={"run_id": run_id, "metric_key": "m"})
    assert history.status_code == 200
    assert [(m["value"], m["timestamp"]) for m in history.json()["metrics"]] == [("NaN", -5)]
    _refused(_post(http, "/api/2.0/mlflow/runs/log-metric",
                   json.dumps({"run_id": run_id, "key": "m", "value": "many", "timestamp": 1})), "value")


@pytest.mark.parametrize("target", [
    "/api/v1/experiments/%ff%fe", "/api/v1/experiments/%ed%a0%80", "/api/v1/runs/%00",
    "/api/v1/experiments/by-name?name=%ff", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=%ed%a0%80",
    "/api/2.0/mlflow/experiments/get-by-name?experiment_name=a%00b", "/api/v1/runs/x/artifacts/a%ffb",
])
def test_paths_and_queries_that_are_not_utf8_or_hold_nul_are_400(live_server: ServerProcess, target: str) -> None:
    with httpx.Client(timeout=30) as client:
        response = client.get(httpx.URL(live_server.url + target))
    _refused(response, "request")
    assert response.status_code == 400


def test_wrong_types_are_400_naming_the_field(http: httpx.Client) -> None:
    experiment_id, run_id = _run(http)
    cases = [
        ("/api/v1/experiments", {"name": 123}, "name"),
        ("/api/v1/runs", {"experiment_id": ["x"]}, "experiment_id"),
        ("/api/v1/runs", {"experiment_id": experiment_id, "tags": {"a": 1}}, "tags"),
        ("/api/v1/runs/search", {"max_results": "many"}, "max_results"),
        ("/api/2.0/mlflow/experiments/create", {"name": 123}, "name"),
        ("/api/2.0/mlflow/runs/log-metric", {"run_id": run_id, "key": "m", "value": [1], "timestamp": 1}, "value"),
        ("/api/2.0/mlflow/runs/set-tag", {"run_id": run_id, "key": {"k": 1}, "value": "v"}, "key"),
    ]
    for path, body, field in cases:
        _refused(_post(http, path, json.dumps(body)), field)


# -- free-form JSON (a run's environment): never store what cannot be read back ------------


def _nested(depth: int) -> dict[str, object]:
    value: dict[str, object] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize("depth", [33, 150, 256, 1000])
def test_an_environment_nested_too_deep_is_refused_and_nothing_is_stored(http: httpx.Client, depth: int) -> None:
    experiment_id, _ = _run(http)
    environment = '{"a": ' * (depth - 1) + "{}" + "}" * (depth - 1)  # deeper than json.dumps goes
    response = _post(http, "/api/v1/runs", '{"experiment_id": "%s", "environment": %s}' % (experiment_id, environment))
    body = _refused(response)
    assert response.status_code == 400
    assert "environment" in body["message"] or "nested too deeply" in body["message"], body
    found = http.post("/api/v1/runs/search", json={"experiment_ids": [experiment_id]})
    assert found.status_code == 200 and len(found.json()["runs"]) == 1  # the run made by _run only


def test_an_environment_within_the_limits_is_stored_and_read_back(http: httpx.Client) -> None:
    experiment_id, _ = _run(http)
    environment = {"python": "3.11", "deep": _nested(31), "numbers": [1, 2.5, INT64_MAX]}
    created = http.post("/api/v1/runs", json={"experiment_id": experiment_id, "environment": environment})
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]
    assert http.get(f"/api/v1/runs/{run_id}").json()["environment"] == environment
    found = http.post("/api/v1/runs/search", json={"experiment_ids": [experiment_id]})
    assert found.status_code == 200 and run_id in [run["id"] for run in found.json()["runs"]]


@pytest.mark.parametrize("environment, word", [
    ('{"a": NaN}', "JSON"), ('{"a": 1e999999}', "float"), ('{"a": "%s"}' % ("x" * 70_000), "bytes"),
])
def test_an_environment_that_json_cannot_store_is_refused(live_server: ServerProcess, environment: str, word: str) -> None:
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        experiment_id, _ = _run(http)
        raw = '{"experiment_id": "%s", "environment": %s}' % (experiment_id, environment)
        _refused(_post(http, "/api/v1/runs", raw), word)


def test_what_schemathesis_found_is_400(http: httpx.Client) -> None:
    """Each of these answered 500 before (found by tests/api/test_schemathesis.py)."""
    _refused(http.get("/api/v1/experiments", params={"lifecycle": "\x04'"}), "lifecycle")
    _refused(http.post("/api/v1/runs/search", json={"lifecycle": "gone"}), "lifecycle")
    _refused(http.get("/api/v1/experiments", params={"offset": "-36654296536440"}), "offset")
    _refused(http.get("/api/v1/audit", params={"limit": "-1"}), "limit")
    _refused(http.post("/api/v1/gc", params={"grace_seconds": "3.4e16"}, headers=JSON), "grace_seconds")
    _refused(http.post("/api/v1/policies/validate", json={"scope": None, "yaml": "R\x1a"}), "invalid policy")
    event = {"eventTime": "2000-01-01T00:00:00Z", "eventType": {}, "run": {"runId": "r"},
             "job": {"namespace": "n", "name": "j"}}
    _refused(http.post("/api/v1/lineage/openlineage", json=event), "eventType")


@pytest.mark.postgres
def test_nothing_unstorable_reaches_postgresql(postgres_database: str, tmp_path: Path) -> None:
    """PostgreSQL is stricter than SQLite (no NUL in text, no Infinity in jsonb, 64-bit columns):
    what the door lets through must store there, and the rest is a 400, not a driver error."""
    server = start_server(tmp_path / "store", env={"MODELWARD_DATABASE_URL": postgres_database})
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            experiment_id, run_id = _run(http)
            refused = [
                ("/api/v1/experiments", '{"name": "a\\u0000b"}'),
                ("/api/2.0/mlflow/experiments/create", '{"name": "a\\u0000b"}'),
                ("/api/v1/runs", '{"experiment_id": "%s", "environment": {"a": "x\\u0000"}}' % experiment_id),
                ("/api/v1/runs", '{"experiment_id": "%s", "environment": {"a": 1e999}}' % experiment_id),
                ("/api/v1/datasets", '{"name": "d", "uri": "s3://b/k", "metadata": {"x": 1e400}}'),
                ("/api/2.0/mlflow/runs/log-metric",
                 '{"run_id": "%s", "key": "m", "value": 1, "timestamp": %d}' % (run_id, 2**63)),
                ("/api/2.0/mlflow/runs/log-parameter", '{"run_id": "%s", "key": "k", "value": "v\\u0000"}' % run_id),
            ]
            for path, raw in refused:
                response = _post(http, path, raw)
                assert response.status_code == 400, (path, response.text)
            assert http.get(httpx.URL(server.url + "/api/v1/experiments/by-name?name=a%00b")).status_code == 400
            stored = http.post("/api/v1/runs", json={"experiment_id": experiment_id,
                                                     "environment": {"big": INT64_MAX, "deep": _nested(31)}})
            assert stored.status_code == 201, stored.text
            found = http.post("/api/v1/runs/search", json={"experiment_ids": [experiment_id]})
            assert found.status_code == 200 and len(found.json()["runs"]) == 2
        assert "Traceback" not in server.log()
    finally:
        stop_server(server)

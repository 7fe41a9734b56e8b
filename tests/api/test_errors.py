"""Bad input over HTTP: a 4xx with a JSON body naming the problem, and nothing stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from modelward.api.app import create_app
from modelward.settings import Settings


@pytest.fixture
def http(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path / "store", max_request_bytes=4096, max_artifact_bytes=4096)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _run(http: TestClient) -> str:
    experiment = http.post("/api/v1/experiments", json={"name": "errors"}).json()
    return str(http.post("/api/v1/runs", json={"experiment_id": experiment["id"]}).json()["id"])


def test_invalid_json_is_400(http: TestClient) -> None:
    response = http.post("/api/v1/experiments", content=b"{nope", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "invalid JSON" in response.json()["message"]


def test_a_missing_field_is_named(http: TestClient) -> None:
    response = http.post("/api/v1/runs", json={"name": "no experiment"})
    assert response.status_code == 400 and "experiment_id" in response.json()["message"]


def test_unknown_ids_are_404_naming_the_id(http: TestClient) -> None:
    for path in ("/api/v1/runs/feedface", "/api/v1/experiments/feedface", "/api/v1/runs/feedface/notes"):
        response = http.get(path)
        assert response.status_code == 404, path
        assert "feedface" in response.json()["message"]


def test_unknown_endpoint_is_a_json_404(http: TestClient) -> None:
    response = http.get("/api/v1/nothing-here")
    assert response.status_code == 404 and response.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_duplicate_is_409(http: TestClient) -> None:
    http.post("/api/v1/experiments", json={"name": "twice"})
    response = http.post("/api/v1/experiments", json={"name": "twice"})
    assert response.status_code == 409 and response.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"


def test_oversized_bodies_are_413_and_store_nothing(http: TestClient) -> None:
    run_id = _run(http)
    big_json = {"params": {f"p{i}": "x" * 100 for i in range(100)}}
    assert http.post(f"/api/v1/runs/{run_id}/batch", json=big_json).status_code == 413
    streamed = http.put(f"/api/v1/runs/{run_id}/artifacts/big.bin", content=(b"y" * 1000 for _ in range(10)))
    assert streamed.status_code == 413 and streamed.json()["error_code"] == "PAYLOAD_TOO_LARGE"
    assert http.get(f"/api/v1/runs/{run_id}").json()["params"] == {}
    assert http.get(f"/api/v1/runs/{run_id}/artifacts").json()["files"] == []


def test_too_many_metric_points_in_one_batch_is_refused(http: TestClient, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "big")
    with TestClient(create_app(settings), raise_server_exceptions=False) as roomy:
        run_id = _run(roomy)
        n = 100_001
        body = {"metrics": {"keys": ["m"] * n, "values": [0.0] * n}}
        response = roomy.post(f"/api/v1/runs/{run_id}/batch", json=body)
        assert response.status_code == 400 and "at most 100000" in response.json()["message"]


@pytest.mark.parametrize(
    "raw_path",
    [
        "..%2F..%2Fescape.txt",
        "%2e%2e/%2e%2e/escape.txt",
        "%252e%252e%252fescape.txt",
        "..%5c..%5cescape.txt",
        "%2Fetc%2Fpasswd",
        "C:%5Cescape.txt",
        "a/%2e%2e/%2e%2e/escape.txt",
        "%00escape.txt",
    ],
)
def test_encoded_traversal_is_refused_on_upload_and_download(http: TestClient, tmp_path: Path, raw_path: str) -> None:
    run_id = _run(http)
    url = f"http://testserver/api/v1/runs/{run_id}/artifacts/{raw_path}"
    upload = http.put(url, content=b"owned")
    assert upload.status_code in (400, 404), upload.text
    assert http.get(url).status_code in (400, 404)
    assert http.get(f"/api/v1/runs/{run_id}/artifacts").json()["files"] == []
    assert not any(p.name == "escape.txt" for p in tmp_path.rglob("*"))


def test_foreign_host_names_are_refused_without_auth(http: TestClient) -> None:
    response = http.get("/api/v1/experiments", headers={"host": "evil.example:5000"})
    assert response.status_code == 403 and "loopback" in response.json()["message"]
    assert http.get("/api/v1/experiments", headers={"host": "127.0.0.1:5000"}).status_code == 200


def test_cross_site_changes_are_refused(http: TestClient) -> None:
    response = http.post("/api/v1/experiments", json={"name": "csrf"},
                         headers={"origin": "http://evil.example", "host": "127.0.0.1:5000"})
    assert response.status_code == 403 and "cross-site" in response.json()["message"]
    same = http.post("/api/v1/experiments", json={"name": "same-site"},
                     headers={"origin": "http://127.0.0.1:5000", "host": "127.0.0.1:5000"})
    assert same.status_code == 201
    assert [e["name"] for e in http.get("/api/v1/experiments").json()["experiments"]] == ["same-site"]

"""The OpenAPI schema says what the server does: our error body for the 4xx it sends, no
FastAPI 422, and the bodies of the routes that read raw bytes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from starlette.testclient import TestClient

from modelward.api.app import create_app
from modelward.settings import Settings


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    settings = Settings(home=Path(tmp_path_factory.mktemp("openapi")) / "store")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client, client.get("/openapi.json").json()


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def test_no_operation_advertises_422_validation_errors(served: tuple[TestClient, dict[str, Any]]) -> None:
    _, schema = served
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, method, operation in _operations(schema):
        answer = operation["responses"].get("422")
        if answer is not None:  # only a governance policy's refusal, in our body
            assert "governance" in operation.get("tags", []), (method, path)
            assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}


def test_every_api_operation_documents_its_errors_in_our_body(served: tuple[TestClient, dict[str, Any]]) -> None:
    _, schema = served
    assert schema["components"]["schemas"]["ErrorBody"]["required"] == ["error_code", "message"]
    for path, method, operation in _operations(schema):
        if not path.startswith("/api/"):
            continue
        wanted = {"400", "401", "403", "404"} | ({"409", "507"} if method not in ("get", "head") else set())
        if method not in ("get", "head") and "/mlflow" not in path:
            wanted |= {"413", "415"}
        assert wanted <= set(operation["responses"]), (method, path, sorted(operation["responses"]))
        for status in wanted:
            content = operation["responses"][status]["content"]["application/json"]
            assert content["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)


def test_raw_body_routes_describe_their_bodies(served: tuple[TestClient, dict[str, Any]]) -> None:
    _, schema = served
    paths = schema["paths"]
    for path in ("/api/v1/runs/{run_id}/artifacts/{path}", "/api/2.0/mlflow-artifacts/artifacts/{path}"):
        body = paths[path]["put"]["requestBody"]
        assert body["content"]["application/octet-stream"]["schema"] == {"type": "string", "format": "binary"}
    lineage = paths["/api/v1/lineage/openlineage"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"eventTime", "run", "job"} <= set(lineage["required"])
    batch = paths["/api/v1/runs/{run_id}/batch"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "metrics" in batch["properties"]


def test_validation_errors_answer_400_in_the_documented_body(served: tuple[TestClient, dict[str, Any]]) -> None:
    client, schema = served
    error_schema = schema["components"]["schemas"]["ErrorBody"]
    for method, path, kwargs in [
        ("post", "/api/v1/experiments", {"json": {"name": 1}}),
        ("post", "/api/v1/runs", {"json": {}}),
        ("get", "/api/v1/experiments", {"params": {"limit": "many"}}),
        ("post", "/api/v1/lineage/openlineage", {"json": {"eventTime": "now"}}),
        ("post", "/api/2.0/mlflow/experiments/create", {"json": {"name": 1}}),
    ]:
        response = client.request(method, path, **kwargs)
        assert response.status_code == 400, (path, response.text)
        assert str(response.status_code) in schema["paths"][path][method]["responses"]
        Draft202012Validator(error_schema).validate(response.json())

"""The MLflow-compatible registry routes, called with MLflow's JSON shapes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute
from starlette.testclient import TestClient

from modelward.api.app import create_app
from modelward.api.mlflow import registry as mlflow_registry
from modelward.services import runs
from tests.registry.helpers import run_with_model

RM = "/api/2.0/mlflow/registered-models"
MV = "/api/2.0/mlflow/model-versions"


@pytest.fixture
def http(settings) -> Iterator[tuple[TestClient, object]]:
    app = create_app(settings)
    if not any(isinstance(r, APIRoute) and r.path == f"{RM}/create" for r in app.routes):
        app.include_router(mlflow_registry.router)  # until the mlflow package includes it
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, app.state.backend


def test_registered_model_and_version_round_trip(http):
    client, backend = http
    run_id = run_with_model(backend)
    created = client.post(f"{RM}/create", json={"name": "m", "tags": [{"key": "t", "value": "1"}], "description": "d"})
    assert created.status_code == 200, created.text
    assert created.json()["registered_model"]["tags"] == [{"key": "t", "value": "1"}]
    assert client.post(f"{RM}/create", json={"name": "m"}).json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    made = client.post(f"{MV}/create", json={"name": "m", "source": f"runs:/{run_id}/model", "run_id": run_id})
    assert made.status_code == 200, made.text
    version = made.json()["model_version"]
    assert (version["version"], version["status"], version["run_id"], version["current_stage"]) == ("1", "READY", run_id, "None")
    assert isinstance(version["creation_timestamp"], int) and version["creation_timestamp"] > 1_600_000_000_000
    run = runs.get(backend, run_id)
    proxied = client.post(f"{MV}/create", json={"name": "m", "source": f"mlflow-artifacts:/{run.experiment_id}/{run_id}/artifacts/model"})
    assert proxied.json()["model_version"]["version"] == "2"
    got = client.get(f"{MV}/get", params={"name": "m", "version": "2"}).json()["model_version"]
    assert got["source"] == f"runs:/{run_id}/model"
    uri = client.get(f"{MV}/get-download-uri", params={"name": "m", "version": "1"}).json()
    assert uri == {"artifact_uri": f"mlflow-artifacts:/{run.experiment_id}/{run_id}/artifacts/model"}
    model = client.get(f"{RM}/get", params={"name": "m"}).json()["registered_model"]
    assert [v["version"] for v in model["latest_versions"]] == ["2"]


@pytest.mark.parametrize("source", ["/etc/passwd", "file:///tmp/x", "s3://bucket/model", "models:/m-abc123",
                                    "models:/other/1", "http://example.com/model"])
def test_sources_outside_the_store_are_unverified_references_without_files(http, source):
    """MLflow accepts any source; modelward records it as given and never opens it."""
    client, _ = http
    client.post(f"{RM}/create", json={"name": "m"})
    answer = client.post(f"{MV}/create", json={"name": "m", "source": source})
    assert answer.status_code == 200, answer.text
    version = answer.json()["model_version"]
    assert (version["source"], version["run_id"]) == (source, "")
    assert {"key": "modelward.source_verified", "value": "false"} in version["tags"]
    refused = client.get(f"{MV}/get-download-uri", params={"name": "m", "version": "1"})
    assert refused.status_code == 400 and "external reference" in refused.json()["message"], refused.text
    assert source in refused.json()["message"]


@pytest.mark.parametrize("source", ["s3://bucket/\x00model", "s3://b/\nx", "s3://" + "x" * 1100])
def test_an_external_source_is_checked_as_a_string(http, source):
    client, _ = http
    client.post(f"{RM}/create", json={"name": "m"})
    answer = client.post(f"{MV}/create", json={"name": "m", "source": source})
    assert (answer.status_code, answer.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE"), answer.text


def test_source_with_no_artifacts_is_an_empty_version_that_cannot_be_downloaded(http):
    """MLflow registers a source whatever it holds; the MLflow API does too (native API: 404)."""
    client, backend = http
    run_id = run_with_model(backend)
    client.post(f"{RM}/create", json={"name": "m"})
    answer = client.post(f"{MV}/create", json={"name": "m", "source": f"runs:/{run_id}/nothing"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_version"]["version"] == "1"
    refused = client.get(f"{MV}/get-download-uri", params={"name": "m", "version": "1"})
    assert refused.status_code == 400 and "has no files" in refused.json()["message"], refused.text
    native = client.post("/api/v1/models/m/versions", json={"run_id": run_id, "artifact_path": "nothing"})
    assert native.status_code == 404 and "no artifact" in native.text
    assert client.get(f"{MV}/get", params={"name": "m", "version": "9"}).status_code == 404


def test_aliases_tags_search_stages_and_deletes(http):
    client, backend = http
    run_id = run_with_model(backend)
    client.post(f"{RM}/create", json={"name": "m"})
    for _ in range(2):
        client.post(f"{MV}/create", json={"name": "m", "source": f"runs:/{run_id}/model"})
    assert client.post(f"{RM}/alias", json={"name": "m", "alias": "champion", "version": "1"}).status_code == 200
    by_alias = client.get(f"{RM}/alias", params={"name": "m", "alias": "champion"}).json()["model_version"]
    assert by_alias["version"] == "1" and by_alias["aliases"] == ["champion"]
    model = client.get(f"{RM}/get", params={"name": "m"}).json()["registered_model"]
    assert model["aliases"] == [{"alias": "champion", "version": "1"}]
    client.post(f"{MV}/set-tag", json={"name": "m", "version": "2", "key": "k", "value": "v"})
    found = client.get(f"{MV}/search", params={"filter": "name='m' AND tags.k='v'"}).json()["model_versions"]
    assert [v["version"] for v in found] == ["2"]
    assert client.delete(f"{MV}/delete-tag", params={"name": "m", "version": "2", "key": "k"}).status_code == 200
    assert [m["name"] for m in client.get(f"{RM}/search", params={"filter": "name LIKE 'm%'"}).json()["registered_models"]] == ["m"]
    staged = client.post(f"{MV}/transition-stage", json={"name": "m", "version": "2", "stage": "production", "archive_existing_versions": False})
    assert staged.json()["model_version"]["current_stage"] == "Production"
    latest = client.post(f"{RM}/get-latest-versions", json={"name": "m", "stages": ["Production"]}).json()
    assert [v["version"] for v in latest["model_versions"]] == ["2"]
    held = client.request("DELETE", f"{MV}/delete", json={"name": "m", "version": "1"})
    assert held.status_code in (400, 409) and "champion" in held.json()["message"]  # MLflow maps INVALID_STATE to 400
    assert client.request("DELETE", f"{RM}/alias", json={"name": "m", "alias": "champion"}).status_code == 200
    assert client.request("DELETE", f"{MV}/delete", json={"name": "m", "version": "1"}).status_code == 200
    assert client.patch(f"{RM}/update", json={"name": "m", "description": "new"}).json()["registered_model"]["description"] == "new"
    assert client.request("DELETE", f"{RM}/delete", json={"name": "m"}).status_code == 200
    assert client.get(f"{RM}/get", params={"name": "m"}).json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_every_mlflow_registry_route_declares_a_permission():
    from modelward.api.deps import declared_permission

    routes = [r for r in mlflow_registry.router.routes if isinstance(r, APIRoute)]
    assert len(routes) >= 20
    assert all(declared_permission(r) is not None for r in routes)

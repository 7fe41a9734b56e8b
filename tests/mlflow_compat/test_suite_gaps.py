"""Gaps that MLflow's own REST tests (bench/mlflow_suite) showed, each closed and pinned
here: in-process on the MLflow routes, and through the real ``mlflow`` client."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from modelward.api.app import create_app

API = "/api/2.0/mlflow"


@pytest.fixture
def http(settings) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _experiment(http: TestClient, name: str, tags: dict[str, str] | None = None) -> str:
    body = {"name": name, "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]}
    answer = http.post(f"{API}/experiments/create", json=body)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["experiment_id"])


def _search_experiments(http: TestClient, **body) -> list[str]:  # type: ignore[no-untyped-def]
    answer = http.post(f"{API}/experiments/search", json=body)
    assert answer.status_code == 200, answer.text
    return [e["name"] for e in answer.json()["experiments"]]


# -- experiment search: MLflow's filter language and order ------------------------------------


def test_experiment_search_filters_on_tags_and_times_and_orders(http):
    _experiment(http, "a", {"team": "risk"})
    _experiment(http, "b", {"team": "ops"})
    _experiment(http, "c")
    assert _search_experiments(http, filter="tags.team = 'risk'") == ["a"]
    assert _search_experiments(http, filter="tags.team != 'risk'") == ["b"]  # the tag must exist
    assert _search_experiments(http, filter="tag.team LIKE '%s'") == ["b"]
    assert _search_experiments(http, filter="name != 'Default'") == ["c", "b", "a"]  # newest first
    assert _search_experiments(http, order_by=["name DESC"])[:3] == ["c", "b", "a"]
    assert _search_experiments(http, filter="name != 'Default'", order_by=["creation_time ASC"]) == ["a", "b", "c"]
    assert _search_experiments(http, filter="creation_time > 0 AND name LIKE '_'", order_by=["name"]) == ["a", "b", "c"]
    refused = http.post(f"{API}/experiments/search", json={"filter": "metrics.acc > 1"})
    assert refused.status_code == 400
    assert refused.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_runs_starting_together_come_in_run_id_order(http):
    experiment_id = _experiment(http, "e")
    ids = [http.post(f"{API}/runs/create", json={"experiment_id": experiment_id, "start_time": 5})
           .json()["run"]["info"]["run_id"] for _ in range(5)]
    found = http.post(f"{API}/runs/search", json={"experiment_ids": [experiment_id]}).json()["runs"]
    assert [r["info"]["run_id"] for r in found] == sorted(ids)


# -- MLflow 3 logged-model links, through the real client --------------------------------------


def test_log_metric_with_model_id_lands_on_the_logged_model(client, unique):  # type: ignore[no-untyped-def]
    experiment_id = client.create_experiment(f"lm-metric-{unique}")
    run = client.create_run(experiment_id)
    model = client.create_logged_model(experiment_id)
    client.log_metric(run.info.run_id, "m", 0.5, timestamp=123456789, step=1, dataset_name="d",
                      dataset_digest="x", model_id=model.model_id)
    (metric,) = client.get_logged_model(model.model_id).metrics
    assert (metric.key, metric.value, metric.timestamp, metric.step) == ("m", 0.5, 123456789, 1)
    assert (metric.model_id, metric.run_id, metric.dataset_name, metric.dataset_digest) == (
        model.model_id, run.info.run_id, "d", "x")
    assert client.get_run(run.info.run_id).data.metrics == {"m": 0.5}


def test_run_model_inputs_and_outputs(client, unique):  # type: ignore[no-untyped-def]
    from mlflow.entities import LoggedModelInput, LoggedModelOutput

    experiment_id = client.create_experiment(f"lm-links-{unique}")
    run = client.create_run(experiment_id)
    model = client.create_logged_model(experiment_id)
    client.log_inputs(run.info.run_id, models=[LoggedModelInput(model_id=model.model_id)])
    client.log_outputs(run.info.run_id, [LoggedModelOutput(model.model_id, 3)])
    fetched = client.get_run(run.info.run_id)
    assert [m.model_id for m in fetched.inputs.model_inputs] == [model.model_id]
    assert fetched.outputs.model_outputs == [LoggedModelOutput(model.model_id, 3)]
    assert not any(key.startswith("modelward.") for key in fetched.data.tags)


def test_registering_a_logged_model_lists_the_version_in_its_tag(client, unique):  # type: ignore[no-untyped-def]
    experiment_id = client.create_experiment(f"lm-versions-{unique}")
    run = client.create_run(experiment_id)
    model = client.create_logged_model(experiment_id, source_run_id=run.info.run_id)
    name = f"registered-{unique}"
    client.create_registered_model(name)
    client.create_model_version(name, f"models:/{model.model_id}", model_id=model.model_id)
    client.create_model_version(name, f"models:/{model.model_id}", model_id=model.model_id)
    tag = client.get_logged_model(model.model_id).tags["mlflow.modelVersions"]
    assert json.loads(tag) == [{"name": name, "version": 1}, {"name": name, "version": 2}]


# -- errors: MLflow's wording, codes and statuses -----------------------------------------------


def test_not_found_messages_use_mlflows_wording(http):
    run = http.get(f"{API}/runs/get", params={"run_id": "nope"})
    assert (run.status_code, run.json()) == (404, {"error_code": "RESOURCE_DOES_NOT_EXIST",
                                                   "message": "Run with id=nope not found"})
    model = http.get(f"{API}/registered-models/get", params={"name": "ghost"})
    assert (model.status_code, model.json()["message"]) == (404, "Registered Model with name=ghost not found")
    http.post(f"{API}/registered-models/create", json={"name": "m"})
    version = http.get(f"{API}/model-versions/get", params={"name": "m", "version": "3"})
    assert version.json()["message"] == "Model Version (name=m, version=3) not found"
    experiment = http.get(f"{API}/experiments/get", params={"experiment_id": "404"})
    assert experiment.json()["message"] == "No Experiment with id=404 exists"
    again = http.post(f"{API}/registered-models/create", json={"name": "m"})
    assert (again.status_code, again.json()) == (400, {"error_code": "RESOURCE_ALREADY_EXISTS",
                                                       "message": "Registered Model (name=m) already exists."})


def test_a_wrong_type_is_named_as_mlflow_names_it(http):
    experiment_id = _experiment(http, "typed")
    run_id = http.post(f"{API}/runs/create", json={"experiment_id": experiment_id}).json()["run"]["info"]["run_id"]
    answer = http.post(f"{API}/runs/log-metric", json={"run_id": run_id, "key": "k", "value": 1, "timestamp": 1,
                                                      "step": "foo"})
    assert answer.status_code == 400
    assert "Invalid value \"foo\" for parameter 'step' supplied" in answer.json()["message"]
    too_many = http.post(f"{API}/runs/search", json={"experiment_ids": [experiment_id], "max_results": 123456789})
    assert "Invalid value 123456789 for parameter 'max_results' supplied" in too_many.json()["message"]


def test_declined_mlflow_features_answer_endpoint_not_found_naming_them(http):
    for method, path, feature in (
        ("POST", "/api/3.0/mlflow/traces", "MLflow Tracing"),
        ("GET", "/api/2.0/mlflow/traces/tr-1/info", "MLflow Tracing"),
        ("POST", "/api/3.0/mlflow/gateway/secrets/create", "AI gateway"),
        ("POST", "/api/3.0/mlflow/scorers/register", "scorers"),
        ("POST", "/api/3.0/mlflow/datasets/create", "GenAI evaluation datasets"),
        ("POST", "/graphql", "GraphQL"),
        ("GET", "/ajax-api/2.0/mlflow/metrics/get-history-bulk", "ajax-only"),
    ):
        answer = http.request(method, path, json={} if method == "POST" else None)
        assert answer.status_code == 404, path
        body = answer.json()
        assert body["error_code"] == "ENDPOINT_NOT_FOUND"
        assert feature in body["message"] and body["message"].startswith("Not offered by modelward"), body


# -- the registry: another server's run is an external reference --------------------------------


def test_a_source_naming_another_servers_run_is_an_unverified_reference(http):
    http.post(f"{API}/registered-models/create", json={"name": "m"})
    answer = http.post(f"{API}/model-versions/create",
                       json={"name": "m", "source": "runs:/run_id/model", "run_id": "run_id_1"})
    assert answer.status_code == 200, answer.text
    version = answer.json()["model_version"]
    assert (version["source"], version["run_id"]) == ("runs:/run_id/model", "run_id_1")
    tags = {t["key"]: t["value"] for t in version["tags"]}
    assert tags["modelward.source_verified"] == "false"
    refused = http.get(f"{API}/model-versions/get-download-uri", params={"name": "m", "version": "1"})
    assert refused.status_code == 400 and "external reference" in refused.json()["message"]
    # A run of this server named by run_id, with a source that is not its files: refused.
    experiment_id = _experiment(http, "mine")
    run_id = http.post(f"{API}/runs/create", json={"experiment_id": experiment_id}).json()["run"]["info"]["run_id"]
    claimed = http.post(f"{API}/model-versions/create", json={"name": "m", "source": "s3://b/k", "run_id": run_id})
    assert claimed.status_code == 400


# -- logged models: tags, datasets, order ----------------------------------------------------------


def test_logged_model_tag_deletion_search_by_dataset_and_order(client, unique):  # type: ignore[no-untyped-def]
    from mlflow.exceptions import MlflowException

    experiment_id = client.create_experiment(f"lm-search-{unique}")
    first = client.create_logged_model(experiment_id, name="first", tags={"t": "v"})
    second = client.create_logged_model(experiment_id, name="second")
    client.delete_logged_model_tag(first.model_id, "t")
    with pytest.raises(MlflowException, match="No tag with key"):
        client.delete_logged_model_tag(first.model_id, "t")
    run = client.create_run(experiment_id)
    client.log_metric(run.info.run_id, "acc", 0.9, dataset_name="eval", dataset_digest="d1", model_id=first.model_id)
    on_eval = client.search_logged_models([experiment_id], datasets=[{"dataset_name": "eval", "dataset_digest": "d1"}])
    assert [m.name for m in on_eval] == ["first"]
    oldest_first = client.search_logged_models(
        [experiment_id], order_by=[{"field_name": "creation_timestamp", "ascending": True}])
    assert [m.model_id for m in oldest_first] == [first.model_id, second.model_id]


def test_model_search_like_is_case_sensitive_ilike_is_not(http):
    for name in ("CreateRM001", "other"):
        http.post(f"{API}/registered-models/create", json={"name": name})

    def names(text: str) -> list[str]:
        answer = http.get(f"{API}/registered-models/search", params={"filter": text})
        assert answer.status_code == 200, answer.text
        return [m["name"] for m in answer.json()["registered_models"]]

    assert names("name LIKE '%rm%00%'") == []  # SQLite's own LIKE would fold case
    assert names("name LIKE '%RM%00%'") == ["CreateRM001"]
    assert names("name ILIKE '%rm%00%'") == ["CreateRM001"]


def test_version_search_orders_as_mlflow_and_fills_latest_versions(http):
    for name in ("b", "a"):
        http.post(f"{API}/registered-models/create", json={"name": name})
    for name in ("b", "a", "b"):
        created = http.post(f"{API}/model-versions/create", json={"name": name, "source": "s3://bucket/model"})
        assert created.status_code == 200, created.text

    def found(**params) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
        answer = http.get(f"{API}/model-versions/search", params=params)
        assert answer.status_code == 200, answer.text
        return [(v["name"], v["version"]) for v in answer.json()["model_versions"]]

    assert found() == [("b", "2"), ("a", "1"), ("b", "1")]  # newest-updated first
    assert found(order_by="name DESC") == [("b", "2"), ("b", "1"), ("a", "1")]
    assert found(order_by="version_number DESC") == [("b", "2"), ("a", "1"), ("b", "1")]
    assert http.get(f"{API}/model-versions/search", params={"order_by": "flavor"}).status_code == 400
    models = http.get(f"{API}/registered-models/search").json()["registered_models"]
    assert {m["name"]: [v["version"] for v in m["latest_versions"]] for m in models} == {"a": ["1"], "b": ["2"]}


def test_a_stage_change_or_a_deleted_version_updates_the_models_time(http):
    http.post(f"{API}/registered-models/create", json={"name": "m"})
    for _ in range(2):
        http.post(f"{API}/model-versions/create", json={"name": "m", "source": "s3://bucket/model"})

    def updated() -> int:
        return int(http.get(f"{API}/registered-models/get", params={"name": "m"}).json()
                   ["registered_model"]["last_updated_timestamp"])

    before = updated()
    time.sleep(0.005)  # the next change lands in a later millisecond
    moved = http.post(f"{API}/model-versions/transition-stage", json={"name": "m", "version": "1", "stage": "Staging"})
    assert moved.status_code == 200, moved.text
    after_stage = updated()
    assert after_stage > before
    assert after_stage >= int(moved.json()["model_version"]["last_updated_timestamp"])
    time.sleep(0.005)
    deleted = http.request("DELETE", f"{API}/model-versions/delete", json={"name": "m", "version": "2"})
    assert deleted.status_code == 200, deleted.text
    assert updated() > after_stage


def test_the_mlflow_client_cannot_mark_an_external_version_verified(client) -> None:  # type: ignore[no-untyped-def]
    import mlflow.exceptions

    import uuid

    name = f"ext-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    version = client.create_model_version(name, "s3://bucket/elsewhere/model")
    with pytest.raises(mlflow.exceptions.MlflowException, match="modelward.source_verified"):
        client.set_model_version_tag(name, version.version, "modelward.source_verified", "true")
    with pytest.raises(mlflow.exceptions.MlflowException, match="modelward.source_verified"):
        client.delete_model_version_tag(name, version.version, "modelward.source_verified")
    assert client.get_model_version(name, version.version).tags["modelward.source_verified"] == "false"

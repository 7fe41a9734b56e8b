"""MLflow fidelity gaps (issue 12): the MLflow routes in-process on SQLite and PostgreSQL,
then the real ``mlflow`` client against a live server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from modelward.api.app import PUBLIC_PATHS, create_app
from modelward.services import audit, experiments
from modelward.store import experiments as experiment_store
from modelward.version import __version__

API = "/api/2.0/mlflow"
RM = f"{API}/registered-models"
MV = f"{API}/model-versions"
PROMPT = "tag.`mlflow.prompt.is_prompt`"


@pytest.fixture
def app(settings):  # type: ignore[no-untyped-def]
    return create_app(settings)


@pytest.fixture
def http(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _models(http: TestClient, text: str | None) -> list[str]:
    params = {} if text is None else {"filter": text}
    answer = http.get(f"{RM}/search", params=params)
    assert answer.status_code == 200, answer.text
    return [m["name"] for m in answer.json()["registered_models"]]


# -- 1. the prompt tag: missing reads as 'false'; other tags keep MLflow's key-must-exist rule --


def test_models_without_the_prompt_tag_match_the_clients_default_filter(http):
    http.post(f"{RM}/create", json={"name": "plain"})
    http.post(f"{RM}/create", json={"name": "prompt", "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}]})
    http.post(f"{RM}/create", json={"name": "tagged", "tags": [{"key": "mlflow.prompt.is_prompt", "value": "false"},
                                                              {"key": "team", "value": "risk"}]})
    assert _models(http, f"{PROMPT} != 'true'") == ["plain", "tagged"]
    assert _models(http, f"{PROMPT} = 'false'") == ["plain", "tagged"]
    assert _models(http, f"{PROMPT} = 'true'") == ["prompt"]
    assert _models(http, f"{PROMPT} != 'false'") == ["prompt"]
    assert _models(http, f"name LIKE 'p%' AND {PROMPT} != 'true'") == ["plain"]
    # Any other tag: a comparison needs the tag, as in MLflow's stores.
    assert _models(http, "tags.team != 'ops'") == ["tagged"]
    assert _models(http, "tags.team = 'risk'") == ["tagged"]


def test_versions_without_the_prompt_tag_match_the_clients_default_filter(http):
    http.post(f"{RM}/create", json={"name": "m"})
    for tags in ([], [{"key": "mlflow.prompt.is_prompt", "value": "true"}]):
        made = http.post(f"{MV}/create", json={"name": "m", "source": "s3://bucket/model", "tags": tags})
        assert made.status_code == 200, made.text
    found = http.get(f"{MV}/search", params={"filter": f"name = 'm' AND {PROMPT} != 'true'"}).json()
    assert [v["version"] for v in found["model_versions"]] == ["1"]


# -- 2. external sources -------------------------------------------------------------------------


def test_an_external_source_is_recorded_unverified_and_audited(http, app):
    http.post(f"{RM}/create", json={"name": "ext"})
    made = http.post(f"{MV}/create", json={"name": "ext", "source": "s3://bucket/path/model", "description": "d"})
    assert made.status_code == 200, made.text
    version = made.json()["model_version"]
    assert (version["source"], version["run_id"], version["description"]) == ("s3://bucket/path/model", "", "d")
    assert {"key": "modelward.source_verified", "value": "false"} in version["tags"]
    event = audit.list_(app.state.backend, model="ext", action="model_version.registered")[0]
    assert event.details["source"] == "s3://bucket/path/model" and event.details["verified"] is False
    refused = http.get(f"{MV}/get-download-uri", params={"name": "ext", "version": "1"})
    assert refused.status_code == 400
    assert "no verified files" in refused.json()["message"] and "s3://bucket/path/model" in refused.json()["message"]
    native = http.get("/api/v1/models/ext/versions/1")
    assert native.status_code == 200, native.text
    assert native.json()["source"] == "s3://bucket/path/model" and native.json()["files"] == []
    # A run_id this store does not hold is another server's run: kept, unverified, with the reference.
    with_run = http.post(f"{MV}/create", json={"name": "ext", "source": "s3://b/m", "run_id": "f" * 32})
    assert with_run.status_code == 200, with_run.text
    assert with_run.json()["model_version"]["run_id"] == "f" * 32
    assert http.get("/api/v1/models/ext/versions/2").json()["source_run_id"] is None
    missing = http.post(f"{MV}/create", json={"name": "nope", "source": "s3://b/m"})
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


# -- 3. smaller gaps -------------------------------------------------------------------------------


def test_the_default_experiment_is_id_0(http):
    found = http.post(f"{API}/experiments/search", json={}).json()["experiments"]
    assert [(e["experiment_id"], e["name"]) for e in found] == [("0", "Default")]
    assert http.get(f"{API}/experiments/get", params={"experiment_id": "0"}).json()["experiment"]["name"] == "Default"
    by_name = http.get(f"{API}/experiments/get-by-name", params={"experiment_name": "Default"}).json()
    assert by_name["experiment"]["experiment_id"] == "0"
    run = http.post(f"{API}/runs/create", json={}).json()["run"]
    assert run["info"]["experiment_id"] == "0"
    assert len(http.post(f"{API}/experiments/search", json={}).json()["experiments"]) == 1  # idempotent


def test_a_store_whose_default_predates_id_0_keeps_it(backend):
    with backend.write() as session:
        experiment_store.create(session, experiment_id="a" * 32, name="Default")
    assert experiments.ensure_default(backend).id == "a" * 32
    assert experiments.ensure_default(backend).id == "a" * 32


def test_version_is_plain_text_and_public(http):
    answer = http.get("/version")
    assert answer.status_code == 200 and answer.text == __version__
    assert answer.headers["content-type"].startswith("text/plain")
    assert "/version" in PUBLIC_PATHS


def test_metric_history_pages(http):
    experiment_id = http.post(f"{API}/experiments/create", json={"name": "e"}).json()["experiment_id"]
    run_id = http.post(f"{API}/runs/create", json={"experiment_id": experiment_id}).json()["run"]["info"]["run_id"]
    metrics = [{"key": "m", "value": float(i), "timestamp": 1000 + i, "step": i} for i in range(5)]
    http.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
    steps, token = [], None
    while True:
        params = {"run_id": run_id, "metric_key": "m", "max_results": 2, **({"page_token": token} if token else {})}
        page = http.get(f"{API}/metrics/get-history", params=params).json()
        assert len(page["metrics"]) <= 2
        steps += [m["step"] for m in page["metrics"]]
        token = page.get("next_page_token")
        if not token:
            break
    assert steps == [0, 1, 2, 3, 4]
    whole = http.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "m"}).json()
    assert len(whole["metrics"]) == 5 and "next_page_token" not in whole
    bad = http.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "m", "page_token": "zz"})
    assert bad.status_code == 400
    zero = http.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "m", "max_results": 0})
    assert zero.status_code == 400


def test_delete_experiment_tag(http):
    experiment_id = http.post(f"{API}/experiments/create", json={"name": "e"}).json()["experiment_id"]
    http.post(f"{API}/experiments/set-experiment-tag", json={"experiment_id": experiment_id, "key": "k", "value": "v"})
    done = http.post(f"{API}/experiments/delete-experiment-tag", json={"experiment_id": experiment_id, "key": "k"})
    assert done.status_code == 200, done.text
    tags = http.get(f"{API}/experiments/get", params={"experiment_id": experiment_id}).json()["experiment"]["tags"]
    assert tags == []
    again = http.post(f"{API}/experiments/delete-experiment-tag", json={"experiment_id": experiment_id, "key": "k"})
    assert (again.status_code, again.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_wrongly_typed_fields_are_refused_not_coerced(http):
    experiment_id = http.post(f"{API}/experiments/create", json={"name": "e"}).json()["experiment_id"]
    run_id = http.post(f"{API}/runs/create", json={"experiment_id": experiment_id}).json()["run"]["info"]["run_id"]
    http.post(f"{RM}/create", json={"name": "m"})
    bad = [
        ("experiments/create", {"name": 123}),
        ("runs/create", {"experiment_id": 7}),
        ("runs/create", {"experiment_id": experiment_id, "start_time": "soon"}),
        ("runs/log-metric", {"run_id": run_id, "key": "m", "value": True, "timestamp": 1}),
        ("runs/log-metric", {"run_id": run_id, "key": "m", "value": 1.0, "timestamp": 1, "step": 1.5}),
        ("runs/log-metric", {"run_id": run_id, "key": ["m"], "value": 1.0, "timestamp": 1}),
        ("runs/log-parameter", {"run_id": run_id, "key": "p", "value": 0.1}),
        ("runs/set-tag", {"run_id": run_id, "key": 5, "value": "v"}),
        ("runs/set-tag", {"run_id": run_id, "key": "k", "value": {"a": 1}}),
        ("registered-models/create", {"name": 123}),
        ("model-versions/create", {"name": "m", "source": 42}),
    ]
    for path, body in bad:
        answer = http.post(f"{API}/{path}", json=body)
        assert (answer.status_code, answer.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE"), (path, body)
    names = [e["name"] for e in http.post(f"{API}/experiments/search", json={}).json()["experiments"]]
    assert "123" not in names
    fine = http.post(f"{API}/runs/log-metric", json={"run_id": run_id, "key": "m", "value": "NaN", "timestamp": "5", "step": "2"})
    assert fine.status_code == 200, fine.text


def test_runs_that_start_together_keep_one_order_across_pages(http):
    experiment_id = http.post(f"{API}/experiments/create", json={"name": "e"}).json()["experiment_id"]
    ids = [http.post(f"{API}/runs/create", json={"experiment_id": experiment_id, "start_time": 1_700_000_000_000})
           .json()["run"]["info"]["run_id"] for _ in range(6)]
    pages, token = [], None
    while True:
        body = {"experiment_ids": [experiment_id], "max_results": 4, **({"page_token": token} if token else {})}
        page = http.post(f"{API}/runs/search", json=body).json()
        pages += [r["info"]["run_id"] for r in page["runs"]]
        token = page.get("next_page_token")
        if not token:
            break
    assert pages == sorted(ids)  # MLflow's tie-break: run id ascending, the same on every page


# -- the real mlflow client ------------------------------------------------------------------------


def test_mlflow_client_sees_models_external_sources_and_default(client, unique):  # type: ignore[no-untyped-def]
    from mlflow.exceptions import MlflowException

    name = f"fidelity-{unique}"
    client.create_registered_model(name)
    assert name in [m.name for m in client.search_registered_models()]
    assert [m.name for m in client.search_registered_models(filter_string=f"name = '{name}'")] == [name]
    version = client.create_model_version(name, "s3://bucket/some/model")
    assert (version.version, version.source) == ("1", "s3://bucket/some/model")
    assert client.get_model_version(name, "1").tags["modelward.source_verified"] == "false"
    assert [v.version for v in client.search_model_versions(f"name = '{name}'")] == ["1"]
    with pytest.raises(MlflowException, match="external reference"):
        client.get_model_version_download_uri(name, "1")
    assert client.get_experiment("0").name == "Default"
    experiment_id = client.create_experiment(f"tags-{unique}", tags={"k": "v"})
    client.delete_experiment_tag(experiment_id, "k")
    assert "k" not in client.get_experiment(experiment_id).tags


def test_mlflow_start_run_without_an_experiment_uses_0(url, monkeypatch):  # type: ignore[no-untyped-def]
    import mlflow
    from mlflow.tracking import fluent

    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.setattr(fluent, "_active_experiment_id", None)
    with mlflow.start_run() as run:
        mlflow.log_metric("m", 1.0)
    assert run.info.experiment_id == "0"
    assert mlflow.MlflowClient().get_run(run.info.run_id).info.experiment_id == "0"

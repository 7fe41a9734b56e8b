"""MLflow 3's model flow (issue 3) with the real ``mlflow`` client against a real
``modelward server``: log_model (logged models) -> register -> alias -> load -> search."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import modelward.models
from modelward.errors import InvalidInput, PermissionDenied
from modelward.sdk.client import Client

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException


@pytest.fixture(autouse=True)
def _no_active_experiment_after(monkeypatch: pytest.MonkeyPatch) -> None:
    """``mlflow.set_experiment`` is process-global: restore it after each test."""
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, LogisticRegression]:
    X, y = load_iris(return_X_y=True)
    return X, LogisticRegression(C=1.0, max_iter=500).fit(X, y)


def _log_and_register(url: str, unique: str, iris, **log_kwargs) -> tuple[str, object, str]:
    X, model = iris
    mlflow.set_experiment(f"iris-{unique}")
    name = f"iris-clf-{unique}"
    with mlflow.start_run() as run:
        mlflow.log_param("C", 1.0)
        mlflow.log_metric("acc", 0.9)
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name, input_example=X[:5],
                                        **log_kwargs)
    return name, info, run.info.run_id


def test_log_register_alias_load_and_search(url, unique, iris):
    X, model = iris
    name, info, run_id = _log_and_register(url, unique, iris)
    assert info.model_id.startswith("m-") and info.registered_model_version == "1"
    client = MlflowClient()
    client.set_registered_model_alias(name, "champion", info.registered_model_version)

    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    np.testing.assert_array_equal(loaded.predict(X[:5]), model.predict(X[:5]))
    by_id = mlflow.pyfunc.load_model(f"models:/{info.model_id}")  # the logged model itself
    np.testing.assert_array_equal(by_id.predict(X[:5]), model.predict(X[:5]))

    found = mlflow.search_runs(experiment_names=[f"iris-{unique}"], output_format="list")
    assert [r.info.run_id for r in found] == [run_id]
    assert found[0].data.params == {"C": "1.0"} and found[0].data.metrics == {"acc": 0.9}
    history = client.get_metric_history(run_id, "acc")
    assert len(history) == 1  # log_model re-sends the run's metrics for the model: not logged twice

    logged = client.get_logged_model(info.model_id)
    assert (logged.status.to_int(), logged.source_run_id, logged.params) == (2, run_id, {"C": "1.0"})
    assert logged.artifact_location.endswith(f"/{run_id}/artifacts/logged-models/{info.model_id}")
    assert [m.key for m in logged.metrics] == ["acc"]
    version = client.get_model_version(name, "1")
    assert (version.source, version.run_id) == (f"models:/{info.model_id}", run_id)
    raw = httpx.get(f"{url}/api/2.0/mlflow/model-versions/get", params={"name": name, "version": "1"}).json()
    assert raw["model_version"]["model_id"] == info.model_id  # mlflow's entity drops it; the proto has it
    searched = client.search_logged_models([logged.experiment_id], filter_string="name = 'model'")
    assert [m.model_id for m in searched] == [info.model_id]

    sdk = Client(url)
    registered = sdk.models.get_version(name, 1)
    assert {"MLmodel", "model.skops"} <= {f.path for f in registered.files}
    assert registered.source_run_id == run_id and registered.flavor == "sklearn"
    # MLflow 3.17 saves sklearn with skops by default: modelward loads it without trusting pickles.
    ours = modelward.models.load(f"models:/{name}@champion", client=sdk)
    np.testing.assert_array_equal(ours.predict(X[:5]), model.predict(X[:5]))


def test_pickled_model_needs_the_trust_flag(url, unique, iris):
    X, model = iris
    name, info, _ = _log_and_register(url, unique, iris, serialization_format="cloudpickle")
    MlflowClient().set_registered_model_alias(name, "champion", info.registered_model_version)
    sdk = Client(url)
    with pytest.raises(PermissionDenied, match="trust_pickle"):
        modelward.models.load(f"models:/{name}@champion", client=sdk)
    loaded = modelward.models.load(f"models:/{name}@champion", client=sdk, trust_pickle=True)
    np.testing.assert_array_equal(loaded.predict(X[:5]), model.predict(X[:5]))


def test_register_runs_uri_of_a_logged_model(url, unique, iris):
    """MLflow 3's ``register_model("runs:/<run>/model")``: the run has no files at ``model``,
    so the client finds the run's logged model named ``model`` and registers that."""
    X, model = iris
    mlflow.set_experiment(f"iris-{unique}")
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="model")
    registered = mlflow.register_model(f"runs:/{run.info.run_id}/model", f"by-run-{unique}")
    assert registered.version == "1"
    loaded = mlflow.pyfunc.load_model(f"models:/by-run-{unique}/1")
    np.testing.assert_array_equal(loaded.predict(X[:5]), model.predict(X[:5]))
    assert Client(url).models.get_version(f"by-run-{unique}", 1).source_run_id == run.info.run_id
    assert mlflow.MlflowClient().get_model_version(f"by-run-{unique}", "1").source == f"models:/{info.model_id}"


def test_logged_model_outside_a_run_gets_an_owner_run(url, unique, client):
    experiment_id = client.create_experiment(f"outside-{unique}")
    created = client.create_logged_model(experiment_id, name="standalone", params={"p": "1"}, tags={"t": "v"})
    assert created.source_run_id  # the owner run the server created
    owner = client.get_run(created.source_run_id)
    assert owner.info.experiment_id == experiment_id and owner.info.status == "FINISHED"
    client.set_logged_model_tags(created.model_id, {"u": "w"})
    client.delete_logged_model_tag(created.model_id, "t")
    client.log_model_params(created.model_id, {"q": "2"})
    client.finalize_logged_model(created.model_id, mlflow.entities.LoggedModelStatus.READY)
    got = client.get_logged_model(created.model_id)
    assert (got.tags, got.params, got.status.to_int()) == ({"u": "w"}, {"p": "1", "q": "2"}, 2)
    assert [m.model_id for m in client.search_logged_models([experiment_id], filter_string="tags.u = 'w'")] == [
        created.model_id
    ]
    client.delete_logged_model(created.model_id)
    assert client.search_logged_models([experiment_id]) == []
    with pytest.raises(MlflowException, match="not found"):
        client.get_logged_model(created.model_id)


def test_logged_model_artifact_listing_is_confined(url, unique, iris, client):
    _, model = iris
    mlflow.set_experiment(f"iris-{unique}")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model")
    base = f"{url}/api/2.0/mlflow/logged-models/{info.model_id}/artifacts"
    listed = httpx.get(f"{base}/directories").json()
    assert "MLmodel" in {f["path"] for f in listed["files"]}
    assert listed["root_uri"].endswith(f"logged-models/{info.model_id}")
    for evil in ("../..", "../../../etc", "%2e%2e/%2e%2e"):
        answer = httpx.get(f"{base}/directories", params={"artifact_directory_path": evil})
        assert answer.status_code == 400, answer.text
        answer = httpx.get(f"{base}/files", params={"artifact_file_path": f"{evil}/passwd"})
        assert answer.status_code == 400 and b"root:" not in answer.content
    assert httpx.get(f"{base}/files", params={"artifact_file_path": "MLmodel"}).content.startswith(b"artifact_path")


def test_version_of_an_empty_source_is_accepted_but_cannot_load(url, unique, client):
    """The benchmark's registry phase: the source run holds nothing at ``model``."""
    experiment_id = client.create_experiment(f"empty-{unique}")
    run = client.create_run(experiment_id)
    name = f"empty-{unique}"
    client.create_registered_model(name)
    version = client.create_model_version(name, run.info.artifact_uri + "/model", run_id=run.info.run_id)
    assert version.version == "1"
    with pytest.raises(MlflowException, match="has no files"):
        mlflow.pyfunc.load_model(f"models:/{name}/1")
    with pytest.raises(InvalidInput, match="has no files"):
        modelward.models.load(f"models:/{name}/1", client=Client(url))

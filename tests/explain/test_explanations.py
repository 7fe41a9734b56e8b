"""Global and local explanations of registered versions, on real models and real data.

A RandomForest (TreeExplainer) and a LogisticRegression (LinearExplainer) on breast cancer, a
scaled pipeline (the model-agnostic explainer), and a synthetic set where one planted feature
drives the label; each registered through the real registry with skops files and explained
through the service, which loads the version the serving way (digest-verified, data-only).
Without shap (its import made to fail) the attributions come from modelward's own sampled
Shapley values, additive the same way. The store part runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import builtins
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

from modelward.cli import app as cli_app
from modelward.domain.predictions import PredictionRecord
from modelward.errors import InvalidInput, NotFound, PolicyViolation
from modelward.sdk.client import Client
from modelward.services import audit, deployments, explanations
from modelward.services.backend import Backend
from modelward.services.predictions import PredictionLog
from modelward.settings import Settings
from tests.deployments.helpers import APPROVER, approved_versions, iris
from tests.fixtures.postgres import drop_database, new_database
from tests.fixtures.servers import start_server, stop_server
from tests.governance.helpers import ADMIN, dataset, register_model, set_model_policy

ENDPOINT = "iris-explained"
PLAIN_POLICY = "model: {name}\n"


def cancer() -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame.sample(500, random_state=0).reset_index(drop=True)
    return frame


def planted() -> pd.DataFrame:
    """500 rows, 6 noise features and ``signal``, which alone decides the label."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(rng.normal(size=(500, 6)), columns=[f"noise_{i}" for i in range(6)])
    frame.insert(3, "signal", rng.normal(size=500))
    frame["target"] = (frame["signal"] > 0).astype(int)
    return frame


def register_on(backend: Backend, name: str, model: Any, frame: pd.DataFrame, *, flavor: str | None = None) -> int:
    """Set the model's policy with ``frame`` as its evaluation dataset and register ``model`` fitted on it."""
    set_model_policy(backend, name, PLAIN_POLICY, dataset(backend, frame))
    fitted = model.fit(frame.drop(columns=["target"]), frame["target"])
    return register_model(backend, name, fitted, frame, flavor=flavor, with_sex=True)


@dataclass
class Store:
    backend: Backend
    frame: pd.DataFrame
    request_id: str
    iris_version: int


def _log_request(backend: Backend, version: int) -> str:
    features, _ = iris()
    record = PredictionRecord(
        request_id="explain-me-1", endpoint=ENDPOINT, model_name="iris", version=version, mode="live",
        at=datetime.now(UTC), latency_ms=3.0, status=200, error=None,
        inputs=[features.iloc[100].to_dict()], outputs=[2], rows=1)
    log = PredictionLog(backend, capacity=1, batch_size=1)
    assert log.submit(record)
    log.close()
    return record.request_id


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    admin = request.getfixturevalue("postgres_admin") if request.param == "postgres" else None
    database_url = new_database(admin) if admin is not None else None
    backend = Backend.from_settings(Settings(home=tmp_path_factory.mktemp("explain"), database_url=database_url))
    frame = cancer()
    register_on(backend, "cancer-rf", RandomForestClassifier(n_estimators=20, random_state=0), frame)
    register_on(backend, "cancer-lr", LogisticRegression(max_iter=5000), frame)
    register_on(backend, "planted", RandomForestClassifier(n_estimators=20, random_state=0), planted())
    [v1] = approved_versions(backend, "iris", 1)
    deployments.create(backend, APPROVER, ENDPOINT, model="iris", environment="production", version=v1)
    yield Store(backend, frame, _log_request(backend, v1), v1)
    backend.close()
    if admin is not None and database_url is not None:
        drop_database(admin, database_url)


@pytest.fixture
def without_shap(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import shap`` fails, as where the explain extra is not installed."""
    real_import = builtins.__import__

    def refusing(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "shap" or name.startswith("shap."):
            raise ImportError("shap is not installed")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refusing)
    monkeypatch.delitem(sys.modules, "shap", raising=False)


def _additive(document: dict[str, Any]) -> None:
    for row in document["rows"]:
        total = sum(item["attribution"] for item in row["attributions"])
        assert abs(document["base_value"] + total - row["prediction"]) <= 1e-6, (document["method"], row)
        assert row["additivity_error"] <= 1e-6


# -- global ------------------------------------------------------------------------------------------


def test_the_planted_feature_ranks_first(store: Store) -> None:
    document = explanations.global_(store.backend, ADMIN, "planted", 1, top=3)
    ranked = [item["feature"] for item in document["permutation_importance"]]
    assert ranked[0] == "signal"
    assert document["permutation_importance"][0]["importance_mean"] > 0.2
    assert document["shap"]["method"] == "shap.TreeExplainer"
    assert document["shap"]["mean_abs"][0]["feature"] == "signal"
    assert [curve["feature"] for curve in document["partial_dependence"]] == ranked[:3]
    signal_curve = document["partial_dependence"][0]
    assert signal_curve["method"] == "sklearn"  # sklearn.inspection.partial_dependence on the loaded estimator
    assert signal_curve["average"][-1] - signal_curve["average"][0] > 0.5  # the label follows the signal up


def test_without_shap_a_global_explanation_has_no_shap_part_and_the_same_ranking(store: Store,
                                                                                 without_shap: None) -> None:
    document = explanations.global_(store.backend, ADMIN, "planted", 1, top=1)
    assert document["shap"] is None and document["libraries"]["shap"] is None
    assert document["permutation_importance"][0]["feature"] == "signal"


def test_a_stored_global_explanation_is_the_latest_and_a_new_one_keeps_it(store: Store) -> None:
    first = explanations.global_(store.backend, ADMIN, "cancer-lr", 1, seed=1, top=2)
    assert explanations.latest_global(store.backend, "cancer-lr", 1) == first
    assert first["dataset"]["digest"] and len(first["dataset"]["digest"]) == 64
    assert first["parameters"]["seed"] == 1 and first["libraries"]["scikit-learn"] and first["libraries"]["shap"]
    assert first["shap"]["method"] == "shap.LinearExplainer"
    second = explanations.global_(store.backend, ADMIN, "cancer-lr", 1, seed=2, top=2)
    assert second["revision"] == first["revision"] + 1
    assert explanations.latest_global(store.backend, "cancer-lr", 1)["parameters"]["seed"] == 2
    kept = explanations.global_revisions(store.backend, "cancer-lr", 1)
    assert [d["revision"] for d in kept][:2] == [second["revision"], first["revision"]]
    assert kept[1] == first
    events = audit.list_(store.backend, model="cancer-lr", action="model_version.explained")
    assert {e.details["revision"] for e in events} >= {first["revision"], second["revision"]}


def test_no_stored_explanation_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="no stored global explanation"):
        explanations.latest_global(store.backend, "cancer-rf", 1)
    with pytest.raises(NotFound):
        explanations.latest_global(store.backend, "cancer-rf", 99)


# -- local -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, method", [("cancer-rf", "shap.TreeExplainer"), ("cancer-lr", "shap.LinearExplainer")])
def test_local_attributions_are_additive_with_shap(store: Store, name: str, method: str) -> None:
    rows = store.frame.drop(columns=["target"]).iloc[:2]
    document = explanations.local(store.backend, name, 1, rows)
    assert document["method"] == method
    _additive(document)


@pytest.mark.parametrize("name", ["cancer-rf", "cancer-lr"])
def test_local_attributions_are_additive_without_shap(store: Store, name: str, without_shap: None) -> None:
    row = store.frame.drop(columns=["target"]).iloc[3].to_dict()
    document = explanations.local(store.backend, name, 1, row)
    assert document["method"] == "sampled interventional shapley (modelward)"
    _additive(document)
    assert document["rows"][0]["prediction"] == pytest.approx(
        _proba(store, name, store.frame.drop(columns=["target"]).iloc[[3]]), abs=1e-9)


def _proba(store: Store, name: str, rows: pd.DataFrame) -> float:
    """What the registered model answers for the positive class, refitted the same way here."""
    model = (RandomForestClassifier(n_estimators=20, random_state=0) if name == "cancer-rf"
             else LogisticRegression(max_iter=5000))
    model.fit(store.frame.drop(columns=["target"]), store.frame["target"])
    return float(model.predict_proba(rows)[0, 1])


def test_the_model_agnostic_explainer_is_additive_too(store: Store) -> None:
    register_on(store.backend, "cancer-pipe", make_pipeline(StandardScaler(), LogisticRegression()), store.frame)
    document = explanations.local(store.backend, "cancer-pipe", 1, store.frame.drop(columns=["target"]).iloc[[5]])
    assert document["method"] == "shap.PermutationExplainer"
    _additive(document)


def test_the_nearest_examples_are_real_reference_rows(store: Store) -> None:
    row = store.frame.drop(columns=["target"]).iloc[42].to_dict()
    document = explanations.local(store.backend, "cancer-rf", 1, row)
    nearest = document["rows"][0]["nearest"]
    assert "euclidean" in document["distance"] and "standardised" in document["distance"]
    assert nearest[0]["index"] == 42 and nearest[0]["distance"] == pytest.approx(0.0)
    for found in nearest:
        assert found["row"] == pytest.approx(store.frame.drop(columns=["target"]).iloc[found["index"]].to_dict())
    assert [n["distance"] for n in nearest] == sorted(n["distance"] for n in nearest)


def test_a_logged_prediction_is_explained_with_its_version_and_deployment_state(store: Store) -> None:
    document = explanations.local_for_request(store.backend, store.request_id)
    assert document["model"] == "iris" and document["version"] == store.iris_version
    assert document["deployment"]["endpoint"] == ENDPOINT
    assert document["deployment"]["action"] == deployments.history(store.backend, ENDPOINT)[0].action
    assert document["deployment"]["weights"] == {str(store.iris_version): 100}
    assert document["rows"][0]["inputs"] == pytest.approx(iris()[0].iloc[100].to_dict())
    _additive(document)
    with pytest.raises(NotFound, match="no-such-request"):
        explanations.local_for_request(store.backend, "no-such-request")


def test_bad_local_input_is_refused(store: Store) -> None:
    with pytest.raises(InvalidInput, match="mean radius"):
        explanations.local(store.backend, "cancer-rf", 1, {"worst area": 1.0})
    with pytest.raises(InvalidInput, match="at most"):
        explanations.local(store.backend, "cancer-rf", 1, store.frame.drop(columns=["target"]).head(21))


def test_a_pickle_version_is_refused_with_our_error(store: Store) -> None:
    version = register_on(store.backend, "cancer-pickle", LogisticRegression(max_iter=5000), store.frame,
                          flavor="pickle")
    with pytest.raises(PolicyViolation, match="never unpickles"):
        explanations.global_(store.backend, ADMIN, "cancer-pickle", version)
    with pytest.raises(PolicyViolation, match="never unpickles"):
        explanations.local(store.backend, "cancer-pickle", version, store.frame.drop(columns=["target"]).iloc[0].to_dict())


def test_a_pickle_version_is_explained_only_in_the_sandbox_when_the_policy_says_so(store: Store) -> None:
    frame = store.frame.iloc[:200]
    register_on(store.backend, "cancer-isolated", LogisticRegression(max_iter=5000), frame, flavor="pickle")
    set_model_policy(store.backend, "cancer-isolated", PLAIN_POLICY + "evaluation: {{code_models: isolated}}\n",
                     dataset(store.backend, frame))
    document = explanations.local(store.backend, "cancer-isolated", 1, frame.drop(columns=["target"]).iloc[[0]])
    assert document["method"] == "shap.PermutationExplainer"  # only predict_proba crosses the worker's pipe
    _additive(document)


# -- interfaces: REST, SDK, CLI against a real server ----------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Store]]:
    home = tmp_path_factory.mktemp("explain-server")
    backend = Backend.from_settings(Settings(home=home))
    frame = cancer()
    register_on(backend, "cancer-rf", RandomForestClassifier(n_estimators=20, random_state=0), frame)
    [v1] = approved_versions(backend, "iris", 1)
    deployments.create(backend, APPROVER, ENDPOINT, model="iris", environment="production", version=v1)
    request_id = _log_request(backend, v1)
    server = start_server(home)
    try:
        yield server.url, Store(backend, frame, request_id, v1)
    finally:
        stop_server(server)
        backend.close()


def test_rest_happy_paths_and_errors(served: tuple[str, Store]) -> None:
    url, store = served
    base = f"{url}/api/v1/models/cancer-rf/versions/1/explanations"
    missing = httpx.get(f"{base}/latest")
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    computed = httpx.post(base, json={"top": 2}, timeout=120)
    assert computed.status_code == 200, computed.text
    assert httpx.get(f"{base}/latest").json()["revision"] == computed.json()["revision"]
    row = store.frame.drop(columns=["target"]).iloc[0].to_dict()
    local = httpx.post(f"{base}/local", json={"inputs": [row]}, timeout=120)
    assert local.status_code == 200, local.text
    _additive(local.json())
    bad = httpx.post(f"{base}/local", json={"inputs": [{"mean radius": 1.0}]})
    assert bad.status_code == 400 and "worst area" in bad.json()["message"]
    empty = httpx.post(f"{base}/local", json={"inputs": []})
    assert empty.status_code in (400, 422) and "error_code" in empty.json()
    by_request = httpx.get(f"{url}/api/v1/explanations/requests/{store.request_id}", timeout=120)
    assert by_request.status_code == 200 and by_request.json()["version"] == store.iris_version
    unknown = httpx.get(f"{url}/api/v1/explanations/requests/nope")
    assert unknown.status_code == 404 and "nope" in unknown.json()["message"]


def test_sdk_happy_paths_and_an_error(served: tuple[str, Store]) -> None:
    url, store = served
    with Client(url) as client:
        stored = client.explain.global_("cancer-rf", 1, top=2)
        assert client.explain.latest("cancer-rf", 1)["revision"] == stored["revision"]
        local = client.explain.local("cancer-rf", 1, store.frame.drop(columns=["target"]).iloc[[1]])
        _additive(local)
        assert client.explain.for_request(store.request_id)["deployment"]["endpoint"] == ENDPOINT
        with pytest.raises(NotFound, match="version 7"):
            client.explain.latest("cancer-rf", 7)
        with pytest.raises(InvalidInput):
            client.explain.local("cancer-rf", 1, "not a row")


def _cli(url: str, *args: str) -> Any:
    return CliRunner().invoke(cli_app, list(args), env={"MODELWARD_TRACKING_URI": url, "COLUMNS": "200"})


def test_cli_happy_paths_and_an_error(served: tuple[str, Store], tmp_path: Path) -> None:
    url, store = served
    stored = _cli(url, "explain", "global", "cancer-rf", "1", "--top", "2", "--json")
    assert stored.exit_code == 0, stored.output
    assert json.loads(stored.output)["model"] == "cancer-rf"
    table = _cli(url, "explain", "global", "cancer-rf", "1", "--top", "2")
    assert table.exit_code == 0 and "permutation importance" in table.output
    row = json.dumps(store.frame.drop(columns=["target"]).iloc[0].to_dict())
    local = _cli(url, "explain", "local", "cancer-rf", "1", "--row", row)
    assert local.exit_code == 0, local.output
    assert "attribution" in local.output and "euclidean" in local.output
    request = _cli(url, "explain", "request", store.request_id)
    assert request.exit_code == 0, request.output
    assert ENDPOINT in request.output and "deployment revision" in request.output
    env = {"PATH": "/usr/bin:/bin", "MODELWARD_TRACKING_URI": url, "HOME": str(tmp_path)}
    for args in (["local", "cancer-rf", "1", "--row", "{not json"], ["request", "no-such-request"]):
        done = subprocess.run([sys.executable, "-m", "modelward", "explain", *args], capture_output=True,
                              text=True, env=env, cwd=tmp_path, check=False)
        assert done.returncode != 0, args
        assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("Error:"), done.stderr


def test_counterfactuals_through_rest_sdk_and_cli(served: tuple[str, Store]) -> None:
    """Each interface returns counterfactuals the model really answers differently; a bad body is a 4xx."""
    url, store = served
    row = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    base = f"{url}/api/v1/models/iris/versions/{store.iris_version}/counterfactuals"
    answered = httpx.post(base, json={"inputs": row, "count": 2, "constraints": {"immutable": ["sepal_width"]}},
                          timeout=120)
    assert answered.status_code == 200, answered.text
    document = answered.json()
    assert document["counterfactuals"] and document["constraints_source"] == "request"
    for found in document["counterfactuals"]:
        assert found["prediction"] != document["original_prediction"]
        assert found["values"]["sepal_width"] == row["sepal_width"]  # immutable
    too_many = httpx.post(base, json={"inputs": row, "max_evaluations": 10_000_000})
    assert too_many.status_code == 400 and "max_evaluations" in too_many.json()["message"]
    with Client(url) as client:
        logged = client.explain.counterfactuals_for_request(store.request_id, count=1)
        assert logged["request_id"] == store.request_id and logged["version"] == store.iris_version
        assert logged["counterfactuals"][0]["prediction"] != logged["original_prediction"]
    shown = _cli(url, "explain", "counterfactual", "iris", str(store.iris_version), "--row", json.dumps(row),
                 "--count", "1")
    assert shown.exit_code == 0, shown.output
    assert "changes (old -> new)" in shown.output and "->" in shown.output
    wrong = _cli(url, "explain", "counterfactual", "iris")
    assert wrong.exit_code != 0

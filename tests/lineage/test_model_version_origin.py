"""From a registered model version back through its registration to the run that trained it:
params, data and code, by every form of version reference (SDK on every backend, REST, CLI)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pandas as pd
import pytest
from typer.testing import CliRunner

from modelward.cli import app
from modelward.errors import NotFound
from modelward.sdk.client import Client
from tests.registry.helpers import MLMODEL

PARAMS = {"C": "0.5", "penalty": "l2"}
GIT = {"commit": "4f2a" * 10, "branch": "main", "dirty": False, "remote": "https://example.org/team/churn.git"}


def _train_and_register(client: Client, model: str) -> tuple[str, str, str]:
    """An upstream prep run writes a dataset; the training run reads it and logs a model folder,
    which is registered and aliased 'champion'. Returns (train run, prep run, training dataset id)."""
    experiment = client.experiments.get_or_create(f"origin-{model}")
    prep = client.runs.create(experiment.id, name="prep").id
    client.runs.log_params(prep, {"prep_only": "1"})
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    data = client.datasets.log(frame, name="churn-train", run_id=prep, context="output")
    train = client.runs.create(experiment.id, name="train",
                               environment={"git": GIT, "command": ["train.py", "--C", "0.5"]}).id
    client.runs.log_params(train, PARAMS)
    client.runs.log_metric(train, "auc", 0.83)
    client.datasets.log(frame, name="churn-train", run_id=train)
    client.artifacts.upload_bytes(train, "model/MLmodel", MLMODEL)
    client.artifacts.upload_bytes(train, "model/model.skops", f"weights-{model}".encode())
    client.models.register(model, run_id=train, artifact_path="model")
    client.models.set_alias(model, "champion", 1)
    return train, prep, data.id


REFS = ("models:/{m}/1", "models:/{m}@champion", "{m}/1", "{m}@champion")


def test_version_refs_walk_through_the_registration_to_the_training_run(client: Client, unique: str) -> None:
    model = f"churn-{unique}"
    train, prep, data_id = _train_and_register(client, model)
    for form in REFS:
        ref = form.format(m=model)
        assert client.lineage.hyperparameters(ref) == PARAMS, ref
        [run] = client.lineage.training_runs(ref)
        assert (run.run_id, run.metrics) == (train, {"auc": 0.83}), ref  # not the prep run further up
        assert client.lineage.code(ref) == {train: {**GIT, "command": ["train.py", "--C", "0.5"]}}
        [used] = client.lineage.training_data(ref)
        assert (used.id, used.used_by, used.rows) == (data_id, [train], 3)
    origin = client.lineage.origin(f"models:/{model}/1")
    assert origin.root == client.lineage.upstream(f"models:/{model}/1").root
    assert prep not in {r.run_id for r in origin.runs}
    # the registration's own node: the same answer
    registration = next(n for n in client.lineage.upstream(f"models:/{model}/1", depth=1).executions())
    assert registration.type == "registration"
    assert client.lineage.hyperparameters(f"execution:{registration.id}") == PARAMS
    with pytest.raises(NotFound):
        client.lineage.origin(f"models:/{model}/9")
    with pytest.raises(NotFound):
        client.lineage.origin(f"{model}@nobody")


def test_rest_origin_answers_a_version_by_alias(client: Client, unique: str) -> None:
    model = f"rest-{unique}"
    train, _, _ = _train_and_register(client, model)
    response = client.http._client.get("/api/v1/lineage/origin", params={"ref": f"models:/{model}@champion"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(r["run_id"], r["params"]) for r in body["runs"]] == [(train, PARAMS)]
    assert body["runs"][0]["code"]["commit"] == GIT["commit"]
    bad = client.http._client.get("/api/v1/lineage/origin", params={"ref": "models:/only-a-name"})
    assert bad.status_code == 400 and bad.json()["error_code"]


@pytest.fixture
def embedded() -> Iterator[Client]:
    with Client() as store:
        yield store


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_cli_params_datasets_and_code_of_a_model_version(embedded: Client) -> None:
    train, _, data_id = _train_and_register(embedded, "cli-model")
    for ref in ("models:/cli-model/1", "models:/cli-model@champion", "cli-model/1"):
        assert json.loads(_cli("lineage", "params", ref, "--json")) == {train: PARAMS}
    table = _cli("lineage", "params", "models:/cli-model/1")
    assert f"run {train}" in table and "penalty" in table and "l2" in table
    found = json.loads(_cli("lineage", "datasets", "models:/cli-model/1", "--json"))
    assert [(d["id"], d["role"]) for d in found] == [(data_id, "training")]
    assert json.loads(_cli("lineage", "code", "cli-model@champion", "--json"))[train]["commit"] == GIT["commit"]
    assert GIT["commit"] in _cli("lineage", "code", "models:/cli-model/1")
    missing = CliRunner().invoke(app, ["lineage", "params", "models:/cli-model/5"])
    assert missing.exit_code != 0

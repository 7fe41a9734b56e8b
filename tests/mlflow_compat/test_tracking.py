"""Experiments, runs, search, metrics and dataset inputs through the official mlflow client."""

from __future__ import annotations

import math
import time

import httpx
import mlflow
import pandas as pd
import pytest
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

import modelward


def test_experiment_crud_and_search(client, unique):
    experiment_id = client.create_experiment(f"exp-{unique}", artifact_location="/etc", tags={"team": "nlp"})
    experiment = client.get_experiment(experiment_id)
    assert experiment.name == f"exp-{unique}" and experiment.tags["team"] == "nlp"
    assert experiment.artifact_location == f"mlflow-artifacts:/{experiment_id}"  # the client's location is ignored
    assert experiment.lifecycle_stage == "active" and experiment.creation_time > 1_600_000_000_000
    assert client.get_experiment_by_name(f"exp-{unique}").experiment_id == experiment_id
    assert client.get_experiment_by_name(f"missing-{unique}") is None

    client.rename_experiment(experiment_id, f"renamed-{unique}")
    assert client.get_experiment(experiment_id).name == f"renamed-{unique}"
    found = client.search_experiments(filter_string=f"name LIKE 'renamed-{unique}%'")
    assert [e.experiment_id for e in found] == [experiment_id]
    assert [e.name for e in client.search_experiments(filter_string=f"name = 'renamed-{unique}'")] == [f"renamed-{unique}"]

    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    assert not client.search_experiments(filter_string=f"name = 'renamed-{unique}'")
    deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY, filter_string=f"name = 'renamed-{unique}'")
    assert [e.experiment_id for e in deleted] == [experiment_id]
    client.restore_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"


def test_duplicate_experiment_is_mlflows_400(client, url, unique):
    client.create_experiment(f"dup-{unique}")
    with pytest.raises(MlflowException) as caught:
        client.create_experiment(f"dup-{unique}")
    assert caught.value.error_code == "RESOURCE_ALREADY_EXISTS"
    answer = httpx.post(f"{url}/api/2.0/mlflow/experiments/create", json={"name": f"dup-{unique}"})
    assert answer.status_code == 400 and answer.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    missing = httpx.get(f"{url}/ajax-api/2.0/mlflow/runs/get", params={"run_id": "0" * 32})
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_fluent_run_logs_everything(client, url, unique):
    mlflow.set_experiment(f"fluent-{unique}")
    with mlflow.start_run(run_name="first") as run:
        mlflow.log_param("lr", 0.1)
        mlflow.log_params({"layers": 3, "opt": "adam"})
        for step in range(3):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"acc": 0.9, "odd": float("nan")})
        mlflow.set_tag("stage", "dev")
        mlflow.log_text("hello", "notes/readme.txt")
        mlflow.log_dict({"k": 1}, "config.json")
    got = client.get_run(run.info.run_id)
    assert got.info.status == "FINISHED" and got.info.end_time >= got.info.start_time
    assert got.info.run_name == "first" and got.data.tags["mlflow.runName"] == "first"
    assert got.data.params == {"lr": "0.1", "layers": "3", "opt": "adam"}
    assert got.data.metrics["loss"] == pytest.approx(1 / 3) and got.data.metrics["acc"] == 0.9
    assert math.isnan(got.data.metrics["odd"])
    assert got.data.tags["stage"] == "dev"
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5), (2, pytest.approx(1 / 3))]
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"notes", "config.json"}


def test_run_name_and_tag_stay_in_sync(client, unique):
    experiment_id = client.create_experiment(f"names-{unique}")
    run = client.create_run(experiment_id, run_name="before")
    client.set_tag(run.info.run_id, "mlflow.runName", "after")
    assert client.get_run(run.info.run_id).info.run_name == "after"
    client.update_run(run.info.run_id, name="final")
    got = client.get_run(run.info.run_id)
    assert got.info.run_name == "final" and got.data.tags["mlflow.runName"] == "final"
    assert [r.info.run_id for r in client.search_runs([experiment_id], "tags.mlflow.runName = 'final'")] == [run.info.run_id]
    assert [r.info.run_id for r in client.search_runs([experiment_id], "run_name = 'final'")] == [run.info.run_id]


def test_search_runs_dataframe_with_filter_and_order(url, unique):
    mlflow.set_experiment(f"search-{unique}")
    for i, (m0, p1) in enumerate([(0.9, "x"), (0.2, "x"), (0.7, "y"), (0.6, "x")]):
        with mlflow.start_run(run_name=f"r{i}"):
            mlflow.log_param("p1", p1)
            mlflow.log_metrics({"m0": m0, "m1": float(i)})
    frame = mlflow.search_runs(
        experiment_names=[f"search-{unique}"], filter_string="metrics.m0 > 0.5 and params.p1 = 'x'",
        order_by=["metrics.m1 DESC"],
    )
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["tags.mlflow.runName"]) == ["r3", "r0"]
    assert list(frame["metrics.m1"]) == [3.0, 0.0]
    by_status = mlflow.search_runs(experiment_names=[f"search-{unique}"],
                                   filter_string="attributes.status = 'FINISHED'", order_by=["attributes.start_time ASC"])
    assert list(by_status["tags.mlflow.runName"]) == ["r0", "r1", "r2", "r3"]


def test_search_runs_pages_and_view_types(client, unique):
    experiment_id = client.create_experiment(f"pages-{unique}")
    ids = [client.create_run(experiment_id, run_name=f"r{i}").info.run_id for i in range(5)]
    seen, token = [], None
    while True:
        page = client.search_runs([experiment_id], max_results=2, page_token=token)
        assert len(page) <= 2
        seen += [r.info.run_id for r in page]
        token = page.token
        if not token:
            break
    assert sorted(seen) == sorted(ids)
    client.delete_run(ids[0])
    assert ids[0] not in [r.info.run_id for r in client.search_runs([experiment_id])]
    deleted = client.search_runs([experiment_id], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in deleted] == [ids[0]]
    assert len(client.search_runs([experiment_id], run_view_type=ViewType.ALL)) == 5
    client.restore_run(ids[0])
    assert client.get_run(ids[0]).info.lifecycle_stage == "active"
    picked = client.search_runs([experiment_id], f"attributes.run_id IN ('{ids[1]}', '{ids[2]}')")
    assert sorted(r.info.run_id for r in picked) == sorted(ids[1:3])


def test_delete_tag_and_terminate(client, unique):
    experiment_id = client.create_experiment(f"tags-{unique}")
    run_id = client.create_run(experiment_id).info.run_id
    client.set_tag(run_id, "doomed", "yes")
    client.delete_tag(run_id, "doomed")
    assert "doomed" not in client.get_run(run_id).data.tags
    end_ms = int(time.time() * 1000)
    client.set_terminated(run_id, "KILLED", end_time=end_ms)
    info = client.get_run(run_id).info
    assert info.status == "KILLED" and info.end_time == end_ms


def test_log_batch_and_its_limits(client, url, unique):
    experiment_id = client.create_experiment(f"batch-{unique}")
    run_id = client.create_run(experiment_id).info.run_id
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric("m", float(i), now + i, i) for i in range(1000)],
                     params=[Param("p", "1")], tags=[RunTag("t", "v")])
    assert len(client.get_metric_history(run_id, "m")) == 1000
    # The mlflow client splits big batches itself, so the server's limits are tried raw.
    too_many = {
        "metrics": {"metrics": [{"key": "m", "value": 1.0, "timestamp": now, "step": i} for i in range(1001)]},
        "params": {"params": [{"key": f"p{i}", "value": "v"} for i in range(101)]},
        "tags": {"tags": [{"key": f"t{i}", "value": "v"} for i in range(101)]},
        "total metrics, params and tags": {
            "metrics": [{"key": "m", "value": 1.0, "timestamp": now, "step": i} for i in range(950)],
            "params": [{"key": f"p{i}", "value": "v"} for i in range(60)],
        },
    }
    for limit_named, body in too_many.items():
        answer = httpx.post(f"{url}/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, **body})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE" and limit_named in answer.json()["message"]
    assert len(client.get_metric_history(run_id, "m")) == 1000  # nothing of a refused batch was kept
    with pytest.raises(MlflowException) as caught:
        client.log_param(run_id, "p", "2")  # a param never changes
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_run(run_id).data.params["p"] == "1"


def test_nan_sent_as_json_literal(url, client, unique):
    experiment_id = client.create_experiment(f"nan-{unique}")
    run_id = client.create_run(experiment_id).info.run_id
    body = '{"run_id": "%s", "key": "m", "value": NaN, "timestamp": 1, "step": 0}' % run_id
    answer = httpx.post(f"{url}/api/2.0/mlflow/runs/log-metric", content=body,
                        headers={"content-type": "application/json"})
    assert answer.status_code == 200, answer.text
    assert math.isnan(client.get_metric_history(run_id, "m")[0].value)


def test_mlflow_and_modelward_sdk_see_the_same_run(client, url, unique):
    experiment_id = client.create_experiment(f"shared-{unique}")
    run_id = client.create_run(experiment_id, run_name="from-mlflow").info.run_id
    client.log_batch(run_id, metrics=[Metric("acc", 0.75, 1, 0)], params=[Param("lr", "0.1")], tags=[RunTag("t", "v")])
    with modelward.Client(url) as ours:
        run = ours.runs.get(run_id)
        assert (run.name, run.params, run.metrics["acc"], run.tags["t"]) == ("from-mlflow", {"lr": "0.1"}, 0.75, "v")
        native = ours.runs.create(experiment_id, name="from-modelward", tags={"k": "1"})
        ours.runs.log_params(native.id, {"depth": 4})
        ours.runs.log_metric(native.id, "loss", 0.5, step=3)
    seen = client.get_run(native.id)
    assert seen.info.run_name == "from-modelward" and seen.data.params == {"depth": "4"}
    assert seen.data.metrics == {"loss": 0.5} and seen.data.tags["k"] == "1"
    assert [(m.step, m.value) for m in client.get_metric_history(native.id, "loss")] == [(3, 0.5)]


def test_log_input_dataset(client, url, unique):
    mlflow.set_experiment(f"inputs-{unique}")
    frame = pd.DataFrame({"x": [1.0, 2.0], "y": [0.0, 1.0]})
    with mlflow.start_run() as run:
        mlflow.log_input(mlflow.data.from_pandas(frame, name="train"), context="training")
        mlflow.log_input(mlflow.data.from_pandas(frame.head(1), name="eval"), context="eval")
    inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
    assert sorted(i.dataset.name for i in inputs) == ["eval", "train"]
    train = next(i for i in inputs if i.dataset.name == "train")
    assert train.dataset.digest and train.dataset.source_type and "mlflow_colspec" in train.dataset.schema
    assert {t.key: t.value for t in train.tags}["mlflow.data.context"] == "training"
    assert "modelward.inputs" not in client.get_run(run.info.run_id).data.tags
    with modelward.Client(url) as ours:  # lineage: the run read both datasets
        read = {d.name: d for d in ours.datasets.of_run(run.info.run_id, "input")}
        assert sorted(read) == ["eval", "train"]
        assert read["train"].digest == f"mlflow:{train.dataset.digest}" and read["train"].source_type == "mlflow"
        impact = ours.lineage.downstream(f"dataset:{read['train'].id}")
        assert run.info.run_id in {n.run_id for n in impact.executions()}


def test_default_experiment_zero(client):
    assert client.get_experiment("0").name == "Default"
    run = client.create_run("0")
    assert client.get_run(run.info.run_id).info.experiment_id == client.get_experiment_by_name("Default").experiment_id

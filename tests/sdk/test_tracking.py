"""The tracking SDK, run against every backend: embedded SQLite, embedded PostgreSQL and a
remote server process (the `client` fixture). One suite, not copies of it."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest

from modelward import AlreadyExists, Conflict, InvalidInput, NotFound
from modelward.domain.tracking import Metric, ProcessInfo, RunStatus
from modelward.sdk.client import Client
from modelward.sdk.tables import differing_columns


def test_experiment_life_cycle(client: Client, unique: str) -> None:
    name = f"team-{unique}/churn/baseline"
    created = client.experiments.create(name, description="first try", tags={"owner": "ana"})
    assert created.name == name and created.folder == f"team-{unique}/churn"
    assert client.experiments.get_by_name(name).id == created.id
    assert client.experiments.get(created.id).tags == {"owner": "ana"}

    with pytest.raises(AlreadyExists, match=name):
        client.experiments.create(name)

    renamed = client.experiments.rename(created.id, f"team-{unique}/churn/v2")
    assert renamed.name.endswith("/v2")
    with pytest.raises(NotFound):
        client.experiments.get_by_name(name)

    client.experiments.delete(created.id)
    assert client.experiments.get(created.id).lifecycle.value == "deleted"
    assert created.id not in [e.id for e in client.experiments.list(prefix=f"team-{unique}")]
    assert created.id in [e.id for e in client.experiments.list(prefix=f"team-{unique}", lifecycle="deleted")]
    # A soft-deleted experiment keeps its name...
    with pytest.raises(AlreadyExists):
        client.experiments.create(f"team-{unique}/churn/v2")
    assert client.experiments.restore(created.id).lifecycle.value == "active"


def test_permanent_delete_frees_the_name(client: Client, unique: str) -> None:
    name = f"purge-{unique}"
    first = client.experiments.create(name)
    run = client.runs.create(first.id, name="doomed")
    client.experiments.delete(first.id, permanent=True)
    with pytest.raises(NotFound):
        client.runs.get(run.id)
    second = client.experiments.create(name)
    assert second.id != first.id


def test_folders_list_only_their_subtree(client: Client, unique: str) -> None:
    for name in ("a/x", "a/y", "a/y/deep", "ab/z", "b/x"):
        client.experiments.create(f"{unique}{name}")
    under_a = sorted(e.name.removeprefix(unique) for e in client.experiments.list(prefix=f"{unique}a"))
    assert under_a == ["a/x", "a/y", "a/y/deep"]


@pytest.mark.parametrize("bad", ["", "   ", "a//b", "a/../b", "/abs", "a\\b", "x" * 300])
def test_invalid_experiment_names_are_refused(client: Client, bad: str) -> None:
    with pytest.raises(InvalidInput):
        client.experiments.create(bad)


def test_run_records_params_metrics_tags(client: Client, unique: str) -> None:
    experiment = client.experiments.create(f"exp-{unique}")
    run = client.runs.create(
        experiment.id, name="rf", tags={"team": "risk"},
        process=ProcessInfo(pipeline_run_id="pipe-1", trigger_type="schedule", process_type="training",
                            step_name="train"),
    )
    assert run.status is RunStatus.RUNNING and run.end_time is None
    client.runs.log_params(run.id, {"n_estimators": 100, "max_depth": None})
    client.runs.log_metric_columns(run.id, ["loss"] * 3, [0.9, 0.5, 0.3], [0, 1, 2], [1000, 2000, 3000])
    client.runs.log_batch(run.id, metrics=[Metric(key="acc", value=0.8, step=0, timestamp_ms=5)])
    client.runs.set_tags(run.id, {"stage": "dev"})
    ended = client.runs.end(run.id)

    assert ended.status is RunStatus.FINISHED
    assert ended.end_time is not None and ended.duration_s is not None and ended.duration_s >= 0
    assert ended.params == {"n_estimators": "100", "max_depth": "None"}
    assert ended.metrics == {"loss": 0.3, "acc": 0.8}
    assert ended.tags == {"team": "risk", "stage": "dev"}
    assert ended.process.pipeline_run_id == "pipe-1" and ended.process.step_name == "train"
    history = client.runs.metric_history(run.id, "loss")
    assert [(m.step, m.value, m.timestamp_ms) for m in history] == [(0, 0.9, 1000), (1, 0.5, 2000), (2, 0.3, 3000)]


def test_latest_metric_is_the_highest_step_whatever_the_arrival_order(client: Client, unique: str) -> None:
    run = client.runs.create(client.experiments.create(f"order-{unique}").id)
    client.runs.log_metric_columns(run.id, ["m"], [5.0], [10], [100])
    client.runs.log_metric_columns(run.id, ["m"], [1.0], [3], [200])  # late point for an earlier step
    assert client.runs.get(run.id).metrics["m"] == 5.0


def test_non_finite_metric_values_round_trip(client: Client, unique: str) -> None:
    run = client.runs.create(client.experiments.create(f"nan-{unique}").id)
    client.runs.log_metric_columns(run.id, ["x", "x", "x"], [math.nan, math.inf, -math.inf], [0, 1, 2], [1, 2, 3])
    values = [m.value for m in client.runs.metric_history(run.id, "x")]
    assert math.isnan(values[0]) and values[1] == math.inf and values[2] == -math.inf


def test_params_are_immutable(client: Client, unique: str) -> None:
    run = client.runs.create(client.experiments.create(f"params-{unique}").id)
    client.runs.log_params(run.id, {"lr": "0.1"})
    client.runs.log_params(run.id, {"lr": "0.1"})  # the same value again is fine
    with pytest.raises(InvalidInput, match="lr"):
        client.runs.log_params(run.id, {"lr": "0.2"})
    assert client.runs.get(run.id).params == {"lr": "0.1"}


def test_a_failed_batch_stores_nothing(client: Client, unique: str) -> None:
    run = client.runs.create(client.experiments.create(f"atomic-{unique}").id)
    client.runs.log_params(run.id, {"a": "1"})
    with pytest.raises(InvalidInput):
        client.runs.log_metric_columns(run.id, ["ok"], [1.0], [0], [1], params={"a": "2", "b": "3"})
    stored = client.runs.get(run.id)
    assert stored.params == {"a": "1"} and stored.metrics == {}


def test_bad_keys_and_unknown_ids_are_clear_errors(client: Client, unique: str) -> None:
    run = client.runs.create(client.experiments.create(f"bad-{unique}").id)
    with pytest.raises(InvalidInput, match="metric key"):
        client.runs.log_metric(run.id, "../escape", 1.0)
    with pytest.raises(NotFound, match="nope"):
        client.runs.get("nope")
    with pytest.raises(NotFound, match="missing-exp"):
        client.runs.create("missing-exp")


def test_tags_can_be_deleted(client: Client, unique: str) -> None:
    run = client.runs.create(client.experiments.create(f"tags-{unique}").id, tags={"a": "1", "b": "2"})
    client.runs.delete_tag(run.id, "a")
    assert client.runs.get(run.id).tags == {"b": "2"}
    with pytest.raises(NotFound):
        client.runs.delete_tag(run.id, "a")


def test_notes_can_be_added_and_edited_later(client: Client, unique: str) -> None:
    run = client.runs.create(client.experiments.create(f"notes-{unique}").id)
    client.runs.end(run.id)
    note = client.runs.add_note(run.id, "baseline looks overfit")
    edited = client.runs.update_note(run.id, note.id, "baseline overfits after epoch 3")
    assert edited.updated_at >= note.updated_at
    assert [n.text for n in client.runs.notes(run.id)] == ["baseline overfits after epoch 3"]
    with pytest.raises(InvalidInput):
        client.runs.add_note(run.id, "   ")


def test_deleted_runs_refuse_logging_and_can_be_restored(client: Client, unique: str) -> None:
    run = client.runs.create(client.experiments.create(f"del-{unique}").id)
    client.runs.delete(run.id)
    with pytest.raises(Conflict, match="deleted"):
        client.runs.log_metric(run.id, "m", 1.0)
    client.runs.restore(run.id)
    client.runs.log_metric(run.id, "m", 1.0)
    assert client.runs.get(run.id).metrics == {"m": 1.0}


def test_search_filters_orders_and_pages(client: Client, unique: str) -> None:
    experiment = client.experiments.create(f"search-{unique}")
    for i in range(12):
        run = client.runs.create(experiment.id, name=f"r{i}", tags={"team": "risk" if i % 2 else "growth"})
        client.runs.log_metric_columns(
            run.id, ["accuracy"], [i / 10], params={"model": "rf" if i % 3 == 0 else "lr"}
        )
    page = client.runs.search(
        [experiment.id], 'metrics.accuracy > 0.2 and params.model = "rf" and tags.team = "risk"',
        order_by=["metrics.accuracy DESC"],
    )
    assert [r.name for r in page.runs] == ["r9", "r3"]

    names, token = [], None
    while True:
        page = client.runs.search([experiment.id], order_by=["metrics.accuracy ASC"], max_results=5, page_token=token)
        names += [r.name for r in page.runs]
        token = page.next_page_token
        if not token:
            break
    assert names == [f"r{i}" for i in range(12)]


def test_malformed_filter_names_the_token_and_position(client: Client, unique: str) -> None:
    experiment = client.experiments.create(f"filter-{unique}")
    with pytest.raises(InvalidInput, match=r"position 19: expected a value after '>', found 'and'"):
        client.runs.search([experiment.id], "metrics.accuracy > and")


def test_compare_returns_a_frame_and_the_differences(client: Client, unique: str) -> None:
    experiment = client.experiments.create(f"cmp-{unique}")
    first = client.runs.create(experiment.id, name="a")
    second = client.runs.create(experiment.id, name="b")
    client.runs.log_metric_columns(first.id, ["acc"], [0.8], params={"model": "rf", "seed": "1"})
    client.runs.log_metric_columns(second.id, ["acc"], [0.9], params={"model": "lr", "seed": "1"})
    frame = client.compare([first.id, second.id])
    assert list(frame["run_id"]) == [first.id, second.id]
    assert list(frame["metrics.acc"]) == [0.8, 0.9]
    changed = differing_columns(frame)
    assert "params.model" in changed and "metrics.acc" in changed and "params.seed" not in changed


def test_artifacts_round_trip_and_dedupe(client: Client, unique: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    run = client.runs.create(client.experiments.create(f"art-{unique}").id)
    folder = tmp_path / "out"
    (folder / "plots").mkdir(parents=True)
    (folder / "report.txt").write_text("hello")
    (folder / "plots" / "copy.txt").write_text("hello")
    stored = client.artifacts.upload(run.id, folder, "results")
    assert sorted(f.path for f in stored) == ["results/plots/copy.txt", "results/report.txt"]
    assert stored[0].digest == stored[1].digest  # identical bytes, one blob
    assert client.artifacts.read_bytes(run.id, "results/report.txt") == b"hello"
    assert [f.path for f in client.artifacts.list(run.id, "results/plots")] == ["results/plots/copy.txt"]
    target = client.artifacts.download(run.id, "results", tmp_path / "back")
    assert (target / "plots" / "copy.txt").read_text() == "hello"


@pytest.mark.parametrize(
    "path", ["../outside.txt", "/etc/passwd", "a/../../b", "..%2Foutside", "%2e%2e/x", "C:\\x", "a\\..\\b"]
)
def test_artifact_paths_outside_the_run_are_refused(client: Client, unique: str, path: str) -> None:
    run = client.runs.create(client.experiments.create(f"trav-{unique}").id)
    with pytest.raises((InvalidInput, NotFound)):
        client.artifacts.upload_bytes(run.id, path, b"x")
    assert client.artifacts.list(run.id) == []


def test_execution_logs_are_stored_in_order(client: Client, unique: str) -> None:
    run = client.runs.create(client.experiments.create(f"logs-{unique}").id)
    client.runs.append_logs(run.id, [("stdout", "epoch 1\n"), ("stderr", "warning\n")])
    client.runs.append_logs(run.id, [("stdout", "epoch 2\n")])
    chunks = client.runs.logs(run.id)
    assert [(c.seq, c.stream, c.text) for c in chunks] == [
        (1, "stdout", "epoch 1\n"), (2, "stderr", "warning\n"), (3, "stdout", "epoch 2\n")
    ]
    assert [c.text for c in client.runs.logs(run.id, after_seq=2)] == ["epoch 2\n"]


def test_export_as_json_is_complete(client: Client, unique: str) -> None:
    experiment = client.experiments.create(f"export-{unique}")
    run = client.runs.create(experiment.id, name="x")
    client.runs.log_metric_columns(run.id, ["acc"], [0.5], params={"p": "1"})
    exported = [json.loads(r.model_dump_json()) for r in client.runs.search_all([experiment.id])]
    assert exported[0]["params"] == {"p": "1"} and exported[0]["metrics"] == {"acc": 0.5}
    assert datetime.fromisoformat(exported[0]["start_time"]).tzinfo is not None
    assert datetime.fromisoformat(exported[0]["start_time"]) <= datetime.now(UTC)

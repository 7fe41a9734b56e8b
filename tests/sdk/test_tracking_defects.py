"""Issue 12, item 5: tracking defects, each pinned on every backend it concerns.

1. a bad metric key or value fails at the call, and a batch the server refuses does not
   take the valid points queued with it;
2. a run whose process died stops being RUNNING once its heartbeat is overdue;
3. an unknown status is InvalidInput naming the allowed ones;
4. an experiment name with '/' that does not exist is a plain 404;
5. many runs in one request, one transaction.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import modelward as mw
from modelward import Conflict, InvalidInput, NotFound
from modelward.domain.actors import Actor
from modelward.domain.tracking import RunStatus
from modelward.sdk import batcher as batcher_module
from modelward.sdk.client import Client
from modelward.services import experiments as experiment_service
from modelward.services import runs as run_service
from modelward.services.backend import Backend
from modelward.settings import Settings

ACTOR = Actor(name="t")


def _record_calls(client: Client) -> list[str]:
    """Every request the client sends from now on, as 'METHOD /path'."""
    calls: list[str] = []
    original = client.http.call

    def call(method: str, path: str, **kwargs: Any) -> Any:
        calls.append(f"{method} {path}")
        return original(method, path, **kwargs)

    client.http.call = call  # type: ignore[method-assign]
    return calls


@pytest.fixture
def fluent(tmp_path: Path) -> Iterator[mw.Client]:
    mw.set_tracking_uri(None)
    yield mw.get_client()
    if mw.active_run() is not None:
        mw.end_run()
    mw.set_tracking_uri(None)


# 1. One bad point must not cost the good ones -------------------------------------------


def test_a_bad_metric_key_fails_at_the_call_and_the_rest_is_kept(fluent: mw.Client) -> None:
    with mw.start_run("mixed", experiment="defects/keys") as run:
        mw.log_metric("loss", 1.0, step=0)
        with pytest.raises(InvalidInput, match="bad key!"):
            mw.log_metric("bad key!", 1)
        mw.log_metric("loss", 0.5, step=1)
        mw.log_metrics({"acc": 0.9})
    stored = fluent.runs.get(run.id)
    assert stored.status is RunStatus.FINISHED
    assert stored.metrics == {"loss": 0.5, "acc": 0.9}
    assert len(fluent.runs.metric_history(run.id, "loss")) == 2


@pytest.mark.parametrize("value", ["high", None, [1.0], b"1"])
def test_a_metric_value_that_is_not_a_number_fails_at_the_call(fluent: mw.Client, value: Any) -> None:
    with mw.start_run("values", experiment="defects/values") as run:
        with pytest.raises(InvalidInput, match="metric 'loss'"):
            mw.log_metric("loss", value)
        mw.log_metric("loss", 2)  # ints, numpy scalars, anything float() takes from a number
    assert fluent.runs.get(run.id).metrics == {"loss": 2.0}


def test_a_bad_step_fails_at_the_call(fluent: mw.Client) -> None:
    with mw.start_run("steps", experiment="defects/steps"):
        with pytest.raises(InvalidInput, match="step"):
            mw.log_metric("loss", 1.0, step="one")  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="step"):
            mw.log_metric("loss", 1.0, step=1.5)  # type: ignore[arg-type]


def test_the_client_checks_keys_and_values_before_sending(client: Client, unique: str) -> None:
    run = client.runs.create(client.experiments.create(f"defects-{unique}").id)
    sent = _record_calls(client)
    with pytest.raises(InvalidInput, match="bad key!"):
        client.runs.log_metric(run.id, "bad key!", 1.0)
    with pytest.raises(InvalidInput, match="metric 'loss'"):
        client.runs.log_metric_columns(run.id, ["loss"], ["high"])  # type: ignore[list-item]
    assert sent == []  # nothing reached the server


def test_a_batch_the_server_refuses_keeps_the_other_points_and_names_the_bad_ones(client: Client, unique: str) -> None:
    run = client.runs.create(client.experiments.create(f"defects-{unique}").id)
    # Straight into the queue, as if the check at the call had been bypassed.
    for step in range(3):
        client.batcher.add_metric(run.id, "loss", 1.0 / (step + 1), step, 1000 + step)
    client.batcher.add_metric(run.id, "bad key!", 1.0, 0, 1000)
    client.batcher.add_metric(run.id, "acc", 0.9, 0, 1000)
    with pytest.raises(InvalidInput) as raised:
        client.flush()
    message = str(raised.value)
    assert "'bad key!'" in message and "1 metric point" in message and run.id in message
    assert client.runs.get(run.id).metrics == {"loss": pytest.approx(1 / 3), "acc": 0.9}
    assert len(client.runs.metric_history(run.id, "loss")) == 3
    client.flush()  # reported once


def test_end_run_reports_points_the_server_refused(fluent: mw.Client) -> None:
    run = mw.start_run("reported", experiment="defects/report")
    mw.log_metric("ok", 1.0)
    fluent.batcher.add_metric(run.id, "bad key!", 1.0, 0, 1)
    with pytest.raises(InvalidInput, match="bad key!"):
        mw.end_run()
    assert mw.active_run() is None
    stored = fluent.runs.get(run.id)
    assert stored.status is RunStatus.FINISHED and stored.metrics == {"ok": 1.0}


# 2. Heartbeats --------------------------------------------------------------------------


def test_a_run_whose_heartbeat_stopped_is_marked_killed(backend: Backend) -> None:
    experiment = experiment_service.create(backend, "beats")
    silent = run_service.start(backend, ACTOR, experiment_id=experiment.id)
    alive = run_service.start(backend, ACTOR, experiment_id=experiment.id)
    never = run_service.start(backend, ACTOR, experiment_id=experiment.id)  # no heartbeat: not watched
    done = run_service.start(backend, ACTOR, experiment_id=experiment.id)
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    run_service.heartbeat(backend, silent.id, now=long_ago)
    run_service.heartbeat(backend, done.id, now=long_ago)
    run_service.end(backend, done.id, actor=ACTOR)
    run_service.heartbeat(backend, alive.id)

    assert run_service.kill_silent_runs(backend, timeout_s=600) == [silent.id]

    killed = run_service.get(backend, silent.id)
    assert killed.status is RunStatus.KILLED
    assert killed.end_time == long_ago
    assert killed.error_message is not None and killed.error_message.startswith(f"no heartbeat since {long_ago:%Y-%m-%d}")
    assert run_service.get(backend, alive.id).status is RunStatus.RUNNING
    assert run_service.get(backend, never.id).status is RunStatus.RUNNING
    assert run_service.get(backend, done.id).status is RunStatus.FINISHED
    assert run_service.kill_silent_runs(backend, timeout_s=600) == []


def test_heartbeats_over_every_backend(client: Client, unique: str) -> None:
    run = client.runs.create(client.experiments.create(f"beats-{unique}").id)
    assert client.runs.heartbeat(run.id) is RunStatus.RUNNING
    client.runs.end(run.id)
    assert client.runs.heartbeat(run.id) is RunStatus.FINISHED  # answered, nothing changed
    assert client.runs.get(run.id).status is RunStatus.FINISHED
    with pytest.raises(NotFound):
        client.runs.heartbeat("0" * 32)


def test_a_live_fluent_run_keeps_beating_and_is_not_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batcher_module, "HEARTBEAT_INTERVAL_S", 0.1)
    monkeypatch.setenv("MODELWARD_RUN_HEARTBEAT_TIMEOUT_S", "2")
    mw.set_tracking_uri(None)
    try:
        with mw.start_run("alive", experiment="defects/alive") as run:
            time.sleep(3)  # no metric at all: only the heartbeat says it lives
            assert mw.get_client().runs.get(run.id).status is RunStatus.RUNNING
        assert mw.get_client().runs.get(run.id).status is RunStatus.FINISHED
    finally:
        mw.set_tracking_uri(None)


def test_a_killed_process_leaves_a_killed_run(tmp_path: Path) -> None:
    started = tmp_path / "run-id.txt"
    script = textwrap.dedent(f"""
        import time
        import modelward as mw
        from modelward.sdk import batcher
        batcher.HEARTBEAT_INTERVAL_S = 0.1
        run = mw.start_run("doomed", experiment="defects/sigkill")
        open({str(started)!r}, "w").write(run.id)
        time.sleep(600)
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELWARD_")}
    process = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, env=env)
    database = tmp_path / ".modelward" / "modelward.db"
    try:
        deadline = time.monotonic() + 60
        beat = None
        while time.monotonic() < deadline and beat is None:
            time.sleep(0.1)
            if started.exists() and started.read_text():
                with sqlite3.connect(database) as connection:
                    row = connection.execute(
                        "SELECT last_heartbeat_at FROM runs WHERE id = ?", (started.read_text(),)
                    ).fetchone()
                beat = row[0] if row else None
        assert beat is not None, "the child process sent no heartbeat"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    run_id = started.read_text()

    with mw.Client(settings=Settings(run_heartbeat_timeout_s=1)) as client:
        deadline = time.monotonic() + 30
        while client.runs.get(run_id).status is RunStatus.RUNNING and time.monotonic() < deadline:
            time.sleep(0.1)
        stored = client.runs.get(run_id)
    assert stored.status is RunStatus.KILLED
    assert stored.end_time is not None
    assert stored.error_message is not None and stored.error_message.startswith("no heartbeat since")


# 3. Unknown statuses --------------------------------------------------------------------


def test_an_unknown_status_is_invalid_input_naming_the_allowed_ones(client: Client, unique: str) -> None:
    run = client.runs.create(client.experiments.create(f"status-{unique}").id)
    with pytest.raises(InvalidInput, match="FINISHED, FAILED, KILLED"):
        client.runs.end(run.id, "NOT_A_STATUS")
    assert client.runs.get(run.id).status is RunStatus.RUNNING
    assert client.runs.end(run.id, "failed").status is RunStatus.FAILED  # case does not matter


def test_the_service_refuses_an_unknown_status_too(backend: Backend) -> None:
    run = run_service.start(backend, ACTOR, experiment_id=experiment_service.create(backend, "s").id)
    with pytest.raises(InvalidInput, match="FINISHED, FAILED, KILLED"):
        run_service.end(backend, run.id, actor=ACTOR, status="NOT_A_STATUS")  # type: ignore[arg-type]
    assert run_service.end(backend, run.id, actor=ACTOR, status="KILLED").status is RunStatus.KILLED  # type: ignore[arg-type]


def test_end_run_refuses_an_unknown_status(fluent: mw.Client) -> None:
    run = mw.start_run("s", experiment="defects/status")
    with pytest.raises(InvalidInput, match="FINISHED, FAILED, KILLED"):
        mw.end_run("DONE")
    assert mw.active_run() is run
    mw.end_run("KILLED")
    assert fluent.runs.get(run.id).status is RunStatus.KILLED


# 4. Experiment names with slashes -------------------------------------------------------


def test_a_missing_experiment_with_slashes_is_a_plain_404(client: Client, unique: str) -> None:
    name = f"team-{unique}/churn/nope"
    with pytest.raises(NotFound, match=f"experiment '{name}' does not exist"):
        client.experiments.resolve(name)
    for call in (
        lambda: client.experiments.get(name),
        lambda: client.experiments.rename(name, "x"),
        lambda: client.experiments.set_tags(name, {"a": "b"}),
        lambda: client.experiments.delete(name),
        lambda: client.experiments.restore(name),
    ):
        with pytest.raises(NotFound, match="does not exist"):
            call()


def test_an_experiment_is_found_by_its_slashed_name_in_the_path(client: Client, unique: str) -> None:
    created = client.experiments.create(f"team-{unique}/churn/yes")
    response = client.http._client.get(f"/api/v1/experiments/team-{unique}/churn/yes")
    assert response.status_code == 200 and response.json()["id"] == created.id
    assert client.experiments.get(created.id).name == created.name
    missing = client.http._client.get(f"/api/v1/experiments/team-{unique}/churn/nope")
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


# 5. Many runs in one request ------------------------------------------------------------


def test_create_many_makes_runs_with_their_data_in_one_request(client: Client, unique: str) -> None:
    experiment = client.experiments.create(f"bulk-{unique}")
    calls = _record_calls(client)
    specs = [
        {
            "experiment_id": experiment.id, "name": f"trial-{i}", "tags": {"grid": "a"},
            "params": {"lr": 0.1 * i, "layers": 2},
            "metrics": {"acc": 0.5 + i / 100, "loss": [1.0, 0.5, 0.25]},
            "status": "FINISHED",
        }
        for i in range(50)
    ]
    created = client.runs.create_many(specs)
    assert calls == ["POST /api/v1/runs/batch"]
    assert [run.name for run in created] == [f"trial-{i}" for i in range(50)]
    third = client.runs.get(created[3].id)
    assert third.params == {"lr": str(0.1 * 3), "layers": "2"}
    assert third.tags == {"grid": "a"}
    assert third.metrics == {"acc": 0.53, "loss": 0.25}
    assert [m.value for m in client.runs.metric_history(third.id, "loss")] == [1.0, 0.5, 0.25]
    assert third.status is RunStatus.FINISHED and third.end_time is not None
    assert len(client.runs.search([experiment.id], max_results=100).runs) == 50
    assert "created" in client.runs.writers(third.id)[third.user or ""]


def test_create_many_is_all_or_nothing(client: Client, unique: str) -> None:
    experiment = client.experiments.create(f"bulk-{unique}")
    good = {"experiment_id": experiment.id, "name": "good"}
    with pytest.raises(NotFound):
        client.runs.create_many([good, {"experiment_id": "0" * 32}])
    with pytest.raises(InvalidInput, match="bad key!"):
        client.runs.create_many([good, {"experiment_id": experiment.id, "params": {"bad key!": 1}}])
    with pytest.raises(InvalidInput, match="bad key!"):
        client.runs.create_many([good, {"experiment_id": experiment.id, "metrics": {"bad key!": 1}}])
    assert client.runs.search([experiment.id]).runs == []


def test_create_many_is_bounded(client: Client, unique: str) -> None:
    experiment = client.experiments.create(f"bulk-{unique}")
    with pytest.raises(InvalidInput, match=f"at most {run_service.MAX_RUNS_PER_BATCH} runs"):
        client.runs.create_many([{"experiment_id": experiment.id}] * (run_service.MAX_RUNS_PER_BATCH + 1))
    assert client.runs.create_many([]) == []
    # The server refuses a request over the limit itself, whatever the client does.
    body = {"runs": [{"experiment_id": experiment.id}] * (run_service.MAX_RUNS_PER_BATCH + 1)}
    with pytest.raises(InvalidInput, match="at most"):
        client.http.call("POST", "/api/v1/runs/batch", json=body)
    assert client.runs.search([experiment.id]).runs == []


def test_create_many_answers_a_payload_too_large_over_the_request_limit(tmp_path: Path) -> None:
    from modelward.errors import PayloadTooLarge

    with Client(settings=Settings(home=tmp_path / "small", max_request_bytes=10_000)) as small:
        experiment = small.experiments.create("bulk")
        spec = {"experiment_id": experiment.id, "metrics": {"m": [float(i) for i in range(2000)]}}
        with pytest.raises(PayloadTooLarge):
            small.runs.create_many([spec])


def test_create_many_is_one_request_for_many_runs(tmp_path: Path) -> None:
    # What makes it fast, asserted without a clock (bench/ has the rates): one request, not
    # one per run plus one per metric batch.
    with Client(settings=Settings(home=tmp_path / "fast")) as fast:
        experiment = fast.experiments.create("bulk")
        requests: list[str] = []
        fast.http._client.event_hooks["request"].append(lambda request: requests.append(request.url.path))
        specs = [{"experiment_id": experiment.id, "params": {"i": i}, "metrics": {"m": float(i)}} for i in range(500)]
        made = fast.runs.create_many(specs)
        assert requests == ["/api/v1/runs/batch"]
        assert len(made) == 500 and [r.params["i"] for r in made] == [str(i) for i in range(500)]
        assert fast.runs.get(made[-1].id).metrics == {"m": 499.0}


def test_the_bulk_route_checks_its_body(client: Client, unique: str) -> None:
    response = client.http._client.post("/api/v1/runs/batch", json={"runs": [{"name": "no experiment"}]})
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    with pytest.raises(Conflict):
        deleted = client.experiments.create(f"bulk-deleted-{unique}")
        client.experiments.delete(deleted.id)
        client.runs.create_many([{"experiment_id": deleted.id}])

"""modelward runs end: mark a run FINISHED, FAILED or KILLED by hand (a run whose process is gone)."""

from __future__ import annotations

from pathlib import Path

from modelward.domain.tracking import RunStatus
from modelward.sdk.client import Client
from tests.cli.conftest import Cli, modelward


def test_end_marks_the_run_with_the_status_and_message(cli: Cli, store: Client) -> None:
    run = store.runs.create(store.experiments.create("ends").id)
    out = cli("runs", "end", run.id, "--status", "KILLED", "--message", "node lost").output
    assert run.id in out and "KILLED" in out
    stored = store.runs.get(run.id)
    assert stored.status is RunStatus.KILLED and stored.error_message == "node lost"
    assert stored.end_time is not None


def test_end_defaults_to_finished_and_takes_any_case(cli: Cli, store: Client) -> None:
    experiment = store.experiments.create("ends")
    first, second = store.runs.create(experiment.id), store.runs.create(experiment.id)
    cli("runs", "end", first.id)
    cli("runs", "end", second.id, "--status", "failed")
    assert store.runs.get(first.id).status is RunStatus.FINISHED
    assert store.runs.get(second.id).status is RunStatus.FAILED


def test_end_refuses_other_statuses_and_unknown_runs(tmp_path: Path) -> None:
    with Client() as client:
        run = client.runs.create(client.experiments.create("ends").id)
    done = modelward("runs", "end", run.id, "--status", "RUNNING", cwd=tmp_path)
    assert done.returncode == 2 and "finished" in done.stderr.lower() and "killed" in done.stderr.lower()
    missing = modelward("runs", "end", "no-such-run-42", cwd=tmp_path)
    lines = missing.stderr.strip().splitlines()
    assert missing.returncode != 0 and len(lines) == 1 and "no-such-run-42" in lines[0]
    with Client() as client:
        assert client.runs.get(run.id).status is RunStatus.RUNNING

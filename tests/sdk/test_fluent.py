"""The module-level API: runs as context managers, background batching, capture, crashes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import modelward as mw
from modelward.domain.tracking import RunStatus


@pytest.fixture
def fluent(tmp_path: Path) -> Iterator[mw.Client]:
    """The fluent API on a fresh embedded store in the test's own folder."""
    mw.set_tracking_uri(None)
    yield mw.get_client()
    if mw.active_run() is not None:
        mw.end_run()
    mw.set_tracking_uri(None)


def test_a_block_that_finishes_marks_the_run_finished(fluent: mw.Client) -> None:
    with mw.start_run("ok", experiment="fluent/ok") as run:
        mw.log_param("alpha", 0.5)
        for step in range(5):
            mw.log_metric("loss", 1 / (step + 1), step=step)
    stored = fluent.runs.get(run.id)
    assert stored.status is RunStatus.FINISHED
    assert stored.params == {"alpha": "0.5"} and stored.metrics["loss"] == pytest.approx(0.2)
    assert len(fluent.runs.metric_history(run.id, "loss")) == 5
    assert mw.active_run() is None


def test_an_exception_marks_the_run_failed_with_message_and_traceback(fluent: mw.Client) -> None:
    with pytest.raises(ZeroDivisionError):
        with mw.start_run("boom", experiment="fluent/fail") as run:
            1 / 0  # noqa: B018
    stored = fluent.runs.get(run.id)
    assert stored.status is RunStatus.FAILED
    assert stored.error_message == "ZeroDivisionError: division by zero"
    assert stored.error_traceback is not None and "1 / 0" in stored.error_traceback
    assert stored.end_time is not None


def test_ctrl_c_marks_the_run_killed(fluent: mw.Client) -> None:
    with pytest.raises(KeyboardInterrupt):
        with mw.start_run("interrupted", experiment="fluent/kill") as run:
            raise KeyboardInterrupt
    assert fluent.runs.get(run.id).status is RunStatus.KILLED


def test_nested_runs_record_their_parent(fluent: mw.Client) -> None:
    with mw.start_run("sweep", experiment="fluent/nested") as parent:
        with mw.start_run("trial-1", nested=True) as child:
            mw.log_metric("score", 1.0)
        with pytest.raises(mw.InvalidInput, match="already active"):
            mw.start_run("not-nested")
    assert fluent.runs.get(child.id).parent_run_id == parent.id
    assert fluent.runs.get(child.id).metrics == {"score": 1.0}


def test_output_is_captured_and_environment_recorded(fluent: mw.Client, capsys: pytest.CaptureFixture[str]) -> None:
    with mw.start_run("talky", experiment="fluent/logs") as run:
        print("epoch 1 done")
        print("careful", file=sys.stderr)
    text = "".join(chunk.text for chunk in fluent.runs.logs(run.id))
    assert "epoch 1 done" in text and "careful" in text
    assert "epoch 1 done" in capsys.readouterr().out  # still shown to the user
    environment = fluent.runs.get(run.id).environment
    assert environment["python"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}")
    assert "pytest" in environment["packages"] and environment["command"]


def test_capture_can_be_turned_off(fluent: mw.Client) -> None:
    with mw.start_run("quiet", experiment="fluent/quiet", capture_output=False, log_environment=False) as run:
        print("not stored")
    assert fluent.runs.logs(run.id) == []
    assert fluent.runs.get(run.id).environment == {}


def test_process_info_comes_from_arguments_or_environment(fluent: mw.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELWARD_PIPELINE_RUN_ID", "nightly-42")
    monkeypatch.setenv("MODELWARD_TRIGGER_TYPE", "schedule")
    with mw.start_run("step", experiment="fluent/pipe", step_name="train", process_type="training") as run:
        pass
    process = fluent.runs.get(run.id).process
    assert (process.pipeline_run_id, process.trigger_type, process.step_name, process.process_type) == (
        "nightly-42", "schedule", "train", "training"
    )


def test_background_logging_is_stored_by_flush(fluent: mw.Client) -> None:
    with mw.start_run("fast", experiment="fluent/batch") as run:
        for step in range(20_000):
            mw.log_metric("x", float(step), step=step)
        mw.flush()
        assert len(fluent.runs.metric_history(run.id, "x")) == 20_000


def test_synchronous_runs_write_before_returning(fluent: mw.Client) -> None:
    with mw.start_run("sync", experiment="fluent/sync", synchronous=True) as run:
        mw.log_metric("y", 3.0)
        assert fluent.runs.get(run.id).metrics == {"y": 3.0}


def test_system_metrics_are_sampled_as_ordinary_metrics(fluent: mw.Client) -> None:
    with mw.start_run("sys", experiment="fluent/sys", system_metrics=True, system_metrics_interval_s=0.05) as run:
        time.sleep(0.4)
    metrics = fluent.runs.get(run.id).metrics
    assert "system/cpu_utilization_percentage" in metrics
    assert 0 <= metrics["system/system_memory_usage_percentage"] <= 100


def test_artifacts_text_and_dicts(fluent: mw.Client, tmp_path: Path) -> None:
    with mw.start_run("files", experiment="fluent/art") as run:
        mw.log_text("hello", "notes/readme.txt")
        mw.log_dict({"a": 1}, "config.json")
        mw.note("first look: fine")
    assert fluent.artifacts.read_bytes(run.id, "notes/readme.txt") == b"hello"
    assert b'"a": 1' in fluent.artifacts.read_bytes(run.id, "config.json")
    assert fluent.runs.notes(run.id)[0].text == "first look: fine"


def _script(body: str) -> str:
    return textwrap.dedent(body)


def test_queued_metrics_are_flushed_at_interpreter_exit(tmp_path: Path) -> None:
    script = _script("""
        import modelward as mw
        run = mw.start_run("exit", experiment="fluent/atexit")
        for step in range(1000):
            mw.log_metric("m", step, step=step)
        print(run.id)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip().splitlines()[-1]
    with mw.Client() as client:
        assert len(client.runs.metric_history(run_id, "m")) == 1000


def test_sigkill_loses_at_most_the_unflushed_tail_and_never_corrupts(tmp_path: Path) -> None:
    progress = tmp_path / "flushed.txt"
    script = _script(f"""
        import modelward as mw, os, pathlib
        def report(text):  # atomically, so the test never reads a half-written file
            pathlib.Path({str(progress)!r} + ".tmp").write_text(text)
            os.replace({str(progress)!r} + ".tmp", {str(progress)!r})
        run = mw.start_run("victim", experiment="fluent/crash")
        report(run.id + " 0")
        step = 0
        while True:
            for _ in range(500):
                mw.log_metric("loss", 1.0 / (step + 1), step=step)
                step += 1
            mw.flush()
            report(f"{{run.id}} {{step}}")
            for _ in range(137):  # an unflushed tail when the kill lands
                mw.log_metric("loss", 0.0, step=step)
                step += 1
    """)
    process = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if progress.exists() and int(progress.read_text().split()[1]) >= 5000:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    run_id, flushed = progress.read_text().split()

    database = tmp_path / ".modelward" / "modelward.db"
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with mw.Client() as client:
        stored = client.runs.metric_history(run_id, "loss")
        assert len(stored) >= int(flushed)
        assert [m.step for m in stored] == list(range(len(stored)))  # no gaps, no partial batch
        assert client.runs.get(run_id).status is RunStatus.RUNNING
        again = client.runs.create(client.experiments.get_by_name("fluent/crash").id)
        client.runs.log_metric(again.id, "after", 1.0)
        assert client.runs.get(again.id).metrics == {"after": 1.0}

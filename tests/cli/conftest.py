"""CLI fixtures: a CliRunner over the app, and a store seeded through the SDK in the test's cwd."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from modelward.cli import app
from modelward.domain.tracking import Metric, RunStatus
from modelward.sdk.client import Client

TRACEBACK = 'Traceback (most recent call last):\n  File "train.py"\nValueError: bad shape\n'


@dataclass
class Seeded:
    client: Client
    experiment_id: str
    fast: str
    slow: str
    failed: str


class Cli:
    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, ok: bool = True) -> Result:
        result = self.runner.invoke(app, list(args), input=input, env={"COLUMNS": "250"})
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result


@pytest.fixture
def cli() -> Cli:
    return Cli()


@pytest.fixture
def store() -> Iterator[Client]:
    """An embedded client on ./.modelward (the cwd is the test's tmp_path)."""
    with Client() as embedded:
        yield embedded


def _run(client: Client, experiment_id: str, name: str, lr: str, acc: float) -> str:
    run = client.runs.create(experiment_id, name=name, tags={"team": "churn"})
    client.runs.log_batch(
        run.id,
        params={"lr": lr, "layers": "2"},
        metrics=[
            Metric(key="acc", value=acc - 0.1, step=0, timestamp_ms=1),
            Metric(key="acc", value=acc, step=1, timestamp_ms=2),
        ],
    )
    return run.id


@pytest.fixture
def seeded(store: Client) -> Seeded:
    """Experiment team/churn/baseline with two finished runs and one failed run."""
    client = store
    exp = client.experiments.create("team/churn/baseline", description="first try")
    fast = _run(client, exp.id, "fast", "0.1", 0.9)
    slow = _run(client, exp.id, "slow", "0.01", 0.8)
    failed = _run(client, exp.id, "broken", "1.0", 0.5)
    for run_id in (fast, slow):
        client.runs.end(run_id)
    client.runs.end(
        failed,
        RunStatus.FAILED,
        error_message="ValueError: bad shape",
        error_traceback=TRACEBACK,
    )
    client.runs.add_note(fast, "looks promising")
    client.artifacts.upload_bytes(fast, "model/weights.bin", b"\x00" * 2048)
    client.artifacts.upload_bytes(fast, "model/config.json", b'{"lr": 0.1}')
    client.artifacts.upload_bytes(fast, "report.txt", b"all good")
    return Seeded(client, exp.id, fast, slow, failed)


def modelward(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m modelward ...`` in a subprocess: real exit codes and stderr."""
    return subprocess.run(
        [sys.executable, "-m", "modelward", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
    )


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELWARD_")}
    env["COLUMNS"] = "250"
    return env

"""modelward data check / checks, on the embedded store in the test's folder."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from modelward.cli import app
from modelward.domain.datasets import Dataset
from modelward.sdk.client import Client
from tests.data.frames import clean, declaration, faulty


def cli(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
    assert result.exit_code == code, (result.output, result.exception)
    return result


@pytest.fixture
def store() -> Iterator[Client]:
    with Client() as embedded:
        yield embedded


def _log(store: Client, frame, name: str, **options) -> Dataset:
    run_id = store.runs.create(store.experiments.get_or_create("cli").id).id
    return store.datasets.log(frame, name=name, run_id=run_id, snapshot=True, **options)


def test_a_failing_check_prints_the_failing_expectations_and_exits_1(store: Client, tmp_path: Path) -> None:
    dataset = _log(store, faulty(), "faulty")
    declared = tmp_path / "expectations.yaml"
    declared.write_text(yaml.safe_dump(declaration()))
    out = cli("data", "check", dataset.id, "--expectations", str(declared), code=1).output
    first, *table = out.splitlines()
    assert first.startswith(f"dataset {dataset.id}: FAILED (4 of ") and "2000 rows x 5 columns" in first
    rows = [line for line in table if "│" in line]
    assert any("age" in line and "max" in line and "150, 131" in line for line in rows)
    assert any("email" in line and "missing_max" in line and "0.3" in line for line in rows)
    assert not any("country" in line for line in rows)  # passed: not listed
    as_json = json.loads(cli("data", "check", dataset.digest, "-e", str(declared), "--json", code=1).output)
    assert as_json["status"] == "failed" and as_json["dataset_id"] == dataset.id
    history = cli("data", "checks", dataset.id).output
    assert history.count("failed") >= 2 and "age.min" in history


def test_a_passing_check_exits_0_and_uses_the_attached_declaration(store: Client) -> None:
    dataset = _log(store, clean(), "clean", expectations={"columns": {"age": {"min": 18, "max": 90}}})
    out = cli("data", "check", dataset.id).output
    assert out.startswith(f"dataset {dataset.id}: PASSED (0 of 3 expectations failed")


def test_data_without_a_snapshot_exits_4(store: Client) -> None:
    dataset = store.datasets.log(uri="s3://bucket/remote.parquet", expectations={"rows": {"min": 1}})
    assert "no stored snapshot" in cli("data", "check", dataset.id, code=4).output


def test_bad_input_is_one_line_and_a_non_zero_exit(store: Client, tmp_path: Path) -> None:
    dataset = _log(store, clean(), "plain")
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns:\n  age: {minimum: 0}\n")
    for args, named in ([str(bad)], "columns.age.minimum: unknown key"),  ([str(tmp_path / "none.yaml")], "cannot be read"):
        done = subprocess.run([sys.executable, "-m", "modelward", "data", "check", dataset.id, "--expectations", *args],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().count("\n") == 0 and named in done.stderr and done.stderr.startswith("Error:")

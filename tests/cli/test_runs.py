"""modelward runs: list/search, show, compare, export, delete/restore, notes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from modelward.domain.tracking import Lifecycle
from tests.cli.conftest import Cli, Seeded


def test_list_shows_every_run_of_the_experiment(cli: Cli, seeded: Seeded) -> None:
    out = cli("runs", "list", "--experiment", "team/churn/baseline").output
    for run_id in (seeded.fast, seeded.slow, seeded.failed):
        assert run_id in out
    assert "FAILED" in out and "metrics.acc" in out


def test_list_filter_order_max_and_columns(cli: Cli, seeded: Seeded) -> None:
    out = cli(
        "runs",
        "list",
        "--filter",
        "metrics.acc > 0.6",
        "--order-by",
        "metrics.acc DESC",
        "--columns",
        "params.lr,metrics.acc",
        "--max",
        "1",
    ).output
    assert seeded.fast in out and seeded.slow not in out and seeded.failed not in out
    assert "params.lr" in out and "0.1" in out


def test_list_json_is_a_list_of_run_objects(cli: Cli, seeded: Seeded) -> None:
    data = json.loads(cli("runs", "list", "--order-by", "metrics.acc ASC", "--json").output)
    assert [run["id"] for run in data] == [seeded.failed, seeded.slow, seeded.fast]
    assert data[0]["params"]["lr"] == "1.0" and data[0]["metrics"]["acc"] == 0.5


def test_search_takes_the_filter_as_an_argument(cli: Cli, seeded: Seeded) -> None:
    out = cli("runs", "search", "params.lr = '0.01'", "-e", seeded.experiment_id).output
    assert seeded.slow in out and seeded.fast not in out


def test_show_prints_attributes_params_metrics_tags_notes_artifacts(
    cli: Cli, seeded: Seeded
) -> None:
    out = cli("runs", "show", seeded.fast).output
    for expected in (
        seeded.fast,
        "team/churn/baseline",
        "FINISHED",
        "duration",
        "lr",
        "0.1",
        "acc",
        "0.9",
        "team",
        "churn",
        "looks promising",
        "model/weights.bin",
        "2.0 KB",
    ):
        assert expected in out


def test_show_of_a_failed_run_has_the_error_and_traceback_tail(cli: Cli, seeded: Seeded) -> None:
    out = cli("runs", "show", seeded.failed).output
    assert "error: ValueError: bad shape" in out and 'File "train.py"' in out


def test_show_summarises_the_environment(cli: Cli, seeded: Seeded) -> None:
    run = seeded.client.runs.create(
        seeded.experiment_id,
        environment={
            "python": "3.11.7",
            "host": "box1",
            "command": ["train.py", "--fast"],
            "git": {"commit": "abcdef1234567890", "dirty": True, "branch": "main"},
        },
    )
    out = cli("runs", "show", run.id).output
    assert "3.11.7" in out and "box1" in out and "train.py --fast" in out
    assert "abcdef123456 (dirty)" in out


def test_compare_puts_runs_in_columns_and_only_diff_drops_equal_rows(
    cli: Cli, seeded: Seeded
) -> None:
    out = cli("runs", "compare", seeded.fast, seeded.slow).output
    assert seeded.fast in out and seeded.slow in out
    assert "params.lr" in out and "params.layers" in out and "metrics.acc" in out
    diff = cli("runs", "compare", seeded.fast, seeded.slow, "--only-diff").output
    assert "params.lr" in diff and "metrics.acc" in diff and "params.layers" not in diff


def test_export_csv_has_a_row_per_run_and_prefixed_columns(
    cli: Cli, seeded: Seeded, tmp_path: Path
) -> None:
    target = tmp_path / "runs.csv"
    out = cli(
        "runs",
        "export",
        "--experiment",
        "team/churn/baseline",
        "--format",
        "csv",
        "--output",
        str(target),
    ).output
    assert "exported 3 runs" in out
    frame = pd.read_csv(target)
    assert sorted(frame["run_id"]) == sorted([seeded.fast, seeded.slow, seeded.failed])
    assert {"params.lr", "params.layers", "metrics.acc", "tags.team", "status"} <= set(
        frame.columns
    )
    assert frame.set_index("run_id").loc[seeded.fast, "metrics.acc"] == 0.9


def test_export_json_with_a_filter(cli: Cli, seeded: Seeded, tmp_path: Path) -> None:
    target = tmp_path / "runs.json"
    cli(
        "runs",
        "export",
        "--filter",
        "attributes.status = 'FAILED'",
        "--format",
        "json",
        "--output",
        str(target),
    )
    data = json.loads(target.read_text())
    assert [run["id"] for run in data] == [seeded.failed]
    assert data[0]["error_message"] == "ValueError: bad shape"


def test_export_rejects_an_unknown_format(cli: Cli, seeded: Seeded, tmp_path: Path) -> None:
    result = cli("runs", "export", "--format", "xml", "--output", str(tmp_path / "x"), ok=False)
    assert result.exit_code == 2 and "xml" in result.output


def test_delete_restore_and_permanent_delete(cli: Cli, seeded: Seeded) -> None:
    assert "deleted" in cli("runs", "delete", seeded.slow).output
    assert seeded.client.runs.get(seeded.slow).lifecycle is Lifecycle.DELETED
    assert seeded.slow not in cli("runs", "list").output
    assert "restored" in cli("runs", "restore", seeded.slow).output
    assert seeded.slow in cli("runs", "list").output
    refused = cli("runs", "delete", seeded.slow, "--permanent", input="n\n", ok=False)
    assert refused.exit_code != 0
    cli("runs", "delete", seeded.slow, "--permanent", "--yes")
    assert seeded.slow not in cli("runs", "list", "--json").output


def test_add_edit_and_list_notes(cli: Cli, seeded: Seeded) -> None:
    assert "saved" in cli("runs", "note", seeded.slow, "try a lower lr").output
    note_id = seeded.client.runs.notes(seeded.slow)[0].id
    assert (
        "updated" in cli("runs", "note", seeded.slow, "--edit", str(note_id), "try lr=0.001").output
    )
    out = cli("runs", "notes", seeded.slow).output
    assert "try lr=0.001" in out and "try a lower lr" not in out
    assert "no notes" in cli("runs", "notes", seeded.failed).output

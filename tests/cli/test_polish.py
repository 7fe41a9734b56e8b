"""The command line's finish: help everywhere, tables that fit 80 columns, gc progress, exit codes."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from modelward import models
from modelward.cli import app
from modelward.sdk.client import Client
from modelward.services import gc as gc_service
from modelward.services.backend import Backend
from tests.cli.conftest import modelward

LONG_NAME = "gradient-boosting-baseline-with-engineered-features-and-calibration"
LONG_WORDS = "logistic regression with l2 penalty and balanced class weights tuned twice"
DESCRIPTION = "Baseline gradient boosting over the customer-churn-features-v2 dataset, tuned on recall"


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = [(path, command)] if path else []
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        found += _commands(sub, (*path, name))
    return found


def test_every_command_and_option_has_help() -> None:
    missing = []
    for path, command in _commands(typer.main.get_command(app)):
        if not (command.help or "").strip():
            missing.append(" ".join(path))
        for param in command.params:
            if param.param_type_name == "option" and param.name != "help" and not (param.help or "").strip():
                missing.append(f"{' '.join(path)} {param.opts[0]}")
    assert missing == []


def _at_80_columns(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "80"})
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def _assert_fits_and_keeps_words(output: str, texts: list[str]) -> None:
    lines = output.splitlines()
    assert max(len(line) for line in lines) <= 80, output
    tokens = {token for line in lines for token in line.split()}
    for word in {word for text in texts for word in text.split()}:
        whole = word in tokens
        cut = any(token.endswith("…") and word.startswith(token[:-1]) and len(token) > 4 for token in tokens)
        assert whole or cut, f"{word!r} was split across lines:\n{output}"


def test_tables_fit_80_columns_cut_ids_and_never_split_a_word(store: Client) -> None:
    experiment = store.experiments.create("team/churn/" + LONG_NAME, description=DESCRIPTION)
    run_ids = []
    for name in (LONG_NAME, "short", LONG_WORDS):
        run = store.runs.create(experiment.id, name=name)
        store.runs.end(run.id)
        run_ids.append(run.id)

    runs = _at_80_columns("runs", "list")
    _assert_fits_and_keeps_words(runs, [LONG_NAME, LONG_WORDS, "FINISHED"])
    for run_id in run_ids:  # an id is cut with an ellipsis, on one line, never wrapped
        assert re.search(rf"\b{run_id[:8]}\w*…", runs), runs
    assert "FINISHED" in runs and "duration" in runs  # the short columns keep their room

    listed = _at_80_columns("experiments", "list")
    _assert_fits_and_keeps_words(listed, ["team/churn/" + LONG_NAME, DESCRIPTION])
    assert re.search(rf"\b{experiment.id[:8]}\w*…", listed), listed


def _orphan_blobs(client: Client, count: int) -> None:
    experiment = client.experiments.create("doomed")
    run = client.runs.create(experiment.id)
    for index in range(count):
        client.artifacts.upload_bytes(run.id, f"blob-{index}.bin", f"bytes of blob {index}".encode())
    client.experiments.delete(experiment.id, permanent=True)


def test_gc_reports_progress_through_its_callback(store: Client) -> None:
    _orphan_blobs(store, 3)
    heard: list[tuple[str, int, int | None]] = []
    backend = Backend.from_settings(store.settings)
    try:
        report = gc_service.collect(backend, grace_seconds=0, progress=lambda *step: heard.append(step))
    finally:
        backend.close()
    assert len(report.removed) == 3
    assert [step for step in heard if step[0] == "removing"] == [("removing", n, 3) for n in (1, 2, 3)]
    assert ("measuring", 3, 3) in heard
    assert any(step == "scanning" and total is None for step, _, total in heard)


def test_gc_shows_progress_on_stderr_only_when_asked_or_on_a_terminal(store: Client, tmp_path: Path) -> None:
    _orphan_blobs(store, 2)
    quiet = modelward("gc", "--dry-run", "--grace-seconds", "0", cwd=tmp_path)  # stderr is a pipe here
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert "would remove 2 blob(s)" in quiet.stdout
    shown = modelward("gc", "--grace-seconds", "0", "--progress", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "removing" in shown.stderr and "2/2" in shown.stderr
    assert "removed 2 blob(s)" in shown.stdout and "removing" not in shown.stdout


def test_evaluate_exits_non_zero_in_a_real_process_when_a_gate_fails(store: Client, tmp_path: Path) -> None:
    from tests.governance.helpers import cancer_frame, fair_model

    frame = cancer_frame()
    with tempfile.TemporaryDirectory() as tmp:
        folder = models.save(fair_model(frame), Path(tmp) / "m", input_example=frame.drop(columns=["target", "sex"]).head())
        version = store.models.register("strict", local_path=folder).version
    run = store.runs.create(experiment_id=store.experiments.get_or_create("strict-data").id)
    (tmp_path / "eval.parquet").write_bytes(frame.to_parquet())
    store.artifacts.upload(run.id, tmp_path / "eval.parquet", "data")
    store.policies.set(f"model: strict\ngates:\n  - {{metric: roc_auc, min: 0.9999}}\n"
                       f"evaluation_dataset: {{run_id: {run.id}, path: data/eval.parquet}}\n")
    failed = modelward("evaluate", "strict", str(version), cwd=tmp_path)
    assert failed.returncode == 1, (failed.stdout, failed.stderr)
    assert "FAILED" in failed.stdout and "failed: roc_auc" in failed.stdout


@pytest.mark.parametrize("args", [("review", "approve", "--help"), ("review", "risk", "--help")])
def test_review_subcommands_explain_themselves(args: tuple[str, ...]) -> None:
    shown = CliRunner().invoke(app, list(args), env={"COLUMNS": "120"}).output
    assert "Approve a version" in shown or "Rate one risk category" in shown

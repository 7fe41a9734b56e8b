"""Subprocess tests: captured output through `runs logs`, one-line errors and exit codes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from modelward.sdk.client import Client
from tests.cli.conftest import Cli, modelward

SCRIPT = textwrap.dedent("""
    import sys
    import modelward
    with modelward.start_run("printing", experiment="logs/demo") as run:
        print("hello from inside the run")
        print("to stderr too", file=sys.stderr)
        print("RUN_ID=" + run.id, file=sys.__stdout__)
""")


def _printing_run(cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.split("RUN_ID=")[1].split()[0]


def test_logs_shows_what_the_run_printed_and_follow_returns_once_finished(
    cli: Cli, tmp_path: Path
) -> None:
    run_id = _printing_run(tmp_path)
    out = cli("runs", "logs", run_id).output
    assert "hello from inside the run" in out and "to stderr too" in out
    assert out.index("hello from inside the run") < out.index("to stderr too")
    followed = cli("runs", "logs", run_id, "--follow", "--interval", "0.1").output
    assert followed == out


def test_a_bad_filter_is_one_error_line_naming_the_position(tmp_path: Path) -> None:
    with Client() as client:
        client.experiments.create("exp")
    done = modelward("runs", "list", "--filter", "metrics.acc >", cwd=tmp_path)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "position 13" in lines[0]
    assert "Traceback" not in done.stderr


def test_an_unknown_run_id_is_one_error_line_naming_it(tmp_path: Path) -> None:
    done = modelward("runs", "show", "no-such-run-42", cwd=tmp_path)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "no-such-run-42" in lines[0]


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    done = modelward("runs", "compare", cwd=tmp_path)
    assert done.returncode == 2 and "RUN_ID" in done.stderr

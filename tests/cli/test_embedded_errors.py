"""The CLI with its server in the same process (no tracking URI): an error is one line on the
terminal, whatever the embedded server logs about it goes to ``home``/server.log."""

from __future__ import annotations

import os
from pathlib import Path

from modelward.sdk.client import Client
from tests.cli.conftest import modelward

BIG = 5 * (1 << 20) + 123  # above the size hashed whole before sending: a corruption aborts mid-stream


def _run_with_files(cwd: Path) -> tuple[str, str]:
    """A run holding small.txt and big.bin in the store under ``cwd``; (run id, big.bin's digest)."""
    with Client() as client:  # the autouse fixture made ``cwd`` the working directory
        experiment = client.experiments.create("embedded/errors")
        run = client.runs.create(experiment.id)
        client.artifacts.upload_bytes(run.id, "small.txt", b"hello")
        stored = client.artifacts.upload_bytes(run.id, "big.bin", os.urandom(BIG))
    assert Path.cwd() == cwd
    return run.id, stored.digest


def _corrupt(home: Path, digest: str) -> None:
    """Flip one byte near the end of a stored blob (its size stays right)."""
    blob = next(path for path in (home / "artifacts" / "blobs").rglob("*") if path.name.endswith(digest[2:]))
    blob.chmod(0o644)
    with blob.open("r+b") as f:
        f.seek(BIG - 10)
        byte = f.read(1)
        f.seek(BIG - 10)
        f.write(bytes([byte[0] ^ 0xFF]))


def _one_error_line(done: object) -> str:
    output = done.stdout + done.stderr  # type: ignore[attr-defined]
    lines = output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), output
    return lines[0]


def test_a_missing_artifact_is_one_error_line(tmp_path: Path) -> None:
    run_id, _ = _run_with_files(tmp_path)
    done = modelward("artifacts", "get", run_id, "missing/path", "-o", str(tmp_path / "out"), cwd=tmp_path)
    line = _one_error_line(done)
    assert done.returncode == 3 and "'missing/path' does not exist" in line


def test_a_corrupted_download_is_one_error_line_and_the_server_log_keeps_the_details(tmp_path: Path) -> None:
    run_id, digest = _run_with_files(tmp_path)
    home = tmp_path / ".modelward"
    _corrupt(home, digest)
    done = modelward("artifacts", "get", run_id, "big.bin", "-o", str(tmp_path / "out"), cwd=tmp_path)
    line = _one_error_line(done)
    assert done.returncode != 0 and "big.bin" in line and "broke off" in line
    logged = (home / "server.log").read_text("utf-8")
    assert f"/artifacts/big.bin aborted mid-response: Artifact blob {digest} is corrupted" in logged
    assert not (tmp_path / "out" / "big.bin").exists()  # nothing half-written is left behind


def test_a_good_download_still_prints_what_it_wrote(tmp_path: Path) -> None:
    run_id, _ = _run_with_files(tmp_path)
    done = modelward("artifacts", "get", run_id, "small.txt", "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and (tmp_path / "out" / "small.txt").read_bytes() == b"hello"
    assert not (tmp_path / ".modelward" / "server.log").exists()  # nothing was logged, no file made


def test_the_server_command_takes_its_log_back_to_the_terminal() -> None:
    """``modelward server`` is a real server: the file handler the CLI sets up is removed again."""
    import logging

    from modelward.cli.output import (
        SERVER_LOGGERS,
        log_embedded_server_to_file,
        log_server_to_terminal,
    )

    before = {name: list(logging.getLogger(name).handlers) for name in SERVER_LOGGERS}
    log_embedded_server_to_file()
    try:
        added = {name: [h for h in logging.getLogger(name).handlers if h not in before[name]] for name in SERVER_LOGGERS}
        assert all(len(handlers) == 1 for handlers in added.values())
        assert len({id(handlers[0]) for handlers in added.values()}) == 1  # one file, shared
    finally:
        log_server_to_terminal()
    assert {name: list(logging.getLogger(name).handlers) for name in SERVER_LOGGERS} == before

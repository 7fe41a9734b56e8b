"""``modelward models`` through Typer's runner, on an embedded store."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from modelward.cli import app

runner = CliRunner()


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _model_folder(tmp_path: Path, monkeypatch) -> Path:
    """An embedded home under tmp_path, and a folder holding one weights file."""
    monkeypatch.setenv("MODELWARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.bin").write_bytes(b"one")
    return model


def test_register_alias_compare_and_download(tmp_path: Path, monkeypatch):
    model = _model_folder(tmp_path, monkeypatch)
    assert "version 1" in _ok("models", "register", "cli-model", "--path", str(model))
    (model / "w.bin").write_bytes(b"two")
    assert "version 2" in _ok("models", "register", "cli-model", "--path", str(model), "-d", "second")
    _ok("models", "alias", "set", "cli-model", "champion", "1", "--reason", "first")
    _ok("models", "alias", "set", "cli-model", "champion", "2")
    assert "champion→2" in _ok("models", "list")
    history = _ok("models", "alias", "history", "cli-model", "champion")
    assert "first" in history and history.index("first") < history.rindex("champion")
    assert "w.bin" in _ok("models", "show", "cli-model@champion")
    assert "second" in _ok("models", "show", "cli-model/2")
    assert "upload" in _ok("models", "versions", "cli-model")
    assert "*artifact_digest" in _ok("models", "compare", "cli-model", "1", "2")
    _ok("models", "download", "cli-model", "1", str(tmp_path / "out"))
    assert (tmp_path / "out" / "w.bin").read_bytes() == b"one"


def test_archive_and_delete_ask_first_and_land_in_the_audit_trail(tmp_path: Path, monkeypatch):
    model = _model_folder(tmp_path, monkeypatch)
    for _ in range(3):
        _ok("models", "register", "gone", "--path", str(model))
    assert "archived" in _ok("models", "archive", "gone", "1", "--reason", "old")
    declined = runner.invoke(app, ["models", "delete", "gone", "2"], input="n\n")
    assert declined.exit_code != 0 and "Permanently delete version 2" in declined.output
    _ok("models", "delete", "gone", "2", "--yes", "--reason", "mistake")
    assert "2" not in [line.split()[0] for line in _ok("models", "versions", "gone").splitlines()[3:] if line.split()]
    _ok("models", "alias", "set", "gone", "champion", "3")
    refused = runner.invoke(app, ["models", "delete", "gone", "3", "--yes"])
    assert refused.exit_code != 0 and "'champion'" in str(refused.exception)  # run_app prints it as one line
    _ok("models", "delete", "gone", "--yes", "--reason", "retired project")
    trail = _ok("audit", "list", "--model", "gone")
    for action in ("model_version.archived", "model_version.deleted", "model.deleted"):
        assert action in trail, action
    assert runner.invoke(app, ["models", "show", "gone"]).exit_code != 0

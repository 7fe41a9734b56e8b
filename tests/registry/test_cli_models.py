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


def test_as_of_rename_tag_and_untag(tmp_path: Path, monkeypatch):
    from datetime import UTC, datetime, timedelta, timezone

    model = _model_folder(tmp_path, monkeypatch)
    _ok("models", "register", "asof", "--path", str(model))
    _ok("models", "register", "asof", "--path", str(model))
    _ok("models", "alias", "set", "asof", "champion", "1")
    between = datetime.now(UTC).astimezone(timezone(timedelta(hours=-7)))  # an offset, not UTC
    _ok("models", "alias", "set", "asof", "champion", "2")
    then = _ok("models", "show", "asof@champion", "--as-of", between.isoformat())
    assert "│ version " in then and " 1 " in then.split("│ version ", 1)[1].splitlines()[0]
    refused = runner.invoke(app, ["models", "show", "asof", "--as-of", between.isoformat()])
    assert refused.exit_code != 0 and "NAME@ALIAS" in f"{refused.output}{refused.exception}"
    _ok("models", "tag", "asof", "team=risk", "owner=ana")
    _ok("models", "tag", "asof/2", "reviewed=yes")
    _ok("models", "untag", "asof", "owner")
    _ok("models", "rename", "asof", "asof-2", "--reason", "naming")
    shown = _ok("models", "show", "asof-2/2")
    assert "asof-2" in shown
    from modelward.sdk.client import Client

    with Client() as client:
        assert client.models.get("asof-2").tags == {"team": "risk"}
        assert client.models.get_version("asof-2", 2).tags == {"reviewed": "yes"}
        before = {e.action for e in client.audit.list(model="asof", limit=100)}  # events keep the name of then
        after = {e.action for e in client.audit.list(model="asof-2", limit=100)}
    assert {"model.tags_set", "model_version.tags_set", "model.tag_deleted"} <= before and "model.renamed" in after

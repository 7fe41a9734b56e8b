"""Settings come from arguments, then MODELWARD_* variables, then a TOML file, then defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelward.settings import Settings


def test_defaults_put_the_store_in_the_project_folder(tmp_path: Path) -> None:
    settings = Settings()
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / '.modelward' / 'modelward.db').resolve()}"
    assert settings.resolved_artifact_root == str((tmp_path / ".modelward" / "artifacts").resolve())
    assert settings.tracking_uri is None and settings.auth is False


def test_config_file_then_environment_then_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "modelward.toml").write_text('home = "from-file"\nmax_request_bytes = 1234\n')
    assert Settings().home == Path("from-file") and Settings().max_request_bytes == 1234
    monkeypatch.setenv("MODELWARD_HOME", "from-env")
    assert Settings().home == Path("from-env") and Settings().max_request_bytes == 1234
    assert Settings(home=Path("from-argument")).home == Path("from-argument")


def test_config_file_named_by_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text('database_url = "postgresql://db.example/modelward"\n')
    monkeypatch.setenv("MODELWARD_CONFIG", str(config))
    assert Settings().resolved_database_url == "postgresql://db.example/modelward"


def test_the_embedded_store_follows_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import modelward as mw

    monkeypatch.setenv("MODELWARD_HOME", str(tmp_path / "custom"))
    with mw.Client() as client:
        client.experiments.create("where-am-i")
    assert (tmp_path / "custom" / "modelward.db").exists()
    assert not (tmp_path / ".modelward").exists()

"""Fixtures: a real SQLite file per test, a real PostgreSQL database per test, the app,
and SDK clients (embedded in-process, or remote against a real server process).

PostgreSQL comes from ``MODELWARD_TEST_POSTGRES_URL`` (``scripts/test.sh`` starts a
server and sets it). Without it the PostgreSQL cases are skipped on a laptop, and fail
in CI (``CI=true``), where nothing may be skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelward.sdk.client import Client
from modelward.services.backend import Backend
from modelward.settings import Settings

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
POSTGRES_URL = os.environ.get("MODELWARD_TEST_POSTGRES_URL")

pytest_plugins = [
    "tests.fixtures.browser",
    "tests.fixtures.postgres",
    "tests.fixtures.s3",
    "tests.fixtures.servers",
]


def require_service(name: str, available: bool, hint: str) -> None:
    """Skip on a laptop, fail in CI: CI must run every test."""
    if available:
        return
    message = f"{name} is not available: {hint}"
    if IN_CI:
        pytest.fail(message + " (CI=true: a missing service fails the run)")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the developer's ./.modelward or environment."""
    # mlflow.set_experiment() exports MLFLOW_EXPERIMENT_ID for subprocesses: a test that ran it
    # in this process must not send a later test's subprocess to an experiment of another server.
    for name in ("MODELWARD_TRACKING_URI", "MODELWARD_DATABASE_URL", "MODELWARD_ARTIFACT_ROOT",
                 "MODELWARD_HOME", "MODELWARD_CONFIG", "MODELWARD_TOKEN", "MLFLOW_EXPERIMENT_ID",
                 "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for a fresh store: a SQLite file, or a new PostgreSQL database."""
    home = tmp_path / "store"
    if request.param == "sqlite":
        return Settings(home=home)
    database_url = request.getfixturevalue("postgres_database")
    return Settings(home=home, database_url=database_url)


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "store")


@pytest.fixture
def backend(settings: Settings) -> Iterator[Backend]:
    backend = Backend.from_settings(settings)
    yield backend
    backend.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "remote"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Client]:
    """An SDK client: embedded in-process over a fresh store (SQLite or PostgreSQL), or
    remote over HTTP to a real ``modelward server`` process on loopback (shared by the
    session, so tests name their experiments with ``unique``)."""
    if request.param == "remote":
        server = request.getfixturevalue("live_server")
        with Client(server.url) as remote:
            yield remote
        return
    database_url = request.getfixturevalue("postgres_database") if request.param == "postgres" else None
    with Client(settings=Settings(home=tmp_path / "store", database_url=database_url)) as embedded:
        yield embedded


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]

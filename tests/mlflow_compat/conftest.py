"""The real ``mlflow`` client against a real ``modelward server`` process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

mlflow = pytest.importorskip("mlflow")


@pytest.fixture
def url(live_server, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The server's URL, with mlflow's global state reset around each test."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail fast, never retry a refusal
    mlflow.set_tracking_uri(live_server.url)
    yield live_server.url
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


@pytest.fixture
def client(url: str):
    return mlflow.MlflowClient(tracking_uri=url)

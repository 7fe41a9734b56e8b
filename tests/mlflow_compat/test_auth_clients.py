"""MLflow clients authenticate with MLFLOW_TRACKING_TOKEN (Bearer) or
MLFLOW_TRACKING_USERNAME/PASSWORD (basic, the token as password) against a server with auth."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.servers import ServerProcess, start_server, stop_server


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    home = tmp_path_factory.mktemp("secured")
    tokens = {}
    for user, role in (("writer", "contributor"), ("reader", "viewer")):
        cli = [sys.executable, "-m", "modelward", "auth"]
        env = {"MODELWARD_HOME": str(home)}
        subprocess.run([*cli, "add-user", user, "--role", role], env={**_env(), **env}, check=True, capture_output=True)
        made = subprocess.run([*cli, "token", "create", user], env={**_env(), **env}, check=True,
                              capture_output=True, text=True)
        tokens[user] = made.stdout.strip().splitlines()[-1]
    server = start_server(home, env={"MODELWARD_AUTH": "true"})
    yield server, tokens
    stop_server(server)


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def _mlflow(server: ServerProcess, env: dict[str, str], code: str) -> subprocess.CompletedProcess[str]:
    """Run the mlflow client in a fresh process, so its environment-based auth is read as users do."""
    full = {**_env(), "MLFLOW_TRACKING_URI": server.url, **env}
    for name in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        if name not in env:
            full.pop(name, None)
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=120)


CREATE = "import mlflow, uuid; print(mlflow.create_experiment('auth-' + uuid.uuid4().hex[:6]))"


def test_bearer_token_from_the_environment(secured, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, tokens = secured
    done = _mlflow(server, {"MLFLOW_TRACKING_TOKEN": tokens["writer"]}, CREATE)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_basic_auth_with_the_token_as_password(secured) -> None:  # type: ignore[no-untyped-def]
    server, tokens = secured
    env = {"MLFLOW_TRACKING_USERNAME": "writer", "MLFLOW_TRACKING_PASSWORD": tokens["writer"]}
    done = _mlflow(server, env, CREATE)
    assert done.returncode == 0, done.stderr


def test_no_credentials_and_wrong_role_are_refused(secured) -> None:  # type: ignore[no-untyped-def]
    server, tokens = secured
    anonymous = _mlflow(server, {}, CREATE)
    assert anonymous.returncode != 0 and "UNAUTHENTICATED" in anonymous.stderr
    reader = _mlflow(server, {"MLFLOW_TRACKING_TOKEN": tokens["reader"]}, CREATE)
    assert reader.returncode != 0 and "PERMISSION_DENIED" in reader.stderr
    listing = _mlflow(server, {"MLFLOW_TRACKING_TOKEN": tokens["reader"]},
                      "import mlflow; print(len(mlflow.search_experiments()))")
    assert listing.returncode == 0, listing.stderr

"""Fixtures for the audit tests: the CLI ones (cli, store) and an app with authentication on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from modelward.domain.actors import Role
from modelward.services import users
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.cli.conftest import cli, store  # noqa: F401
from tests.fixtures.apps import in_process_app


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[TestClient, Backend]]:
    """An in-process app with auth on, and the Backend behind it (for setup and checks)."""
    with in_process_app(Settings(home=tmp_path / "store", auth=True, webhooks_enabled=False)) as app:
        yield app


def bearer(backend: Backend, name: str, role: Role) -> dict[str, str]:
    """Headers of a new user ``name`` with ``role``."""
    users.create_user(backend, name, frozenset({role}))
    return {"authorization": f"Bearer {users.create_token(backend, name).token}"}

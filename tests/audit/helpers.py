"""Shared by the audit tests: fill the chain, tamper with rows in SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from modelward.services import audit
from modelward.services.backend import Backend


def append_events(backend: Backend, count: int, *, actor: str = "alice", model: str | None = "credit") -> None:
    for number in range(count):
        with backend.write() as session:
            audit.record(
                session, actor, "model_version.approved", subject_type="model_version",
                subject_id=f"{model}/{number + 1}", model_name=model, reason=f"reason {number}",
                details={"version": number + 1, "score": 0.5 + number / 100},
            )


def sql(backend: Backend, statement: str, **params: Any) -> None:
    """Tamper the way an attacker with database access would: plain SQL, no modelward code."""
    with backend.engine.begin() as connection:
        connection.execute(text(statement), params)

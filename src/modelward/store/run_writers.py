"""Who wrote what kind of thing into a run: one row per (run, user, kind), kept forever.

Every write into a run records its writer in the write's own transaction, with one
INSERT ... ON CONFLICT DO NOTHING call whatever the number of kinds (a repeat costs
nothing but that call). Everyone listed is an author of the model versions the run backs.
Never commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelward.store.dialect import insert_ignoring_conflict
from modelward.store.rows import RunWriterRow

CREATED = "created"
PARAMS = "params"
METRICS = "metrics"
TAGS = "tags"
ARTIFACTS = "artifacts"
NOTES = "notes"
INPUTS = "inputs"
OUTPUTS = "outputs"
STATUS = "status"
NAME = "name"
LOGS = "logs"
LOGGED_MODELS = "logged_models"
KINDS = (CREATED, PARAMS, METRICS, TAGS, ARTIFACTS, NOTES, INPUTS, OUTPUTS, STATUS, NAME, LOGS, LOGGED_MODELS)

_KEYS = ["run_pk", "user", "kind"]

# The session type services pass through (they may not import SQLAlchemy themselves).
UnitOfWork = Session


def record(session: Session, run_pk: int, user: str, kind: str | Iterable[str], now: datetime) -> None:
    """``user`` wrote ``kind`` (one kind, or several) into the run; the first time is kept."""
    kinds = [kind] if isinstance(kind, str) else list(dict.fromkeys(kind))
    if not kinds:
        return
    rows = [{"run_pk": run_pk, "user": user, "kind": k, "first_at": now} for k in kinds]
    # On the ingestion hot path: Core on the table, through the session's connection, skips
    # the ORM's statement handling (a half or more of this insert's cost).
    statement = insert_ignoring_conflict(session, RunWriterRow.__table__, keys=_KEYS)
    session.connection().execute(statement, rows)


def users(session: Session, run_pk: int) -> set[str]:
    """Everyone who wrote anything into the run, its creator included."""
    return set(session.scalars(select(RunWriterRow.user).where(RunWriterRow.run_pk == run_pk).distinct()))


def writers(session: Session, run_pk: int) -> dict[str, list[str]]:
    """user -> the kinds they wrote, users and kinds in the order they first wrote."""
    found: dict[str, list[str]] = {}
    rows = session.execute(
        select(RunWriterRow.user, RunWriterRow.kind)
        .where(RunWriterRow.run_pk == run_pk)
        .order_by(RunWriterRow.first_at, RunWriterRow.user, RunWriterRow.kind)
    )
    for user, kind in rows:
        found.setdefault(user, []).append(kind)
    return found

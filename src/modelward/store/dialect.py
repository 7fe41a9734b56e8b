"""The few places where SQLite and PostgreSQL need different SQL or values."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything modelward stores is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _insert(session: Session) -> Callable[[Any], Any]:
    """The dialect's INSERT construct: both know ON CONFLICT, the generic one does not."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def insert_ignoring_conflict(session: Session, row_class: Any, *, keys: list[str]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO NOTHING, to execute with values (one row or many)."""
    return _insert(session)(row_class).on_conflict_do_nothing(index_elements=keys)


def upsert(
    session: Session,
    row_class: Any,
    values: Sequence[dict[str, Any]],
    *,
    keys: list[str],
    update: list[str],
    where: Callable[[Any], ColumnElement[bool]] | None = None,
) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET update-columns [WHERE where(excluded)]."""
    if not values:
        return
    stmt = _insert(session)(row_class)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys,
        set_={column: stmt.excluded[column] for column in update},
        where=where(stmt.excluded) if where is not None else None,
    )
    session.execute(stmt, list(values))


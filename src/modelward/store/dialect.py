"""The few places where SQLite and PostgreSQL need different SQL or values."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything modelward stores is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _insert(session: Session) -> Callable[[Any], Any]:
    """The dialect's INSERT construct: both know ON CONFLICT, the generic one does not."""
    return postgresql.insert if _dialect_name(session) == "postgresql" else sqlite.insert


def _dialect_name(session: Session) -> str:
    return session.get_bind().dialect.name


def insert_ignoring_conflict(session: Session, row_class: Any, *, keys: list[str]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO NOTHING, to execute with values (one row or many)."""
    return _ignoring_statement(_dialect_name(session), row_class, tuple(keys))


def upsert(
    session: Session,
    row_class: Any,
    values: Sequence[dict[str, Any]],
    *,
    keys: list[str],
    update: list[str],
    where: Callable[[Any], ColumnElement[bool]] | None = None,
) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET update-columns [WHERE where(excluded)].

    The statement is built once per shape (pass ``where`` as a module-level function, not a
    lambda, for that) and runs on the session's connection: on the ingestion hot path,
    building the construct and the ORM's statement handling cost more than the SQL."""
    if not values:
        return
    stmt = _upsert_statement(_dialect_name(session), row_class, tuple(keys), tuple(update), where)
    session.flush()  # what the ORM holds pending goes first, as session.execute would do
    session.connection().execute(stmt, list(values))


@lru_cache(maxsize=64)
def _ignoring_statement(dialect_name: str, row_class: Any, keys: tuple[str, ...]) -> Any:
    insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    return insert(_table(row_class)).on_conflict_do_nothing(index_elements=list(keys))


@lru_cache(maxsize=64)
def _upsert_statement(
    dialect_name: str, row_class: Any, keys: tuple[str, ...], update: tuple[str, ...],
    where: Callable[[Any], ColumnElement[bool]] | None,
) -> Any:
    insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    stmt = insert(_table(row_class))
    return stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={column: stmt.excluded[column] for column in update},
        where=where(stmt.excluded) if where is not None else None,
    )


def _table(row_class: Any) -> Any:
    return getattr(row_class, "__table__", row_class)


_SQLITE_BUCKET_TEXT = {60: 16, 3600: 13, 86400: 10}  # window width -> leading characters of the stored time


def time_bucket(session: Session, at: Any, width_s: int) -> Any:
    """SQL: the UTC window of ``width_s`` seconds (a minute, an hour or a day) that the timestamp
    column ``at`` falls in. PostgreSQL gives its start in epoch seconds; SQLite, which stores UTC
    times as 'YYYY-MM-DD HH:MM:SS.ffffff' text, its leading characters (a cheap substr, no date
    arithmetic on every row), turned into epoch seconds by ``bucket_epoch``."""
    from sqlalchemy import BigInteger, cast, func

    if _dialect_name(session) == "postgresql":
        return cast(func.floor(func.extract("epoch", at) / width_s), BigInteger) * width_s
    if width_s not in _SQLITE_BUCKET_TEXT:
        raise ValueError(f"windows are a minute, an hour or a day, not {width_s} s")
    return func.substr(at, 1, _SQLITE_BUCKET_TEXT[width_s])


def bucket_epoch(bucket: Any) -> int:
    """A ``time_bucket`` value as the window's start in epoch seconds."""
    if not isinstance(bucket, str):
        return int(bucket)
    padded = bucket + " 00:00:00"[len(bucket) - 10:] if len(bucket) > 10 else bucket + " 00:00:00"
    return int(datetime.fromisoformat(padded).replace(tzinfo=UTC).timestamp())


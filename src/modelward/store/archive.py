"""Whole tables, row by row, for ``modelward export`` and ``modelward import``.

Which tables travel (every table of the schema but runtime state), in which order (foreign keys
first), how each value is written as JSON without loss, and the inserts. Rows are encoded the
same way whichever engine they come from, so two stores hold the same data exactly when their
encoded rows are equal: datetimes as ISO 8601 in UTC (SQLite hands them back naive, PostgreSQL
in the session's time zone), non-finite floats as the strings ``NaN``, ``Infinity`` and
``-Infinity``, bytes as base64, JSON columns as JSON.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Column, Connection, Engine, Table, func, select, text, tuple_
from sqlalchemy.exc import IntegrityError as DatabaseIntegrityError
from sqlalchemy.types import Date, DateTime, Float, LargeBinary

from modelward.errors import Conflict
from modelward.store.db import read_only
from modelward.store.rows import Base

# Who holds the background-work lease right now: state of the running processes, not data.
RUNTIME_TABLES = frozenset({"scheduler_leases"})
_FLOAT_WORDS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def archived_tables() -> list[str]:
    """Every table an archive holds, parents before the tables whose foreign keys point at them."""
    return [table.name for table in Base.metadata.sorted_tables if table.name not in RUNTIME_TABLES]


def is_archived(name: str) -> bool:
    return name in Base.metadata.tables and name not in RUNTIME_TABLES


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def key_columns(name: str) -> list[str]:
    return [column.name for column in _table(name).primary_key.columns]


def column_names(name: str) -> list[str]:
    return [column.name for column in _table(name).columns]


def column(name: str, column_name: str) -> Column:
    return _table(name).c[column_name]


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """One read transaction over every table: the export sees the store as of one moment."""
    options = {"isolation_level": "REPEATABLE READ"} if engine.dialect.name == "postgresql" else {}
    with read_only(engine.execution_options(**options)) as session:
        yield session.connection()


def count_rows(connection: Connection, name: str) -> int:
    return int(connection.execute(select(func.count()).select_from(_table(name))).scalar_one())


def iter_rows(connection: Connection, name: str, batch: int = 1000) -> Iterator[dict[str, Any]]:
    """The table's rows, encoded, in primary-key order, streamed (a server-side cursor on PostgreSQL)."""
    table = _table(name)
    statement = select(table).order_by(*table.primary_key.columns)
    result = connection.execute(statement, execution_options={"yield_per": batch})
    for row in result.mappings():
        yield encode_row(table, row)


def first_key(engine: Engine, name: str) -> tuple[int, dict[str, Any]] | None:
    """(the table's row count, the primary key of its first row), None if it is empty."""
    table = _table(name)
    columns = list(table.primary_key.columns)
    with read_only(engine) as session:
        row = session.execute(select(*columns).order_by(*columns).limit(1)).first()
        if row is None:
            return None
        return count_rows(session.connection(), name), {column.name: row[i] for i, column in enumerate(columns)}


def encode_row(table: Table, row: Any) -> dict[str, Any]:
    return {column.name: encode_value(column, row[column.name]) for column in table.columns}


def decode_row(table: Table, encoded: dict[str, Any]) -> dict[str, Any]:
    return {column.name: decode_value(column, encoded.get(column.name)) for column in table.columns}


def encode_value(column: Column, value: Any) -> Any:
    if value is None:
        return None
    kind = column.type
    if isinstance(kind, DateTime):
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return moment.isoformat(timespec="microseconds")
    if isinstance(kind, Date):
        return value.isoformat()
    if isinstance(kind, Float):
        number = float(value)
        if math.isfinite(number):
            return number
        return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
    if isinstance(kind, LargeBinary):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def decode_value(column: Column, value: Any) -> Any:
    if value is None:
        return None
    kind = column.type
    if isinstance(kind, DateTime):
        moment = datetime.fromisoformat(value)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    if isinstance(kind, Date):
        return date.fromisoformat(value)
    if isinstance(kind, Float):
        return _FLOAT_WORDS[value] if isinstance(value, str) else float(value)
    if isinstance(kind, LargeBinary):
        return base64.b64decode(value)
    return value  # JSON columns, strings, integers, booleans travel as they are


def row_key(name: str, encoded: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(encoded[column] for column in key_columns(name))


def _existing(connection: Connection, table: Table, encoded: Sequence[dict[str, Any]]) -> dict[tuple, dict]:
    """The target's rows (encoded) that have the primary key of one of ``encoded``, by key."""
    if not encoded:
        return {}
    columns = list(table.primary_key.columns)
    keys = [tuple(decode_value(column, row[column.name]) for column in columns) for row in encoded]
    condition = columns[0].in_([key[0] for key in keys]) if len(columns) == 1 else tuple_(*columns).in_(keys)
    found = connection.execute(select(table).where(condition)).mappings()
    return {row_key(table.name, row): row for row in (encode_row(table, each) for each in found)}


def differing_rows(engine: Engine, name: str, encoded: Sequence[dict[str, Any]]) -> list[tuple[dict, list[str]]]:
    """The rows of ``encoded`` whose primary key the store holds with other values, each with the
    names of the columns that differ."""
    with read_only(engine) as session:
        existing = _existing(session.connection(), _table(name), encoded)
    found = []
    for row in encoded:
        there = existing.get(row_key(name, row))
        if there is not None and there != row:
            found.append((row, [column for column in row if there.get(column) != row[column]]))
    return found


def import_batch(engine: Engine, name: str, encoded: Sequence[dict[str, Any]], *, compare: bool) -> int:
    """Insert the rows in one transaction; how many were inserted. With ``compare``, a row whose
    primary key the store holds already is left out if identical; if it differs, Conflict."""
    table = _table(name)
    with engine.begin() as connection:
        fresh = list(encoded)
        if compare:
            existing = _existing(connection, table, encoded)
            changed = [row for row in encoded if existing.get(row_key(name, row), row) != row]
            if changed:
                shown = ", ".join(f"{column}={changed[0][column]}" for column in key_columns(name))
                raise Conflict(f"table {name} {shown} differs from the target store's (it changed during the "
                               "import?); nothing more was imported")
            fresh = [row for row in encoded if row_key(name, row) not in existing]
        try:
            if fresh:
                connection.execute(table.insert(), [decode_row(table, row) for row in fresh])
        except DatabaseIntegrityError as exc:
            reason = " ".join(str(exc.orig).split())[:300]
            raise Conflict(f"rows of table {name} conflict with the target store's: {reason}") from None
    return len(fresh)


def reset_sequences(engine: Engine) -> None:
    """After rows were inserted with their own ids, PostgreSQL's sequences must continue past them."""
    if engine.dialect.name != "postgresql":
        return  # SQLite takes max(rowid) + 1 by itself
    with engine.begin() as connection:
        for name in archived_tables():
            for key in _table(name).primary_key.columns:
                sequence = connection.execute(
                    text("SELECT pg_get_serial_sequence(:table, :column)"), {"table": name, "column": key.name}
                ).scalar()
                if sequence is None:
                    continue
                connection.execute(text(
                    f'SELECT setval(:sequence, COALESCE((SELECT MAX("{key.name}") FROM "{name}"), 1), '
                    f'(SELECT MAX("{key.name}") FROM "{name}") IS NOT NULL)'
                ), {"sequence": sequence})

"""Instants as every service takes them: aware, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelward.errors import InvalidInput


def instant(moment: Any, field: str) -> datetime:
    """An aware UTC datetime; a naive one (or ISO 8601 text without an offset) is read as UTC.
    Anything else is InvalidInput naming ``field``."""
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            raise InvalidInput(f"{field} must be a date and time (ISO 8601), got {moment!r}") from None
    if not isinstance(moment, datetime):
        raise InvalidInput(f"{field} must be a date and time, got {moment!r}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

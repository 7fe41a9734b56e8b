"""The declarative base and column types shared by every table module."""

from __future__ import annotations

from sqlalchemy import BigInteger, DateTime, Integer
from sqlalchemy.orm import DeclarativeBase

# BIGINT on PostgreSQL, but INTEGER on SQLite, where only INTEGER PRIMARY KEY aliases rowid.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")
Timestamp = DateTime(timezone=True)


class Base(DeclarativeBase):
    pass

"""Which failures of the environment become a retryable 503 (with Retry-After) or a 507, on
real errors of the real drivers: a refused PostgreSQL connection, SQLite's lock timeout, an
unreachable S3 endpoint; and what stays a 500 (a bug, bad SQL)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from modelward import errors
from modelward.api.errors import RETRY_AFTER_S, headers_for, status_of
from modelward.store.failures import failure_of
from tests.fixtures.servers import free_port


def _raised(call) -> BaseException:  # type: ignore[no-untyped-def]
    try:
        call()
    except Exception as exc:
        return exc
    raise AssertionError("nothing was raised")


def test_a_refused_postgresql_connection_is_a_503_naming_the_database() -> None:
    engine = create_engine(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none")
    exc = _raised(lambda: engine.connect())
    found = failure_of(exc)
    assert isinstance(found, errors.ServiceUnavailable)
    assert "database (PostgreSQL) is unavailable" in found.message and "refused" in found.message
    assert status_of(found) == 503
    assert headers_for(503) == {"Retry-After": str(RETRY_AFTER_S)}


def test_sqlite_lock_timeout_is_a_503_and_bad_sql_stays_unexpected(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.1})
    with engine.connect() as connection:
        locked = _raised(lambda: connection.execute(text("INSERT INTO t VALUES (1)")))
        assert isinstance(locked, SQLAlchemyError)
        found = failure_of(locked)
        assert isinstance(found, errors.ServiceUnavailable) and "SQLite" in found.message
        connection.rollback()
        bad_sql = _raised(lambda: connection.execute(text("SELECT * FROM no_such_table")))
        assert failure_of(bad_sql) is None  # a bug is a 500, not something to retry
    holder.close()


def test_an_unreachable_object_store_is_a_503_naming_it() -> None:
    pytest.importorskip("s3fs")
    from modelward.artifacts import ArtifactStore

    options = {"client_kwargs": {"endpoint_url": f"http://127.0.0.1:{free_port()}"}, "key": "k", "secret": "s",
               "config_kwargs": {"connect_timeout": 1, "retries": {"max_attempts": 1}}}
    store = ArtifactStore("s3://nowhere/root", options)
    found = failure_of(_raised(lambda: store.put_bytes(b"bytes")))
    assert isinstance(found, errors.ServiceUnavailable)
    assert "object store" in found.message


def test_other_errors_are_not_mistaken_for_an_outage() -> None:
    assert failure_of(ValueError("bad value")) is None
    assert failure_of(ConnectionRefusedError(111, "refused")) is None  # whose connection? not said: a 500

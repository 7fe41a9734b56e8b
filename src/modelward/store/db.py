"""Engines, units of work and schema migrations.

SQLite gets WAL (readers never block the writer, and a killed writer leaves a
consistent file), a busy timeout (several processes may log to one project) and
foreign keys. Stores never commit: ``unit_of_work`` does, once, for the whole use case.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from modelward.errors import ServiceUnavailable

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _newest_revision() -> str:
    # Revisions are numbered 0001, 0002, ... in their file names; reading the folder is far
    # cheaper than loading alembic. tests/store/test_migrations.py checks it equals alembic's head.
    names = (path.name for path in (MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    return max(name[:4] for name in names)


HEAD_REVISION = _newest_revision()
SQLITE_BUSY_TIMEOUT_MS = 30_000
_READ_ONLY = "modelward_read_only"


DEFAULT_POOL_SIZE = 10
DEFAULT_MAX_OVERFLOW = 20
# pg_advisory_lock's key for "a migration is under way" (any constant every process agrees on).
MIGRATION_LOCK_KEY = 0x6D6F64656C77  # "modelw"


def make_engine(url: str, *, pool_size: int = DEFAULT_POOL_SIZE, max_overflow: int = DEFAULT_MAX_OVERFLOW) -> Engine:
    """An engine for ``url``; on a server database, a pool of ``pool_size`` connections kept open
    plus up to ``max_overflow`` more under load (so one process holds at most their sum)."""
    if url.startswith("sqlite"):
        return _make_sqlite_engine(url)
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow)


def shown_url(url: str | URL) -> str:
    """A database URL as it may be printed: without its password (and without the driver we add)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return str(url)
    return parsed.set(drivername=parsed.get_backend_name()).render_as_string(hide_password=True)


def unreachable(url: str | URL, cause: BaseException) -> ServiceUnavailable:
    """One line naming the database and why it cannot be opened (instead of a driver traceback)."""
    if isinstance(cause, DBAPIError) and cause.orig is not None:
        cause = cause.orig
    reason = " ".join(str(cause).split()) or type(cause).__name__
    return ServiceUnavailable(f"cannot open the database {shown_url(url)}: {reason}")


def _make_sqlite_engine(url: str) -> Engine:
    database = url.split(":///", 1)[1] if ":///" in url else ""
    if database and database != ":memory:":
        folder = Path(database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise unreachable(url, OSError(f"cannot create its folder {folder}: {exc.strerror}")) from None
    engine = create_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # pysqlite's own transaction handling would defer BEGIN; we issue it ourselves
        # (see _on_begin) so that writers take the lock up front and never deadlock.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):  # type: ignore[no-untyped-def]
        if connection.get_execution_options().get(_READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def read_only(engine: Engine) -> Iterator[Session]:
    """A session for queries; nothing is committed, and on SQLite no write lock is taken."""
    session = Session(engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False)
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def connect(engine: Engine):  # type: ignore[no-untyped-def]
    """A connection, or ServiceUnavailable in one line when the database cannot be reached."""
    try:
        return engine.connect()
    except DBAPIError as exc:
        raise unreachable(engine.url, exc) from None


def current_revision(engine: Engine) -> str | None:
    with connect(engine) as connection:
        try:
            row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
        except OperationalError:
            return None
        except Exception as exc:  # PostgreSQL: UndefinedTable arrives as ProgrammingError
            if "alembic_version" in str(exc):
                return None
            raise
        return row[0] if row else None


def _alembic_config(engine: Engine):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to call from several processes at once.

    On PostgreSQL the processes queue on an advisory lock, so one migrates and the others then
    find the schema current; on SQLite the file's write lock serialises them (retried below)."""
    if engine.dialect.name == "postgresql":
        with _migration_lock(engine):
            _alembic_upgrade(engine, revision)
        return
    for attempt in range(5):
        try:
            _alembic_upgrade(engine, revision)
            return
        except OperationalError:
            # Another process is migrating the same SQLite file: wait and check again.
            time.sleep(0.2 * (attempt + 1))
            if current_revision(engine) == HEAD_REVISION:
                return
    raise ServiceUnavailable("could not migrate the database: it stayed locked by another process")


def _alembic_upgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    command.upgrade(_alembic_config(engine), revision)


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """A session-level advisory lock held on its own connection while alembic migrates on another:
    a second caller waits here and then finds nothing left to do. A process that dies
    holding it loses its connection, and PostgreSQL frees the lock."""
    # Its own engine without a pool: a pool of one connection must not wait for itself.
    lock_engine = create_engine(engine.url, poolclass=NullPool)
    try:
        with connect(lock_engine) as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()  # the lock is the session's, not the transaction's: none stays open
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                connection.commit()
    finally:
        lock_engine.dispose()


def ensure_schema(engine: Engine) -> None:
    """Migrate when the database is behind; cheap when it is already current."""
    if current_revision(engine) != HEAD_REVISION:
        upgrade(engine)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    command.downgrade(_alembic_config(engine), revision)

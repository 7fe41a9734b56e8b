"""What an unexpected exception from the database or the object store means for the caller.

A full disk (507) and an unreachable database or object store (503) are conditions of the
environment, not bugs: the interfaces turn them into errors of our hierarchy. Recognising them
takes the drivers' exception types, so it lives here, with the store.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

from modelward import errors

# A write that failed for want of space: the file system's errors (a full disk, a quota, the
# process's file-size limit), SQLite's SQLITE_FULL and PostgreSQL's disk_full (SQLSTATE 53100).
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_FULL_SQLSTATES = {"53100"}


def storage_exhausted(exc: BaseException) -> errors.InsufficientStorage | None:
    """The full-disk cause anywhere in ``exc``'s chain (a DB driver error wrapped by the store
    included), as the error the client gets: retrying at once cannot help, so it is no 500."""
    for current in _walk(exc):
        cause = _full_cause(current)
        if cause is not None:
            return errors.InsufficientStorage(f"the server is out of storage ({cause}); free space and retry")
    return None



# SQLite's transient refusals: another writer held the lock past the busy timeout.
_SQLITE_BUSY = ("database is locked", "database is busy")


def _walk(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, its causes and contexts, and the driver errors SQLAlchemy wrapped, each once."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        original = getattr(current, "orig", None)  # SQLAlchemy's DBAPIError keeps the driver's error
        pending += [current.__cause__, current.__context__, original if isinstance(original, BaseException) else None]


def service_unavailable(exc: BaseException) -> errors.ServiceUnavailable | None:
    """A database or object store that cannot be reached (refused, restarting, dropped connection,
    pool exhausted, lock timeout) anywhere in ``exc``'s chain, as the 503 the client gets: it
    rolled the work back, so the client may retry once the service is back (Retry-After)."""
    for current in _walk(exc):
        cause = _unavailable_cause(current)
        if cause is not None:
            return errors.ServiceUnavailable(f"{cause}; retry shortly")
    return None


def _unavailable_cause(exc: BaseException) -> str | None:
    module = type(exc).__module__
    reason = " ".join(str(exc).split())[:300] or type(exc).__name__
    if module.startswith("psycopg") and _is_psycopg_operational(exc):
        return f"the database (PostgreSQL) is unavailable: {reason}"
    if module.startswith("sqlalchemy"):
        from sqlalchemy.exc import DBAPIError
        from sqlalchemy.exc import TimeoutError as PoolTimeout

        if isinstance(exc, PoolTimeout):
            return f"the database is busy: no connection free in the pool ({reason})"
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return f"the database connection was lost: {' '.join(str(exc.orig).split())[:300]}"
    if module == "sqlite3" and any(busy in str(exc) for busy in _SQLITE_BUSY):
        return f"the database (SQLite) is busy: {reason}"
    if module.startswith(("botocore", "aiobotocore", "aiohttp")) and _is_connection_failure(exc):
        return f"the object store (artifact root) is unreachable: {reason}"
    return None


def _is_psycopg_operational(exc: BaseException) -> bool:
    import psycopg

    # OperationalError: the connection failed or was closed, the server is shutting down or
    # starting up, a statement or lock timed out, a serialization failure; never bad SQL or data.
    return isinstance(exc, psycopg.OperationalError)


def _is_connection_failure(exc: BaseException) -> bool:
    name = type(exc).__name__
    return any(part in name for part in ("EndpointConnection", "ConnectTimeout", "ReadTimeout", "ConnectionClosed",
                                          "ClientConnector", "ServerDisconnected", "ClientOSError"))


def failure_of(exc: BaseException) -> errors.ModelwardError | None:
    """What an unexpected exception means for the client, when it is a known condition of the
    environment: a full disk (507), an unreachable database or object store (503); else None."""
    return storage_exhausted(exc) or service_unavailable(exc)


def _full_cause(exc: BaseException) -> str | None:
    if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or errno.errorcode.get(exc.errno or 0, 'ENOSPC')}{where}"
    if getattr(exc, "sqlite_errorname", None) == "SQLITE_FULL" or "database or disk is full" in str(exc):
        return "the SQLite database or its disk is full"
    if getattr(exc, "sqlite_errorname", None) == "SQLITE_IOERR_WRITE":
        # SQLite says SQLITE_FULL only for ENOSPC; a quota (EDQUOT) or the file-size limit (EFBIG)
        # come as a failed write, as a failing disk would: none is cured by retrying at once.
        return "the SQLite database file could not be written (a disk quota, a file-size limit or a failing disk)"
    if getattr(exc, "sqlstate", None) in _FULL_SQLSTATES or getattr(exc, "pgcode", None) in _FULL_SQLSTATES:
        return "PostgreSQL's disk is full"
    return None

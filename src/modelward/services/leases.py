"""Jobs that one server process of several runs: whoever holds the job's lease (a database row)."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from modelward.services.background import Periodic
from modelward.services.backend import Backend
from modelward.store import leases as store

log = logging.getLogger("modelward.leases")

LEASE_INTERVALS = 3  # a lease lasts this many intervals, so a stopped holder's job moves on soon


def take(backend: Backend, name: str, holder: str, *, seconds: float) -> bool:
    """Whether ``holder`` holds lease ``name`` for the next ``seconds`` (taken, or renewed)."""
    now = datetime.now(UTC)
    with backend.write() as session:
        return store.take_lease(session, name, holder, now=now, until=now + timedelta(seconds=seconds))


def give_up(backend: Backend, name: str, holder: str) -> None:
    with backend.write() as session:
        store.release_lease(session, name, holder, now=datetime.now(UTC))


def holder_of(backend: Backend, name: str) -> str | None:
    with backend.read() as session:
        return store.lease_holder(session, name, now=datetime.now(UTC))


def new_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeasedPeriodic:
    """Runs ``work`` every ``interval_s`` while this process holds lease ``name`` (and once at
    start, if ``at_start`` and it can take the lease then). A holder that stops gives the lease
    up; one that dies keeps it until it expires, LEASE_INTERVALS intervals after its last tick,
    and then the next process to tick takes the job over."""

    def __init__(self, backend: Backend, name: str, work: Callable[[], object], *, interval_s: float,
                 at_start: bool = False) -> None:
        self.backend, self.name, self.interval_s, self._work = backend, name, interval_s, work
        self.holder = new_holder()
        self._periodic = Periodic(name, self.tick, interval_s=interval_s, at_start=at_start)

    def tick(self) -> object | None:
        """``work``'s result if this process holds (or takes) the lease; None when another does."""
        if not take(self.backend, self.name, self.holder, seconds=LEASE_INTERVALS * self.interval_s):
            return None
        return self._work()

    def start(self) -> None:
        self._periodic.start()

    def stop(self) -> None:
        self._periodic.stop()
        try:
            give_up(self.backend, self.name, self.holder)
        except Exception:  # noqa: BLE001  the database is gone: the lease expires by itself
            log.warning("could not give up lease %s; it expires by itself", self.name, exc_info=True)

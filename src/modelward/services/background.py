"""Work a server (or an embedded client) repeats while it runs, each in one daemon thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("modelward.background")


class Periodic:
    """Run ``work`` every ``interval_s`` (and once at start, if ``at_start``) until ``stop``.

    A failure is logged and retried at the next tick: a database or object store that is
    restarting must not end the thread."""

    def __init__(self, name: str, work: Callable[[], object], *, interval_s: float, at_start: bool = True,
                 join_timeout_s: float = 10) -> None:
        self.name, self._work, self.interval_s = name, work, interval_s
        self._at_start, self._join_timeout_s = at_start, join_timeout_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"modelward-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._join_timeout_s)

    def _loop(self) -> None:
        if not self._at_start and self._stop.wait(self.interval_s):
            return
        while True:
            try:
                self._work()
            except Exception:  # noqa: BLE001  see the class docstring
                log.exception("%s failed; trying again in %.0f s", self.name, self.interval_s)
            if self._stop.wait(self.interval_s):
                return

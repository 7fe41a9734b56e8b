"""Metric points and log chunks queued by the caller, written in batches by one thread.

``log_metric`` only appends to a list under a lock, so it returns in microseconds.
The writer thread sends what has piled up every ``interval_s`` (or as soon as
``max_points`` are waiting); ``flush()`` waits until everything queued so far is
stored; an ``atexit`` hook flushes at interpreter exit. A process killed with SIGKILL
loses at most the points queued since the last batch went out.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("modelward.sdk")

SendMetrics = Callable[[str, list[str], list[float], list[int], list[int]], None]
SendLogs = Callable[[str, list[tuple[str, str]]], None]


@dataclass
class _Pending:
    keys: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    timestamps_ms: list[int] = field(default_factory=list)
    logs: list[tuple[str, str]] = field(default_factory=list)


class Batcher:
    def __init__(
        self,
        send_metrics: SendMetrics,
        send_logs: SendLogs,
        *,
        interval_s: float = 0.5,
        max_points: int = 50_000,
    ) -> None:
        self._send_metrics = send_metrics
        self._send_logs = send_logs
        self._interval_s = interval_s
        self._max_points = max_points
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = defaultdict(_Pending)
        self._queued = 0
        self._wake = threading.Event()
        self._send_lock = threading.Lock()  # one batch at a time keeps log chunks in order
        self._stopped = False
        self._errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._loop, name="modelward-batcher", daemon=True)
        self._thread.start()
        _live_batchers.add(self)

    def add_metric(self, run_id: str, key: str, value: float, step: int, timestamp_ms: int) -> None:
        with self._lock:
            pending = self._pending[run_id]
            pending.keys.append(key)
            pending.values.append(value)
            pending.steps.append(step)
            pending.timestamps_ms.append(timestamp_ms)
            self._queued += 1
            full = self._queued >= self._max_points
        if full:
            self._wake.set()

    def add_log(self, run_id: str, stream: str, text: str) -> None:
        with self._lock:
            self._pending[run_id].logs.append((stream, text))

    def flush(self) -> None:
        """Send everything queued so far and wait until it is stored.

        Raises the first error a background send met since the last flush, so a
        failure is never silent (the data it concerned is reported, not retried).
        """
        self._drain()
        if self._errors:
            error, self._errors = self._errors[0], []
            raise error

    def close(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._wake.set()
        self._thread.join(timeout=30)
        try:
            self.flush()
        except Exception as exc:  # at exit there is no caller left to raise to
            log.error("modelward: could not store the last queued metrics: %s", exc)
        _live_batchers.discard(self)

    def _drain(self) -> None:
        with self._send_lock:
            with self._lock:
                taken, self._pending = self._pending, defaultdict(_Pending)
                self._queued = 0
            for run_id, pending in taken.items():
                self._send(run_id, pending)

    def _send(self, run_id: str, pending: _Pending) -> None:
        try:
            # A tight loop can queue more points than one request may carry: send slices.
            for start in range(0, len(pending.keys), self._max_points):
                end = start + self._max_points
                self._send_metrics(
                    run_id, pending.keys[start:end], pending.values[start:end],
                    pending.steps[start:end], pending.timestamps_ms[start:end],
                )
            if pending.logs:
                self._send_logs(run_id, pending.logs)
        except Exception as exc:
            log.warning("modelward: failed to store %d metric points for run %s: %s",
                        len(pending.keys), run_id, exc)
            self._errors.append(exc)

    def _loop(self) -> None:
        while not self._stopped:
            self._wake.wait(self._interval_s)
            self._wake.clear()
            self._drain()


_live_batchers: weakref.WeakSet[Batcher] = weakref.WeakSet()


@atexit.register
def _flush_all_at_exit() -> None:
    for batcher in list(_live_batchers):
        batcher.close()

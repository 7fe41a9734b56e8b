"""Metric points and log chunks queued by the caller, written in batches by one thread.

``log_metric`` only appends to a list under a lock, so it returns in microseconds.
The writer thread sends what has piled up every ``interval_s`` (or as soon as
``max_points`` are waiting); ``flush()`` waits until everything queued so far is
stored; an ``atexit`` hook flushes at interpreter exit. A process killed with SIGKILL
loses at most the points queued since the last batch went out.

A batch the server refuses as invalid is sent again key by key, so one bad key costs
only its own points; whatever could not be stored is named by the next ``flush()``.
The same thread sends each watched run's heartbeat every ``HEARTBEAT_INTERVAL_S``: a
run whose process died stops beating, and the server marks it KILLED after a while.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from modelward.errors import InvalidInput, ModelwardError, PayloadTooLarge

log = logging.getLogger("modelward.sdk")

SendMetrics = Callable[[str, list[str], list[float], list[int], list[int]], None]
SendLogs = Callable[[str, list[tuple[str, str]]], None]
# Answers False when the run no longer needs a heartbeat (it ended meanwhile).
SendHeartbeat = Callable[[str], bool]

HEARTBEAT_INTERVAL_S = 30.0
"""How often an active run says it is alive; the server's ``run_heartbeat_timeout_s`` is
many times longer."""
_NAMED_KEYS = 5


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
        self._watched: dict[str, tuple[SendHeartbeat, float]] = {}  # run id -> (send, next beat due)
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

    def watch(self, run_id: str, send_heartbeat: SendHeartbeat) -> None:
        """Send ``send_heartbeat(run_id)`` from the writer thread, now and then every
        ``HEARTBEAT_INTERVAL_S``, until ``unwatch(run_id)``."""
        with self._lock:
            self._watched[run_id] = (send_heartbeat, 0.0)
        self._wake.set()

    def unwatch(self, run_id: str) -> None:
        with self._lock:
            self._watched.pop(run_id, None)

    def flush(self) -> None:
        """Send everything queued so far and wait until it is stored.

        Raises what background sends could not store since the last flush, naming the
        run, the keys and the number of points, so a failure is never silent (the data
        it concerned is reported, not retried).
        """
        self._drain()
        with self._lock:
            errors, self._errors = self._errors, []
        if len(errors) == 1:
            raise errors[0]
        if errors:
            cls = type(errors[0]) if isinstance(errors[0], ModelwardError) else ModelwardError
            raise cls("; ".join(str(error) for error in errors[:_NAMED_KEYS])
                      + (f"; and {len(errors) - _NAMED_KEYS} more failures" if len(errors) > _NAMED_KEYS else ""))

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
        # A tight loop can queue more points than one request may carry: send slices.
        for start in range(0, len(pending.keys), self._max_points):
            end = start + self._max_points
            self._send_slice(
                run_id, pending.keys[start:end], pending.values[start:end],
                pending.steps[start:end], pending.timestamps_ms[start:end],
            )
        if pending.logs:
            try:
                self._send_logs(run_id, pending.logs)
            except Exception as exc:
                log.warning("modelward: failed to store %d log chunks for run %s: %s", len(pending.logs), run_id, exc)
                self._report(ModelwardError(f"{len(pending.logs)} log chunks for run {run_id} were not stored: {exc}"), exc)

    def _send_slice(self, run_id: str, keys: list[str], values: list[float], steps: list[int], stamps: list[int]) -> None:
        try:
            self._send_metrics(run_id, keys, values, steps, stamps)
            return
        except Exception as exc:
            salvage = isinstance(exc, InvalidInput) and not isinstance(exc, PayloadTooLarge) and len(set(keys)) > 1
            if not salvage:
                self._refused(run_id, keys, exc)
                return
        # The batch was refused as invalid: key by key, so one bad key costs only its own points.
        by_key: dict[str, list[int]] = defaultdict(list)
        for index, key in enumerate(keys):
            by_key[key].append(index)
        for key, indexes in by_key.items():
            try:
                self._send_metrics(
                    run_id, [key] * len(indexes), [values[i] for i in indexes],
                    [steps[i] for i in indexes], [stamps[i] for i in indexes],
                )
            except Exception as exc:
                self._refused(run_id, [key] * len(indexes), exc)

    def _refused(self, run_id: str, keys: list[str], exc: Exception) -> None:
        counts = Counter(keys)
        named = ", ".join(f"'{key}' ({count})" for key, count in counts.most_common(_NAMED_KEYS))
        if len(counts) > _NAMED_KEYS:
            named += f" and {len(counts) - _NAMED_KEYS} more keys"
        points = f"{len(keys)} metric point{'s' if len(keys) != 1 else ''}"
        log.warning("modelward: failed to store %s for run %s: %s", points, run_id, exc)
        cls = type(exc) if isinstance(exc, ModelwardError) else ModelwardError
        were = "was" if len(keys) == 1 else "were"
        self._report(cls(f"{points} for run {run_id} {were} not stored (key {named}): {exc}"), exc)

    def _report(self, error: ModelwardError, cause: Exception) -> None:
        error.__cause__ = cause
        with self._lock:
            self._errors.append(error)

    def _beat(self) -> float:
        """Send the heartbeats that are due; answer how long until the next one."""
        now = time.monotonic()
        interval = HEARTBEAT_INTERVAL_S
        with self._lock:
            due = [(run_id, send) for run_id, (send, at) in self._watched.items() if at <= now]
            for run_id, send in due:
                self._watched[run_id] = (send, now + interval)
        for run_id, send in due:
            try:
                still_running = send(run_id)
            except Exception as exc:  # the server restarting must not end the thread
                log.warning("modelward: heartbeat for run %s failed: %s", run_id, exc)
                continue
            if still_running is False:
                self.unwatch(run_id)
        with self._lock:
            upcoming = [at for _, at in self._watched.values()]
        return min(upcoming, default=now + interval) - time.monotonic()

    def _loop(self) -> None:
        wait = self._interval_s
        while not self._stopped:
            self._wake.wait(max(0.01, min(self._interval_s, wait)))
            self._wake.clear()
            self._drain()
            wait = self._beat()


_live_batchers: weakref.WeakSet[Batcher] = weakref.WeakSet()


@atexit.register
def _flush_all_at_exit() -> None:
    for batcher in list(_live_batchers):
        batcher.close()

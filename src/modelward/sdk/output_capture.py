"""Tee sys.stdout/sys.stderr so a run's console output can be shipped to a sink."""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any, Callable, TextIO

_log = logging.getLogger(__name__)

Sink = Callable[[str, str], None]

_EMIT_INTERVAL_S = 0.5
_STREAMS = ("stdout", "stderr")


class _Tee:
    """Writes through to the original stream and reports the text to its capture."""

    def __init__(self, original: TextIO, name: str, capture: OutputCapture) -> None:
        self._original = original
        self._name = name
        self._capture = capture
        self.active = True

    def write(self, text: str) -> int:
        with self._capture._lock:  # keeps terminal order and captured order identical
            result = self._original.write(text)
            if self.active:
                self._capture._record(self._name, text)
        return result

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._original.flush()

    def __getattr__(self, attr: str) -> Any:
        # isatty(), fileno(), encoding, buffer, ... behave exactly like the original.
        return getattr(self._original, attr)


class OutputCapture:
    def __init__(self, sink: Sink, *, max_chunk_chars: int = 8192) -> None:
        if max_chunk_chars < 1:
            raise ValueError("max_chunk_chars must be positive")
        self._sink = sink
        self._max = max_chunk_chars
        self._lock = threading.RLock()
        self._local = threading.local()
        self._buffers: dict[str, list[str]] = {name: [] for name in _STREAMS}
        self._sizes: dict[str, int] = dict.fromkeys(_STREAMS, 0)
        self._last_emit = dict.fromkeys(_STREAMS, time.monotonic())
        self._originals: dict[str, TextIO] = {}
        self._tees: dict[str, _Tee] = {}

    def start(self) -> OutputCapture:
        with self._lock:
            if self._tees:
                return self
            self._last_emit = dict.fromkeys(_STREAMS, time.monotonic())
            for name in _STREAMS:
                original = getattr(sys, name)
                self._originals[name] = original
                self._tees[name] = _Tee(original, name, self)
                setattr(sys, name, self._tees[name])
        return self

    def stop(self) -> None:
        with self._lock:
            for name, tee in self._tees.items():
                # Only undo our own replacement. If someone wrapped us later, leave theirs
                # in place: our deactivated tee stays in their chain as a plain pass-through.
                tee.active = False
                if getattr(sys, name) is tee:
                    setattr(sys, name, self._originals[name])
            self._tees.clear()
            self._originals.clear()
        self.flush_pending()

    def flush_pending(self) -> None:
        with self._lock:
            for name in _STREAMS:
                self._emit(name, self._take(name, everything=True))

    def __enter__(self) -> OutputCapture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, name: str, text: str) -> None:
        if not text or getattr(self._local, "in_sink", False):
            return  # the sink itself printed: it reached the terminal, don't feed it back
        with self._lock:
            self._buffers[name].append(text)
            self._sizes[name] += len(text)
            since_emit = time.monotonic() - self._last_emit[name]
            due = text.endswith("\n") and since_emit >= _EMIT_INTERVAL_S
            self._emit(name, self._take(name, everything=due))

    def _take(self, name: str, *, everything: bool) -> list[str]:
        """Remove full chunks (plus the remainder if everything) from a stream's buffer."""
        if self._sizes[name] <= self._max and not everything:
            return []
        data = "".join(self._buffers[name])
        cut = len(data) if everything else len(data) - len(data) % self._max
        chunks = [data[i : i + self._max] for i in range(0, cut, self._max)]
        rest = data[cut:]
        self._buffers[name] = [rest] if rest else []
        self._sizes[name] = len(rest)
        if chunks:
            self._last_emit[name] = time.monotonic()
        return chunks

    def _emit(self, name: str, chunks: list[str]) -> None:
        # Called with the lock held so chunks reach the sink in write order; the sink
        # should therefore be quick (e.g. enqueue for a background uploader).
        outer = getattr(self._local, "in_sink", False)
        self._local.in_sink = True
        try:
            for chunk in chunks:
                self._sink(name, chunk)
        except Exception:  # a broken sink must never break the user's print()
            _log.debug("output capture sink failed", exc_info=True)
        finally:
            self._local.in_sink = outer

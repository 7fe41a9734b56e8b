"""Request bodies spooled to a temporary file, with the size limit enforced as they arrive."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable
from typing import Any, BinaryIO, TypeVar

from fastapi import Request

from modelward.errors import ModelwardError, PayloadTooLarge

T = TypeVar("T")

SPOOL_IN_MEMORY_BYTES = 8 * 1024 * 1024


class RequestBodyReader:
    @staticmethod
    async def read(request: Request) -> BinaryIO:
        """The whole body as a rewound file object; refuses more than the server's limit."""
        limit: int = request.app.state.settings.max_request_bytes
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                spool.close()
                raise PayloadTooLarge(f"request body is larger than the limit of {limit} bytes")
            spool.write(chunk)
        spool.seek(0)
        return spool  # type: ignore[return-value]


class RequestBodyStream:
    """A request body as a blocking file object for a worker thread, read as it arrives.

    Nothing is spooled: ``read`` pulls the next chunks from the event loop (anyio's
    ``from_thread``), so a large artifact streams from the socket to the store in constant
    memory. Use it inside ``run_in_threadpool``. ``drain`` discards what is left, so an answer
    given before the body was read (a refusal) still reaches a client that sends it whole.
    """

    def __init__(self, request: Request, limit: int) -> None:
        self._chunks = request.stream().__aiter__()
        self._buffer = bytearray()
        self._limit, self.received, self._done = limit, 0, False
        declared = request.headers.get("content-length", "")
        self.declared_size = int(declared) if declared.isdigit() else None

    def _pull(self) -> bool:
        import anyio.from_thread

        try:
            chunk = anyio.from_thread.run(self._chunks.__anext__)
        except StopAsyncIteration:
            self._done = True
            return False
        self.received += len(chunk)
        if self.received > self._limit:
            raise PayloadTooLarge(f"request body is larger than the limit of {self._limit} bytes")
        self._buffer += chunk
        return True

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size) and self._pull():
            pass
        size = len(self._buffer) if size < 0 else min(size, len(self._buffer))
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def drain(self) -> None:
        while not self._done and self._pull():
            self._buffer.clear()


def upload_streamed(body: RequestBodyStream, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``work(*args, **kwargs)`` reading ``body``; on a refusal the rest of the body is read and
    dropped first, so the client, still sending, hears the refusal rather than a reset."""
    try:
        return work(*args, **kwargs)
    except ModelwardError as refusal:
        if not isinstance(refusal, PayloadTooLarge):
            with contextlib.suppress(Exception):
                body.drain()
        raise

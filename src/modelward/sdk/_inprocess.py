"""An httpx transport that drives an ASGI app in this process: the SDK's embedded road.

httpx's own ``ASGITransport`` is async-only and, like Starlette's ``TestClient``, holds a
whole response in memory before handing it over (and reports a response the app broke off
as a complete one). This transport owns one event loop on one daemon thread, started once:
the app's lifespan runs on it at start and at close, each request is one coroutine on it,
and the caller's thread reads the response as the app sends it, a few chunks ahead at most.
A response the app stops midway reaches the reader as ``httpx.RemoteProtocolError``, the
same error a network client sees when a server aborts a body.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import httpx

Message = dict[str, Any]
CLIENT_ADDRESS = ("127.0.0.1", 0)
WINDOW_CHUNKS = 8  # body chunks the app may send ahead of the reader
CLOSE_WAIT_S = 30.0  # how long closing waits for the app's shutdown before leaving the thread
_END = object()


class InProcessTransport(httpx.BaseTransport):
    """``httpx.Client(transport=InProcessTransport(app))``: call ``start()`` once before use."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._state: dict[str, Any] = {}  # what the app's lifespan leaves for its requests
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="modelward-embedded", daemon=True)
        self._lifespan = _Lifespan(app, self._state)
        self._started = self._closed = False

    def start(self) -> None:
        """Start the loop thread and run the app's lifespan startup (raises what the app raised)."""
        self._thread.start()
        self._started = True
        try:
            self._run(self._lifespan.startup())
        except BaseException:
            self._stop_loop()
            raise

    def close(self) -> None:
        if self._closed or not self._started:
            return
        self._closed = True
        try:
            self._run(self._lifespan.shutdown(), timeout=CLOSE_WAIT_S)
        finally:
            self._stop_loop()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise httpx.TransportError("the embedded modelward app is closed")
        exchange = _Exchange(self._loop, _request_body(request))
        exchange.task = asyncio.run_coroutine_threadsafe(exchange.run(self._app, self._scope(request)), self._loop)
        status, headers = exchange.head.result()
        return httpx.Response(status, headers=headers, stream=_ResponseBody(exchange), request=request)

    def _scope(self, request: httpx.Request) -> Message:
        url = request.url
        headers = [(key.lower(), value) for key, value in request.headers.raw]
        if not any(key == b"host" for key, _ in headers):
            headers.insert(0, (b"host", url.netloc))
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme,
            "path": url.path,  # percent-decoded once, as uvicorn does
            "raw_path": url.raw_path.partition(b"?")[0],
            "query_string": url.query,
            "root_path": "",
            "headers": headers,
            "client": CLIENT_ADDRESS,
            "server": (url.host, url.port or (443 if url.scheme == "https" else 80)),
            "state": dict(self._state),
        }

    def _run(self, coroutine: Any, timeout: float | None = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def _stop_loop(self) -> None:
        try:
            self._run(_cancel_pending(), timeout=CLOSE_WAIT_S)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(CLOSE_WAIT_S)
            if not self._thread.is_alive():
                self._loop.close()


def _request_body(request: httpx.Request) -> bytes | Iterable[bytes]:
    if isinstance(request.stream, httpx.ByteStream):
        return request.read()  # the usual case: JSON or bytes already in memory
    return request.stream  # type: ignore[return-value]  # an upload read as the app asks


async def _cancel_pending() -> None:
    current = asyncio.current_task()
    pending = [task for task in asyncio.all_tasks() if task is not current]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


class _Exchange:
    """One request's trip through the app. The loop thread runs ``run``; the caller's thread
    waits on ``head`` and then takes the body from ``chunks``."""

    task: concurrent.futures.Future[None]

    def __init__(self, loop: asyncio.AbstractEventLoop, body: bytes | Iterable[bytes]) -> None:
        self.loop = loop
        self.head: concurrent.futures.Future[tuple[int, list[tuple[bytes, bytes]]]] = concurrent.futures.Future()
        self.chunks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._body = body
        self._status = 500
        self._headers: list[tuple[bytes, bytes]] = []
        self._ended = self._abandoned = False

    async def run(self, app: Any, scope: Message) -> None:
        self._window = asyncio.Semaphore(WINDOW_CHUNKS)
        self._answered = asyncio.Event()  # the response is complete, or nobody reads it any more
        self._upload: Iterator[bytes] | None = None if isinstance(self._body, bytes) else iter(self._body)
        try:
            await app(scope, self._receive, self._send)
        except asyncio.CancelledError:
            self._broken("the request was cancelled")
            raise
        except Exception as exc:  # the app failed; whatever it already sent stays sent
            if not self.head.done():
                self.head.set_result((500, [(b"content-type", b"text/plain; charset=utf-8")]))
                self.chunks.put(b"Internal Server Error")
                self.chunks.put(_END)
                self._ended = True
            self._broken(f"{type(exc).__name__}: {exc}")
        else:
            self._broken("the app returned without finishing its response")
        finally:
            self._answered.set()

    def abandon(self) -> None:
        """The reader closed the response (on the loop thread): stop waiting for it."""
        self._abandoned = True
        self._answered.set()
        self._window.release()  # a send waiting for room goes on and finds nobody reads

    def _broken(self, reason: str) -> None:
        if not self.head.done():
            self.head.set_exception(httpx.RemoteProtocolError(f"no response from the embedded app: {reason}"))
        elif not self._ended:
            self._ended = True
            self.chunks.put(httpx.RemoteProtocolError(f"the server ended the response before its last byte: {reason}"))

    async def _receive(self) -> Message:
        if self._body is not None and self._upload is None:
            body, self._body = self._body, None
            return {"type": "http.request", "body": body, "more_body": False}
        if self._upload is not None:
            chunk = await asyncio.to_thread(next, self._upload, None)  # a file read stays off the loop
            if chunk is None:
                self._upload = None
                self._body = None
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.request", "body": bytes(chunk), "more_body": True}
        await self._answered.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self._status = message["status"]
            self._headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
            self.head.set_result((self._status, self._headers))
        elif kind == "http.response.body" and not self._ended:
            # Once the reader has gone, a send still suspends before it returns: returning at
            # once would let an app that sends in a loop spin on the loop thread for ever,
            # never suspending, so the cancellation of its task could never reach it.
            if self._abandoned:
                await asyncio.sleep(0)
                return
            await self._window.acquire()
            if self._abandoned:
                await asyncio.sleep(0)
                return
            body = message.get("body", b"")
            if body:
                self.chunks.put(bytes(body))
            else:
                self._window.release()
            if not message.get("more_body", False):
                self._ended = True
                self.chunks.put(_END)
                self._answered.set()


class _ResponseBody(httpx.SyncByteStream):
    def __init__(self, exchange: _Exchange) -> None:
        self._exchange = exchange
        self._finished = False

    def __iter__(self) -> Iterator[bytes]:
        exchange = self._exchange
        while not self._finished:
            item = exchange.chunks.get()
            if item is _END:
                self._finished = True
                return
            if isinstance(item, BaseException):
                self._finished = True
                raise item
            exchange.loop.call_soon_threadsafe(exchange._window.release)
            yield item

    def close(self) -> None:
        if not self._finished and not self._exchange.loop.is_closed():
            self._exchange.loop.call_soon_threadsafe(self._exchange.abandon)
            self._exchange.task.cancel()


class _Lifespan:
    """The ASGI lifespan protocol, spoken to the app on the loop thread."""

    def __init__(self, app: Any, state: dict[str, Any]) -> None:
        self._app = app
        self._state = state
        self._task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._outbox: asyncio.Queue[Message] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self._state}
        self._task = asyncio.ensure_future(self._app(scope, self._inbox.get, self._outbox.put))
        await self._exchange("lifespan.startup")

    async def shutdown(self) -> None:
        if self._task is None or self._task.done():
            return
        await self._exchange("lifespan.shutdown")
        await self._task

    async def _exchange(self, phase: str) -> None:
        assert self._task is not None
        await self._inbox.put({"type": phase})
        answer = asyncio.ensure_future(self._outbox.get())
        await asyncio.wait({answer, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if answer.done():
            message = answer.result()
            if message["type"] == f"{phase}.complete":
                return
            if not self._task.done():
                await asyncio.wait({self._task})
            if self._task.exception() is not None:
                raise self._task.exception()  # type: ignore[misc]
            raise RuntimeError(message.get("message") or f"the app's {phase} failed")
        answer.cancel()
        if self._task.exception() is not None:
            raise self._task.exception()  # type: ignore[misc]
        raise RuntimeError(f"the app ended during {phase}")

"""The SDK's one road to the REST API: over the network, or in-process to the same app.

A call the server answers with 503 (its database or object store unreachable: nothing was
done) is sent again after the server's Retry-After, as is one that could not connect (a server
restarting) for a few seconds, within a budget of seconds per call (``HttpSession.retry_budget_s``); see RetryBudget.

Embedded use builds the ASGI app in this process and drives it through an httpx.Client
over our in-process transport (``_inprocess.py``), so embedded and remote calls share every
line from here up, and errors come back as the same ``modelward.errors`` classes.
"""

from __future__ import annotations

import getpass
import os
import time
from collections.abc import Iterator
from typing import Any, BinaryIO

import httpx
import orjson

from modelward.errors import (
    Conflict,
    InvalidInput,
    ModelwardError,
    NotFound,
    PermissionDenied,
    ServiceUnavailable,
    Unauthenticated,
    error_class_for_code,
)
from modelward.settings import Settings

EMBEDDED_BASE_URL = "http://embedded.modelward"
DEFAULT_TIMEOUT_S = 60.0


def _local_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user database entry, e.g. in some containers
        return os.environ.get("USER", "local")


class HttpSession:
    def __init__(self, settings: Settings, *, token: str | None = None, user: str | None = None) -> None:
        self.settings = settings
        self.tracking_uri = settings.tracking_uri
        self.retry_budget_s = DEFAULT_RETRY_BUDGET_S  # seconds one call may spend retrying (0: never retry)
        # Who acts, honoured by a server only without auth (with auth the token decides): by
        # default the operator, labelled with the OS user; with ``user``, explicitly that
        # stored user, with exactly its roles.
        headers = {"x-modelward-user": user or _local_user()}
        if user:
            headers["x-modelward-as"] = user
        token = token or os.environ.get("MODELWARD_TOKEN")
        if token:
            headers["authorization"] = f"Bearer {token}"
        if self.tracking_uri and self.tracking_uri.startswith(("http://", "https://")):
            self._client: httpx.Client = httpx.Client(
                base_url=self.tracking_uri.rstrip("/"), headers=headers, timeout=DEFAULT_TIMEOUT_S
            )
            self.embedded = False
        else:
            self._client = _embedded_client(settings, headers)
            self.embedded = True

    @property
    def where(self) -> str:
        if self.embedded:
            return f"embedded store {self.settings.resolved_database_url}"
        return str(self.tracking_uri)

    def close(self) -> None:
        self._client.close()  # embedded, this runs the app's shutdown

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        content: bytes | Iterator[bytes] | None = None,
    ) -> Any:
        """Send one request; the decoded JSON answer, or None for an empty one."""
        headers = {}
        if json is not None:
            content = orjson.dumps(json)
            headers["content-type"] = "application/json"
        response = self._send(method, path, params=params, content=content, headers=headers)
        if not response.content:
            return None
        return orjson.loads(response.content)

    def stream(self, path: str, params: dict[str, Any] | None = None) -> Iterator[bytes]:
        """GET a body in chunks (artifact downloads); retried like ``call`` until the first byte."""
        retry, started = RetryBudget(self.retry_budget_s), False
        while True:
            try:
                with self._client.stream("GET", path, params=params) as response:
                    if response.status_code == 503 and retry.may_retry(True, response.headers.get("retry-after")):
                        continue
                    if response.status_code >= 400:
                        response.read()
                        raise_for_error(response)
                    for chunk in response.iter_bytes():
                        started = True
                        yield chunk
                    return
            except httpx.TransportError as exc:
                if not started and retry.may_retry(may_resend("GET", exc, None), unanswered=True):
                    continue
                raise ServiceUnavailable(f"cannot reach the modelward server at {self.where}: {exc}") from exc

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        retry = RetryBudget(self.retry_budget_s)
        while True:
            try:
                response = self._client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if retry.may_retry(may_resend(method, exc, kwargs.get("content")), unanswered=True):
                    continue
                raise ServiceUnavailable(f"cannot reach the modelward server at {self.where}: {exc}") from exc
            if response.status_code == 503 and retry.may_retry(replayable(kwargs.get("content")),
                                                               response.headers.get("retry-after")):
                continue
            if response.status_code >= 400:
                raise_for_error(response)
            return response


# -- retries -------------------------------------------------------------------------------
# A 503 from the server means it rolled the work back (the database or the object store was
# unreachable): any request may be sent again, once the server's Retry-After has passed. A
# request that never reached the server (connection refused: a server restarting) may be sent
# again too; one cut off after it was sent only when sending it twice does what sending it once
# does (GET, PUT, DELETE). Every retry comes out of one budget of seconds per call.

DEFAULT_RETRY_BUDGET_S = 30.0
# A server that refuses connections for longer than this is down, not restarting: say so soon.
CONNECT_RETRY_BUDGET_S = 5.0
MAX_RETRY_WAIT_S = 5.0
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class ReplayableFile:
    """An upload body read from a file in chunks, from its start each time it is iterated, so a
    retried upload sends the whole file again (a generator could be sent only once)."""

    def __init__(self, handle: BinaryIO, chunk_size: int = 1 << 20) -> None:
        self._handle, self._chunk_size = handle, chunk_size

    def __iter__(self) -> Iterator[bytes]:
        self._handle.seek(0)
        while chunk := self._handle.read(self._chunk_size):
            yield chunk


def replayable(content: Any) -> bool:
    return content is None or isinstance(content, bytes | bytearray | ReplayableFile)


def may_resend(method: str, exc: httpx.TransportError, content: Any) -> bool:
    if not replayable(content):
        return False
    never_arrived = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
    return never_arrived or method.upper() in _IDEMPOTENT


class RetryBudget:
    """Waits between the attempts of one call: the server's Retry-After (at most
    MAX_RETRY_WAIT_S), else a doubling back-off from 0.25 s, until ``budget_s`` is spent."""

    def __init__(self, budget_s: float) -> None:
        started = time.monotonic()
        self._deadline = started + budget_s
        self._connect_deadline = started + min(budget_s, CONNECT_RETRY_BUDGET_S)
        self._backoff = 0.25

    def may_retry(self, allowed: bool, retry_after: str | None = None, *, unanswered: bool = False) -> bool:
        """Whether to send again (after waiting); ``unanswered``: no server answered at all."""
        if not allowed:
            return False
        wait = _seconds(retry_after)
        if wait is None:
            wait, self._backoff = self._backoff, min(self._backoff * 2, MAX_RETRY_WAIT_S)
        wait = min(wait, MAX_RETRY_WAIT_S)
        if time.monotonic() + wait > (self._connect_deadline if unanswered else self._deadline):
            return False
        time.sleep(wait)
        return True


def _seconds(retry_after: str | None) -> float | None:
    # Retry-After may also be an HTTP date; our server sends seconds, other dates fall back to back-off.
    try:
        return max(0.0, float(retry_after)) if retry_after else None
    except ValueError:
        return None


def raise_for_error(response: httpx.Response) -> None:
    """Rebuild the server's error as the same modelward exception class."""
    try:
        body = orjson.loads(response.content)
        code, message = body["error_code"], body["message"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        text = response.text[:500] or response.reason_phrase
        raise ModelwardError(f"server answered {response.status_code}: {text}") from None
    error_class = error_class_for_code(code)
    if error_class is ModelwardError:
        error_class = _CLASS_BY_STATUS.get(response.status_code, ModelwardError)
    raise error_class(message)


_CLASS_BY_STATUS: dict[int, type[ModelwardError]] = {
    400: InvalidInput, 401: Unauthenticated, 403: PermissionDenied, 404: NotFound, 409: Conflict,
}


def _embedded_client(settings: Settings, headers: dict[str, str]) -> httpx.Client:
    from modelward.api.app import create_app
    from modelward.sdk._inprocess import InProcessTransport

    transport = InProcessTransport(create_app(settings))
    transport.start()  # one event-loop thread for the client's life, not one per request
    return httpx.Client(transport=transport, base_url=EMBEDDED_BASE_URL, headers=headers, timeout=None)

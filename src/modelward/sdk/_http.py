"""The SDK's one road to the REST API: over the network, or in-process to the same app.

Embedded use builds the ASGI app in this process and drives it through an httpx.Client
over our in-process transport (``_inprocess.py``), so embedded and remote calls share every
line from here up, and errors come back as the same ``modelward.errors`` classes.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from typing import Any

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
        """GET a body in chunks (artifact downloads)."""
        try:
            with self._client.stream("GET", path, params=params) as response:
                if response.status_code >= 400:
                    response.read()
                    raise_for_error(response)
                yield from response.iter_bytes()
        except httpx.TransportError as exc:
            raise ServiceUnavailable(f"cannot reach the modelward server at {self.where}: {exc}") from exc

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServiceUnavailable(f"cannot reach the modelward server at {self.where}: {exc}") from exc
        if response.status_code >= 400:
            raise_for_error(response)
        return response


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

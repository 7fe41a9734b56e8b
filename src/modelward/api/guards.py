"""Request guards as one plain ASGI middleware (no response buffering or re-streaming):

- the body size limit;
- without authentication, the ``Host`` must name loopback (a DNS-rebinding page cannot
  reach the local server through its own domain name);
- a state-changing request that carries an ``Origin`` must come from this very server
  (cross-site requests from a browser are refused).
"""

from __future__ import annotations

from typing import Any

import orjson

from modelward.api.errors import error_body

Scope = dict[str, Any]


LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "testserver", "embedded.modelward"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class RequestGuards:
    def __init__(self, app: Any, max_bytes: int, loopback_only: bool) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        refusal = self._host_or_origin_problem(scope, headers)
        if refusal:
            await _send_error(send, 403, "PERMISSION_DENIED", refusal)
            return
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        exceeded = False
        refused = False

        async def counting_receive() -> Any:
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Behave as if the client went away, so no handler acts on a cut body;
                    # whatever the app answers is replaced by the 413 below.
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Any) -> None:
            nonlocal refused
            if not exceeded:
                await send(message)
            elif not refused:
                refused = True
                await self._refuse(send)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
            if not refused:  # the handler gave up on the cut body (a ClientDisconnect)
                await self._refuse(send)

    def _host_or_origin_problem(self, scope: Scope, headers: dict[bytes, bytes]) -> str | None:
        host = headers.get(b"host", b"").decode("latin-1")
        if self.loopback_only and _hostname(host) not in LOOPBACK_HOSTS:
            return (f"host '{host}' refused: without authentication this server answers only to "
                    "loopback names (127.0.0.1, localhost)")
        origin = headers.get(b"origin")
        if origin and scope["method"] not in SAFE_METHODS:
            origin_host = origin.decode("latin-1").split("://", 1)[-1].split("/", 1)[0]
            if origin_host != host:
                return f"cross-site request from '{origin.decode('latin-1')}' refused"
        return None

    async def _refuse(self, send: Any) -> None:
        await _send_error(send, 413, "PAYLOAD_TOO_LARGE",
                          f"request body is larger than the server's limit of {self.max_bytes} bytes")


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host


async def _send_error(send: Any, status: int, code: str, message: str) -> None:
    body = orjson.dumps(error_body(code, message))
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


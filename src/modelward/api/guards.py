"""Request guards as one plain ASGI middleware (no response buffering or re-streaming).

In order, before the app sees a request:

- **the request line and Host**: the target is a path (no absolute-form ``http://...``: this
  server is no proxy) that, like its query string, is UTF-8 without NUL once percent-decoded
  (Starlette would replace what is not, silently), and there is exactly one ``Host`` header of the form ``host[:port]``
  (a DNS name, an IPv4 literal or a bracketed IPv6 literal; port digits only), else 400;
- **loopback only without authentication**: the ``Host`` must name loopback (``localhost``,
  ``127.0.0.0/8``, ``[::1]``), so a DNS-rebinding page cannot reach the local server through
  its own domain name (403);
- **the same origin for every change**: a state-changing request (anything but GET, HEAD,
  OPTIONS) that carries ``Origin`` or ``Sec-Fetch-Site`` must come from this very server, and a
  web-UI form post must prove it with one of the two (403);
- **the media type its route takes** (415; on the MLflow routes MLflow's own 400
  ``INVALID_PARAMETER_VALUE``, as all these refusals follow MLflow's table there): a web page can send ``text/plain``, form and
  multipart bodies cross-site without a CORS preflight, so a change with a body must say
  ``Content-Type: application/json``, except an artifact upload (its bytes) and a UI form (its
  form types), see ``_media_type_problem``; a change without a body (``POST .../restore``) may
  omit the type;
- **the body size limit** (413).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson

from modelward.api.errors import error_body, status_of
from modelward.api.mlflow.errors import MLFLOW_STATUS, mlflow_code_of
from modelward.errors import (
    InvalidInput,
    ModelwardError,
    PayloadTooLarge,
    PermissionDenied,
    UnsupportedMediaType,
)

Scope = dict[str, Any]


# In-process clients: Starlette's TestClient and the SDK's embedded mode.
LOOPBACK_NAMES = {"localhost", "testserver", "embedded.modelward"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

JSON = "application/json"
OCTET_STREAM = "application/octet-stream"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

# host[:port]: DNS labels (an optional final dot, as in an FQDN) or a bracketed IPv6 literal.
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST = re.compile(rf"^(?:(?P<name>{_LABEL}(?:\.{_LABEL})*\.?)|\[(?P<ipv6>[0-9a-f:.]+)\])(?::(?P<port>[0-9]{{1,5}}))?$",
                   re.IGNORECASE)
# The routes that take raw bytes rather than JSON (api/routers/artifacts.py, api/mlflow/artifacts.py).
_NATIVE_UPLOAD = re.compile(r"^/api/v1/runs/[^/]+/artifacts/.")
_MLFLOW_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow", "/api/3.0/mlflow", "/ajax-api/3.0/mlflow")
_MLFLOW_UPLOAD_PREFIXES = ("/api/2.0/mlflow-artifacts/artifacts/", "/ajax-api/2.0/mlflow-artifacts/artifacts/")


class RequestGuards:
    def __init__(self, app: Any, max_bytes: int, loopback_only: bool, *, max_upload_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes or max_bytes  # an artifact upload's own limit
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or [])
        headers = dict(raw_headers)
        refusal = self._refusal(scope, raw_headers, headers)
        if refusal is not None:
            await _send_error(scope, send, refusal)
            return
        limit = self.max_upload_bytes if is_artifact_upload(scope) else self.max_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send, limit)
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
                if received > limit:
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
                await self._refuse(scope, send, limit)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
            if not refused:  # the handler gave up on the cut body (a ClientDisconnect)
                await self._refuse(scope, send, limit)

    def _refusal(self, scope: Scope, raw_headers: list[tuple[bytes, bytes]],
                 headers: dict[bytes, bytes]) -> ModelwardError | None:
        target = scope.get("raw_path") or scope.get("path", "").encode("latin-1")
        if not target.startswith(b"/"):
            return InvalidInput("the request target must be a path ('/api/...'): this server is not a proxy")
        problem = _undecodable_target(target, scope.get("query_string") or b"")
        if problem is not None:
            return InvalidInput(problem)
        hosts = [value for name, value in raw_headers if name == b"host"]
        if len(hosts) != 1:
            return InvalidInput(f"a request must carry exactly one Host header, not {len(hosts)}")
        host = hosts[0].decode("latin-1")
        authority = parse_host(host)
        if authority is None:
            return InvalidInput(f"malformed Host header '{host}': expected host[:port]")
        if self.loopback_only and not is_loopback_name(authority[0]):
            return PermissionDenied(f"host '{host}' refused: without authentication this server answers only to "
                                    "loopback names (127.0.0.1, localhost)")
        if scope["method"] in SAFE_METHODS:
            return None
        problem = _origin_problem(scope, headers, authority)
        if problem is not None:
            return PermissionDenied(problem)
        return _media_type_problem(scope, raw_headers, headers)

    async def _refuse(self, scope: Scope, send: Any, limit: int) -> None:
        await _send_error(scope, send, PayloadTooLarge(
            f"request body is larger than the server's limit of {limit} bytes"))


def is_artifact_upload(scope: Scope) -> bool:
    """An artifact's bytes (native or MLflow proxy PUT), which have ``max_artifact_bytes`` as limit."""
    path = str(scope.get("path", ""))
    return scope.get("method") == "PUT" and (bool(_NATIVE_UPLOAD.match(path)) or path.startswith(_MLFLOW_UPLOAD_PREFIXES))


def _undecodable_target(raw_path: bytes, query: bytes) -> str | None:
    """Starlette decodes a path and query with errors="replace": refuse instead what is not
    UTF-8 once percent-decoded (lone surrogates included), or holds a NUL, which no name may."""
    for what, raw in (("path", raw_path), ("query string", query.replace(b"+", b" "))):
        if b"%" not in raw and raw.isascii():
            continue
        try:
            text = unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"the request {what} is not valid UTF-8 once percent-decoded ({exc.reason} at byte {exc.start})"
        if "\x00" in text:
            return f"the request {what} holds a NUL character (%00)"
    return None


def parse_host(value: str) -> tuple[str, int | None] | None:
    """``host[:port]`` -> (lower-case host, port), or None for anything else (userinfo, paths,
    several ports, an unbracketed or zoned IPv6 literal). IPv6 hosts keep their brackets."""
    match = _HOST.match(value)
    if match is None:
        return None
    port = int(match["port"]) if match["port"] is not None else None
    if port is not None and not 0 < port < 65536:
        return None
    if match["ipv6"] is not None:
        try:
            return f"[{ipaddress.IPv6Address(match['ipv6']).compressed}]", port
        except ValueError:
            return None
    return match["name"].lower(), port


def is_loopback_name(host: str) -> bool:
    """An exact loopback spelling: localhost, 127.x.y.z, [::1]. ``localhost.``, integer or
    octal IPv4 forms and IPv4-mapped IPv6 are not."""
    if host in LOOPBACK_NAMES or host == "[::1]":
        return True
    try:
        return ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        return False


def _origin_problem(scope: Scope, headers: dict[bytes, bytes], authority: tuple[str, int | None]) -> str | None:
    """A browser names the page behind a change in ``Origin`` and ``Sec-Fetch-Site``; both must
    say this server (a UI form must also carry one of them, see ``_media_type_problem``)."""
    origin = headers.get(b"origin")
    fetch_site = headers.get(b"sec-fetch-site")
    if origin is not None:
        text = origin.decode("latin-1")
        if not _same_authority(text, authority):
            return f"cross-site request from '{text}' refused"
    if fetch_site is not None and fetch_site.lower() != b"same-origin":
        return f"cross-site request refused (Sec-Fetch-Site: {fetch_site.decode('latin-1')})"
    return None


def _same_authority(origin: str, authority: tuple[str, int | None]) -> bool:
    """Origin ``scheme://host[:port]`` names the same host and port as ``Host``. A missing port is
    the origin scheme's default on both sides, so a TLS proxy in front (https Origin, plain Host)
    still matches; the opaque origin ``null`` never does."""
    scheme, sep, rest = origin.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("http", "https"):
        return False
    parsed = parse_host(rest)
    if parsed is None:  # a path, userinfo, ...
        return False
    default = 443 if scheme == "https" else 80
    return parsed[0] == authority[0] and (parsed[1] or default) == (authority[1] or default)


def _is_ui(scope: Scope) -> bool:
    return str(scope.get("path", "")).startswith("/ui/")


def _media_type_problem(scope: Scope, raw_headers: list[tuple[bytes, bytes]],
                        headers: dict[bytes, bytes]) -> ModelwardError | None:
    """The body types each kind of route takes (JSON unless it is an upload or a UI form).

    - JSON routes (the native API, the MLflow API, OpenLineage): ``application/json``;
    - ``PUT /api/v1/runs/{id}/artifacts/{path}``: ``application/octet-stream``, or no type
      (the SDK sends none; RFC 9110 lets a server read that as octet-stream);
    - ``PUT .../mlflow-artifacts/artifacts/{path}``: any type but the form types, since the
      mlflow client labels each file with the type it guesses from the name (``text/plain``
      for a .txt). A PUT always needs a CORS preflight, which this server never grants;
    - ``POST /ui/...``: the two form types, and only with an ``Origin`` or ``Sec-Fetch-Site``
      (checked above to name this server), which every browser sends with a form.
    """
    types = [value for name, value in raw_headers if name == b"content-type"]
    if len(types) > 1:
        return UnsupportedMediaType("a request must carry at most one Content-Type header")
    media = types[0].decode("latin-1").split(";", 1)[0].strip().lower() if types else None
    path, method = str(scope.get("path", "")), scope["method"]
    if method == "PUT" and _NATIVE_UPLOAD.match(path):
        if media in (None, OCTET_STREAM):
            return None
        return UnsupportedMediaType(f"an artifact upload takes Content-Type: {OCTET_STREAM}, not '{media}'")
    if method == "PUT" and path.startswith(_MLFLOW_UPLOAD_PREFIXES):
        if media not in FORM_TYPES:
            return None
        return UnsupportedMediaType(f"an artifact upload takes the file's own type or {OCTET_STREAM}, not '{media}'")
    if _is_ui(scope):
        if media in FORM_TYPES:
            if headers.get(b"origin") is None and headers.get(b"sec-fetch-site") is None:
                return PermissionDenied("a web-UI form must come from this server's own pages "
                                        "(the request carries neither Origin nor Sec-Fetch-Site)")
            return None
        if media is None and not _has_body(headers):
            return None
        return UnsupportedMediaType(f"a web-UI form takes Content-Type: {' or '.join(FORM_TYPES)}, not '{media}'")
    if media == JSON or (media is None and not _has_body(headers)):
        return None
    sent = f"'{media}'" if media else "a body without a Content-Type"
    return UnsupportedMediaType(f"this endpoint takes Content-Type: {JSON}, not {sent}")


def _has_body(headers: dict[bytes, bytes]) -> bool:
    length = headers.get(b"content-length")
    if b"transfer-encoding" in headers:
        return True
    return length is not None and length.strip() != b"0"


async def _send_error(scope: Scope, send: Any, error: ModelwardError) -> None:
    """The refusal in the one error body; on the MLflow routes in MLflow's codes and statuses
    (a wrong Content-Type is MLflow's own 400 INVALID_PARAMETER_VALUE there)."""
    code, status = error.error_code, status_of(error)
    if str(scope.get("path", "")).startswith(_MLFLOW_PREFIXES):
        code = mlflow_code_of(error)
        status = MLFLOW_STATUS[code]
    body = orjson.dumps(error_body(code, error.message))
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

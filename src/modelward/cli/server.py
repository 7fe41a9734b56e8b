"""``modelward server`` and ``modelward db``: run the REST server, manage the schema."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import socket
from typing import Any

import typer

from modelward.cli.output import console
from modelward.errors import InvalidInput


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


HEADER_TIMEOUT_S = 10.0
KEEP_ALIVE_TIMEOUT_S = 5
BODY_TIMEOUT_S = 30.0


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind; non-loopback needs auth configured."),
    port: int = typer.Option(5000, help="TCP port."),
    workers: int = typer.Option(1, help="Worker processes (uvicorn)."),
    timeout_headers: float = typer.Option(
        HEADER_TIMEOUT_S, help="Seconds a connection may take to send a request's headers; then it is closed."),
    timeout_keep_alive: int = typer.Option(
        KEEP_ALIVE_TIMEOUT_S, help="Seconds an idle keep-alive connection stays open."),
    timeout_body: float = typer.Option(
        BODY_TIMEOUT_S, help="Seconds a request body may stall (no bytes arriving); then the connection is closed."),
) -> None:
    """Run the REST API, the MLflow-compatible API and the web UI."""
    import uvicorn

    from modelward.settings import Settings

    settings = Settings()
    if not is_loopback(host) and not settings.auth:
        raise InvalidInput(
            f"refusing to bind to {host}: without authentication the server only listens on "
            "loopback (127.0.0.1), because anyone who can reach it could change your data. "
            "Create an admin token with 'modelward auth' and start with MODELWARD_AUTH=true."
        )
    _check_port_free(host, port)
    from modelward.services.backend import Backend

    Backend.from_settings(settings).close()  # migrate once, before the workers start
    console.print(f"modelward server on http://{host}:{port} (store: {settings.resolved_database_url})")
    uvicorn.run(
        "modelward.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=functools.partial(_protocol_class(), header_timeout=timeout_headers,  # type: ignore[arg-type]
                               body_timeout=timeout_body),
        timeout_keep_alive=timeout_keep_alive,
        log_level="warning",
        access_log=False,
    )


def _check_port_free(host: str, port: int) -> None:
    """Fail in one line when another process listens on the port. The probe binds as uvicorn
    will, with SO_REUSEADDR: connections of a server that just stopped (TIME_WAIT, FIN_WAIT_2
    after a kill -9 or with a keep-alive client attached) must not block a restart for a minute."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        if os.name != "nt":  # on Windows SO_REUSEADDR would let two servers share the port
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise InvalidInput(f"cannot listen on {host}:{port} ({exc.strerror}); pick another with --port") from None


class _HeaderDeadline:
    """Mixed into uvicorn's HTTP protocol: a connection gets ``header_timeout`` seconds from
    its opening, and from the first byte of each later request, to finish the request's
    headers; a slow-loris connection is closed then (uvicorn has no such timeout; its
    keep-alive timer only runs between requests, and stops at the first byte)."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport

    def __init__(self, *args: Any, header_timeout: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_arrived()
        super().connection_lost(exc)  # type: ignore[misc]

    def _await_headers(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _headers_arrived(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


class _BodyDeadline:
    """Mixed into uvicorn's HTTP protocol beside ``_HeaderDeadline``: once a request's headers
    are in, its body must keep arriving; ``body_timeout`` seconds without a byte of it and
    the connection is closed, so a client that stalls mid-body does not hold a worker's
    request open for ever. The clock waits while uvicorn itself has paused reading (the app
    has not taken the bytes it has), so a slow consumer is not taken for a stalled client."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport

    def __init__(self, *args: Any, body_timeout: float = BODY_TIMEOUT_S, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.body_timeout = body_timeout
        self._body_timer: asyncio.TimerHandle | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._body_complete()
        super().connection_lost(exc)  # type: ignore[misc]

    def _body_expected(self) -> None:
        """(Re)start the clock: at the end of the headers and at each chunk of the body."""
        self._body_complete()
        self._body_timer = self.loop.call_later(self.body_timeout, self._body_too_slow)

    def _body_complete(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_too_slow(self) -> None:
        self._body_timer = None
        flow = getattr(self, "flow", None)
        if flow is not None and getattr(flow, "read_paused", False):
            self._body_expected()  # our side is not reading: not the client's stall
            return
        if not self.transport.is_closing():
            self.transport.close()


def _protocol_class() -> type:
    """uvicorn's httptools protocol (its default) with the header deadline; h11 without httptools."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return _protocol_classes()["H11WithDeadline"]
    return _protocol_classes()["HttpToolsWithDeadline"]


def _protocol_classes() -> dict[str, type]:
    """Built on first use, so the CLI does not import uvicorn for every command; published as
    module attributes (``__getattr__`` below), so uvicorn's worker processes can unpickle them."""
    built = globals().get("_PROTOCOLS")
    if built is not None:
        return built  # type: ignore[no-any-return]
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class H11WithDeadline(_BodyDeadline, _HeaderDeadline, H11Protocol):
        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is h11.SEND_BODY:
                self._body_expected()
            else:
                self._body_complete()
            if self.conn.their_state is h11.IDLE:
                self._await_headers()
            else:
                self._headers_arrived()

    built = {"H11WithDeadline": H11WithDeadline}
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        pass
    else:

        class HttpToolsWithDeadline(_BodyDeadline, _HeaderDeadline, HttpToolsProtocol):
            def on_message_begin(self) -> None:
                super().on_message_begin()
                self._await_headers()

            def on_headers_complete(self) -> None:
                self._headers_arrived()
                self._body_expected()
                super().on_headers_complete()

            def on_body(self, body: bytes) -> None:
                self._body_expected()
                super().on_body(body)

            def on_message_complete(self) -> None:
                self._body_complete()
                super().on_message_complete()
                if not self.url.startswith(b"/") and self.scope.get("type") == "http":
                    # httptools keeps only the path of an absolute-form target (GET http://evil/...):
                    # pass the target on as sent, as uvicorn's h11 protocol does, for the guards to refuse.
                    self.scope["raw_path"] = self.url.partition(b"?")[0]

        built["HttpToolsWithDeadline"] = HttpToolsWithDeadline
    for cls in built.values():
        cls.__qualname__ = cls.__name__
    globals()["_PROTOCOLS"] = built
    return built


def __getattr__(name: str) -> Any:
    if name in ("H11WithDeadline", "HttpToolsWithDeadline"):
        classes = _protocol_classes()
        if name in classes:
            return classes[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


db_app = typer.Typer(help="Database schema: upgrade, current revision.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    from modelward.settings import Settings
    from modelward.store.db import current_revision, make_engine, upgrade

    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    console.print(f"schema at revision {current_revision(engine)}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the store."""
    from modelward.settings import Settings
    from modelward.store.db import current_revision, make_engine

    engine = make_engine(Settings().resolved_database_url)
    console.print(current_revision(engine) or "empty (no schema yet)")


def register(app: typer.Typer) -> None:
    app.command("server")(serve)
    app.add_typer(db_app, name="db")

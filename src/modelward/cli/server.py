"""``modelward server`` and ``modelward db``: run the REST server, manage the schema."""

from __future__ import annotations

import asyncio
import functools
import gc
import ipaddress
import os
import socket
import sys
from typing import Any

import typer

from modelward.cli.output import console, log_server_to_terminal
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
    gc.disable()  # until the app is built: see create_server_app
    try:
        settings, backend = _prepare(host, port)
    except BaseException:
        gc.enable()
        raise
    import uvicorn

    from modelward.api.metrics import prepare_multiprocess

    prepare_multiprocess()  # before the workers import prometheus-client: one /metrics for all of them
    console.print(f"modelward server on http://{host}:{port} (store: {settings.resolved_database_url})")
    if workers > 1:
        backend.close()
        gc.enable()  # this process only supervises; each worker builds its app in create_server_app
    else:
        _PREPARED.update(settings=settings, backend=backend)
    uvicorn.run(
        "modelward.cli.server:create_server_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=functools.partial(_protocol_class(), header_timeout=timeout_headers,  # type: ignore[arg-type]
                               body_timeout=timeout_body),
        ws="none",  # no route speaks WebSocket: uvicorn need not load the websockets library
        timeout_keep_alive=timeout_keep_alive,
        log_level="warning",
        access_log=False,
    )


def _prepare(host: str, port: int) -> tuple[Any, Any]:
    """The settings, and the backend on a migrated store, once it is sure the server may start."""
    from modelward.settings import Settings

    log_server_to_terminal()
    settings = Settings()
    if not is_loopback(host) and not settings.auth:
        raise InvalidInput(
            f"refusing to bind to {host}: without authentication the server only listens on "
            "loopback (127.0.0.1), because anyone who can reach it could change your data. "
            "Create an admin token with 'modelward auth' and start with MODELWARD_AUTH=true."
        )
    _check_port_free(host, port)
    from modelward.services.backend import Backend

    # Migrate once, before the workers start; or, in a deployment that runs 'modelward db upgrade'
    # itself (migrate_on_start false), start on the schema as it is: /ready tells when it is behind.
    return settings, Backend.from_settings(settings, migrate=settings.migrate_on_start)


# What serve() made for the app of its own process (one worker): built once, not twice.
_PREPARED: dict[str, Any] = {}


def create_server_app() -> Any:
    """``create_app()`` for a server process, built with the cyclic garbage collector paused.

    Start-up makes some 250,000 objects that live as long as the process (modules, routes,
    models, tables) and almost no cyclic garbage; left on, the collector traverses them all in
    three full collections, about 150 ms of a start of about one second. ``gc.freeze()`` then
    parks them in the permanent generation, so the collections of the running server skip them
    too. Each uvicorn worker process builds its app through here as well.
    """
    gc.disable()
    try:
        _import_fastapi_deferring_its_openapi_models()
        from modelward.api.app import create_app

        prepared = {name: _PREPARED.pop(name) for name in list(_PREPARED)}
        return create_app(**prepared, serving_process=True)
    finally:
        gc.freeze()
        gc.enable()


def _import_fastapi_deferring_its_openapi_models() -> None:
    """Import FastAPI with the pydantic models of its OpenAPI document (``fastapi.openapi.models``,
    ~40 ms of a start) built when the first ``/openapi.json`` needs them, not at import.

    pydantic defers a model's build when its config says ``defer_build``; FastAPI's models do
    not, so the default is set for this one import (pydantic's ``config_defaults``: without it,
    FastAPI imports as usual). pydantic 2.13 has no lock around a deferred model's first build,
    so only models that one thread at a time can first use stay deferred: the OpenAPI document
    is built by an async route, on the event loop. Other models FastAPI defines meanwhile are
    built at once, as they would have been.
    """
    if "fastapi" in sys.modules:
        return
    try:
        from pydantic import BaseModel
        from pydantic._internal._config import config_defaults
    except ImportError:
        return
    config_defaults["defer_build"] = True
    try:
        import fastapi.openapi.models  # noqa: F401
    finally:
        config_defaults["defer_build"] = False
    pending = list(BaseModel.__subclasses__())
    while pending:
        model = pending.pop()
        pending += model.__subclasses__()
        if not model.__pydantic_complete__ and model.__module__.startswith("fastapi.") \
                and model.__module__ != "fastapi.openapi.models":
            model.model_rebuild()


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
        return _protocol("H11WithDeadline")
    return _protocol("HttpToolsWithDeadline")


def _protocol(name: str) -> type:
    """Built on first use, so the CLI does not import uvicorn for every command (and a server on
    httptools never imports h11); published as module attributes (``__getattr__`` below), so
    uvicorn's worker processes can unpickle them."""
    built: dict[str, type] = globals().setdefault("_PROTOCOLS", {})
    if name not in built:
        cls = _BUILDERS[name]()
        cls.__qualname__ = cls.__name__ = name
        built[name] = cls
    return built[name]


def _h11_with_deadline() -> type:
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

    return H11WithDeadline


def _httptools_with_deadline() -> type:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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

    return HttpToolsWithDeadline


_BUILDERS = {
    "H11WithDeadline": _h11_with_deadline,
    "HttpToolsWithDeadline": _httptools_with_deadline,
}


def __getattr__(name: str) -> Any:
    if name in _BUILDERS:
        try:
            return _protocol(name)
        except ImportError:  # httptools is not installed
            pass
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


db_app = typer.Typer(help="Database schema: upgrade, current revision.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    from modelward.settings import Settings
    from modelward.store.db import current_revision, make_engine, upgrade

    settings = Settings()
    engine = make_engine(settings.resolved_database_url, pool_size=1, max_overflow=1)
    try:
        upgrade(engine)  # several at once are safe: on PostgreSQL they queue on an advisory lock
        console.print(f"schema at revision {current_revision(engine)}")
    finally:
        engine.dispose()


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the store."""
    from modelward.settings import Settings
    from modelward.store.db import current_revision, make_engine

    engine = make_engine(Settings().resolved_database_url, pool_size=1, max_overflow=0)
    try:
        console.print(current_revision(engine) or "empty (no schema yet)")
    finally:
        engine.dispose()


def register(app: typer.Typer) -> None:
    app.command("server")(serve)
    app.add_typer(db_app, name="db")

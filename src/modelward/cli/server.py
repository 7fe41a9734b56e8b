"""``modelward server`` and ``modelward db``: run the REST server, manage the schema."""

from __future__ import annotations

import ipaddress
import socket

import typer

from modelward.cli.output import console
from modelward.errors import InvalidInput
from modelward.settings import Settings


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind; non-loopback needs auth configured."),
    port: int = typer.Option(5000, help="TCP port."),
    workers: int = typer.Option(1, help="Worker processes (uvicorn)."),
) -> None:
    """Run the REST API, the MLflow-compatible API and the web UI."""
    import uvicorn

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
        log_level="warning",
        access_log=False,
    )


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise InvalidInput(f"cannot listen on {host}:{port} ({exc.strerror}); pick another with --port") from None


db_app = typer.Typer(help="Database schema: upgrade, current revision.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    from modelward.store.db import current_revision, make_engine, upgrade

    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    console.print(f"schema at revision {current_revision(engine)}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the store."""
    from modelward.store.db import current_revision, make_engine

    engine = make_engine(Settings().resolved_database_url)
    console.print(current_revision(engine) or "empty (no schema yet)")


def register(app: typer.Typer) -> None:
    app.command("server")(serve)
    app.add_typer(db_app, name="db")

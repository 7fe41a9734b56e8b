"""``modelward serve``: the serving gateway alone, in several worker processes."""

from __future__ import annotations

import functools
import gc
import os
from typing import Any

import typer

from modelward.cli.output import console
from modelward.errors import InvalidInput

ENDPOINT_VARIABLE = "MODELWARD_SERVE_ENDPOINT"


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind; non-loopback needs auth configured."),
    port: int = typer.Option(5001, help="TCP port."),
    workers: int = typer.Option(2, min=1, max=64, help="Worker processes; each loads every served model once."),
    endpoint: str = typer.Option(None, help="Also answer MLflow's scoring routes (POST /invocations, GET /ping) "
                                            "for this deployment, so MLflow scoring clients work unchanged."),
) -> None:
    """Serve the deployments' predictions (POST /serve/ENDPOINT/predict) without the REST API and UI."""
    import uvicorn

    from modelward.cli.server import _check_port_free, _protocol_class, is_loopback, log_server_to_terminal
    from modelward.settings import Settings

    log_server_to_terminal()
    settings = Settings()
    if not is_loopback(host) and not settings.auth:
        raise InvalidInput(f"refusing to bind to {host}: without authentication the gateway only listens on "
                           "loopback (127.0.0.1); start with MODELWARD_AUTH=true and give clients tokens")
    _check_port_free(host, port)
    from modelward.services.backend import Backend

    backend = Backend.from_settings(settings)  # migrate once, before the workers start
    try:
        if endpoint is not None:
            from modelward.services import deployments

            deployments.get(backend, endpoint)  # NotFound: one line, before any worker starts
            os.environ[ENDPOINT_VARIABLE] = endpoint  # the workers inherit it
    finally:
        backend.close()
    from modelward.api.metrics import prepare_multiprocess

    prepare_multiprocess()  # before the workers import prometheus-client: one /metrics for all of them
    console.print(f"modelward gateway on http://{host}:{port}/serve/ENDPOINT/predict ({workers} workers)")
    uvicorn.run("modelward.cli.serve:create_serving_app", factory=True, host=host, port=port, workers=workers,
                http=functools.partial(_protocol_class()), log_level="warning",  # type: ignore[arg-type]
                access_log=False)


def create_serving_app() -> Any:
    """The gateway app of one worker process (see create_server_app for the collector pause)."""
    from modelward.api.gateway import create_gateway_app

    gc.disable()
    try:
        return create_gateway_app(default_endpoint=os.environ.get(ENDPOINT_VARIABLE))
    finally:
        gc.freeze()
        gc.enable()


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)

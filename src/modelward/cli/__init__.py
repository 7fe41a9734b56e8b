"""The ``modelward`` command: one Typer app, one sub-app per noun."""

from __future__ import annotations

import typer

from modelward.cli import auth, serve, server
from modelward.cli import artifacts, demo, experiments, maintenance, runs
from modelward.cli import cards
from modelward.cli import models
from modelward.cli import audit, webhooks
from modelward.cli import governance
from modelward.cli import lineage, reproduce
from modelward.cli import deploy, monitor
from modelward.cli import evidence
from modelward.cli import explain
from modelward.cli import data
from modelward.cli import archive

app = typer.Typer(
    name="modelward",
    help="Model management for MLOps: tracking, lineage, registry and governance.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
server.register(app)
serve.register(app)
app.add_typer(auth.app, name="auth")
app.add_typer(experiments.app, name="experiments")
app.add_typer(runs.app, name="runs")
reproduce.register(runs.app)  # modelward runs reproduce / runs diff
app.add_typer(artifacts.app, name="artifacts")
maintenance.register(app)
demo.register(app)
cards.register(app)
app.add_typer(models.app, name="models")
app.add_typer(audit.app, name="audit")
app.add_typer(webhooks.app, name="webhooks")
governance.register(app)
app.add_typer(lineage.app, name="lineage")
app.add_typer(deploy.app, name="deploy")
app.add_typer(monitor.app, name="monitor")
evidence.register(app)
app.add_typer(explain.app, name="explain")
app.add_typer(data.app, name="data")
archive.register(app)  # modelward export / import


def main() -> None:
    from modelward.cli.output import run_app

    run_app(app)

"""``modelward demo``: record a small scikit-learn sweep and show where to look."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich import box
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from modelward.cli.output import console
from modelward.cli.run_view import fold

if TYPE_CHECKING:
    from modelward.domain.tracking import Run
    from modelward.sdk.client import Client

SUMMARY_METRICS = ("roc_auc", "accuracy", "f1")


def summary_table(runs: list[Run]) -> Table:
    table = Table(
        "run id",
        "name",
        *SUMMARY_METRICS,
        title="Demo runs by roc_auc",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
    for run in sorted(runs, key=lambda r: r.metrics.get("roc_auc", 0.0), reverse=True):
        table.add_row(
            run.id,
            Text(run.name or ""),
            *(f"{run.metrics[m]:.4f}" if m in run.metrics else "" for m in SUMMARY_METRICS),
        )
    return fold(table)


def where_to_look(client: Client, experiment: str, ranked: list[str]) -> list[str]:
    lines = [
        f"Store:    {client.http.where}",
        f"List:     modelward runs list --experiment {experiment}",
        f"Compare:  modelward runs compare {' '.join(ranked[:2])}",
        f"Best run: modelward runs show {ranked[0]}",
        f"Logs:     modelward runs logs {ranked[0]}",
        f"Files:    modelward artifacts list {ranked[0]}",
    ]
    return lines


def demo(
    no_server: bool = typer.Option(
        False, "--no-server", help="Only record runs; do not start a server."
    ),
    runs_per_model: int = typer.Option(
        2, "--runs-per-model", min=1, max=6, help="Configurations per model."
    ),
    port: int = typer.Option(5000, help="Port of the server started after the demo."),
    no_governance: bool = typer.Option(False, "--no-governance", help="Skip the review and approval part."),
) -> None:
    """Train scikit-learn models on a bundled dataset, record them, then serve API and UI."""
    from modelward.sdk.client import Client
    from modelward import demo as workload

    columns = [
        TextColumn("{task.description:<36}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Client() as client:
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("loading data", total=workload.total_steps(runs_per_model))
            result = workload.run_demo(
                client,
                runs_per_model=runs_per_model,
                progress=lambda name: progress.update(
                    task, advance=1, description=f"training {name}"
                ),
            )
        runs = client.runs.get_many(result.run_ids)
        ranked = sorted(result.run_ids, key=lambda run_id: result.roc_auc[run_id], reverse=True)
        console.print(summary_table(runs))
        console.print(
            f"Recorded sweep {result.parent_run_id} with {len(runs)} runs in "
            f"experiment {result.experiment.name}.",
            highlight=False,
            soft_wrap=True,
        )
        for line in where_to_look(client, result.experiment.name, ranked):
            console.print(line, highlight=False, soft_wrap=True)
        if not no_governance:
            governance_part(client, result.experiment.id)
    if not no_server:
        from modelward.cli.server import BODY_TIMEOUT_S, HEADER_TIMEOUT_S, KEEP_ALIVE_TIMEOUT_S, serve

        console.print(
            f"UI:       http://127.0.0.1:{port}/ui/experiments/{result.experiment.id}  (Ctrl-C stops the server)",
            highlight=False, soft_wrap=True,
        )
        if not no_governance:
            console.print(f"Serving:  http://127.0.0.1:{port}/ui/deployments  (predictions: POST "
                          f"http://127.0.0.1:{port}/serve/screening-production/predict)", highlight=False, soft_wrap=True)
            console.print(f"Monitor:  http://127.0.0.1:{port}/ui/deployments/screening-production/monitoring"
                          f"?every=minute&since={_minutes_ago(15)}", highlight=False, soft_wrap=True)
        serve(host="127.0.0.1", port=port, workers=1, timeout_headers=HEADER_TIMEOUT_S,
              timeout_keep_alive=KEEP_ALIVE_TIMEOUT_S, timeout_body=BODY_TIMEOUT_S)


def _minutes_ago(minutes: int) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%MZ")


def governance_part(client: Client, experiment_id: str) -> None:
    """Champion and challenger through policy gates, two reviewers, approval and a report."""
    from modelward.demo_governance import run_governance_demo

    report_dir = client.settings.home / "reports"
    with console.status("governance: starting") as status:
        outcome = run_governance_demo(
            client, experiment_id, report_dir=report_dir,
            progress=lambda what: status.update(f"governance: {what}"),
        )
    states = ", ".join(f"v{version} {state}" for version, state in sorted(outcome.states.items()))
    aliases = ", ".join(f"{alias}: v{number}" for alias, number in
                        (("champion", outcome.champion), ("challenger", outcome.challenger)) if number)
    console.print(f"Model:    {outcome.model} ({states}); {aliases or 'no alias set'}", highlight=False)
    console.print(f"Review:   modelward review status {outcome.model} {max(outcome.states)}", highlight=False)
    for path in outcome.report_paths:
        console.print(f"Report:   {path}", highlight=False, soft_wrap=True)
    if outcome.champion and outcome.challenger:
        release_part(client, outcome)
    console.print("Audit:    modelward audit verify", highlight=False)


def release_part(client: Client, outcome: Any) -> None:
    """The champion in production, the challenger as a canary, a rollback, a shadowed third version."""
    from modelward.demo_release import run_release_demo

    with console.status("release: starting") as status:
        released = run_release_demo(
            client, outcome.model, champion=outcome.champion, challenger=outcome.challenger,
            shadow=outcome.candidate, test=outcome.test, progress=lambda what: status.update(f"release: {what}"))
    served = ", ".join(f"v{version}: {count}" for version, count in sorted(released.served.items()))
    console.print(f"Serving:  {released.endpoint} ({len(released.revisions)} revisions; answers by {served}; "
                  f"{released.feedback} with ground truth)", highlight=False, soft_wrap=True)
    console.print(f"Deploy:   modelward deploy status {released.endpoint}", highlight=False)
    monitoring_part(client, outcome)


def monitoring_part(client: Client, outcome: Any) -> None:
    """The challenger as a canary again; the inputs drift, the alert fires, the canary rolls back."""
    from modelward.demo_monitoring import run_monitoring_demo

    with console.status("monitoring: starting") as status:
        watched = run_monitoring_demo(
            client, outcome.model, challenger=outcome.challenger, test=outcome.test,
            report_dir=client.settings.home / "reports", progress=lambda what: status.update(f"monitoring: {what}"))
    console.print(f"Alerts:   {'; '.join(watched.moves) or 'none moved'}"
                  f"{' (the canary rolled back)' if watched.rolled_back else ''}", highlight=False, soft_wrap=True)
    console.print(f"Monitor:  modelward monitor alerts --endpoint {watched.endpoint}", highlight=False)
    for path in watched.report_paths:
        console.print(f"Report:   {path}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)

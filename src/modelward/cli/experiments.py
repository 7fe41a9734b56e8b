"""``modelward experiments``: list, create, rename, delete and restore experiments."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer
from rich import box
from rich.table import Table

from modelward.cli.output import console
from modelward.cli.run_view import fold

if TYPE_CHECKING:
    from modelward.domain.tracking import Experiment

app = typer.Typer(
    help="Experiments: folders of runs, named like 'team/churn/baseline'.", no_args_is_help=True
)


def _lifecycle(deleted: bool, all_: bool) -> str:
    if all_:
        return "all"
    return "deleted" if deleted else "active"


def experiments_table(experiments: list[Experiment], *, show_lifecycle: bool) -> Table:
    table = Table("name", "id", "created", "description", box=box.SIMPLE_HEAD)
    if show_lifecycle:
        table.add_column("lifecycle")
    for exp in sorted(experiments, key=lambda e: e.name):
        row = [exp.name, exp.id, f"{exp.created_at:%Y-%m-%d %H:%M}", exp.description or ""]
        if show_lifecycle:
            row.append(exp.lifecycle.value)
        table.add_row(*row)
    return fold(table, keep=1)


@app.command("list")
def list_experiments(
    under: str = typer.Option(
        None, "--under", help="Only experiments in this folder, e.g. team/churn."
    ),
    deleted: bool = typer.Option(False, "--deleted", help="Only deleted experiments."),
    all_: bool = typer.Option(False, "--all", help="Active and deleted experiments."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List experiments (name, id, created, description)."""
    from modelward.sdk.client import Client
    with Client() as client:
        found = client.experiments.list(prefix=under, lifecycle=_lifecycle(deleted, all_))
    if as_json:
        print(json.dumps([e.model_dump(mode="json") for e in found], indent=2))
        return
    if not found:
        console.print("no experiments")
        return
    console.print(experiments_table(found, show_lifecycle=deleted or all_))


@app.command("create")
def create(
    name: str,
    description: str = typer.Option(
        None, "--description", "-d", help="What the experiment is about."
    ),
) -> None:
    """Create an experiment; a name with '/' files it in folders."""
    from modelward.sdk.client import Client
    with Client() as client:
        exp = client.experiments.create(name, description=description)
    console.print(f"experiment [bold]{exp.name}[/bold] created (id {exp.id})", highlight=False)


@app.command("rename")
def rename(name_or_id: str, new_name: str) -> None:
    """Rename an experiment (its id and runs stay)."""
    from modelward.sdk.client import Client
    with Client() as client:
        exp = client.experiments.resolve(name_or_id)
        renamed = client.experiments.rename(exp.id, new_name)
    console.print(f"experiment {exp.name} renamed to [bold]{renamed.name}[/bold]", highlight=False)


@app.command("delete")
def delete(
    name_or_id: str,
    permanent: bool = typer.Option(
        False, "--permanent", help="Remove it and all its runs for good."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete an experiment: restorable, unless --permanent."""
    from modelward.sdk.client import Client
    with Client() as client:
        exp = client.experiments.resolve(name_or_id)
        if permanent and not yes:
            typer.confirm(
                f"Permanently delete experiment '{exp.name}' and all its runs?", abort=True
            )
        client.experiments.delete(exp.id, permanent=permanent)
    how = (
        "permanently deleted"
        if permanent
        else "deleted (restore with 'modelward experiments restore')"
    )
    console.print(f"experiment {exp.name} {how}", highlight=False)


@app.command("restore")
def restore(name_or_id: str) -> None:
    """Restore a deleted experiment."""
    from modelward.sdk.client import Client
    with Client() as client:
        exp = client.experiments.restore(client.experiments.resolve(name_or_id).id)
    console.print(f"experiment {exp.name} restored", highlight=False)

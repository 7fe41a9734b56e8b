"""``modelward runs``: find, show, compare, export, end, delete runs; read their logs and notes."""

from __future__ import annotations

import enum
import json
import sys
import time
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich import box
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from modelward.cli import run_view
from modelward.cli.output import console, err_console

if TYPE_CHECKING:
    from modelward.domain.tracking import Run
    from modelward.sdk.client import Client

app = typer.Typer(
    help="Runs: search, inspect, compare, export, logs and notes.", no_args_is_help=True
)

EXPERIMENT_OPTION = typer.Option(
    None, "--experiment", "-e", help="Experiment name or id (repeatable)."
)
ORDER_OPTION = typer.Option(None, "--order-by", "-o", help='e.g. "metrics.acc DESC" (repeatable).')
MAX_OPTION = typer.Option(100, "--max", "-n", min=1, help="At most this many runs.")
COLUMNS_OPTION = typer.Option(
    None, "--columns", "-c", help="Extra columns, e.g. params.lr,metrics.acc."
)
JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table.")
DEFAULT_METRIC_COLUMNS = 3


class EndStatus(enum.StrEnum):
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


class ExportFormat(enum.StrEnum):
    CSV = "csv"
    JSON = "json"


def experiment_ids(client: Client, names: list[str] | None) -> list[str] | None:
    if not names:
        return None
    return [client.experiments.resolve(name).id for name in names]


def run_json(run: Run) -> dict[str, Any]:
    return json.loads(run.model_dump_json())  # type: ignore[no-any-return]


def _extra_columns(runs: list[Run], columns: str | None) -> list[str]:
    if columns:
        return [c.strip() for c in columns.split(",") if c.strip()]
    keys = sorted({key for run in runs for key in run.metrics})
    room = max(0, (console.width - 90) // 12)
    return [f"metrics.{key}" for key in keys[: min(room, DEFAULT_METRIC_COLUMNS)]]


def runs_table(client: Client, runs: list[Run], columns: str | None) -> Table:
    from modelward.tables import run_record
    extra = _extra_columns(runs, columns)
    experiments = {r.experiment_id for r in runs}
    names = (
        {eid: client.experiments.get(eid).name for eid in experiments}
        if len(experiments) > 1
        else {}
    )
    headers = [
        "run id",
        "name",
        *(["experiment"] if names else []),
        "status",
        "started",
        "duration",
    ]
    table = Table(*headers, *extra, box=box.SIMPLE_HEAD)
    for run in runs:
        record = run_record(run)
        table.add_row(
            run.id,
            Text(run.name or ""),
            *([Text(names[run.experiment_id])] if names else []),
            run_view.status_text(run.status),
            run_view.when(run.start_time, seconds=False),
            run_view.duration(run.duration_s),
            *(Text(run_view.value(record.get(c))) for c in extra),
        )
    return run_view.fold(table)


def _list(
    experiment: list[str] | None,
    filter_: str | None,
    order_by: list[str] | None,
    max_: int,
    columns: str | None,
    as_json: bool,
) -> None:
    from modelward.sdk.client import Client
    with Client() as client:
        ids = experiment_ids(client, experiment)
        found = list(
            islice(
                client.runs.search_all(ids, filter_, order_by=order_by, page_size=min(max_, 1000)),
                max_,
            )
        )
        if as_json:
            print(json.dumps([run_json(run) for run in found], indent=2))
        elif not found:
            console.print("no runs")
        else:
            console.print(runs_table(client, found, columns))


@app.command("list")
def list_runs(
    experiment: list[str] = EXPERIMENT_OPTION,
    filter_: str = typer.Option(
        None, "--filter", "-f", help="e.g. \"metrics.acc > 0.9 AND params.lr = '0.1'\""
    ),
    order_by: list[str] = ORDER_OPTION,
    max_: int = MAX_OPTION,
    columns: str = COLUMNS_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List runs, newest first unless --order-by says otherwise."""
    _list(experiment, filter_, order_by, max_, columns, as_json)


@app.command("search")
def search(
    filter_: str = typer.Argument(..., metavar="FILTER", help='e.g. "metrics.acc > 0.9"'),
    experiment: list[str] = EXPERIMENT_OPTION,
    order_by: list[str] = ORDER_OPTION,
    max_: int = MAX_OPTION,
    columns: str = COLUMNS_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Like 'runs list', with the filter as an argument."""
    _list(experiment, filter_, order_by, max_, columns, as_json)


@app.command("show")
def show(run_id: str) -> None:
    """Everything about one run: attributes, params, metrics, environment, notes, artifacts,
    and who wrote into it."""
    from modelward.sdk.client import Client
    with Client() as client:
        run = client.runs.get(run_id)
        experiment = client.experiments.get(run.experiment_id)
        notes = client.runs.notes(run_id)
        files = client.artifacts.list(run_id)
        writers = client.runs.writers(run_id)
    run_view.print_run(console, run, experiment, notes, files, writers)


@app.command("compare")
def compare(
    run_ids: list[str] = typer.Argument(..., metavar="RUN_ID...", help="Two or more run ids."),
    only_diff: bool = typer.Option(False, "--only-diff", help="Only rows whose values differ."),
) -> None:
    """Runs side by side: params and metrics as rows, differing rows highlighted."""
    from modelward.sdk.client import Client
    from modelward.tables import differing_columns, runs_frame
    with Client() as client:
        frame = runs_frame(client.runs.get_many(run_ids))
    differ = set(differing_columns(frame))
    rows = ["status", "duration_s"] + [
        c for c in frame.columns if c.startswith(("params.", "metrics."))
    ]
    shown = [c for c in rows if c in differ or not only_diff]
    if not shown:
        console.print("no differences in params or metrics")
        return
    table = Table("")
    for name, run_id in zip(frame["name"], frame["run_id"], strict=True):
        table.add_column(Text(f"{name or ''}\n{run_id}"), overflow="ellipsis")
    for column in shown:
        fmt = run_view.duration if column == "duration_s" else run_view.value
        cells = [Text(fmt(v)) for v in frame[column]]
        table.add_row(Text(column), *cells, style="bold yellow" if column in differ else None)
    console.print(table)


@app.command("export")
def export(
    output: Path = typer.Option(..., "--output", help="File to write."),
    format_: ExportFormat = typer.Option(ExportFormat.CSV, "--format", help="csv or json."),
    experiment: list[str] = EXPERIMENT_OPTION,
    filter_: str = typer.Option(None, "--filter", "-f", help="Only runs matching this filter."),
    order_by: list[str] = ORDER_OPTION,
) -> None:
    """Write matching runs to CSV (params./metrics./tags. columns) or JSON (run objects)."""
    from modelward.sdk.client import Client
    from modelward.tables import runs_frame
    columns = [
        SpinnerColumn(),
        TextColumn("{task.description} {task.completed} runs"),
        TimeElapsedColumn(),
    ]
    with Client() as client, Progress(*columns, console=err_console, transient=True) as progress:
        ids = experiment_ids(client, experiment)
        task = progress.add_task("exporting", total=None)
        runs = []
        for run in client.runs.search_all(ids, filter_, order_by=order_by):
            runs.append(run)
            progress.advance(task)
    if format_ is ExportFormat.CSV:
        runs_frame(runs).to_csv(output, index=False)
    else:
        output.write_text(json.dumps([run_json(run) for run in runs], indent=2))
    console.print(f"exported {len(runs)} runs to {output}", highlight=False)


@app.command("delete")
def delete(
    run_id: str,
    permanent: bool = typer.Option(False, "--permanent", help="Remove it for good."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a run: restorable, unless --permanent."""
    from modelward.sdk.client import Client
    with Client() as client:
        client.runs.get(run_id)
        if permanent and not yes:
            typer.confirm(f"Permanently delete run {run_id}?", abort=True)
        client.runs.delete(run_id, permanent=permanent)
    console.print(
        f"run {run_id} {'permanently deleted' if permanent else 'deleted'}", highlight=False
    )


@app.command("end")
def end(
    run_id: str,
    status: EndStatus = typer.Option(
        EndStatus.FINISHED, "--status", "-s", case_sensitive=False, help="How the run ended."
    ),
    message: str = typer.Option(None, "--message", "-m", help="Why, e.g. the error; shown with the run."),
) -> None:
    """Mark a run FINISHED, FAILED or KILLED, e.g. one whose process is gone."""
    from modelward.sdk.client import Client
    with Client() as client:
        run = client.runs.end(run_id, status.value, error_message=message)
    console.print(f"run {run.id} ended {run.status.value}", highlight=False)


@app.command("restore")
def restore(run_id: str) -> None:
    """Restore a deleted run."""
    from modelward.sdk.client import Client
    with Client() as client:
        run = client.runs.restore(run_id)
    console.print(f"run {run.id} restored", highlight=False)


def _drain_logs(client: Client, run_id: str, after_seq: int) -> int:
    while True:
        chunks = client.runs.logs(run_id, after_seq=after_seq)
        for chunk in chunks:
            sys.stdout.write(chunk.text)
        sys.stdout.flush()
        if not chunks:
            return after_seq
        after_seq = chunks[-1].seq


@app.command("logs")
def logs(
    run_id: str,
    follow: bool = typer.Option(False, "--follow", "-F", help="Keep printing until the run ends."),
    interval: float = typer.Option(1.0, "--interval", min=0.05, help="Seconds between polls."),
) -> None:
    """Print the run's captured stdout and stderr, in order."""
    from modelward.sdk.client import Client
    with Client() as client:
        seen = _drain_logs(client, run_id, 0)
        try:
            while follow:
                terminal = client.runs.get(run_id).status.is_terminal
                latest = _drain_logs(client, run_id, seen)
                if terminal and latest == seen:
                    return
                seen = latest
                time.sleep(interval)
        except KeyboardInterrupt:
            raise typer.Exit(0) from None


@app.command("note")
def note(
    run_id: str,
    text: str,
    edit: int = typer.Option(None, "--edit", metavar="NOTE_ID", help="Replace this note's text."),
) -> None:
    """Add a note to a run, or with --edit change one."""
    from modelward.sdk.client import Client
    with Client() as client:
        if edit is None:
            saved = client.runs.add_note(run_id, text)
        else:
            saved = client.runs.update_note(run_id, edit, text)
    console.print(
        f"note {saved.id} {'saved' if edit is None else 'updated'} on run {run_id}", highlight=False
    )


@app.command("notes")
def notes(run_id: str) -> None:
    """List a run's notes."""
    from modelward.sdk.client import Client
    with Client() as client:
        found = client.runs.notes(run_id)
    console.print(run_view.notes_table(found) if found else "no notes")

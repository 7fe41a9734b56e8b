"""``modelward audit``: list, verify, export and anchor the hash-chained audit trail."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from modelward.cli.output import console, err_console
from modelward.errors import InvalidInput

app = typer.Typer(help="The audit trail: who did what, when and why, hash-chained.", no_args_is_help=True)

MODEL = typer.Option(None, "--model", help="Only events about this registered model.")
USER = typer.Option(None, "--user", help="Only events by this user.")
ACTION = typer.Option(None, "--action", help="Only this action, e.g. model_version.approved.")
SINCE = typer.Option(None, "--since", help="From this time on (ISO 8601, e.g. 2025-01-31 or 2025-01-31T12:00; UTC unless an offset is given).")
UNTIL = typer.Option(None, "--until", help="Before this time (ISO 8601, exclusive).")


def parse_time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{option} {value!r} is not an ISO 8601 date or time, e.g. 2025-01-31T12:00") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _filters(model: str | None, user: str | None, action: str | None, since: str | None, until: str | None) -> dict:
    return {"model": model, "actor": user, "action": action,
            "since": parse_time(since, "--since"), "until": parse_time(until, "--until")}


@app.command("list")
def list_events(
    model: str = MODEL, user: str = USER, action: str = ACTION, since: str = SINCE, until: str = UNTIL,
    limit: int = typer.Option(50, "--limit", "-n", help="How many events (newest first)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """The newest audit events matching the filters."""
    from modelward.sdk.client import Client
    with Client() as client:
        events = client.audit.list(**_filters(model, user, action, since, until), limit=limit)
    if as_json:
        print(json.dumps([e.model_dump(mode="json") for e in events], indent=2))
        return
    if not events:
        console.print("no audit events")
        return
    table = Table("seq", "at (UTC)", "actor", "action", "subject", "model", "reason", box=box.SIMPLE_HEAD)
    for event in events:
        table.add_row(
            str(event.seq), f"{event.at.astimezone(UTC):%Y-%m-%d %H:%M:%S}", event.actor, event.action,
            f"{event.subject_type} {event.subject_id}", event.model_name or "", event.reason or "",
        )
    console.print(table)


@app.command("verify")
def verify(
    anchor: Path = typer.Option(None, "--anchor", help="An anchor file from 'audit anchor': the chain must also hold at its seq."),
) -> None:
    """Recompute the hash chain, check it against the newest signed checkpoint, and check that each
    version's status and approvals match the events; exit 1 with one line per problem if not."""
    from modelward.domain.audit import Anchor
    from modelward.sdk.client import Client
    pinned = Anchor.model_validate_json(anchor.read_text()) if anchor else None
    with Client() as client:
        report = client.audit.verify(pinned)
    for warning in report.warnings:
        err_console.print(f"[yellow]warning: {escape(warning)}[/yellow]", highlight=False, soft_wrap=True)
    if report.ok:
        console.print(report.summary(), highlight=False)
        if report.checkpoint is not None:
            console.print(f"anchored by {report.checkpoint.label()} (seq {report.checkpoint.seq})", highlight=False)
        return
    for line in report.problems():
        err_console.print(f"[red]{escape(line)}[/red]", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@app.command("export")
def export(
    format: str = typer.Option("jsonl", "--format", "-f", help="jsonl or csv."),
    output: Path = typer.Option(None, "--output", "-o", help="Write to this file instead of standard output."),
    model: str = MODEL, user: str = USER, action: str = ACTION, since: str = SINCE, until: str = UNTIL,
) -> None:
    """Export matching events (seq order) as JSON Lines or CSV."""
    from modelward.sdk.client import Client
    filters = _filters(model, user, action, since, until)
    with Client() as client:
        if output is not None:
            client.audit.export_to(output, format, **filters)
            console.print(f"audit events written to {output}", highlight=False)
            return
        for chunk in client.audit.export_bytes(format, **filters):
            sys.stdout.buffer.write(chunk)
        sys.stdout.flush()


@app.command("anchor")
def anchor(
    output: Path = typer.Option(None, "--output", "-o", help="Write the anchor JSON to this file."),
) -> None:
    """Sign a checkpoint of the chain's head now (kept in the artifact store), and print the
    newest seq and hash: keep a copy outside the database too."""
    from modelward.sdk.client import Client
    with Client() as client:
        checkpoint = client.audit.checkpoint()
        head = client.audit.anchor()
    if head is None:
        raise InvalidInput("the audit trail is empty: there is nothing to anchor yet")
    if checkpoint is not None:
        err_console.print(f"newest signed {checkpoint.label()} (seq {checkpoint.seq})", highlight=False)
    text = head.model_dump_json()
    if output is None:
        print(text)
        return
    output.write_text(text + "\n")
    console.print(f"anchor seq {head.seq} written to {output}", highlight=False)

"""``modelward gc``: remove artifact blobs nothing references any more."""

from __future__ import annotations

import typer

from modelward.cli.output import console
from modelward.cli.run_view import size
from modelward.sdk.client import Client


def gc(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only report what would be removed."),
    grace_seconds: float = typer.Option(
        3600, "--grace-seconds", min=0, help="Keep blobs younger than this."
    ),
) -> None:
    """Garbage-collect unreferenced artifact blobs and report the bytes freed."""
    with Client() as client:
        report = client.gc(dry_run=dry_run, grace_seconds=grace_seconds)
    removed = report.get("removed", [])
    verb = "would remove" if report.get("dry_run") else "removed"
    for digest in removed:
        console.print(f"{verb} blob {digest}", highlight=False)
    freed = int(report.get("bytes_freed", 0))
    console.print(
        f"{verb} {len(removed)} blob(s), {'would free' if report.get('dry_run') else 'freed'} "
        f"{size(freed)} ({freed} bytes)",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command("gc")(gc)

"""``modelward gc``: remove artifact blobs nothing references any more.

On an embedded store the command collects on the store directly (as ``modelward db`` and
``modelward auth`` do), so it can show the collection's progress; against a server it asks
the server's ``POST /api/v1/gc`` and shows only that it is waiting.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from modelward.cli.output import console, err_console
from modelward.cli.run_view import size

if TYPE_CHECKING:
    from rich.progress import Progress

    from modelward.settings import Settings

STEPS = {"scanning": "scanning stored blobs", "measuring": "measuring unreferenced blobs", "removing": "removing"}


def gc(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only report what would be removed."),
    grace_seconds: float = typer.Option(
        3600, "--grace-seconds", min=0, help="Keep blobs younger than this."
    ),
    progress: bool = typer.Option(
        None, "--progress/--no-progress", help="Show progress on stderr (default: when stderr is a terminal)."
    ),
) -> None:
    """Garbage-collect unreferenced artifact blobs and report the bytes freed."""
    from modelward.settings import Settings

    settings = Settings()
    shown = err_console.is_terminal if progress is None else progress
    with _progress_bar(shown) as bar:
        if _is_remote(settings):
            report = _collect_on_server(dry_run, grace_seconds, bar)
        else:
            report = _collect_here(settings, dry_run, grace_seconds, bar)
    _print_report(report)


def _is_remote(settings: Settings) -> bool:
    return bool(settings.tracking_uri and settings.tracking_uri.startswith(("http://", "https://")))


def _collect_here(settings: Settings, dry_run: bool, grace_seconds: float, bar: Progress | None) -> dict[str, Any]:
    from modelward.services import gc as service
    from modelward.services.backend import Backend

    tasks: dict[str, Any] = {}

    def report_progress(step: str, done: int, total: int | None) -> None:
        if bar is None:
            return
        if step not in tasks:
            tasks[step] = bar.add_task(STEPS.get(step, step), total=total)
        bar.update(tasks[step], completed=done, total=total)

    backend = Backend.from_settings(settings)
    try:
        found = service.collect(backend, dry_run=dry_run, grace_seconds=grace_seconds, progress=report_progress)
    finally:
        backend.close()
    return found.model_dump()


def _collect_on_server(dry_run: bool, grace_seconds: float, bar: Progress | None) -> dict[str, Any]:
    from modelward.sdk.client import Client

    if bar is not None:
        bar.add_task("collecting on the server", total=None)
    with Client() as client:
        return client.gc(dry_run=dry_run, grace_seconds=grace_seconds)


@contextmanager
def _progress_bar(shown: bool) -> Iterator[Progress | None]:
    if not shown:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=err_console, redirect_stdout=False, redirect_stderr=False) as bar:
        yield bar


def _print_report(report: dict[str, Any]) -> None:
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

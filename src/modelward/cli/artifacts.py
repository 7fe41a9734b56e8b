"""``modelward artifacts``: list and download a run's files."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TransferSpeedColumn,
)

from modelward.cli.output import console, err_console
from modelward.cli.run_view import artifacts_table
from modelward.domain.tracking import ArtifactFile
from modelward.sdk.client import Client

app = typer.Typer(help="A run's artifacts: list and download.", no_args_is_help=True)


@app.command("list")
def list_artifacts(
    run_id: str, prefix: str = typer.Argument("", help="Only files under this folder.")
) -> None:
    """List a run's files (path, size, digest)."""
    with Client() as client:
        files = client.artifacts.list(run_id, prefix)
    console.print(artifacts_table(files) if files else "no artifacts")


def _targets(files: list[ArtifactFile], path: str, dest: Path) -> list[tuple[str, Path]]:
    folder = path.strip("/")
    return [(item.path, dest / item.path[len(folder) :].lstrip("/")) for item in files]


def _save(
    client: Client, run_id: str, path: str, target: Path, progress: Progress, task: TaskID
) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    with open(partial, "wb") as out:
        for chunk in client.artifacts.iter_bytes(run_id, path):
            out.write(chunk)
            progress.advance(task, len(chunk))
    partial.replace(target)


@app.command("get")
def get(
    run_id: str,
    path: str = typer.Argument(
        ..., help="A file, or a folder to download with everything under it."
    ),
    output: Path = typer.Option(Path("."), "--output", "-o", help="Folder to write into."),
) -> None:
    """Download a file, or every file under a folder path."""
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    ]
    with Client() as client:
        files = client.artifacts.list(run_id, path)
        if files:
            targets = _targets(files, path, output)
            total = sum(item.size for item in files)
        else:
            targets, total = [(path, output / Path(path).name)], None
        with Progress(*columns, console=err_console, transient=True) as progress:
            task = progress.add_task("downloading", total=total)
            for source, target in targets:
                _save(client, run_id, source, target, progress, task)
    for _, target in targets:
        console.print(f"wrote {target}", highlight=False)

"""``modelward artifacts``: list, download and upload a run's files."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)

from modelward.cli.output import console, err_console
from modelward.cli.run_view import artifacts_table

app = typer.Typer(help="A run's artifacts: list, download and upload.", no_args_is_help=True)
THROUGH_SERVER_HELP = ("Send the bytes through the server even when it offers direct transfer to the "
                       "object store (presigned URLs; see docs/object-storage.md).")


def _choose_path(client: object, through_server: bool) -> None:
    if through_server:
        client.artifacts.direct.use = False  # type: ignore[attr-defined]


@app.command("list")
def list_artifacts(
    run_id: str, prefix: str = typer.Argument("", help="Only files under this folder.")
) -> None:
    """List a run's files (path, size, digest)."""
    from modelward.sdk.client import Client
    with Client() as client:
        files = client.artifacts.list(run_id, prefix)
    console.print(artifacts_table(files) if files else "no artifacts")


@app.command("get")
def get(
    run_id: str,
    path: str = typer.Argument(
        ..., help="A file, or a folder to download with everything under it."
    ),
    output: Path = typer.Option(Path("."), "--output", "-o", help="Folder to write into."),
    through_server: bool = typer.Option(False, "--through-server", help=THROUGH_SERVER_HELP),
) -> None:
    """Download a file, or every file under a folder path; each is verified against its digest."""
    from modelward.sdk.client import Client, download_targets
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    ]
    with Client() as client:
        _choose_path(client, through_server)
        files = client.artifacts.list(run_id, path.strip("/"))
        targets = download_targets(files, path, output)
        total = sum(item.size for item in files) if files else None
        with Progress(*columns, console=err_console, transient=True, disable=not err_console.is_terminal) as progress:
            task = progress.add_task("downloading", total=total)
            for source, target in targets:
                client.artifacts.download_file(
                    run_id, source, target, on_chunk=lambda n: progress.advance(task, n)
                )
    for _, target in targets:
        console.print(f"wrote {target}", highlight=False)


@app.command("log")
def log(
    run_id: str,
    local_path: Path = typer.Argument(..., help="A file, or a folder to upload with everything under it."),
    artifact_path: str = typer.Option(
        None, "--artifact-path", "-p", help="Folder in the run to put it under (default: the top)."
    ),
    through_server: bool = typer.Option(False, "--through-server", help=THROUGH_SERVER_HELP),
) -> None:
    """Upload a local file or folder into a run's artifacts."""
    from modelward.sdk.client import Client
    with Client() as client:
        _choose_path(client, through_server)
        stored = client.artifacts.upload(run_id, local_path, artifact_path)
    for item in stored:
        console.print(f"logged {item.path} ({item.size} bytes, {item.digest[:12]})", highlight=False)

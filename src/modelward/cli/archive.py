"""``modelward export`` and ``modelward import``: a whole store to one archive file and back.

Both act on the store of the current settings (MODELWARD_HOME, MODELWARD_DATABASE_URL,
MODELWARD_ARTIFACT_ROOT), directly, as ``modelward gc`` does; ``import --from-mlflow`` hands
over to the MLflow importer. Progress goes to stderr, one line per phase.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from modelward.cli.output import console, err_console
from modelward.errors import InvalidInput

if TYPE_CHECKING:
    from rich.progress import Progress

STAGES = {
    "rows": "table rows", "blobs": "artifact blobs", "files": "records and dataset files",
    "verifying": "verifying the archive (bytes)",
}


def export(
    path: Path = typer.Argument(..., help="The archive file to write (a tar; replaced if it exists)."),
    include_secrets: bool = typer.Option(
        False, "--include-secrets",
        help="Also keep API token digests, webhook secrets and the audit signing key (keep the archive safe).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress on stderr."),
) -> None:
    """Write the whole store (rows, artifacts, audit chain, users) to one checksummed archive."""
    from modelward.services import archive as service

    with _backend() as backend, _progress(quiet) as progress:
        summary = service.export_store(backend, path, include_secrets=include_secrets, progress=progress)
    console.print(str(summary), highlight=False, soft_wrap=True)


def import_(
    path: Path = typer.Argument(None, help="The archive file from 'modelward export'."),
    merge: str = typer.Option(
        None, "--merge",
        help="How to load into a store that holds data: 'skip-existing' keeps identical rows, refuses differing ones.",
    ),
    from_mlflow: str = typer.Option(
        None, "--from-mlflow", help="Import from an MLflow tracking store or server (its tracking URI) instead.",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress on stderr."),
) -> None:
    """Load an archive into the store (resumable: run it again after an interruption)."""
    if (path is None) == (from_mlflow is None):
        raise InvalidInput("give either an archive PATH or --from-mlflow URI")
    if from_mlflow is not None:
        if merge is not None:
            raise InvalidInput("--merge applies to archives, not to --from-mlflow")
        _import_from_mlflow(from_mlflow, quiet)
        return
    from modelward.services import archive as service
    from modelward.settings import Settings

    state = service.state_file(Settings().home)
    with _backend() as backend, _progress(quiet) as progress:
        summary = service.import_store(backend, path, state=state, merge=merge, progress=progress)
    console.print(str(summary), highlight=False, soft_wrap=True)


def _import_from_mlflow(uri: str, quiet: bool) -> None:
    try:
        from modelward.services.mlflow_import import import_from_mlflow
    except ImportError as exc:
        raise InvalidInput(f"importing from MLflow is not available in this installation ({exc})") from None
    with _backend() as backend, _progress(quiet) as progress:
        summary = import_from_mlflow(backend, uri, progress=progress)
    console.print(str(summary), highlight=False, soft_wrap=True)


@contextmanager
def _backend() -> Iterator[Any]:
    from modelward.services.backend import Backend
    from modelward.settings import Settings

    backend = Backend.from_settings(Settings())
    try:
        yield backend
    finally:
        backend.close()


@contextmanager
def _progress(quiet: bool) -> Iterator[Any]:
    """A ``progress(stage, done, total)`` callable drawing one rich bar per stage on stderr."""
    if quiet:
        yield lambda stage, done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("{task.description:<30}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=err_console, redirect_stdout=False, redirect_stderr=False) as bar:
        try:
            yield _Stages(bar)
        except BaseException:
            bar.live.transient = True  # the error's one line stands alone
            raise


class _Stages:
    def __init__(self, bar: Progress) -> None:
        self._bar, self._tasks = bar, {}  # type: ignore[var-annotated]

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if stage not in self._tasks:
            self._tasks[stage] = self._bar.add_task(STAGES.get(stage, stage), total=total)
        self._bar.update(self._tasks[stage], completed=done, total=total)


def register(app: typer.Typer) -> None:
    app.command("export")(export)
    app.command("import")(import_)

"""How runs look on a terminal: cell formats and the ``runs show`` page."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from modelward.cli.output import fit
from modelward.formatting import duration, number

if TYPE_CHECKING:
    from modelward.domain.tracking import ArtifactFile, Experiment, Note, Run, RunStatus

STATUS_STYLES = {  # by RunStatus value, so this module loads without pydantic
    "FINISHED": "green",
    "FAILED": "red",
    "KILLED": "magenta",
    "RUNNING": "cyan",
    "SCHEDULED": "dim",
}
TRACEBACK_TAIL_LINES = 12


def fold(table: Table, keep: int = 0) -> Table:
    """Fit the table to the terminal (``output.fit``); column ``keep`` is its id."""
    return fit(table, ids=(keep,))


def status_text(status: RunStatus) -> Text:
    return Text(status.value, style=STATUS_STYLES.get(status.value, ""))


def when(moment: datetime | None, *, seconds: bool = True) -> str:
    if moment is None:
        return ""
    return f"{moment.astimezone():%Y-%m-%d %H:%M{':%S' if seconds else ''}}"


def value(item: Any) -> str:
    return when(item) if isinstance(item, datetime) else number(item)


def size(num_bytes: int) -> str:
    amount = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GB"


def key_values(title: str, items: dict[str, Any], *, ordered: bool = True) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    for key, item in sorted(items.items()) if ordered else items.items():
        table.add_row(Text(key, style="bold"), Text(value(item)))
    return table


def notes_table(notes: list[Note]) -> Table:
    table = Table("id", "author", "created", "updated", "text")
    for note in notes:
        table.add_row(
            str(note.id),
            Text(note.author or ""),
            when(note.created_at),
            when(note.updated_at) if note.updated_at != note.created_at else "",
            Text(note.text),
        )
    return table


def artifacts_table(files: list[ArtifactFile]) -> Table:
    table = Table("path", "size", "digest", "created")
    for item in files:
        table.add_row(Text(item.path), size(item.size), item.digest[:12], when(item.created_at))
    return table


def attributes(run: Run, experiment: Experiment) -> dict[str, Any]:
    items: dict[str, Any] = {
        "experiment": f"{experiment.name} ({experiment.id})",
        "status": run.status.value,
        "user": run.user,
        "started": when(run.start_time),
        "ended": when(run.end_time),
        "duration": duration(run.duration_s),
        "parent run": run.parent_run_id,
    }
    if run.lifecycle.value != "active":
        items["lifecycle"] = run.lifecycle.value
    return {k: v for k, v in items.items() if v}


def environment_summary(env: dict[str, Any]) -> dict[str, Any]:
    git = env.get("git") or {}
    commit = git.get("commit")
    command = env.get("command")
    return {
        k: v
        for k, v in {
            "python": " ".join(filter(None, [env.get("python"), env.get("implementation")])),
            "git commit": f"{commit[:12]}{' (dirty)' if git.get('dirty') else ''}"
            if commit
            else None,
            "git branch": git.get("branch"),
            "host": env.get("host"),
            "platform": env.get("platform"),
            "command": " ".join(command) if isinstance(command, list) else command,
            "cwd": env.get("cwd"),
            "packages": len(env["packages"]) if env.get("packages") else None,
        }.items()
        if v
    }


def failure(run: Run) -> Text:
    text = Text(f"error: {run.error_message or 'no message'}\n", style="bold red")
    tail = (run.error_traceback or "").rstrip().splitlines()[-TRACEBACK_TAIL_LINES:]
    if tail:
        text.append("traceback (last lines):\n" + "\n".join(tail) + "\n", style="red")
    return text


def writers_table(writers: dict[str, list[str]]) -> Table:
    table = Table(title="\n[bold]Written by[/bold]", title_justify="left", show_header=False, box=None,
                  padding=(0, 2))
    for user, kinds in writers.items():
        table.add_row(Text(user, style="bold"), Text(", ".join(kinds)))
    return table


def print_run(
    console: Console, run: Run, experiment: Experiment, notes: list[Note], files: list[ArtifactFile],
    writers: dict[str, list[str]] | None = None,
) -> None:
    from modelward.domain.tracking import RunStatus
    console.print(Text.assemble(("run ", "bold"), (run.id, "bold"), f"  {run.name or ''}"))
    console.print(key_values("", attributes(run, experiment), ordered=False))
    if run.status in (RunStatus.FAILED, RunStatus.KILLED) and (
        run.error_message or run.error_traceback
    ):
        console.print(failure(run))
    process = {k: v for k, v in run.process.model_dump().items() if v}
    sections: list[tuple[str, dict[str, Any]]] = [
        ("Params", run.params),
        ("Metrics (latest)", run.metrics),
        ("Tags", run.tags),
        ("Process", process),
        ("Environment", environment_summary(run.environment)),
    ]
    for title, items in sections:
        if items:
            console.print(key_values(f"\n[bold]{title}[/bold]", items))
    if writers:
        console.print(writers_table(writers))
    if notes:
        console.print("\n[bold]Notes[/bold]")
        console.print(notes_table(notes))
    if files:
        console.print("\n[bold]Artifacts[/bold]")
        console.print(artifacts_table(files))

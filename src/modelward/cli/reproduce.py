"""``modelward runs reproduce RUN`` and ``modelward runs diff A B``."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import typer
from rich.table import Table

from modelward.cli.output import console, err_console
from modelward.domain.lineage import ReproSpec, RunDiff
from modelward.sdk.client import Client

REPRODUCE_OUTPUT = typer.Option(Path("reproduce"), "--output", "-o", help="Folder to write into.")


def _script(spec: ReproSpec) -> str:
    lines = ["#!/bin/sh", f"# Reproduce modelward run {spec.run_id} ({spec.run_name or 'unnamed'})", "set -e"]
    if spec.code.get("commit"):
        if spec.code.get("remote"):
            lines.append(f"# code: {spec.code['remote']}")
        lines.append(f"git checkout {shlex.quote(spec.code['commit'])}")
    lines.append('pip install -r "$(dirname "$0")/requirements.txt"')
    for item in spec.inputs:
        where = item.uri or (f"snapshot: run {item.snapshot['run_id']} artifact {item.snapshot['path']}"
                             if item.snapshot else "unknown location")
        lines.append(f"# input {item.kind} {item.name}: {item.digest or 'no digest'} ({where})")
    if spec.cwd:
        lines.append(f"cd {shlex.quote(spec.cwd)}")
    command = spec.command
    if command and command[0].endswith(".py"):
        command = ["python", *command]
    lines.append(shlex.join(command) if command else "# no command was recorded")
    return "\n".join(lines) + "\n"


def reproduce(
    run_id: str,
    output: Path = REPRODUCE_OUTPUT,
) -> None:
    """Write what is needed to rerun RUN: code version, command, params, requirements, input data."""
    with Client() as client:
        spec = client.lineage.reproduce(run_id)
    output.mkdir(parents=True, exist_ok=True)
    (output / "reproduce.json").write_text(spec.model_dump_json(indent=2) + "\n")
    (output / "params.json").write_text(json.dumps(spec.params, indent=2, sort_keys=True) + "\n")
    (output / "requirements.txt").write_text("".join(f"{line}\n" for line in spec.requirements))
    (output / "inputs.json").write_text(json.dumps([i.model_dump(mode="json") for i in spec.inputs], indent=2) + "\n")
    script = output / "run.sh"
    script.write_text(_script(spec))
    script.chmod(0o755)
    console.print(f"wrote reproduce.json, params.json, requirements.txt, inputs.json and run.sh to {output}",
                  highlight=False)
    for warning in spec.warnings:
        err_console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)


def _table(title: str, rows: dict[str, list[object]], diff: RunDiff) -> Table:
    table = Table(title=title)
    table.add_column("key")
    table.add_column(diff.a)
    table.add_column(diff.b)
    for key, (left, right) in rows.items():
        table.add_row(key, "" if left is None else str(left), "" if right is None else str(right))
    return table


def diff(
    run_a: str, run_b: str, as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """What differs between two runs: params, metrics, environment, packages, input data."""
    with Client() as client:
        result = client.lineage.diff(run_a, run_b)
    if as_json:
        console.out(result.model_dump_json(indent=2), highlight=False)
        return
    if result.identical:
        console.print("no differences")
        return
    for title in ("params", "metrics", "environment", "packages", "data"):
        rows = getattr(result, title)
        if rows:
            console.print(_table(title, rows, result))


def register(app: typer.Typer) -> None:
    app.command("reproduce")(reproduce)
    app.command("diff")(diff)

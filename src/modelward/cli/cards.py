"""``modelward card NAME VERSION``: show, edit and export a model version's card."""

from __future__ import annotations

from pathlib import Path

import typer

from modelward.cli.output import console
from modelward.errors import InvalidInput

FORMATS = {"md": "markdown", "markdown": "markdown", "html": "html", "json": "json", "pdf": "pdf"}


def _edits(pairs: list[str]) -> dict[str, str]:
    edits = {}
    for pair in pairs:
        field, sep, value = pair.partition("=")
        if not sep or not field.strip():
            raise InvalidInput(f"--edit {pair!r} must look like FIELD=VALUE, e.g. intended_use.primary_uses='Scoring'")
        edits[field.strip()] = value
    return edits


def card(
    name: str = typer.Argument(..., help="Registered model name."),
    version: int = typer.Argument(..., help="Version number."),
    format: str = typer.Option("md", "--format", "-f", help="md, html, json or pdf (pdf needs --output)."),
    edit: list[str] = typer.Option([], "--edit", "-e", help="FIELD=VALUE, repeatable (e.g. caveats_and_recommendations=...)."),
    generate: bool = typer.Option(False, "--generate", help="Refill the card from lineage, params and metrics first."),
    output: Path = typer.Option(None, "--output", "-o", help="Write to this file instead of the terminal."),
) -> None:
    """Show a model version's card; --edit fields (a new revision) and --output to a file."""
    from modelward.sdk.client import Client
    fmt = FORMATS.get(format.lower())
    if fmt is None:
        raise InvalidInput(f"--format {format!r} is unknown; use md, html, json or pdf")
    if fmt == "pdf" and output is None:
        raise InvalidInput("--format pdf writes a file: add --output card.pdf")
    with Client() as client:
        if generate:
            client.cards.generate(name, version)
        if edit:
            client.cards.update(name, version, edits=_edits(edit), comment="edited from the CLI")
        text = client.cards.render(name, version, format=fmt)
    if isinstance(text, bytes):
        output.write_bytes(text)
        console.print(f"card of {name} v{version} written to {output}", highlight=False)
    elif output is not None:
        output.write_text(text, "utf-8")
        console.print(f"card of {name} v{version} written to {output}", highlight=False)
    else:
        print(text)


def register(app: typer.Typer) -> None:
    """Mounted as ``modelward card`` until the registry's ``modelward models`` app takes it as ``models card``."""
    app.command("card")(card)

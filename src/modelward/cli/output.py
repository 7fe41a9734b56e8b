"""How the CLI talks to people: rich tables, one-line errors, exit codes."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from modelward.errors import InvalidInput, ModelwardError, NotFound

console = Console()
err_console = Console(stderr=True)

EXIT_CODES: dict[type[ModelwardError], int] = {InvalidInput: 2, NotFound: 3}


def exit_code_for(exc: ModelwardError) -> int:
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]  # type: ignore[index]
    return 1


def run_app(app: typer.Typer) -> None:
    """Run the CLI; a modelward error becomes one 'Error: ...' line and a non-zero exit.

    Typer runs in standalone mode, so usage errors exit 2 with its own message and
    ``typer.Exit(code)`` keeps its code.
    """
    try:
        app()
    except ModelwardError as exc:
        err_console.print(f"[red]Error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exit_code_for(exc))

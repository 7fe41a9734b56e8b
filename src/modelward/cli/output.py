"""How the CLI talks to people: rich tables, one-line errors, exit codes."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from typing import Any

import typer
from rich.console import Console
from rich.table import Column, Table

from modelward.errors import InvalidInput, ModelwardError, NotFound

console = Console()
err_console = Console(stderr=True)

ID_WIDTH = 12  # an id cut to this still tells runs apart: 7ce0cfb177e…
SHORT_VALUE = 20  # a column no wider than this holds values (dates, statuses, numbers): one line
MIN_TEXT = 10  # narrower than this, a text column would hold a word or two

EXIT_CODES: dict[type[ModelwardError], int] = {InvalidInput: 2, NotFound: 3}


def exit_code_for(exc: ModelwardError) -> int:
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]  # type: ignore[index]
    return 1


def fit(table: Table, *, ids: Iterable[int] = (0,)) -> Table:
    """Shape a table for the terminal's width. Short values (dates, statuses, numbers) keep one
    line; when the table does not fit, the id columns give way first (cut to ``ID_WIDTH`` with an
    ellipsis), and the columns of long text share the room left in proportion to their length,
    wrapping only between words: a word longer than its column ends in an ellipsis, it is never
    split across lines."""
    id_columns = set(ids)
    columns = table.columns
    for index, column in enumerate(columns):
        column.overflow = "ellipsis"
        column.no_wrap = True
    natural = [_column_width(column) for column in columns]
    room = console.width - (_natural_width(table) - sum(natural))
    if sum(natural) <= room:
        return table
    widths = [min(width, ID_WIDTH) if index in id_columns else width for index, width in enumerate(natural)]
    texts = [i for i, width in enumerate(natural) if i not in id_columns and width > SHORT_VALUE]
    share = room - sum(width for i, width in enumerate(widths) if i not in texts)
    longest = sum(natural[i] for i in texts)
    for i in texts:
        columns[i].no_wrap = False
        widths[i] = max(min(natural[i], share * natural[i] // longest), MIN_TEXT)
    for column, width in zip(columns, widths, strict=True):
        column.width = width
    return table


def _column_width(column: Column) -> int:
    cells = [column.header, *column.cells]
    return max((console.measure(cell).maximum for cell in cells), default=1)


def _natural_width(table: Table) -> int:
    return console.measure(table, options=console.options.update_width(10_000)).maximum


# Loggers of the server side: what they say in a CLI process (an embedded server, or a command
# working on the store itself) belongs in a server log, not on the terminal.
SERVER_LOGGERS = ("modelward.api", "modelward.services", "modelward.store", "modelward.audit",
                  "modelward.background", "modelward.webhooks", "modelward.gateway")
SERVER_LOG_FILE = "server.log"


class _EmbeddedServerLog(logging.FileHandler):
    """``home``/server.log, found and opened on the first record (a command that logs nothing
    reads no settings). A log that cannot be written is skipped quietly: it must not add a
    traceback to the one-line error the person reads."""

    def __init__(self) -> None:
        super().__init__(SERVER_LOG_FILE, encoding="utf-8", delay=True)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def _open(self) -> Any:
        from modelward.settings import Settings

        home = Settings().home
        home.mkdir(parents=True, exist_ok=True)
        self.baseFilename = os.path.abspath(home / SERVER_LOG_FILE)
        return super()._open()

    def handleError(self, record: logging.LogRecord) -> None:
        pass


def log_embedded_server_to_file() -> None:
    """The CLI's requests are served in this process unless a tracking URI names a server, and
    commands such as ``auth`` or ``db`` use the store directly: the server side's log lines then
    go to ``home``/server.log (where a "see the server log" error points), and the terminal
    shows only the CLI's own output. Without a handler, Python's last-resort handler would print
    them on stderr before the one "Error:" line."""
    handler = _EmbeddedServerLog()
    for name in SERVER_LOGGERS:
        logging.getLogger(name).addHandler(handler)


def log_server_to_terminal() -> None:
    """``modelward server`` (and the demo's server) is a real server: its log is its stderr."""
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if isinstance(h, _EmbeddedServerLog)]:
            logger.removeHandler(handler)


def run_app(app: typer.Typer) -> None:
    """Run the CLI; a modelward error becomes one 'Error: ...' line and a non-zero exit.

    Typer runs in standalone mode, so usage errors exit 2 with its own message and
    ``typer.Exit(code)`` keeps its code.
    """
    log_embedded_server_to_file()
    try:
        app()
    except ModelwardError as exc:
        err_console.print(f"[red]Error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exit_code_for(exc))

"""``modelward data``: check a logged dataset against expectations (``data check``), and its
checks so far (``data checks``). Light at import: the client and rich tables load when a command runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from modelward.cli.output import console
from modelward.errors import InvalidInput

app = typer.Typer(help="Data accuracy and privacy: check datasets against their expectations, scan for personal data.",
                  no_args_is_help=True)

FAILED_EXIT = 1  # the data breaks an expectation
UNCHECKED_EXIT = 4  # the data could not be checked (no stored snapshot)


def _read_declaration(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"--expectations {str(path)!r} cannot be read: {exc.strerror or exc}") from None


def _failures_table(check: Any) -> None:
    from rich.table import Table

    table = Table("column", "check", "expected", "observed", "failing rows", "share", "examples")
    for item in check.result.failed():
        table.add_row(escape(item.column or "(rows)"), item.check, escape(json.dumps(item.expected, default=str)),
                      escape("" if item.observed is None else str(item.observed)), str(item.failure_count),
                      f"{item.failure_share:.2%}", escape(", ".join(item.examples)))
    console.print(table)


def _summary(check: Any) -> None:
    result = check.result
    where = f"{result.rows} rows x {result.columns} columns" if result.rows is not None else "no data"
    line = (f"dataset {check.dataset_id}: {check.status.upper()} ({len(result.failed())} of "
            f"{len(result.expectations)} expectations failed; {where}; check {check.id})")
    console.print(escape(line), highlight=False)
    if result.reason:
        console.print(escape(result.reason), highlight=False)
    if result.failed():
        _failures_table(check)


@app.command("check")
def check(
    dataset: str = typer.Argument(..., help="A dataset id or digest."),
    expectations: Path = typer.Option(None, "--expectations", "-e", help="A YAML or JSON declaration "
                                      "(default: the one attached when the dataset was logged)."),
    as_json: bool = typer.Option(False, "--json", help="Print the stored check as JSON."),
) -> None:
    """Check the dataset's stored data; the result is kept with the dataset. Exits 1 when an
    expectation fails, 4 when the data could not be checked."""
    from modelward.sdk.client import Client

    declaration = _read_declaration(expectations) if expectations is not None else None
    with Client() as client:
        stored = client.data_checks.check(dataset, declaration)
    if as_json:
        print(stored.model_dump_json(indent=2))
    else:
        _summary(stored)
    if stored.status == "failed":
        raise typer.Exit(FAILED_EXIT)
    if stored.status == "unchecked":
        raise typer.Exit(UNCHECKED_EXIT)


@app.command("checks")
def checks(
    dataset: str = typer.Argument(..., help="A dataset id or digest."),
    limit: int = typer.Option(20, "--limit", min=1, max=1000),
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
) -> None:
    """The dataset's checks, newest first."""
    from rich.table import Table

    from modelward.sdk.client import Client

    with Client() as client:
        found = client.data_checks.list(dataset, limit=limit)
    if as_json:
        print(json.dumps([item.model_dump(mode="json") for item in found], indent=2))
        return
    table = Table("check", "when", "by", "trigger", "status", "failed")
    for item in found:
        failed = ", ".join(f"{f.column}.{f.check}" if f.column else f.check for f in item.result.failed())
        table.add_row(str(item.id), item.checked_at.isoformat(timespec="seconds"), escape(item.checked_by or ""),
                      item.trigger, item.status, escape(failed))
    console.print(table)


# -- personal data -------------------------------------------------------------------------------------

FOUND_EXIT = 1  # personal data was found (with --fail-on-found)


def _locales(text: str | None) -> list[str] | None:
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def _findings_table(scan: Any) -> None:
    from rich.table import Table

    table = Table("column", "kind", "scheme", "evidence", "confidence", "matched", "examples (masked)")
    for item in scan.findings:
        share = item.get("matched_share")
        table.add_row(escape(item["column"]), item["kind"], item.get("scheme") or "", ", ".join(item["evidence"]),
                      f"{item['confidence']:.2f}", "" if share is None else f"{share:.0%}",
                      escape(", ".join(item.get("examples") or [])))
    console.print(table)


def _scan_summary(scan: Any) -> None:
    columns = scan.columns()
    what = f"dataset {scan.subject_id}" if scan.subject_type == "dataset" else f"the prediction log of {scan.subject_id}"
    found = f"personal data in {len(columns)} column(s): {', '.join(columns)}" if columns else "no personal data found"
    console.print(escape(f"{what}: {found} (scan {scan.id}; {scan.result.get('rows')} rows, "
                         f"{scan.result.get('sample_rows')} sampled per column)"), highlight=False)
    if scan.findings:
        _findings_table(scan)


@app.command("scan")
def scan(
    dataset: str = typer.Argument(None, help="A dataset id or digest (or use --endpoint)."),
    endpoint: str = typer.Option(None, "--endpoint", help="Scan this endpoint's prediction log instead."),
    locales: str = typer.Option(None, "--locales", help="Comma-separated, e.g. en_US,de_DE (default: en_US, "
                                "en_GB, de_DE, fr_FR)."),
    sample_rows: int = typer.Option(10_000, "--sample-rows", min=1, max=100_000),
    fail_on_found: bool = typer.Option(False, "--fail-on-found", help="Exit 1 when personal data is found."),
    as_json: bool = typer.Option(False, "--json", help="Print the stored scan as JSON."),
) -> None:
    """Scan a dataset's stored snapshot, or an endpoint's logged inputs, for personal data; the
    findings (masked examples only) are kept with it."""
    from modelward.sdk.client import Client

    if (dataset is None) == (endpoint is None):
        raise InvalidInput("give a dataset (id or digest) or --endpoint NAME, not both")
    with Client() as client:
        if endpoint is not None:
            stored = client.personal_data.scan_prediction_log(endpoint, locales=_locales(locales),
                                                              sample_rows=sample_rows)
        else:
            stored = client.personal_data.scan_dataset(dataset, locales=_locales(locales), sample_rows=sample_rows)
    if as_json:
        print(stored.model_dump_json(indent=2))
    else:
        _scan_summary(stored)
    if fail_on_found and stored.columns():
        raise typer.Exit(FOUND_EXIT)


@app.command("scans")
def scans(
    dataset: str = typer.Argument(None, help="A dataset id or digest (or use --endpoint)."),
    endpoint: str = typer.Option(None, "--endpoint", help="The scans of this endpoint's prediction log."),
    limit: int = typer.Option(20, "--limit", min=1, max=1000),
    as_json: bool = typer.Option(False, "--json", help="Print the scans as JSON."),
) -> None:
    """The scans of a dataset or of an endpoint's prediction log, newest first."""
    from rich.table import Table

    from modelward.sdk.client import Client

    if (dataset is None) == (endpoint is None):
        raise InvalidInput("give a dataset (id or digest) or --endpoint NAME, not both")
    with Client() as client:
        found = (client.personal_data.prediction_log_scans(endpoint, limit=limit) if endpoint is not None
                 else client.personal_data.dataset_scans(dataset, limit=limit))
    if as_json:
        print(json.dumps([item.model_dump(mode="json") for item in found], indent=2))
        return
    table = Table("scan", "when", "by", "columns with personal data", "kinds")
    for item in found:
        table.add_row(str(item.id), item.scanned_at.isoformat(timespec="seconds"), escape(item.scanned_by or ""),
                      escape(", ".join(item.columns())), ", ".join(item.kinds))
    console.print(table)

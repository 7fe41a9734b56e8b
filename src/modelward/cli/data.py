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
    limit: int = typer.Option(20, "--limit", min=1, max=1000, help="At most this many, newest first."),
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
    sample_rows: int = typer.Option(10_000, "--sample-rows", min=1, max=100_000,
                                    help="Values read per column (a dataset) or requests read (a prediction log)."),
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
    limit: int = typer.Option(20, "--limit", min=1, max=1000, help="At most this many, newest first."),
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


# -- purpose, consent and retention ----------------------------------------------------------------


def _governance_lines(found: Any) -> list[str]:
    declared = found.governance
    head = f"dataset '{found.dataset}' ({found.dataset_id})"
    if declared is None:
        return [f"{head}: no purpose, consent or retention declared (it restricts no use)"]
    return [
        head,
        f"  purposes:          {', '.join(declared.purposes) or '(any)'}",
        f"  excluded_purposes: {', '.join(declared.excluded_purposes) or '(none)'}",
        f"  consent:           {declared.consent}",
        f"  legal_basis:       {declared.legal_basis or '(not given)'}",
        f"  retention_until:   {declared.retention_until.isoformat() if declared.retention_until else '(none)'}",
        *([f"  notes:             {declared.notes}"] if declared.notes else []),
        f"  set by {declared.set_by} at {declared.set_at.isoformat(timespec='seconds')}",
    ]


@app.command("purpose")
def purpose(
    dataset: str = typer.Argument(..., help="A dataset id or digest."),
    purposes: list[str] = typer.Option(None, "--purpose", help="An allowed use, e.g. credit_scoring (repeatable)."),
    excluded: list[str] = typer.Option(None, "--exclude-purpose", help="A use the data must never serve (repeatable)."),
    consent: str = typer.Option(None, "--consent", help="given | withdrawn | not_required | unknown"),
    legal_basis: str = typer.Option(None, "--legal-basis", help="GDPR Art. 6(1): consent, contract, legal_obligation, "
                                    "vital_interests, public_task, legitimate_interests"),
    retention_until: str = typer.Option(None, "--retention-until", help="The last day the data may be used (YYYY-MM-DD)."),
    notes: str = typer.Option(None, "--notes", help="Free text kept with the declaration."),
    replace: bool = typer.Option(False, "--replace", help="Replace the whole declaration (default: change only the "
                                 "fields given)."),
    as_json: bool = typer.Option(False, "--json", help="Print the declaration as JSON."),
    user: str = typer.Option(None, "--as", help="act as this stored user, with its roles (without auth only)"),
) -> None:
    """Show the dataset's purpose, consent and retention, or set them (with any option). A model
    trained on it cannot be approved when its policy's data.use is not among the purposes, or is
    excluded, when retention has passed or consent is withdrawn."""
    from modelward.sdk.client import Client

    given = {"purposes": purposes or None, "excluded_purposes": excluded or None, "consent": consent,
             "legal_basis": legal_basis, "retention_until": retention_until, "notes": notes}
    changes = {key: value for key, value in given.items() if value is not None}
    with Client(user=user) as client:
        if not changes and not replace:
            found = client.data_governance.get(dataset)
        elif replace:
            found = client.data_governance.set(dataset, **changes)
        else:
            found = client.data_governance.update(dataset, **changes)
    if as_json:
        print(found.model_dump_json(indent=2))
        return
    for line in _governance_lines(found):
        console.print(escape(line), highlight=False, soft_wrap=True)


# -- deletion requests (``services.erasure``) ---------------------------------------------------

erase_app = typer.Typer(help="Deletion requests: find and erase a data subject's rows (snapshots, prediction "
                        "logs) through lineage, and record what to do with the versions they reached.",
                        invoke_without_command=True)
app.add_typer(erase_app, name="erase")


def _erasure_key(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    key: dict[str, str] = {}
    for pair in pairs:
        column, sign, value = pair.partition("=")
        if not sign or not column.strip():
            raise InvalidInput(f"--key {pair!r} must be COLUMN=VALUE")
        key[column.strip()] = value
    return key


def _erasure_tables(findings: Any) -> None:
    from rich.table import Table

    what = f"key on {', '.join(findings.key_columns)} ({findings.key_hash})" if findings.key_columns else "whole dataset"
    console.print(escape(f"request: {what}{f', dataset {findings.dataset}' if findings.dataset else ''}"),
                  highlight=False, soft_wrap=True)
    sections: list[tuple[str, tuple[str, ...], list[tuple[str, ...]]]] = [
        ("dataset snapshots", ("dataset", "name", "matching rows", "rows", "snapshot"),
         [(d.id, d.name, str(d.matching_rows), str(d.rows), d.snapshot_digest or "") for d in findings.datasets]),
        ("runs", ("run", "relation", "datasets"),
         [(r.run_id, r.relation, ", ".join(r.datasets)) for r in findings.runs]),
        ("model versions", ("model", "version", "state", "frozen evidence"),
         [(v.model, str(v.version), v.state, "yes" if v.frozen else "no") for v in findings.versions]),
        ("deployments", ("deployment", "environment", "versions", "serving now"),
         [(d.name, d.environment, ", ".join(map(str, d.versions)), ", ".join(map(str, d.serving_now)))
          for d in findings.deployments]),
        ("prediction-log parts", ("endpoint", "part", "matching records", "records"),
         [(p.endpoint, p.part, str(p.matching_records), str(p.records)) for p in findings.log_parts]),
    ]
    for title, columns, rows in sections:
        if not rows:
            console.print(f"{title}: none", highlight=False)
            continue
        table = Table(*columns, title=title)
        for row in rows:
            table.add_row(*(escape(cell) for cell in row))
        console.print(table)
    for item in findings.unsearched_datasets:
        console.print(escape(f"not searched: dataset {item.id} ({item.name}): {item.reason}"), highlight=False,
                      soft_wrap=True)
    if findings.unsearched_log_records:
        console.print(f"not searched: {findings.unsearched_log_records} logged record(s) whose inputs have no "
                      "column names", highlight=False)
    if findings.truncated:
        console.print("truncated: more datasets than one request searches; name one with --dataset", highlight=False)


@erase_app.callback()
def erase(
    ctx: typer.Context,
    key: list[str] = typer.Option(None, "--key", help="COLUMN=VALUE of the data subject; repeat for a key of "
                                  "several columns (all must match)."),
    dataset: str = typer.Option(None, "--dataset", help="Only this dataset (id or digest); without --key, all its rows."),
    endpoints: list[str] = typer.Option(None, "--endpoint", help="Only these endpoints' prediction logs (repeatable)."),
    reason: str = typer.Option(None, "--reason", help="Why: the request's reference, the legal ground."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be erased; change nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Erase a data subject's rows from every dataset snapshot and prediction log that holds them,
    audited; the model versions trained on them are flagged for review."""
    if ctx.invoked_subcommand is not None:
        return
    from modelward.sdk.client import Client

    with Client() as client:
        result = client.erasure.erase(_erasure_key(key), reason=reason or "", dataset=dataset,
                                      endpoints=endpoints or None, dry_run=dry_run)
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    _erasure_tables(result.findings)
    if result.dry_run:
        console.print("dry run: nothing was changed", highlight=False)
        return
    for item in result.snapshots:
        blob = "removed" if item.old_blob_removed else f"kept ({item.old_blob_kept_because})"
        console.print(escape(f"redacted dataset {item.dataset_id}: {item.rows_removed} row(s) removed, "
                             f"{item.old_digest} -> {item.new_digest}, old blob {blob}"), highlight=False, soft_wrap=True)
    for part in result.log_parts:
        console.print(escape(f"redacted {part.part}: {part.records_removed} record(s) removed, {part.records_kept} kept"),
                      highlight=False, soft_wrap=True)
    flagged = ", ".join(result.flagged_versions) or "none"
    console.print(escape(f"erasure request {result.request_id} recorded; versions flagged for review: {flagged}"),
                  highlight=False, soft_wrap=True)


@erase_app.command("decide")
def erase_decide(
    model: str = typer.Argument(..., help="The model's name."),
    version: int = typer.Argument(..., help="The flagged version."),
    retrain: bool = typer.Option(False, "--retrain", help="The team will retrain without the erased data."),
    keep: bool = typer.Option(False, "--keep", help="The team keeps the version as it is."),
    reason: str = typer.Option(..., "--reason", help="Why."),
    request_id: str = typer.Option(None, "--request", help="Which erasure request's flag (if several are open)."),
) -> None:
    """Record the team's decision for a version an erasure request flagged (audited)."""
    from modelward.sdk.client import Client

    if retrain == keep:
        raise InvalidInput("give one of --retrain or --keep")
    with Client() as client:
        flag = client.erasure.decide(model, version, "retrain" if retrain else "keep", reason=reason,
                                     request_id=request_id)
    assert flag.decision is not None
    console.print(escape(f"version {version} of model '{model}': {flag.decision.decision} (erasure request "
                         f"{flag.request_id}), recorded by {flag.decision.by}"), highlight=False, soft_wrap=True)


@erase_app.command("requests")
def erase_requests(
    limit: int = typer.Option(20, "--limit", min=1, max=1000, help="At most this many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print the requests as JSON."),
) -> None:
    """Past deletion requests, newest first, from the audit trail."""
    from rich.table import Table

    from modelward.sdk.client import Client

    with Client() as client:
        found = client.erasure.requests(limit=limit)
    if as_json:
        print(json.dumps([item.model_dump(mode="json") for item in found], indent=2))
        return
    table = Table("request", "when", "by", "key columns", "snapshots", "log parts", "versions flagged", "reason")
    for item in found:
        table.add_row(item.request_id, item.at.isoformat(timespec="seconds"), escape(item.by),
                      escape(", ".join(item.key_columns) or f"dataset {item.dataset}"), str(len(item.snapshots)),
                      str(len(item.log_parts)), escape(", ".join(item.flagged_versions)), escape(item.reason or ""))
    console.print(table)

"""``modelward evidence``: everything that made an answer, for a request id, an endpoint at a
moment, or a model version: a readable summary, the JSON document, or its PDF."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from modelward.cli.output import console
from modelward.errors import InvalidInput


def _moment(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{option} {value!r} is not an ISO 8601 date or time, e.g. 2026-12-01T12:30") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _fetch(client: Any, request_id: str | None, endpoint: str | None, at: str | None, model: str | None,
           version: int | None, explain: bool = False) -> Any:
    chosen = [name for name, given in (("REQUEST_ID", request_id), ("--endpoint", endpoint), ("--model", model))
              if given]
    if len(chosen) != 1:
        raise InvalidInput("give exactly one of REQUEST_ID, --endpoint E --at T, or --model M --version V"
                           + (f" (got {', '.join(chosen)})" if chosen else ""))
    if request_id:
        return client.evidence.for_request(request_id, explain=explain)
    if endpoint:
        moment = _moment(at, "--at")
        if moment is None:
            raise InvalidInput("--endpoint needs --at, the moment (ISO 8601)")
        return client.evidence.for_moment(endpoint, moment)
    if version is None:
        raise InvalidInput("--model needs --version")
    return client.evidence.for_version(model, version, _moment(at, "--at"))


def evidence(
    request_id: str = typer.Argument(None, help="The request id of a logged answer."),
    endpoint: str = typer.Option(None, "--endpoint", help="An endpoint (with --at): what it served then."),
    at: str = typer.Option(None, "--at", help="The moment (ISO 8601; UTC unless an offset is given)."),
    model: str = typer.Option(None, "--model", help="A registered model (with --version)."),
    version: int = typer.Option(None, "--version", min=1, help="The model version."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole document as JSON."),
    pdf: Path = typer.Option(None, "--pdf", help="Write the request's evidence as a PDF to this file."),
    explain: bool = typer.Option(False, "--explain", help="Add the answer's local explanation (takes longer)."),
) -> None:
    """Everything that made an answer: the request, the deployment then and why that version
    answered, the version and its digest checked now, who trained it, approvals, alerts, and the
    audit events with the chain verified over their span."""
    from modelward.sdk.client import Client

    if pdf is not None and not request_id:
        raise InvalidInput("--pdf is for a request id: modelward evidence REQUEST_ID --pdf FILE")
    with Client() as client:
        found = _fetch(client, request_id, endpoint, at, model, version, explain)
        if pdf is not None:
            client.evidence.pdf(request_id, path=pdf)
    if as_json:
        print(json.dumps(found.model_dump(mode="json"), indent=2))
    else:
        summary(found)
    if pdf is not None:
        console.print(f"PDF written to {escape(str(pdf))}", highlight=False)


def _ok(flag: bool, yes: str = "ok", no: str = "FAILED") -> str:
    return f"[green]{yes}[/green]" if flag else f"[red]{no}[/red]"


def summary(found: Any) -> None:
    """The document in a screenful: what answered, why, and whether it all checks out."""
    from rich.table import Table

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()

    def row(label: str, value: str) -> None:
        table.add_row(label, value)

    row("evidence for", f"{found.kind} at {found.at.isoformat()}")
    if found.request:
        r = found.request
        row("request", f"{escape(r.request_id)} on {escape(r.endpoint)}: status {r.status}, {r.latency_ms:g} ms, "
                       f"answered by version {r.version} ({r.mode})")
        feedback = r.feedback
        row("feedback", escape(f"{feedback.ground_truth!r} by {feedback.actor}") if feedback
            else escape(r.feedback_note or "none"))
    if found.deployment:
        d = found.deployment
        row("deployment", escape(f"{d.endpoint} revision {d.revision}: {d.action} by {d.changed_by}"
                                 f"{f' ({d.reason})' if d.reason else ''}; {d.strategy}, "
                                 + ", ".join(f"v{x.version} {x.label} {x.weight}%" for x in d.routes)))
        for answered in d.answered:
            row("why this version", escape(f"v{answered.version}: {answered.why}"))
    for m in found.models:
        v = m.version
        row(f"version {v.version}", escape(f"{v.model_name} v{v.version} ({v.status}) {v.digest.expected}")
            + f" digest {_ok(v.digest.ok, 'verified now', 'MISMATCH')}")
        run = m.training.run
        if run:
            code = run.code
            git = f"commit {code.commit}" if code.commit else "no git commit"
            if code.dirty is not None:
                git += " (dirty)" if code.dirty else " (clean)"
            row("trained by", escape(f"{run.user or 'unknown'} in run {run.run_id} ({run.name or ''}), {git}"))
        else:
            row("trained by", escape(m.training.run_note or "no run recorded"))
        if m.governance:
            g = m.governance
            approvals = ", ".join(f"{a.reviewer} at {a.at:%Y-%m-%d %H:%M}" for a in g.approvals) or "none"
            row("governance", escape(f"{g.state}" + (f" (then {g.state_then})" if g.state_then else "")))
            row("approved by", escape(approvals))
    if found.alerts:
        firing = ", ".join(f"{a.rule} ({a.metric} {a.comparison} {a.threshold:g})" for a in found.alerts.firing)
        row("alerts firing", escape(firing) if firing else "none")
    verification = found.audit.verification
    span = f" over seq {verification.from_seq}-{verification.to_seq}" if verification.from_seq is not None else ""
    row("audit", f"{len(found.audit.events)} events{span}: "
                 + _ok(verification.ok, verification.status.replace("_", " "), verification.status)
                 + (escape(f" ({verification.problem})") if verification.problem else ""))
    if found.explanation and found.explanation.get("rows"):
        top = found.explanation["rows"][0]["attributions"][:3]  # largest first
        row("explanation", escape(", ".join(f"{a['feature']} {a['attribution']:+.3g}" for a in top)))
    for key, note in sorted(found.notes.items()):
        row(f"note: {escape(key)}", escape(note))
    console.print(table, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("evidence")(evidence)

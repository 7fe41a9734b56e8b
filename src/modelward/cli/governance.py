"""``modelward policy|evaluate|review|report``: governance from the command line.

The acting user: with auth the token decides. Without auth (embedded, or a loopback server)
the operator acts as the local admin, and ``--as USER`` acts as the stored user USER with
exactly its roles (create it with ``modelward auth add-user USER --role ...``), so a local
demo can play the author, the risk manager and the compliance officer in turn.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from modelward.cli.output import console
from modelward.errors import InvalidInput

policy_app = typer.Typer(help="Governance policies as code (YAML), versioned.", no_args_is_help=True)
review_app = typer.Typer(help="Human review: queue, comment, risk, checklist, impact, approve, reject.",
                         no_args_is_help=True)
_acting: dict[str, str | None] = {"user": None}
AS_OPTION = typer.Option(None, "--as", help="act as this stored user, with its roles (without auth only)")


def _as(user: str | None = AS_OPTION) -> None:
    _acting["user"] = user


policy_app.callback()(_as)
review_app.callback()(_as)


def _client():  # type: ignore[no-untyped-def]
    from modelward.sdk.client import Client

    return Client(user=_acting["user"])


def _kpis(pairs: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--kpi '{pair}' must look like name=value")
        try:
            found[key] = float(value)
        except ValueError:
            found[key] = value
    return found


# -- policy -----------------------------------------------------------------------------------


@policy_app.command("set")
def policy_set(file: Path = typer.Argument(..., exists=True, dir_okay=False),
               scope: str = typer.Option(None, help="global | tier:<tier> | model:<name> (default: from the YAML)")) -> None:
    """Store FILE as the new version of its policy (admin)."""
    with _client() as client:
        stored = client.policies.set(file.read_text("utf-8"), scope=scope)
    console.print(f"policy [bold]{stored.scope}[/bold] is now version {stored.version}")


@policy_app.command("show")
def policy_show(scope: str = typer.Argument("global"),
                version: int = typer.Option(None, help="show this version instead of the active one")) -> None:
    """The YAML of a scope's active policy (or of one version)."""
    with _client() as client:
        stored = client.policies.get(scope, version=version)
    console.print(f"# {stored.scope} version {stored.version} by {stored.created_by} at {stored.created_at:%Y-%m-%d %H:%M}")
    console.print(stored.yaml, markup=False, highlight=False)


@policy_app.command("history")
def policy_history(scope: str = typer.Argument("global")) -> None:
    """Every version of a scope's policy: who stored it, when, and which one is active."""
    with _client() as client:
        found = client.policies.history(scope)
    table = Table("version", "active", "by", "at")
    for p in found:
        table.add_row(str(p.version), "yes" if p.active else "", p.created_by or "", f"{p.created_at:%Y-%m-%d %H:%M:%S}")
    console.print(table)


@policy_app.command("validate")
def policy_validate(file: Path = typer.Argument(..., exists=True, dir_okay=False)) -> None:
    """Check FILE locally; problems are listed with their line numbers."""
    from modelward.services.policies import scope_of, validate

    policy = validate(file.read_text("utf-8"))
    console.print(f"valid policy for scope {scope_of(policy)}: {len(policy.gates)} gates")


# -- evaluate & report -------------------------------------------------------------------------


def evaluate(
    name: str, version: int,
    dataset: str = typer.Option(None, "--dataset", help="RUN_ID:PATH of your own Parquet or CSV artifact (advisory)"),
    kpi: list[str] = typer.Option([], "--kpi", help="business KPI, name=value (repeatable; self-reported)"),
    advisory: bool = typer.Option(False, "--advisory", help="store the result as advisory: it moves no state"),
    as_user: str = AS_OPTION,
) -> None:
    """Run the policy's automated gates on a version; a candidate moves to in_review or rejected.

    Exits with status 1 when a gate fails (the failures are printed)."""
    _acting["user"] = as_user
    ref = None
    if dataset:
        run_id, sep, path = dataset.partition(":")
        if not sep:
            raise InvalidInput("--dataset must look like RUN_ID:path/to/data.parquet")
        ref = {"run_id": run_id, "path": path}
    with _client() as client:
        result = client.governance.evaluate(name, version, dataset=ref, kpis=_kpis(kpi), advisory=advisory)
        state = client.governance.state(name, version).state
    table = Table("gate", "passed", "reason")
    for gate in result.result.get("gates", []):
        table.add_row(json.dumps(gate["gate"]), "yes" if gate["passed"] else "[red]no[/red]", gate["reason"])
    console.print(table)
    kind = " (advisory: moves no state, not evidence)" if result.advisory else ""
    console.print(f"evaluation {result.id}{kind}: {'PASSED' if result.passed else 'FAILED'}; version is now {state}")
    if not result.passed:
        for failure in result.failures:
            console.print(f"  failed: {failure}", markup=False, highlight=False)
        raise typer.Exit(code=1)


def report(
    name: str, version: int, format: str = typer.Option("md", "--format", help="md, html or pdf"),
    output: Path = typer.Option(None, "--output", "-o", help="write here instead of the terminal"),
) -> None:
    """The compliance report of a version (model card, lineage, evaluations, fairness, risk, reviews, audit)."""
    if format == "pdf" and output is None:
        raise InvalidInput("--format pdf writes a file: add --output report.pdf")
    with _client() as client:
        document = client.governance.report(name, version, format=format)
    if output is None:
        console.print(document, markup=False, highlight=False)
        return
    if isinstance(document, bytes):
        output.write_bytes(document)
    else:
        output.write_text(document, "utf-8")
    console.print(f"wrote {output}")


# -- review -----------------------------------------------------------------------------------


@review_app.command("queue")
def queue() -> None:
    """Versions in review that you can act on (not your own)."""
    with _client() as client:
        items = client.governance.queue()
    table = Table("model", "version", "author", "your roles", "needs")
    for item in items:
        needs = f"{item['approvals_needed']} approvals" + (f" ({', '.join(item['required_roles'])})" if item["required_roles"] else "")
        table.add_row(item["model_name"], str(item["version"]), item["created_by"] or "", ", ".join(item["roles"]), needs)
    console.print(table)


@review_app.command("status")
def status(name: str, version: int) -> None:
    """State, allowed next states and what is still missing for approval."""
    with _client() as client:
        found = client.governance.state(name, version)
    console.print(f"{name} v{version}: [bold]{found.state}[/bold] (next: {', '.join(found.allowed_next) or '-'})")
    for item in found.missing:
        console.print(f"  missing: {item}", highlight=False)
    for approval in found.approvals:
        console.print(f"  approved by {approval.reviewer} as {', '.join(approval.roles)} at {approval.at:%Y-%m-%d %H:%M}")


@review_app.command("approve")
def approve(name: str, version: int,
            comment: str = typer.Option(None, "--comment", "-m", help="why you approve (kept in the audit)")) -> None:
    """Approve a version in review; it is approved once the policy's approvals and evidence are complete."""
    with _client() as client:
        client.governance.approve(name, version, comment=comment)
        state = client.governance.state(name, version).state
    console.print(f"approval recorded; {name} v{version} is {state}")


@review_app.command("reject")
def reject(name: str, version: int,
           comment: str = typer.Option(..., "--comment", "-m", help="why it is rejected (required)")) -> None:
    """Reject a version in review: it can no longer be approved or released."""
    with _client() as client:
        client.governance.reject(name, version, comment)
    console.print(f"{name} v{version} rejected")


@review_app.command("request-changes")
def request_changes(name: str, version: int,
                    comment: str = typer.Option(..., "--comment", "-m", help="what must change (required)")) -> None:
    """Send a version in review back to its author with the changes needed."""
    with _client() as client:
        client.governance.request_changes(name, version, comment)
    console.print(f"changes requested on {name} v{version}")


@review_app.command("comment")
def comment(name: str, version: int, text: str = typer.Argument(...),
            reply_to: str = typer.Option(None, "--reply-to", help="id of the comment this answers")) -> None:
    """Comment on a version's review (or answer a comment with --reply-to)."""
    with _client() as client:
        review = client.governance.comment(name, version, text, parent_id=reply_to)
    console.print(f"comment {review.id} added")


@review_app.command("risk")
def risk(name: str, version: int,
         category: str = typer.Option(..., "--category", help="business, financial, legal, security, privacy, "
                                      "reputational or ethical"),
         rating: str = typer.Option(..., "--rating", help="low, medium, high or critical"),
         rationale: str = typer.Option(..., "--rationale", help="why this rating"),
         mitigation: str = typer.Option(None, "--mitigation", help="what limits the risk")) -> None:
    """Rate one risk category of a version; approval needs every category rated."""
    with _client() as client:
        found = client.governance.set_risk(name, version, category, rating=rating, rationale=rationale,
                                           mitigation=mitigation)
    console.print(f"risk rated: {', '.join(f'{k}={v.rating}' for k, v in found.items.items())}; unrated: "
                  f"{', '.join(found.unrated) or 'none'}")


@review_app.command("checklist")
def checklist(name: str, version: int, item: str = typer.Argument(...),
              uncheck: bool = typer.Option(False, "--uncheck", help="clear the item instead of checking it"),
              evidence: str = typer.Option(None, "--evidence", help="where the evidence is (link, document)")) -> None:
    """Check (or --uncheck) an item of the compliance checklist and print the list."""
    with _client() as client:
        found = client.governance.check_item(name, version, item, checked=not uncheck, evidence=evidence)
    for entry in found.items:
        console.print(f"[{'x' if entry.checked else ' '}] {entry.item}", markup=False, highlight=False)


@review_app.command("impact")
def impact(name: str, version: int, summary: str = typer.Option(..., "--summary", help="the expected business impact"),
           revenue: str = typer.Option(None, "--revenue", help="expected revenue impact"),
           users: str = typer.Option(None, "--affected-users", help="who is affected"),
           kpi: list[str] = typer.Option([], "--kpi", help="business KPI, name=value (repeatable)")) -> None:
    """Record the business impact assessment of a version."""
    with _client() as client:
        client.governance.set_impact(name, version, summary=summary, expected_revenue_impact=revenue,
                                     kpis=_kpis(kpi), affected_users=users)
    console.print(f"business impact recorded for {name} v{version}")


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy")
    app.add_typer(review_app, name="review")
    app.command("evaluate")(evaluate)
    app.command("report")(report)

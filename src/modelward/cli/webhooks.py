"""``modelward webhooks``: signed HTTP callbacks on audit events (admin only)."""

from __future__ import annotations

import typer
from rich import box
from rich.table import Table

from modelward.cli.output import console

app = typer.Typer(help="Webhooks: signed POSTs on review and approval events (admin).", no_args_is_help=True)


@app.command("add")
def add(
    url: str = typer.Argument(..., help="http(s) URL that receives the POSTs."),
    event: list[str] = typer.Option(..., "--event", "-e", help="Audit action, 'noun.*' or '*'; repeatable."),
    secret: str = typer.Option(None, "--secret", help="Signing secret (16+ characters); generated if omitted."),
) -> None:
    """Register a webhook; its signing secret is printed once."""
    from modelward.sdk.client import Client
    with Client() as client:
        new = client.webhooks.add(url, event, secret=secret)
    console.print(f"webhook {new.webhook.id} for {', '.join(new.webhook.events)} -> {new.webhook.url}", highlight=False)
    console.print("signing secret (shown once, keep it safe):", highlight=False)
    print(new.secret)


@app.command("list")
def list_webhooks() -> None:
    """List webhooks (never their secrets)."""
    from modelward.sdk.client import Client
    with Client() as client:
        found = client.webhooks.list()
    if not found:
        console.print("no webhooks")
        return
    table = Table("id", "url", "events", "created by", "created", box=box.SIMPLE_HEAD)
    for hook in found:
        table.add_row(hook.id, hook.url, ", ".join(hook.events), hook.created_by or "", f"{hook.created_at:%Y-%m-%d %H:%M}")
    console.print(table)


@app.command("remove")
def remove(webhook_id: str) -> None:
    """Delete a webhook and its pending deliveries."""
    from modelward.sdk.client import Client
    with Client() as client:
        client.webhooks.remove(webhook_id)
    console.print(f"webhook {webhook_id} removed", highlight=False)


@app.command("deliveries")
def deliveries(
    webhook_id: str = typer.Option(None, "--webhook", help="Only this webhook's deliveries."),
    status: str = typer.Option(None, "--status", help="pending, delivered or failed."),
    limit: int = typer.Option(50, "--limit", "-n", help="At most this many deliveries, newest first."),
) -> None:
    """Recent deliveries, newest first, with attempts and the last error."""
    from modelward.sdk.client import Client
    with Client() as client:
        found = client.webhooks.deliveries(webhook_id=webhook_id, status=status, limit=limit)
    if not found:
        console.print("no deliveries")
        return
    table = Table("id", "webhook", "event", "seq", "status", "attempts", "last error", box=box.SIMPLE_HEAD)
    for item in found:
        table.add_row(item.id, item.webhook_id, item.event, str(item.audit_seq), item.status.value,
                      str(item.attempts), item.last_error or "")
    console.print(table)

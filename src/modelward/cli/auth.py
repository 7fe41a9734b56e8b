"""``modelward auth``: users, roles and API tokens, administered on the store directly."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from modelward.cli.output import console

if TYPE_CHECKING:
    from modelward.services.backend import Backend

app = typer.Typer(help="Users, roles and API tokens (stored hashed).", no_args_is_help=True)
token_app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")


def _backend() -> Backend:
    from modelward.services.backend import Backend
    from modelward.settings import Settings

    return Backend.from_settings(Settings())


@app.command("add-user")
def add_user(
    name: str,
    role: list[str] = typer.Option(..., "--role", "-r", help="viewer, contributor, reviewer, approver, risk, compliance, admin"),
) -> None:
    """Create a user with one or more roles."""
    from modelward.services import users as service

    user = service.create_user(_backend(), name, service.parse_roles(role))
    console.print(f"user [bold]{user.name}[/bold] created with roles {', '.join(sorted(r.value for r in user.roles))}")


@app.command("set-roles")
def set_roles(name: str, role: list[str] = typer.Option(..., "--role", "-r", help="The new roles (repeatable).")) -> None:
    """Replace a user's roles."""
    from modelward.services import users as service

    user = service.set_roles(_backend(), name, service.parse_roles(role))
    console.print(f"{user.name}: {', '.join(sorted(r.value for r in user.roles))}")


@app.command("disable-user")
def disable_user(name: str) -> None:
    """Disable a user: their tokens stop working at once."""
    from modelward.services import users as service

    service.set_disabled(_backend(), name, True)
    console.print(f"user {name} disabled")


@app.command("users")
def list_users() -> None:
    """List users and their roles."""
    from modelward.services import users as service

    table = Table("user", "roles", "created", "disabled")
    for user in service.list_users(_backend()):
        roles = ", ".join(sorted(r.value for r in user.roles))
        table.add_row(user.name, roles, f"{user.created_at:%Y-%m-%d %H:%M}", "yes" if user.disabled else "")
    console.print(table)


@token_app.command("create")
def create_token(
    user: str,
    name: str = typer.Option(None, help="What the token is for."),
    expires_in_days: int = typer.Option(None, help="Expire after this many days."),
) -> None:
    """Create a token; the secret is printed once and stored only as a hash."""
    from modelward.services import users as service

    new = service.create_token(_backend(), user, name=name, expires_in_days=expires_in_days)
    console.print(f"token id {new.info.id} for {new.info.user} (shown once, keep it safe):", highlight=False)
    print(new.token)


@token_app.command("revoke")
def revoke_token(token_id: str) -> None:
    """Revoke a token by id: requests with it get 401 from now on."""
    from modelward.services import users as service

    info = service.revoke_token(_backend(), token_id)
    console.print(f"token {info.id} of {info.user} revoked")


@token_app.command("list")
def list_tokens(user: str = typer.Option(None, help="Only this user's tokens.")) -> None:
    """List tokens (never their secrets)."""
    from modelward.services import users as service

    table = Table("id", "user", "name", "created", "expires", "revoked")
    for info in service.list_tokens(_backend(), user):
        table.add_row(
            info.id, info.user, info.name or "", f"{info.created_at:%Y-%m-%d %H:%M}",
            f"{info.expires_at:%Y-%m-%d}" if info.expires_at else "",
            f"{info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "",
        )
    console.print(table)

"""``modelward models``: list, show, register, versions, archive, delete, alias, compare, download."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from modelward.cli.output import console
from modelward.errors import InvalidInput

app = typer.Typer(help="Model registry: registered models, versions and aliases.", no_args_is_help=True)
alias_app = typer.Typer(help="Move, delete and trace aliases (champion, challenger, ...).", no_args_is_help=True)
app.add_typer(alias_app, name="alias")


def _client():  # type: ignore[no-untyped-def]
    from modelward.sdk.client import Client

    return Client()


def _when(moment) -> str:  # type: ignore[no-untyped-def]
    return moment.strftime("%Y-%m-%d %H:%M:%S")


@app.command("list")
def list_models(filter: str = typer.Option(None, "--filter", "-f", help="e.g. \"name LIKE 'churn%'\"")) -> None:
    """Registered models, with their latest version and aliases."""
    with _client() as client:
        models = client.models.list(filter)
    table = Table("name", "latest", "aliases", "tags", "updated")
    for model in models:
        aliases = ", ".join(f"{a}→{v}" for a, v in sorted(model.aliases.items()))
        tags = ", ".join(f"{k}={v}" for k, v in model.tags.items())
        table.add_row(model.name, str(model.latest_version or "-"), aliases, tags, _when(model.updated_at))
    console.print(table)


@app.command("show")
def show(
    ref: str = typer.Argument(..., help="NAME, NAME/VERSION or NAME@ALIAS"),
    as_of: str = typer.Option(None, "--as-of", help="With NAME@ALIAS: the version the alias named then "
                              "(ISO 8601, e.g. 2026-03-01T12:00+01:00; UTC unless an offset is given)."),
) -> None:
    """A model, or one version of it (with its files)."""
    moment = _as_of(as_of, ref)
    with _client() as client:
        if "@" in ref or "/" in ref:
            if moment is not None:
                name, _, alias = ref.partition("@")
                version = client.models.get_by_alias(name, alias, as_of=moment)
            else:
                version = client.models.resolve(f"models:/{ref}").version
            assert version is not None
            table = Table("field", "value", show_header=False)
            for field in ("model_name", "version", "status", "source", "source_run_id", "artifact_digest",
                          "flavor", "created_by", "description"):
                table.add_row(field, str(getattr(version, field)))
            table.add_row("aliases", ", ".join(version.aliases))
            table.add_row("metrics", json.dumps(version.metrics))
            table.add_row("requirements", "\n".join(version.requirements))
            table.add_row("files", "\n".join(f"{f.path}  {f.size} B  {f.digest[:12]}" for f in version.files))
            console.print(table)
            return
        model = client.models.get(ref)
    console.print(f"[bold]{model.name}[/bold]  latest version {model.latest_version or '-'}")
    if model.description:
        console.print(model.description)
    for alias, version in sorted(model.aliases.items()):
        console.print(f"  @{alias} → {version}")


@app.command("register")
def register(
    name: str = typer.Argument(...),
    run_id: str = typer.Option(None, "--run-id", help="Register files a run logged."),
    artifact_path: str = typer.Option("model", "--artifact-path", help="Folder or file in the run."),
    path: Path = typer.Option(None, "--path", help="A local file or folder to upload and register."),
    description: str = typer.Option(None, "--description", "-d", help="What the model is for."),
) -> None:
    """A new version, from a run's artifacts or from local files."""
    if (run_id is None) == (path is None):
        raise InvalidInput("give exactly one of --run-id or --path")
    with _client() as client:
        version = client.models.register(
            name, run_id=run_id, artifact_path=artifact_path, local_path=path, description=description
        )
    console.print(f"registered {version.model_name} version {version.version} ({version.artifact_digest[:12]})")


@app.command("versions")
def versions(name: str, filter: str = typer.Option(None, "--filter", "-f", help="e.g. \"tags.stage = 'prod'\"")) -> None:
    """A model's versions, newest first."""
    with _client() as client:
        found = client.models.versions(name, filter=filter)
    table = Table("version", "status", "aliases", "flavor", "source", "created", "by")
    for v in found:
        table.add_row(str(v.version), v.status, ", ".join(v.aliases), v.flavor or "", v.source,
                      _when(v.created_at), v.created_by or "")
    console.print(table)


def _as_of(value: str | None, ref: str):  # type: ignore[no-untyped-def]
    if value is None:
        return None
    if "@" not in ref:
        raise InvalidInput("--as-of needs NAME@ALIAS: it asks which version an alias named at that time")
    from modelward.cli.audit import parse_time

    return parse_time(value, "--as-of")


@app.command("rename")
def rename(name: str, new_name: str, reason: str = typer.Option(None, "--reason", "-r",
                                                                 help="Required for a governed model.")) -> None:
    """Rename a model; its policy, versions, aliases and history go with it."""
    with _client() as client:
        client.models.update(name, new_name=new_name, reason=reason)
    console.print(f"renamed {name} → {new_name}", highlight=False)


def _name_and_version(ref: str) -> tuple[str, int | None]:
    name, _, version = ref.partition("/")
    if version and not version.isdigit():
        raise InvalidInput(f"'{ref}' is not NAME or NAME/VERSION (a version is a number)")
    return name, int(version) if version else None


@app.command("tag")
def tag(ref: str = typer.Argument(..., help="NAME or NAME/VERSION"),
        pairs: list[str] = typer.Argument(..., help="KEY=VALUE ...")) -> None:
    """Set tags on a model or a version (audited; risk_tier needs an approver)."""
    tags = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"tag '{pair}' must look like KEY=VALUE")
        tags[key] = value
    name, version = _name_and_version(ref)
    with _client() as client:
        if version is not None:
            client.models.update_version(name, version, tags=tags)
        else:
            client.models.update(name, tags=tags)
    console.print(f"tagged {ref}: " + ", ".join(f"{k}={v}" for k, v in tags.items()), highlight=False)


@app.command("untag")
def untag(ref: str = typer.Argument(..., help="NAME or NAME/VERSION"), key: str = typer.Argument(...)) -> None:
    """Remove a tag of a model or a version (audited)."""
    name, version = _name_and_version(ref)
    with _client() as client:
        client.models.delete_tag(name, key, version=version)
    console.print(f"removed tag {key} of {ref}", highlight=False)


@app.command("archive")
def archive(name: str, version: int, reason: str = typer.Option(None, "--reason", "-r", help="Kept in the audit trail.")) -> None:
    """Hide VERSION from listings (refused while it is in review, approved or released)."""
    with _client() as client:
        client.models.archive(name, version, reason=reason)
    console.print(f"{name}/{version} archived")


@app.command("delete")
def delete(
    name: str,
    version: int = typer.Argument(None, help="Only this version; without it, the model and all its versions."),
    reason: str = typer.Option(None, "--reason", "-r", help="Kept in the audit trail."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a version, or a whole registered model (the audit trail keeps what was deleted)."""
    what = f"version {version} of model '{name}'" if version is not None else f"model '{name}' and all its versions"
    if not yes:
        typer.confirm(f"Permanently delete {what}?", abort=True)
    with _client() as client:
        if version is None:
            client.models.delete(name, reason=reason)
        else:
            client.models.delete_version(name, version, reason=reason)
    console.print(f"deleted {what}", highlight=False)


@alias_app.command("set")
def alias_set(name: str, alias: str, version: int,
              reason: str = typer.Option(None, "--reason", "-r", help="Kept in the audit trail.")) -> None:
    """Point ALIAS at VERSION (the move is kept in the alias history)."""
    with _client() as client:
        client.models.set_alias(name, alias, version, reason=reason)
    console.print(f"{name}@{alias} → {version}")


@alias_app.command("delete")
def alias_delete(name: str, alias: str,
                 reason: str = typer.Option(None, "--reason", "-r", help="Kept in the audit trail.")) -> None:
    """Remove ALIAS (its history stays)."""
    with _client() as client:
        client.models.delete_alias(name, alias, reason=reason)
    console.print(f"deleted {name}@{alias}")


@alias_app.command("history")
def alias_history(name: str, alias: str = typer.Argument(None)) -> None:
    """Every move of the model's aliases, oldest first."""
    with _client() as client:
        events = client.models.alias_history(name, alias)
    table = Table("at", "alias", "version", "actor", "reason")
    for e in events:
        table.add_row(_when(e.at), e.alias, str(e.version) if e.version is not None else "(deleted)",
                      e.actor or "", e.reason or "")
    console.print(table)


@app.command("compare")
def compare(name: str, versions: list[int] = typer.Argument(..., help="two or more version numbers")) -> None:
    """Versions side by side: metrics, params, digests, signature, requirements."""
    with _client() as client:
        result = client.models.compare(name, versions)
    frame = result.to_frame()
    table = Table("", *frame.columns)
    for label, row in frame.iterrows():
        marker = "*" if label in result.differences or str(label).split(".")[0] in result.differences else ""
        table.add_row(f"{marker}{label}", *(json.dumps(v, default=str) if not isinstance(v, str) else v for v in row))
    console.print(table)
    console.print("* differs")


@app.command("download")
def download(name: str, version: int, dest: Path = typer.Argument(Path("."))) -> None:
    """The version's files into DEST, each verified against its digest."""
    with _client() as client:
        out = client.models.download(name, version, dest)
    console.print(f"downloaded {name} version {version} to {out}")

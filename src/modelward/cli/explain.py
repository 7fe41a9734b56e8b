"""``modelward explain``: global explanations of a version (computed and stored on the server),
local ones of a row, and of a logged prediction by its request id. Light at import: the client
and rich tables load when a command runs."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.markup import escape

from modelward.cli.fairness import fairness
from modelward.cli.output import console
from modelward.errors import InvalidInput

app = typer.Typer(help="Explain model versions: global importance, local attributions, counterfactuals, "
                       "fairness across groups.", no_args_is_help=True)
app.command("fairness")(fairness)


def _print_json(document: dict[str, Any]) -> None:
    print(json.dumps(document, indent=2, default=str))


def _global_tables(document: dict[str, Any], top: int) -> None:
    from rich.table import Table

    console.print(f"[bold]{escape(document['model'])} v{document['version']}[/bold] global explanation, "
                  f"revision {document.get('revision')}, {document['rows']} rows of "
                  f"{escape(document['dataset']['path'])} ({document['dataset'].get('digest') or 'no digest'}), "
                  f"seed {document['parameters']['seed']}", highlight=False)
    table = Table(title=f"permutation importance ({escape(document['scoring'])} drop)")
    table.add_column("feature")
    table.add_column("mean", justify="right")
    table.add_column("std", justify="right")
    for item in document["permutation_importance"][:top]:
        table.add_row(escape(item["feature"]), f"{item['importance_mean']:.4f}", f"{item['importance_std']:.4f}")
    console.print(table)
    shap = document.get("shap")
    if shap:
        values = Table(title=f"mean |SHAP| ({escape(shap['method'])}, {escape(shap['output'])})")
        values.add_column("feature")
        values.add_column("mean |SHAP|", justify="right")
        for item in shap["mean_abs"][:top]:
            values.add_row(escape(item["feature"]), f"{item['value']:.4f}")
        console.print(values)
    else:
        console.print("SHAP: not computed (install the 'explain' extra)", highlight=False)


def _local_tables(document: dict[str, Any], top: int) -> None:
    from rich.table import Table

    console.print(f"[bold]{escape(document['model'])} v{document['version']}[/bold]: {escape(document['method'])}, "
                  f"output {escape(document['output'])}, base value {document['base_value']:.4f}", highlight=False)
    if document.get("request_id"):
        deployment = document.get("deployment") or {}
        state = (f"revision {deployment['revision']} ({deployment['action']}, {deployment['status']})"
                 if "revision" in deployment else deployment.get("note", "unknown"))
        console.print(escape(f"request {document['request_id']} at {document['answered_at']} on "
                             f"{deployment.get('endpoint')}: deployment {state}"), highlight=False)
    for index, row in enumerate(document["rows"]):
        table = Table(title=f"row {index}: prediction {row['prediction']:.4f} "
                            f"(additivity error {row['additivity_error']:.2g})")
        table.add_column("feature")
        table.add_column("value", justify="right")
        table.add_column("attribution", justify="right")
        for item in row["attributions"][:top]:
            table.add_row(escape(item["feature"]), escape(str(item["value"])), f"{item['attribution']:+.4f}")
        console.print(table)
        nearest = ", ".join(f"#{n['index']} ({n['distance']:.3f})" for n in row["nearest"])
        console.print(f"nearest reference rows: {escape(nearest) or 'none'}", highlight=False)
    console.print(f"distance: {escape(document['distance'])}", highlight=False)


@app.command("global")
def global_(
    model: str = typer.Argument(..., help="A registered model."),
    version: int = typer.Argument(..., min=1, help="Its version."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seeds the permutations and the SHAP sample."),
    top: int = typer.Option(10, "--top", min=1, max=50, help="How many features get partial dependence."),
    as_json: bool = typer.Option(False, "--json", help="Print the stored document as JSON."),
) -> None:
    """Compute a global explanation on the policy's evaluation dataset and store it (a new revision)."""
    from modelward.sdk.client import Client

    with Client() as client:
        document = client.explain.global_(model, version, seed=seed, top=top)
    _print_json(document) if as_json else _global_tables(document, top)


@app.command("local")
def local(
    model: str = typer.Argument(..., help="A registered model."),
    version: int = typer.Argument(..., min=1, help="Its version."),
    row: str = typer.Option(..., "--row", help='The input as JSON: {"feature": value, ...} or a list of them.'),
    top: int = typer.Option(10, "--top", min=1, help="How many attributions to show per row."),
    as_json: bool = typer.Option(False, "--json", help="Print the document as JSON."),
) -> None:
    """Attributions of one input (summing to its prediction minus the base value) and its nearest rows."""
    from modelward.sdk.client import Client

    try:
        parsed = json.loads(row)
    except ValueError as exc:
        raise InvalidInput(f"--row is not JSON: {exc}") from None
    with Client() as client:
        document = client.explain.local(model, version, parsed)
    _print_json(document) if as_json else _local_tables(document, top)


@app.command("request")
def request(
    request_id: str = typer.Argument(..., help="The request id of a logged prediction."),
    top: int = typer.Option(10, "--top", min=1, help="How many attributions to show per row."),
    as_json: bool = typer.Option(False, "--json", help="Print the document as JSON."),
) -> None:
    """Explain a logged prediction: its inputs, the version that answered and its deployment state then."""
    from modelward.sdk.client import Client

    with Client() as client:
        document = client.explain.for_request(request_id)
    _print_json(document) if as_json else _local_tables(document, top)


def _json_option(text: str | None, name: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"{name} is not JSON: {exc}") from None


def _counterfactual_table(document: dict[str, Any]) -> None:
    from rich.table import Table

    console.print(f"[bold]{escape(document['model'])}[/] v{document['version']}: answered "
                  f"{escape(str(document.get('original_prediction')))}; counterfactuals with the changes that alter it")
    table = Table("#", "changes (old -> new)", "distance", "features changed", "answer")
    for index, found in enumerate(document.get("counterfactuals", []), start=1):
        changes = ", ".join(f"{escape(str(c['feature']))}: {c['old']:.4g} -> {c['new']:.4g}"
                            if isinstance(c.get("old"), (int, float)) and isinstance(c.get("new"), (int, float))
                            else f"{escape(str(c['feature']))}: {escape(str(c.get('old')))} -> {escape(str(c.get('new')))}"
                            for c in found.get("changes", []))
        table.add_row(str(index), changes, f"{found.get('distance', 0):.3f}", str(found.get("sparsity")),
                      escape(str(found.get("prediction"))))
    console.print(table)


@app.command("counterfactual")
def counterfactual(
    model: str = typer.Argument(None, help="A registered model (or give --request)."),
    version: int = typer.Argument(None, min=1, help="Its version."),
    row: str = typer.Option(None, "--row", help='The input as JSON: {"feature": value, ...}.'),
    request_id: str = typer.Option(None, "--request", help="A logged prediction's request id instead of a row."),
    constraints: str = typer.Option(None, "--constraints", help='JSON: {"immutable": ["age"], "ranges": {...}, ...}.'),
    target: str = typer.Option(None, "--target", help='JSON: a class, or {"threshold": 0.5, "direction": "above"}.'),
    count: int = typer.Option(3, "--count", min=1, max=10, help="How many counterfactuals."),
    as_json: bool = typer.Option(False, "--json", help="Print the document as JSON."),
) -> None:
    """The smallest changes to actionable features that change the answer, each checked by the model."""
    from modelward.sdk.client import Client

    options = {"constraints": _json_option(constraints, "--constraints"), "target": _json_option(target, "--target"),
               "count": count}
    with Client() as client:
        if request_id is not None:
            document = client.explain.counterfactuals_for_request(request_id, **options)
        elif model is not None and version is not None and row is not None:
            document = client.explain.counterfactuals(model, version, _json_option(row, "--row"), **options)
        else:
            raise InvalidInput("give MODEL VERSION --row JSON, or --request REQUEST_ID")
    _print_json(document) if as_json else _counterfactual_table(document)


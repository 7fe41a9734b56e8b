"""``modelward explain fairness MODEL VERSION --feature sex --feature "sex & age_band"``: per-group
fairness of a version on the policy's evaluation dataset, a table per feature or intersection.
Light at import: the client and rich tables load when the command runs."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.markup import escape

from modelward.cli.output import console
from modelward.errors import InvalidInput


def _feature(text: str) -> str | list[str]:
    """``sex``, or an intersection written ``sex & age_band`` or ``sex,age_band``."""
    if "," in text:
        return [part.strip() for part in text.split(",")]
    return text


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def _interval(interval: Any) -> str:
    return "" if not interval else f" [{interval[0]:.3f}, {interval[1]:.3f}]"


def show_fairness(document: dict[str, Any]) -> None:
    from rich import box
    from rich.table import Table

    parameters = document["parameters"]
    console.print(f"[bold]{escape(document['model'])} v{document['version']}[/bold]: {document['rows']} rows of "
                  f"{escape(document['dataset']['path'])}, positive label {escape(str(document['positive_label']))}; "
                  f"{parameters['confidence']:.0%} intervals from {parameters['bootstrap']} bootstrap resamples "
                  f"(stratified by group), seed {parameters['seed']}", highlight=False)
    for name, report in document["fairness"].items():
        table = Table(escape(name), "count", "selection rate", "accuracy", "TPR", "FPR", "small",
                      title=escape(name), box=box.SIMPLE_HEAD)
        for group, values in report["by_group"].items():
            intervals = values.get("intervals") or {}
            table.add_row(escape(group), str(values["count"]),
                          _number(values["selection_rate"]) + _interval(intervals.get("selection_rate")),
                          _number(values["accuracy"]), _number(values["true_positive_rate"]),
                          _number(values["false_positive_rate"]),
                          f"yes (< {parameters['min_group_size']})" if values.get("small") else "")
        console.print(table)
        intervals = report.get("intervals") or {}
        extremes = (report.get("worst_groups") or {}).get("selection_rate") or {}
        console.print(escape(
            f"{name}: demographic parity difference {_number(report['demographic_parity_difference'])}"
            f"{_interval(intervals.get('demographic_parity_difference'))}, ratio "
            f"{_number(report['demographic_parity_ratio'])}; equalized odds difference "
            f"{_number(report['equalized_odds_difference'])}{_interval(intervals.get('equalized_odds_difference'))}"
            f"; lowest selection rate in {extremes.get('lowest')!r}, highest in {extremes.get('highest')!r}"),
            highlight=False)


def fairness(
    model: str = typer.Argument(..., help="A registered model."),
    version: int = typer.Argument(..., min=1, help="Its version."),
    feature: list[str] = typer.Option(..., "--feature", help='A sensitive column (repeatable); an intersection: '
                                      '"sex & age_band" or sex,age_band.'),
    dataset_run: str = typer.Option(None, "--dataset-run", help="Another dataset: its run id (with --dataset-path)."),
    dataset_path: str = typer.Option(None, "--dataset-path", help="Another dataset: its Parquet or CSV artifact path."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seeds the bootstrap."),
    bootstrap: int = typer.Option(200, "--bootstrap", min=0, max=5000, help="Bootstrap resamples for the intervals."),
    min_group_size: int = typer.Option(30, "--min-group-size", min=1, help="Groups with fewer rows are flagged small."),
    as_json: bool = typer.Option(False, "--json", help="Print the document as JSON."),
) -> None:
    """Fairness across groups: per group counts, selection rate with its interval, accuracy and error
    rates, small groups flagged; demographic parity and equalized odds, on the policy's evaluation data."""
    from modelward.sdk.client import Client

    if (dataset_run is None) != (dataset_path is None):
        raise InvalidInput("give both --dataset-run and --dataset-path, or neither (the policy's evaluation dataset)")
    dataset = {"run_id": dataset_run, "path": dataset_path} if dataset_run is not None else None
    with Client() as client:
        document = client.fairness.for_version(model, version, [_feature(f) for f in feature], dataset=dataset,
                                               seed=seed, bootstrap=bootstrap, min_group_size=min_group_size)
    if as_json:
        print(json.dumps(document, indent=2, default=str))
    else:
        show_fairness(document)

"""``modelward lineage``: walk the graph (up, down, path), and answer the usual lineage questions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from modelward.cli.output import console
from modelward.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from modelward.domain.datasets import Dataset
    from modelward.domain.lineage import LineageGraph, Origin
    from modelward.sdk.client import Client

app = typer.Typer(help="Lineage: what produced a model, what a dataset feeds, datasets and evaluations.",
                  no_args_is_help=True)

FORMATS = ("tree", "json", "dot", "mermaid")
DepthOpt = typer.Option(None, "--depth", "-d", help="How many edges to follow.")
FormatOpt = typer.Option("tree", "--format", "-f", help="tree, json, dot (Graphviz) or mermaid.")
OutputOpt = typer.Option(None, "--output", "-o", help="Write to this file instead of the terminal.")
SnapshotOutputOpt = typer.Option(..., "--output", "-o", help="File to write.")
NameOpt = typer.Option(None, "--name", help="Which output dataset of a run.")


def _emit(graph: LineageGraph, format: str, output: Path | None) -> None:
    from modelward.domain.lineage import EXPORTERS, tree_lines
    if format not in FORMATS:
        raise InvalidInput(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    if format == "tree":
        text = "\n".join(tree_lines(graph)) + "\n" if graph.nodes else "no lineage path\n"
    else:
        text = EXPORTERS[format](graph)
    if output is not None:
        output.write_text(text)
        console.print(f"wrote {len(graph.nodes)} nodes to {output}", highlight=False)
    else:
        console.out(text, end="", highlight=False)


@app.command("up")
def up(ref: str, depth: int = DepthOpt, format: str = FormatOpt, output: Path = OutputOpt) -> None:
    """What produced REF (run:ID, artifact:ID, dataset:ID, execution:ID): steps, params, input data."""
    from modelward.sdk.client import Client
    with Client() as client:
        _emit(client.lineage.upstream(ref, depth=depth), format, output)


@app.command("down")
def down(ref: str, depth: int = DepthOpt, format: str = FormatOpt, output: Path = OutputOpt) -> None:
    """What depends on REF: the runs, models and evaluations a change to it affects."""
    from modelward.sdk.client import Client
    with Client() as client:
        _emit(client.lineage.downstream(ref, depth=depth), format, output)


@app.command("path")
def path(source: str, target: str, depth: int = DepthOpt, format: str = FormatOpt, output: Path = OutputOpt) -> None:
    """Every node on a path between SOURCE and TARGET."""
    from modelward.sdk.client import Client
    with Client() as client:
        _emit(client.lineage.path(source, target, depth=depth), format, output)


def _origin(client: Client, model_ref: str) -> Origin:
    found = client.lineage.origin(model_ref)
    if not found.runs:
        raise NotFound(f"no run produced '{model_ref}' (its lineage reaches no tracking run)")
    return found


@app.command("params")
def params(model_ref: str, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The exact hyperparameters of the run(s) that trained MODEL_REF (models:/NAME/V, NAME@ALIAS, artifact:ID)."""
    from modelward.sdk.client import Client
    with Client() as client:
        runs = _origin(client, model_ref).runs
    if as_json:
        console.out(json.dumps({r.run_id: r.params for r in runs}, indent=2, sort_keys=True), highlight=False)
        return
    for run in runs:
        console.print(f"run {run.run_id} ({run.name})", highlight=False)  # a title would wrap at the table's width
        table = Table()
        table.add_column("param")
        table.add_column("value")
        for key, value in sorted(run.params.items()):
            table.add_row(key, value)
        console.print(table)


@app.command("datasets")
def datasets(model_ref: str, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The datasets upstream of MODEL_REF: what its training run(s) read, and further back."""
    from modelward.sdk.client import Client
    with Client() as client:
        found = _origin(client, model_ref).datasets
    if as_json:
        console.out(json.dumps([d.model_dump(mode="json") for d in found], indent=2), highlight=False)
        return
    if not found:
        console.print("no datasets")
    for item in found:
        rows = f"  rows={item.rows}" if item.rows is not None else ""
        console.print(f"{item.role}  {item.kind} {item.name}  {item.digest or item.uri or ''}{rows}  [{item.key}]",
                      highlight=False)


@app.command("code")
def code(model_ref: str, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The code version (git commit, branch, remote, command) of the run(s) that trained MODEL_REF."""
    from modelward.sdk.client import Client
    with Client() as client:
        runs = _origin(client, model_ref).runs
    if as_json:
        console.out(json.dumps({r.run_id: r.code for r in runs}, indent=2, sort_keys=True), highlight=False)
        return
    for run in runs:
        git = run.code
        dirty = " (uncommitted changes)" if git.get("dirty") else ""
        console.print(f"run {run.run_id} ({run.name}): commit {git.get('commit') or 'unknown'}{dirty}"
                      f"  branch {git.get('branch') or '-'}  remote {git.get('remote') or '-'}", highlight=False)
        if git.get("command"):
            console.print("  command: " + " ".join(str(part) for part in git["command"]), highlight=False)


@app.command("evaluations")
def evaluations(model_ref: str, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every evaluation recorded on MODEL_REF."""
    from modelward.sdk.client import Client
    with Client() as client:
        found = client.lineage.evaluations(model_ref)
    if as_json:
        console.out(json.dumps([a.model_dump(mode="json") for a in found], indent=2), highlight=False)
        return
    if not found:
        console.print("no evaluations")
    for artifact in found:
        metrics = artifact.properties.get("metrics") or {}
        shown = ", ".join(f"{k}={v}" for k, v in sorted(metrics.items()))
        console.print(f"{artifact.id}  {artifact.name}  {shown}", highlight=False)


def _dataset_for(client: Client, ref: str, name: str | None) -> Dataset:
    """A dataset by id, or the (named) output dataset with a snapshot of a run: a transformation step."""
    from modelward.domain.lineage import parse_ref
    prefix, value = parse_ref(ref)
    if prefix in ("artifact", ""):
        try:
            return client.datasets.get(value)
        except NotFound:
            if prefix:
                raise
    outputs = [d for d in client.datasets.of_run(value, "output") if d.snapshot and (name is None or d.name == name)]
    if not outputs:
        raise NotFound(f"'{ref}' is neither a dataset nor a run with a stored output snapshot")
    if len(outputs) > 1:
        names = ", ".join(d.name for d in outputs)
        raise InvalidInput(f"run '{value}' has several output snapshots ({names}): pick one with --name")
    return outputs[0]


@app.command("snapshot")
def snapshot(
    ref: str, output: Path = SnapshotOutputOpt, name: str = NameOpt,
) -> None:
    """Download the stored data snapshot of a dataset, or of a run's (transformation step's) output."""
    from modelward.sdk.client import Client
    with Client() as client:
        dataset = _dataset_for(client, ref, name)
        data = client.datasets.snapshot_bytes(dataset)
    output.write_bytes(data)
    console.print(f"wrote {dataset.name} ({len(data)} bytes, {dataset.snapshot.format}) to {output}", highlight=False)  # type: ignore[union-attr]


def _bar(count: float, most: float, width: int = 30) -> str:
    return "#" * (round(width * count / most) if most else 0)


@app.command("dataset")
def dataset(ref: str, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """A dataset's digest, schema, statistics and feature distributions."""
    from modelward.domain.lineage import parse_ref
    from modelward.sdk.client import Client
    with Client() as client:
        found = client.datasets.get(parse_ref(ref)[1])
    if as_json:
        console.out(found.model_dump_json(indent=2, by_alias=True), highlight=False)
        return
    console.print(f"{found.kind.value} {found.name} ({found.id})\ndigest: {found.digest}  uri: {found.uri}", highlight=False)
    stats = found.statistics.columns if found.statistics else {}
    table = Table(title=f"rows: {found.statistics.row_count if found.statistics else '?'}")
    for column in ("column", "type", "nullable", "missing", "mean", "std", "min", "max", "top"):
        table.add_column(column)
    for column in found.data_schema.columns if found.data_schema else []:
        s = stats.get(column.name)
        top = ", ".join(f"{t['value']}({t['count']})" for t in (s.top[:3] if s else []))
        table.add_row(column.name, column.type, str(column.nullable), *(
            "" if s is None or getattr(s, f) is None else f"{getattr(s, f):.4g}" if isinstance(getattr(s, f), float)
            else str(getattr(s, f)) for f in ("missing", "mean", "std", "min", "max")), top)
    console.print(table)
    for column, s in stats.items():
        if s.histogram:
            counts, edges = s.histogram["counts"], s.histogram["edges"]
            console.print(f"{column}:", highlight=False)
            for low, count in zip(edges, counts, strict=False):
                console.print(f"  {low:>12.4g} | {_bar(count, max(counts))} {int(count)}", highlight=False)


@app.command("impact")
def impact(ref: str, depth: int = DepthOpt) -> None:
    """What a change to REF (usually a dataset) affects downstream, grouped by kind."""
    from modelward.sdk.client import Client
    with Client() as client:
        groups = client.lineage.impact(ref, depth=depth)
    if not groups:
        console.print("nothing depends on it")
    for kind, nodes in sorted(groups.items()):
        console.print(f"{kind} ({len(nodes)}):", highlight=False)
        for node in nodes:
            console.print(f"  {node.name}  [{node.key}]", highlight=False)

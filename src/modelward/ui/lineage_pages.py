"""HTML page for lineage: the graph upstream and downstream of any node, laid out in layers.

The layout is computed here (a column per distance from the chosen node, data flowing left to
right) and drawn with plotly in the browser, which gives pan and zoom; clicking a node opens
the same page centred on it. A table lists the same nodes for keyboard and screen-reader use.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from modelward.api.decoding import JsonRoute
from modelward.api.deps import READ, BackendDep
from modelward.domain.datasets import DATASET_KINDS
from modelward.domain.lineage import GraphNode, LineageGraph, NodeKind
from modelward.errors import InvalidInput, NotFound
from modelward.services import lineage, lineage_search
from modelward.ui.dataset_pages import dataset_url
from modelward.ui.registry_pages import version_url
from modelward.ui.rendering import render

router = APIRouter(route_class=JsonRoute, prefix="/ui", include_in_schema=False)
DIRECTIONS = ("both", "upstream", "downstream")
DATASET_TYPES = frozenset(kind.value for kind in DATASET_KINDS)
DEFAULT_DEPTH = 6
COLORS = {"execution": "#1f5fbf", "model": "#1e7b34", "evaluation": "#8a5a00", "dataset": "#7b3fa0",
          "data_split": "#7b3fa0", "raw_source": "#5f6b7a", "features": "#7b3fa0"}


def lineage_url(ref: str, direction: str = "both", depth: int = DEFAULT_DEPTH) -> str:
    return "/ui/lineage?" + urlencode({"ref": ref, "direction": direction, "depth": depth})


def node_links(node: GraphNode) -> dict[str, str]:
    """Pages elsewhere in the UI that this node stands for (its run, its model version)."""
    links: dict[str, str] = {}
    if node.kind is NodeKind.ARTIFACT and node.type in DATASET_TYPES:
        links["dataset"] = dataset_url(node.id)
    if node.run_id:
        links["run"] = f"/ui/runs/{node.run_id}"
    uri = node.uri or ""
    if uri.startswith("models:/"):
        name, _, number = uri.removeprefix("models:/").rpartition("/")
        if name and number.isdigit():
            links["model version"] = version_url(name, int(number))
    elif uri.startswith("runs:/"):
        links["run"] = f"/ui/runs/{uri.removeprefix('runs:/').split('/', 1)[0]}"
    return links


def layered(graphs: list[tuple[LineageGraph, int]]) -> tuple[dict[str, GraphNode], dict[str, int], list[Any]]:
    """Nodes, their column (negative upstream, positive downstream) and the edges of the union."""
    nodes: dict[str, GraphNode] = {}
    column: dict[str, int] = {}
    edges: dict[tuple[str, str], Any] = {}
    for graph, sign in graphs:
        for node in graph.nodes:
            nodes.setdefault(node.key, node)
            column.setdefault(node.key, sign * node.depth)
        for edge in graph.edges:
            edges[(edge.source, edge.target)] = edge
    return nodes, column, list(edges.values())


def chart_data(root: str, nodes: dict[str, GraphNode], column: dict[str, int], edges: list[Any],
               direction: str, depth: int) -> dict[str, Any]:
    """Positions, labels, colours and click targets for plotly (drawn by app.js)."""
    by_column: dict[int, list[str]] = {}
    for key in sorted(nodes, key=lambda k: (column[k], nodes[k].kind.value, nodes[k].type, nodes[k].name)):
        by_column.setdefault(column[key], []).append(key)
    position: dict[str, tuple[float, float]] = {}
    for x, keys in by_column.items():
        for index, key in enumerate(keys):
            position[key] = (float(x), (len(keys) - 1) / 2 - index)
    points = []
    for key, (x, y) in position.items():
        node = nodes[key]
        points.append({
            "key": key, "x": x, "y": y, "name": _short(node.name), "type": node.type,
            "kind": node.kind.value, "root": key == root, "color": COLORS.get(node.type, "#59667a"),
            "href": lineage_url(key, direction, depth),
            "hover": f"{node.kind.value} · {node.type}<br>{node.name}",
        })
    lines = [{"from": position[e.source], "to": position[e.target]}
             for e in edges if e.source in position and e.target in position]
    return {"nodes": points, "edges": lines}


def _short(name: str, limit: int = 28) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


@router.get("/lineage", response_class=HTMLResponse, dependencies=[READ])
def lineage_page(request: Request, backend: BackendDep, ref: str = "", direction: str = "both",
                 depth: int = DEFAULT_DEPTH, q: str = "") -> HTMLResponse:
    context: dict[str, Any] = {"section": "lineage", "ref": ref.strip(), "direction": direction, "depth": depth,
                               "directions": DIRECTIONS, "error": None, "graph": None, "q": q.strip(),
                               "matches": None}
    if context["q"]:
        try:
            context["matches"] = [{**m, "href": lineage_url(m["ref"], direction, depth)}
                                  for m in lineage_search.find(backend, context["q"])]
        except InvalidInput as exc:
            context["error"] = str(exc)
    if not context["ref"]:
        return render(request, "lineage.html", **context)
    try:
        if direction not in DIRECTIONS:
            raise InvalidInput(f"direction '{direction}' is not one of {', '.join(DIRECTIONS)}")
        graphs = []
        if direction in ("both", "upstream"):
            graphs.append((lineage.upstream(backend, context["ref"], max_depth=depth), -1))
        if direction in ("both", "downstream"):
            graphs.append((lineage.downstream(backend, context["ref"], max_depth=depth), 1))
    except (InvalidInput, NotFound) as exc:
        context["error"] = str(exc)
        return render(request, "lineage.html", status_code=404 if isinstance(exc, NotFound) else 400, **context)
    root = graphs[0][0].root
    nodes, column, edges = layered(graphs)
    ordered = sorted(nodes.values(), key=lambda n: (column[n.key], n.kind.value, n.name))
    context["graph"] = chart_data(root, nodes, column, edges, direction, depth)
    return render(
        request, "lineage.html", **context, root=nodes[root], root_links=node_links(nodes[root]),
        rows=[{"node": n, "column": column[n.key], "href": lineage_url(n.key, direction, depth),
               "links": node_links(n)} for n in ordered],
        is_execution=nodes[root].kind is NodeKind.EXECUTION,
    )

"""Layers import downward only: domain <- store <- services <- interfaces."""

from __future__ import annotations

import ast
from pathlib import Path

import modelward

PACKAGE = Path(modelward.__file__).parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def _modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def _offenders(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in _modules(layer)
        for name in _imports(path)
        if name.startswith(forbidden)
    ]


def test_domain_has_no_io_or_frameworks() -> None:
    assert _offenders("domain", ("sqlalchemy", "fastapi", "fsspec", "httpx", "modelward.store",
                                 "modelward.services", "modelward.api", "modelward.sdk", "modelward.cli")) == []


def test_only_the_store_imports_sqlalchemy() -> None:
    for layer in ("services", "api", "sdk", "cli"):
        assert _offenders(layer, ("sqlalchemy",)) == [], layer


def test_store_does_not_reach_up() -> None:
    assert _offenders("store", ("modelward.services", "modelward.api", "modelward.sdk", "modelward.cli")) == []


def test_services_do_not_reach_up() -> None:
    assert _offenders("services", ("modelward.api", "modelward.sdk", "modelward.cli", "fastapi")) == []


def test_public_surface_is_sorted_and_complete() -> None:
    assert modelward.__all__ == sorted(modelward.__all__)
    assert set(modelward.__all__) == {*modelward._LAZY, "__version__"}  # every lazy name is public
    for name in modelward.__all__:
        assert hasattr(modelward, name), name


# -- the whole package: every subpackage has a layer, and imports never go round in a circle ----------

# Lowest first. A unit may import its own layer and the layers below it, never one above; units of
# one layer must still not import each other in a circle (checked below, lazy imports included).
LAYERS: list[tuple[str, ...]] = [
    ("version", "errors"),
    ("domain", "formatting", "tables", "settings", "artifacts"),
    ("formats",),      # model formats and cards: saved-model folders, signatures, card documents
    ("evaluation",),   # metrics, gates, fairness, the sandbox: computed on models that formats load
    ("store",),
    ("services",),
    ("api",),          # the server: REST, MLflow API and the web UI (ui/ is folded into it, see UNIT_OF)
    ("sdk",),          # embedded, the SDK builds the server in-process
    ("models", "cli", "demo", "demo_governance", "demo_release", "demo_monitoring", "__init__", "__main__"),  # public faces and commands
]
# The web UI's pages are routes of the same app (api/app.py mounts them, they use the api's
# dependencies), so the server is one unit.
UNIT_OF = {"ui": "api"}
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def _unit_of_file(path: Path) -> str:
    first = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    return UNIT_OF.get(first, first)


def _unit_of_module(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] != "modelward":
        return None
    first = parts[1] if len(parts) > 1 else "__init__"
    return UNIT_OF.get(first, first)


def _is_submodule(name: str) -> bool:
    return (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file()


def _modelward_imports(path: Path) -> set[str]:
    """Every module of ours the file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "modelward":
            # from modelward import errors -> modelward.errors; a public name -> modelward itself
            found.update(f"modelward.{alias.name}" if _is_submodule(alias.name) else "modelward"
                         for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name.split(".")[0] == "modelward"}


def _unit_graph() -> dict[str, dict[str, list[str]]]:
    """unit -> {imported unit: [files making that import]}."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _unit_of_file(path)
        edges = graph.setdefault(source, {})
        for name in _modelward_imports(path):
            target = _unit_of_module(name)
            if target is not None and target != source and not (name == "modelward" and source == "__init__"):
                edges.setdefault(target, []).append(f"{path.relative_to(PACKAGE)} imports {name}")
    return graph


def _cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Every elementary circle found by a depth-first walk from each unit (the graph is small)."""
    found: list[list[str]] = []

    def walk(path: list[str]) -> None:
        for target in sorted(graph.get(path[-1], {})):
            if target == path[0]:
                found.append([*path, target])
            elif target not in path and target > path[0]:  # each circle once, from its smallest unit
                walk([*path, target])

    for start in sorted(graph):
        walk([start])
    return found


def test_every_unit_of_the_package_has_a_layer() -> None:
    assert sorted(set(_unit_graph()) - set(RANK)) == []


def test_no_unit_imports_a_layer_above_its_own() -> None:
    graph = _unit_graph()
    upward = [
        f"{source} (layer {RANK[source]}) -> {target} (layer {RANK[target]}): {files[0]}"
        for source, edges in graph.items()
        for target, files in edges.items()
        if RANK.get(target, -1) > RANK.get(source, -1)
    ]
    assert upward == []


def test_no_import_cycles_between_subpackages_even_through_lazy_imports() -> None:
    graph = _unit_graph()
    described = [
        " -> ".join(circle) + "  (" + "; ".join(graph[a][b][0] for a, b in zip(circle, circle[1:], strict=False)) + ")"
        for circle in _cycles(graph)
    ]
    assert described == []


def test_the_cycle_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    from modelward.sdk.fluent import get_client\n    return get_client()\n")
    assert _modelward_imports(module) == {"modelward.sdk.fluent"}
    assert _cycles({"a": {"b": ["x"]}, "b": {"a": ["y"]}}) == [["a", "b", "a"]]

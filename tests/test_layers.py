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
    for name in modelward.__all__:
        assert hasattr(modelward, name), name

"""The server's start-up imports only what answering needs: an import contract, not a clock.

``modelward server`` must answer its first ``GET /health`` within a second (bench/startup.py
measures it). What keeps it there is a list of libraries that start-up leaves alone, each
loaded where it is first used: the prediction log's pyarrow (and numpy under it), the UI's
jinja2, the webhooks' httpx, the audit signatures' cryptography, plotly (whose plotly.js is
served as a file), yaml (policies, manifests). FastAPI's own OpenAPI models wait for the first
``/openapi.json``, and the routes' analysis for their first use (``DeferredRoute``). A fresh
store loads alembic to migrate; a restart on it does not. Each check builds the app in a fresh
interpreter, since this test process has long imported everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "alembic", "cryptography", "duckdb", "httpx", "jinja2", "markdown_it", "mlflow", "numpy",
    "pandas", "plotly", "pyarrow", "sklearn", "yaml",
)

BUILD_SERVER_APP = """
import gc, json, sys
from modelward.cli.server import _protocol_class, create_server_app
protocol = _protocol_class()
app = create_server_app()
loaded = sorted(name for name in HEAVY if name in sys.modules)
from fastapi.openapi.models import OpenAPI
openapi_deferred = not OpenAPI.__pydantic_complete__
paths = len(app.openapi()["paths"])
print(json.dumps({
    "loaded": loaded,
    "routes": len(app.routes),
    "openapi_deferred": openapi_deferred,
    "openapi_paths": paths,
    "openapi_built": OpenAPI.__pydantic_complete__,
    "protocol": protocol.__name__,
    "h11": "h11" in sys.modules,
    "gc_enabled": gc.isenabled(),
    "frozen": gc.get_freeze_count(),
}))
"""


def _server_start_up(home: Path) -> dict[str, object]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("MODELWARD_")}
    env["MODELWARD_HOME"] = str(home)
    script = f"HEAVY = {HEAVY!r}\n{BUILD_SERVER_APP}"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          cwd=home.parent, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def fresh_start(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    home = tmp_path_factory.mktemp("startup") / "store"
    return home, _server_start_up(home)


@pytest.fixture(scope="module")
def restart(fresh_start: tuple[Path, dict[str, object]]) -> dict[str, object]:
    """A second start on the store the first one made: the start a server makes every day."""
    home, _ = fresh_start
    return _server_start_up(home)


def test_first_start_migrates_a_fresh_store_without_the_heavy_libraries(
    fresh_start: tuple[Path, dict[str, object]],
) -> None:
    home, started = fresh_start
    assert (home / "modelward.db").exists()
    assert started["routes"] > 10  # the whole app was built, not a stub
    assert started["loaded"] == ["alembic"]  # it migrated the new database; nothing else loaded


def test_restart_on_an_existing_store_loads_none_of_them(restart: dict[str, object]) -> None:
    assert restart["loaded"] == []  # alembic too: the schema check is one SELECT


def test_server_app_leaves_the_collector_on_with_start_up_frozen(restart: dict[str, object]) -> None:
    assert restart["gc_enabled"] is True
    assert isinstance(restart["frozen"], int) and restart["frozen"] > 10_000


def test_openapi_models_wait_for_the_first_document(restart: dict[str, object]) -> None:
    assert restart["openapi_deferred"] is True  # FastAPI's OpenAPI models were not built at start
    assert isinstance(restart["openapi_paths"], int) and restart["openapi_paths"] > 50
    assert restart["openapi_built"] is True  # ... and the first document built them


def test_httptools_server_never_imports_h11(restart: dict[str, object]) -> None:
    if restart["protocol"] == "HttpToolsWithDeadline":
        assert restart["h11"] is False
    else:  # without httptools the server speaks h11
        assert restart["protocol"] == "H11WithDeadline"


def _endpoint(run_id: str, limit: int = 10) -> dict[str, int]:
    """Read a run."""
    return {"limit": limit, "length": len(run_id)}


def test_a_deferred_route_reads_as_fastapis_own_once_analysed() -> None:
    from fastapi.routing import APIRoute

    from modelward.api.routing import DeferredRoute

    declared = {"methods": ["post"], "tags": ["runs"], "status_code": 201}
    eager = APIRoute("/api/runs/{run_id}", _endpoint, **declared)
    deferred = DeferredRoute("/api/runs/{run_id}", _endpoint, **declared)
    assert "dependant" not in vars(deferred)  # nothing analysed at declaration
    for name in ("path", "methods", "name", "tags", "status_code", "description", "include_in_schema"):
        assert getattr(deferred, name) == getattr(eager, name), name
    assert [field.name for field in deferred.dependant.query_params] == ["limit"]  # analyses it now
    assert deferred.response_model == eager.response_model == dict[str, int]
    assert deferred.unique_id == eager.unique_id
    assert deferred.path_regex.pattern == eager.path_regex.pattern


def test_a_deferred_route_answers_through_its_router_without_analysing_itself() -> None:
    from fastapi import APIRouter, FastAPI
    from fastapi.testclient import TestClient

    from modelward.api.routing import DeferredRoute

    router = APIRouter(route_class=DeferredRoute)
    router.add_api_route("/api/runs/{run_id}", _endpoint, methods=["GET"])
    app = FastAPI()
    app.include_router(router)
    with TestClient(app) as client:
        answer = client.get("/api/runs/abc", params={"limit": 3})
    assert answer.status_code == 200 and answer.json() == {"limit": 3, "length": 3}
    assert "dependant" not in vars(router.routes[0])  # FastAPI answered through its own analysis

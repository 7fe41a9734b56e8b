"""MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/artifacts/...``) over
``modelward.services.artifacts``, plus ``/api/2.0/mlflow/artifacts/list``.

A run's MLflow ``artifact_uri`` is ``mlflow-artifacts:/<experiment_id>/<run_id>/artifacts``,
so the client uploads (PUT), downloads (GET) and lists (GET ``?path=``) through here.
The part after ``artifacts/`` is a run's logical path: it is taken from the *raw* request
(still percent-encoded), decoded exactly once and confined by ``normalize_logical_path``
inside the service; the bytes go to the content-addressed store, never to a path built
from the request.
"""

from __future__ import annotations

import re
from typing import Any, BinaryIO
from urllib.parse import quote, unquote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from modelward.api.deps import READ, WRITE, ActorDep, BackendDep
from modelward.api.mlflow.errors import MlflowRoute
from modelward.api.mlflow.schemas import MlflowJSON, run_artifact_uri
from modelward.api.schemas import OCTET_STREAM_BODY
from modelward.api.streams import RequestBodyStream, upload_streamed
from modelward.artifacts import normalize_logical_path
from modelward.domain.actors import Actor
from modelward.domain.tracking import ArtifactFile
from modelward.errors import InvalidInput, NotFound
from modelward.services import artifacts, runs
from modelward.services.backend import Backend

router = APIRouter(route_class=MlflowRoute, tags=["mlflow artifacts"])
PROXY_PREFIXES = ("/api/2.0/mlflow-artifacts/artifacts", "/ajax-api/2.0/mlflow-artifacts/artifacts")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _raw_path(request: Request) -> str:
    """The request path as sent, percent-escapes intact."""
    raw = request.scope.get("raw_path")
    if raw:
        return raw.decode("latin-1").partition("?")[0]  # type: ignore[no-any-return]
    return quote(request.scope["path"], safe="/")


def _query_path(request: Request) -> str:
    """The ``path`` query parameter, decoded once (by the query parser) and escaped again
    for the service, whose single decode then yields exactly this decoded string."""
    return quote(request.query_params.get("path") or "", safe="/")


def _split_proxy_path(path: str, *, allow_root: bool) -> tuple[str, str, str]:
    """``<experiment_id>/<run_id>/artifacts[/<logical>]`` -> (experiment, run, raw logical)."""
    parts = path.split("/", 3)
    if len(parts) < 3 or parts[2] != "artifacts" or not all(_ID.match(unquote(p)) for p in parts[:2]):
        raise InvalidInput(f"Invalid artifact path {path!r}: expected '<experiment_id>/<run_id>/artifacts/<path>'.")
    logical = parts[3] if len(parts) == 4 else ""
    if not logical.strip("/") and not allow_root:
        raise InvalidInput(f"Invalid artifact path {path!r}: it names no file.")
    return unquote(parts[0]), unquote(parts[1]), logical


def _proxy_target(request: Request) -> tuple[str, str, str]:
    raw = _raw_path(request)
    for prefix in PROXY_PREFIXES:
        if raw.startswith(prefix + "/"):
            return _split_proxy_path(raw[len(prefix) + 1 :], allow_root=False)
    raise InvalidInput("The artifact URL must spell '/api/2.0/mlflow-artifacts/artifacts/' without escapes.")


def _check_run(backend: Backend, experiment_id: str, run_id: str) -> None:
    run = runs.get(backend, run_id)
    if run.experiment_id != experiment_id:
        raise NotFound(f"Run '{run_id}' is not in experiment '{experiment_id}'.")


async def upload_artifact(request: Request, backend: BackendDep, actor: ActorDep) -> MlflowJSON:
    experiment_id, run_id, logical = _proxy_target(request)
    body = RequestBodyStream(request, request.app.state.settings.max_artifact_bytes)
    await run_in_threadpool(upload_streamed, body, _check_and_upload, backend, experiment_id, run_id, logical, body,
                            actor)
    return MlflowJSON({})


def _check_and_upload(backend: Backend, experiment_id: str, run_id: str, logical: str, body: BinaryIO,
                      actor: Actor) -> None:
    _check_run(backend, experiment_id, run_id)
    artifacts.upload(backend, run_id, logical, body, actor=actor, size_hint=getattr(body, "declared_size", None))


def download_artifact(request: Request, backend: BackendDep) -> StreamingResponse:
    experiment_id, run_id, logical = _proxy_target(request)
    _check_run(backend, experiment_id, run_id)
    info, chunks = artifacts.open_chunks(backend, run_id, logical)
    headers = {"Content-Length": str(info.size), "X-Content-Type-Options": "nosniff",
               "X-Modelward-Digest": info.digest}
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)


def children(files: list[ArtifactFile], directory: str) -> list[dict[str, Any]]:
    """The immediate children of ``directory`` (normalised, '' for the root), by name."""
    base = directory + "/" if directory else ""
    entries: dict[str, dict[str, Any]] = {}
    for file in files:
        head, slash, _ = file.path[len(base) :].partition("/")
        if slash:
            entries.setdefault(head, {"path": head, "is_dir": True})
        else:
            entries[head] = {"path": head, "is_dir": False, "file_size": file.size}
    return [entries[name] for name in sorted(entries)]


def _list_run_dir(backend: Backend, run_id: str, raw_dir: str) -> tuple[str, list[dict[str, Any]]]:
    """The normalised directory and its children; ``raw_dir`` is still percent-encoded."""
    directory = normalize_logical_path(raw_dir) if raw_dir else ""
    return directory, children(artifacts.list_(backend, run_id, raw_dir), directory)


def list_proxied_artifacts(request: Request, backend: BackendDep) -> MlflowJSON:
    raw = _query_path(request)
    if not raw:
        raise InvalidInput("Parameter 'path' is required: '<experiment_id>/<run_id>/artifacts[/<dir>]'.")
    experiment_id, run_id, raw_dir = _split_proxy_path(raw, allow_root=True)
    _check_run(backend, experiment_id, run_id)
    _, files = _list_run_dir(backend, run_id, raw_dir.strip("/"))
    return MlflowJSON({"files": files})


def list_run_artifacts(request: Request, backend: BackendDep) -> MlflowJSON:
    """``/api/2.0/mlflow/artifacts/list``: paths relative to the run's artifact root."""
    run_id = request.query_params.get("run_id") or request.query_params.get("run_uuid")
    if not run_id:
        raise InvalidInput("Missing value for required parameter 'run_id'.")
    run = runs.get(backend, run_id)
    directory, files = _list_run_dir(backend, run_id, _query_path(request).strip("/"))
    for entry in files:
        entry["path"] = f"{directory}/{entry['path']}" if directory else entry["path"]
    return MlflowJSON({"root_uri": run_artifact_uri(run), "files": files})


def server_info() -> MlflowJSON:
    """What MLflow 3 clients probe before artifact transfers: no multipart, no workspaces."""
    return MlflowJSON({"store_type": "SqlStore", "workspaces_enabled": False,
                       "multipart_uploads_enabled": False, "multipart_downloads_enabled": False})


for _prefix in PROXY_PREFIXES:
    schema = _prefix.startswith("/api/")
    router.add_api_route(f"{_prefix}/{{path:path}}", upload_artifact, methods=["PUT"], dependencies=[WRITE],
                         response_model=None, include_in_schema=schema, openapi_extra=OCTET_STREAM_BODY)
    router.add_api_route(f"{_prefix}/{{path:path}}", download_artifact, methods=["GET"], dependencies=[READ],
                         response_model=None, include_in_schema=schema)
    router.add_api_route(_prefix, list_proxied_artifacts, methods=["GET"], dependencies=[READ],
                         response_model=None, include_in_schema=schema)
for _prefix in ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow"):
    router.add_api_route(f"{_prefix}/artifacts/list", list_run_artifacts, methods=["GET"], dependencies=[READ],
                         response_model=None, include_in_schema=_prefix.startswith("/api/"))
router.add_api_route("/api/3.0/mlflow/server-info", server_info, methods=["GET"], dependencies=[READ],
                     response_model=None)

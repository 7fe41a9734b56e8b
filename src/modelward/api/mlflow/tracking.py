"""MLflow's tracking REST API (``/api/2.0/mlflow/experiments/...``, ``/runs/...``,
``/metrics/...``), translated onto ``modelward.services.experiments`` and ``.runs``.

Translation only: each endpoint reads MLflow's arguments, calls the services, and
answers in MLflow's JSON. Every route exists under ``/api/2.0/mlflow`` (the client) and
``/ajax-api/2.0/mlflow`` (MLflow's web UI). Deviations are listed in
docs/mlflow-compatibility.md.
"""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

from modelward.api.deps import READ, WRITE, ActorDep, BackendDep
from modelward.api.mlflow import params as p
from modelward.api.mlflow import schemas as s
from modelward.api.mlflow.errors import MlflowRoute
from modelward.api.mlflow.schemas import MlflowJSON, Params
from modelward.domain.actors import Actor
from modelward.domain.mlflow_models import LoggedModelMetric
from modelward.domain.tracking import Lifecycle, RunStatus
from modelward.errors import InvalidInput, NotFound
from modelward.services import datasets, experiments, mlflow_models, runs
from modelward.services.backend import Backend

router = APIRouter(route_class=MlflowRoute, tags=["mlflow tracking"])
PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
DEFAULT_EXPERIMENT_ID = experiments.DEFAULT_EXPERIMENT_ID

# MLflow's per-request limits for log-batch (mlflow/utils/validation.py).
MAX_BATCH_METRICS = 1000
MAX_BATCH_PARAMS = 100
MAX_BATCH_TAGS = 100
MAX_BATCH_ITEMS = 1000
MAX_SEARCH_RESULTS = 50_000

VIEW_TYPES: dict[str, Lifecycle | None] = {
    "ACTIVE_ONLY": Lifecycle.ACTIVE, "1": Lifecycle.ACTIVE,
    "DELETED_ONLY": Lifecycle.DELETED, "2": Lifecycle.DELETED,
    "ALL": None, "3": None,
}  # fmt: skip


def endpoint(method: str, path: str, permission: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``func`` under both MLflow prefixes (the UI's copy stays out of the schema)."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        for prefix in PREFIXES:
            router.add_api_route(
                prefix + path, func, methods=[method], dependencies=[permission],
                response_class=MlflowJSON, response_model=None,
                include_in_schema=prefix == PREFIXES[0],
            )
        return func

    return register


def experiment_id_of(backend: Backend, raw: str) -> str:
    """MLflow's default experiment "0": the experiment with id "0" (named "Default", made on
    first use); on a store whose "Default" predates that rule, that experiment."""
    if raw == DEFAULT_EXPERIMENT_ID:
        return experiments.ensure_default(backend).id
    return raw


def _lifecycle(params: dict[str, Any], key: str) -> Lifecycle | None:
    raw = str(params.get(key) or "ACTIVE_ONLY").upper()
    if raw not in VIEW_TYPES:
        raise InvalidInput(f"Invalid value {raw!r} for parameter '{key}': use ACTIVE_ONLY, DELETED_ONLY or ALL.")
    return VIEW_TYPES[raw]


def _max_results(params: dict[str, Any], default: int) -> int:
    value = s.as_int(params.get("max_results") or default, "max_results")
    if not 1 <= value <= MAX_SEARCH_RESULTS:
        raise InvalidInput(f"Invalid value {value} for parameter 'max_results' supplied: it must be between 1 "
                           f"and {MAX_SEARCH_RESULTS}.")
    return value


# -- experiments --------------------------------------------------------------


@endpoint("POST", "/experiments/create", WRITE)
def create_experiment(params: Params, backend: BackendDep) -> MlflowJSON:
    # A client-supplied artifact_location is ignored: the server chooses every storage location.
    name = p.required_str(params, "name")
    p.optional_str(params, "artifact_location")  # still type-checked, as by MLflow
    tags = s.key_values(_body_list(params, "tags"), "tags")
    experiment = experiments.create(backend, name, description=tags.get(s.NOTE_TAG), tags=tags)
    return MlflowJSON({"experiment_id": experiment.id})


@endpoint("GET", "/experiments/get", READ)
def get_experiment(params: Params, backend: BackendDep) -> MlflowJSON:
    experiment_id = experiment_id_of(backend, s.required(params, "experiment_id"))
    return MlflowJSON({"experiment": s.experiment_json(experiments.get(backend, experiment_id))})


@endpoint("GET", "/experiments/get-by-name", READ)
def get_experiment_by_name(params: Params, backend: BackendDep) -> MlflowJSON:
    name = p.required_str(params, "experiment_name")
    if name == experiments.DEFAULT_EXPERIMENT:
        experiments.ensure_default(backend)  # MLflow clients expect it on a fresh server
    found = experiments.get_by_name(backend, name)
    return MlflowJSON({"experiment": s.experiment_json(found)})


def _offset_of(token: str | None) -> int:
    if not token:
        return 0
    try:
        return max(0, int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("experiments:")))
    except ValueError:
        raise InvalidInput(f"Invalid page token {token!r}.") from None


@endpoint("POST", "/experiments/search", READ)
@endpoint("GET", "/experiments/search", READ)
def search_experiments(params: Params, backend: BackendDep) -> MlflowJSON:
    lifecycle = _lifecycle(params, "view_type")
    limit = _max_results(params, 1000)
    offset = _offset_of(s.optional_str(params, "page_token"))
    experiments.ensure_default(backend)  # MLflow clients expect it on a fresh server
    found = experiments.search(
        backend, filter=p.optional_str(params, "filter"), lifecycle=lifecycle, limit=limit + 1, offset=offset,
        order_by=[str(o) for o in s.as_list(params.get("order_by"), "order_by")],
    )
    answer: dict[str, Any] = {"experiments": [s.experiment_json(e) for e in found[:limit]]}
    if len(found) > limit:
        answer["next_page_token"] = base64.urlsafe_b64encode(f"experiments:{offset + limit}".encode()).decode()
    return MlflowJSON(answer)


@endpoint("POST", "/experiments/update", WRITE)
def update_experiment(params: Params, backend: BackendDep) -> MlflowJSON:
    experiment_id = experiment_id_of(backend, s.required(params, "experiment_id"))
    experiments.update(backend, experiment_id, name=s.optional_str(params, "new_name"))
    return MlflowJSON({})


@endpoint("POST", "/experiments/delete", WRITE)
def delete_experiment(params: Params, backend: BackendDep) -> MlflowJSON:
    experiments.delete(backend, experiment_id_of(backend, s.required(params, "experiment_id")))
    return MlflowJSON({})


@endpoint("POST", "/experiments/restore", WRITE)
def restore_experiment(params: Params, backend: BackendDep) -> MlflowJSON:
    experiments.restore(backend, experiment_id_of(backend, s.required(params, "experiment_id")))
    return MlflowJSON({})


@endpoint("POST", "/experiments/set-experiment-tag", WRITE)
def set_experiment_tag(params: Params, backend: BackendDep) -> MlflowJSON:
    experiment_id = experiment_id_of(backend, p.required_str(params, "experiment_id"))
    key, value = p.required_str(params, "key"), p.optional_str(params, "value", "") or ""
    experiments.set_tags(backend, experiment_id, {key: value})
    if key == s.NOTE_TAG:  # MLflow keeps an experiment's description in this tag
        experiments.update(backend, experiment_id, description=value)
    return MlflowJSON({})


@endpoint("POST", "/experiments/delete-experiment-tag", WRITE)
def delete_experiment_tag(params: Params, backend: BackendDep) -> MlflowJSON:
    experiment_id = experiment_id_of(backend, p.required_str(params, "experiment_id"))
    key = p.required_str(params, "key")
    had_note = key == s.NOTE_TAG and bool(experiments.get(backend, experiment_id).description)
    if had_note:  # the description is this tag's other copy
        experiments.update(backend, experiment_id, description="")
    try:
        experiments.delete_tag(backend, experiment_id, key)
    except NotFound:
        if not had_note:
            raise
    return MlflowJSON({})


# -- runs -------------------------------------------------------------------------


@endpoint("POST", "/runs/create", WRITE)
def create_run(params: Params, backend: BackendDep, actor: ActorDep) -> MlflowJSON:
    # The body's ``user_id`` (MLflow's client sends the local login name) is ignored: the
    # run's creator is the authenticated caller, so no request makes a run in another's name.
    # The client's ``mlflow.user`` tag, if sent, is kept like any tag and decides nothing.
    experiment_id = experiment_id_of(backend, p.optional_str(params, "experiment_id", DEFAULT_EXPERIMENT_ID) or "")
    tags = s.key_values(params.get("tags"), "tags")
    name = p.optional_str(params, "run_name") or tags.get(s.RUN_NAME_TAG)
    if name:
        tags[s.RUN_NAME_TAG] = name  # MLflow keeps the name in both places; so do we
    run = runs.start(
        backend, actor, experiment_id=experiment_id, name=name or None,
        parent_run_id=_local_parent(backend, tags.get(s.PARENT_RUN_TAG)), tags=tags,
        start_time=s.from_ms(p.optional_int(params, "start_time"), "start_time"),
    )
    return MlflowJSON({"run": s.run_json(run)})


def _body_list(params: dict[str, Any], key: str) -> list[Any]:
    """A list field of a JSON body: absent is empty; anything but a list is refused."""
    value = params.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"Invalid value {json.dumps(value)} for parameter '{key}' supplied: it must be a list.")
    return value


def _local_parent(backend: Backend, parent_run_id: str | None) -> str | None:
    """The parent named by ``mlflow.parentRunId`` when it is a run of this store. MLflow keeps
    that tag as given; a parent it does not hold stays a plain tag here, with no link."""
    if not parent_run_id:
        return None
    try:
        runs.experiment_of(backend, parent_run_id)
    except NotFound:
        return None
    return parent_run_id


@endpoint("GET", "/runs/get", READ)
def get_run(params: Params, backend: BackendDep) -> MlflowJSON:
    run = runs.get(backend, s.required(params, "run_id", "run_uuid"))
    return MlflowJSON({"run": s.run_json(run)})


def _rename(backend: Backend, run_id: str, name: str, actor: Actor) -> None:
    runs.rename(backend, run_id, name, actor=actor)
    runs.log_batch(backend, run_id, actor=actor, tags={s.RUN_NAME_TAG: name})


@endpoint("POST", "/runs/update", WRITE)
def update_run(params: Params, backend: BackendDep, actor: ActorDep) -> MlflowJSON:
    run_id = s.required(params, "run_id", "run_uuid")
    name = s.optional_str(params, "run_name")
    if name is not None:
        _rename(backend, run_id, name, actor)
    raw_status = s.optional_str(params, "status")
    if raw_status is None:
        run = runs.get(backend, run_id)
    else:
        try:
            status = RunStatus(raw_status.upper())
        except ValueError:
            raise InvalidInput(f"Invalid value {raw_status!r} for parameter 'status'.") from None
        end_time = s.from_ms(params.get("end_time"), "end_time")
        run = runs.end(backend, run_id, actor=actor, status=status, end_time=end_time)
    return MlflowJSON({"run_info": s.run_info_json(run)})


@endpoint("POST", "/runs/delete", WRITE)
def delete_run(params: Params, backend: BackendDep, actor: ActorDep) -> MlflowJSON:
    runs.delete(backend, s.required(params, "run_id"), actor=actor)
    return MlflowJSON({})


@endpoint("POST", "/runs/restore", WRITE)
def restore_run(params: Params, backend: BackendDep, actor: ActorDep) -> MlflowJSON:
    runs.restore(backend, s.required(params, "run_id"), actor=actor)
    return MlflowJSON({})


@endpoint("POST", "/runs/log-metric", WRITE)
def log_metric(params: Params, backend: BackendDep, actor: ActorDep) -> MlflowJSON:
    run_id = p.required_str(params, "run_id", "run_uuid")
    key = p.required_str(params, "key")
    value = p.required_number(params, "value")
    timestamp = p.optional_int(params, "timestamp")
    step = p.optional_int(params, "step", 0) or 0
    model_id = p.optional_str(params, "model_id")
    if model_id is not None:  # MLflow 3: the point is the logged model's too
        point = {"key": key, "value": value, "step": step, "model_id": model_id,
                 "timestamp": int(time.time() * 1000) if timestamp is None else timestamp,
                 "dataset_name": p.optional_str(params, "dataset_name"),
                 "dataset_digest": p.optional_str(params, "dataset_digest")}
        _log_model_metrics(backend, run_id, [point], actor)
        timestamp = point["timestamp"]
    runs.log_batch(
        backend, run_id, actor=actor, metric_keys=[key], metric_values=[value], metric_steps=[step],
        metric_timestamps_ms=None if timestamp is None else [timestamp],
    )
    return MlflowJSON({})


@endpoint("POST", "/runs/log-parameter", WRITE)
def log_param(params: Params, backend: BackendDep, actor: ActorDep) -> MlflowJSON:
    run_id = p.required_str(params, "run_id", "run_uuid")
    key, value = p.required_str(params, "key"), p.optional_str(params, "value", "") or ""
    runs.log_batch(backend, run_id, actor=actor, params={key: value})
    return MlflowJSON({})


@endpoint("POST", "/runs/set-tag", WRITE)
def set_tag(params: Params, backend: BackendDep, actor: ActorDep) -> MlflowJSON:
    run_id = p.required_str(params, "run_id", "run_uuid")
    key, value = p.required_str(params, "key"), p.optional_str(params, "value", "") or ""
    if key == s.RUN_NAME_TAG and value:
        _rename(backend, run_id, value, actor)
    else:
        runs.log_batch(backend, run_id, actor=actor, tags={key: value})
    return MlflowJSON({})


@endpoint("POST", "/runs/delete-tag", WRITE)
def delete_tag(params: Params, backend: BackendDep, actor: ActorDep) -> MlflowJSON:
    runs.delete_tag(backend, s.required(params, "run_id", "run_uuid"), s.required(params, "key"), actor=actor)
    return MlflowJSON({})


def _check_batch_limits(metrics: list[Any], params: list[Any], tags: list[Any]) -> None:
    for name, items, limit in (("metrics", metrics, MAX_BATCH_METRICS), ("params", params, MAX_BATCH_PARAMS),
                               ("tags", tags, MAX_BATCH_TAGS)):
        if len(items) > limit:
            raise InvalidInput(f"A batch logging request can contain at most {limit} {name}. Got {len(items)} {name}. Please split up {name} across multiple requests and try again.")
    total = len(metrics) + len(params) + len(tags)
    if total > MAX_BATCH_ITEMS:
        raise InvalidInput(f"A batch logging request can contain at most {MAX_BATCH_ITEMS} total metrics, params and tags. Got {total}.")


def _metric_columns(metrics: list[Any]) -> tuple[list[str], list[float], list[int], list[int]]:
    """Columns of the metric list; the fast path assumes well-formed entries."""
    try:
        keys = [str(m["key"]) for m in metrics]
        values = [float(m["value"]) for m in metrics]
        steps = [int(m.get("step") or 0) for m in metrics]
        stamps = [int(m["timestamp"]) for m in metrics]
        if not any(isinstance(m["value"], bool) for m in metrics):
            return keys, values, steps, stamps
    except (KeyError, TypeError, ValueError, AttributeError):
        pass
    for index, m in enumerate(metrics):  # find the bad entry and name it, as MLflow does
        if not isinstance(m, dict):
            raise InvalidInput(f"Each metric needs 'key', 'value' and 'timestamp', got {m!r}.")
        for field in ("key", "value", "timestamp"):
            if m.get(field) in (None, ""):
                raise InvalidInput(f"Missing value for required parameter 'metrics[{index}].{field}'.")
        s.as_float(m["value"], "metrics.value")
        s.as_int(m.get("step") or 0, "metrics.step")
        s.as_int(m["timestamp"], "metrics.timestamp")
    raise InvalidInput("Invalid metrics in the batch.")


def _log_model_metrics(backend: Backend, run_id: str, metrics: list[dict[str, Any]], actor: Actor) -> list[int]:
    """Points carrying a ``model_id`` are recorded on that logged model too. MLflow's client
    re-sends a run's existing points this way when it logs a model; like MLflow's store
    (whose metric key includes the value), a point the run already holds is not logged twice.
    Returns the indexes of the points still to log on the run."""
    by_model: dict[str, list[LoggedModelMetric]] = {}
    history: dict[str, set[tuple[int, int, float]]] = {}
    keep = []
    for index, m in enumerate(metrics):
        model_id = m.get("model_id")
        if not model_id:
            keep.append(index)
            continue
        value = float(m["value"])
        point = LoggedModelMetric(key=str(m["key"]), value=value, timestamp_ms=int(m["timestamp"]),
                                  step=int(m.get("step") or 0), run_id=run_id, dataset_name=m.get("dataset_name"),
                                  dataset_digest=m.get("dataset_digest"))
        if math.isfinite(value):  # JSON columns hold no NaN or infinity; the run keeps such points
            by_model.setdefault(str(model_id), []).append(point)
        if point.key not in history:
            history[point.key] = {(p.step, p.timestamp_ms, p.value) for p in runs.metric_history(backend, run_id, point.key)}
        if (point.step, point.timestamp_ms, value) not in history[point.key]:
            keep.append(index)
    for model_id, points in by_model.items():
        mlflow_models.log_metrics(backend, model_id, points, actor=actor)
    return keep


@endpoint("POST", "/runs/log-batch", WRITE)
def log_batch(params: Params, backend: BackendDep, actor: ActorDep) -> MlflowJSON:
    run_id = s.required(params, "run_id")
    metrics = _body_list(params, "metrics")
    param_items = _body_list(params, "params")
    tag_items = _body_list(params, "tags")
    _check_batch_limits(metrics, param_items, tag_items)
    keys, values, steps, stamps = _metric_columns(metrics)
    if any(isinstance(m, dict) and m.get("model_id") for m in metrics):
        keep = _log_model_metrics(backend, run_id, metrics, actor)
        keys, values, steps, stamps = ([column[i] for i in keep] for column in (keys, values, steps, stamps))  # type: ignore[assignment]
    tags = s.key_values(tag_items, "tags")
    new_name = tags.pop(s.RUN_NAME_TAG, None)
    runs.log_batch(
        backend, run_id, actor=actor, metric_keys=keys, metric_values=values, metric_steps=steps,
        metric_timestamps_ms=stamps, params=s.key_values(param_items, "params"), tags=tags,
    )
    if new_name:
        _rename(backend, run_id, new_name, actor)
    return MlflowJSON({})


@endpoint("POST", "/runs/log-inputs", WRITE)
def log_inputs(params: Params, backend: BackendDep, actor: ActorDep) -> MlflowJSON:
    run_id = s.required(params, "run_id")
    new = s.dataset_inputs(params.get("datasets"))
    models = model_refs(params.get("models"), "models", with_step=False)
    for ref in models:
        mlflow_models.get(backend, ref["model_id"])  # RESOURCE_DOES_NOT_EXIST for an unknown model
    if new:
        datasets.log_mlflow_inputs(backend, run_id, new, actor=actor)  # lineage: the run read these datasets
        current = s.stored_inputs(runs.get(backend, run_id))  # the tag echoes MLflow's shape for get-run
        runs.log_batch(backend, run_id, actor=actor, tags={s.INPUTS_TAG: s.merge_inputs(current, new)})
    if models:
        current = s.stored_list(runs.get(backend, run_id), s.MODEL_INPUTS_TAG)
        runs.log_batch(backend, run_id, actor=actor, tags={s.MODEL_INPUTS_TAG: merge_refs(current, models)})
    return MlflowJSON({})


def model_refs(value: Any, field: str, *, with_step: bool) -> list[dict[str, Any]]:
    """MLflow's ``LoggedModelInput`` / ``LoggedModelOutput`` lists: ``{"model_id"[, "step"]}``."""
    refs = []
    for item in s.as_list(value, field):
        if not isinstance(item, dict) or not isinstance(item.get("model_id"), str) or not item["model_id"]:
            raise InvalidInput(f"Each entry of '{field}' needs a 'model_id' string, got {item!r}.")
        ref: dict[str, Any] = {"model_id": item["model_id"]}
        if with_step:
            ref["step"] = p.optional_int(item, "step", 0) or 0
        refs.append(ref)
    return refs


def merge_refs(current: list[dict[str, Any]], new: list[dict[str, Any]]) -> str:
    """Model references without repeats (a reference logged twice is kept once), as JSON."""
    merged: list[dict[str, Any]] = []
    for ref in [*current, *new]:
        if ref not in merged:
            merged.append(ref)
    return json.dumps(merged, separators=(",", ":"))


@endpoint("POST", "/runs/search", READ)
def search_runs(params: Params, backend: BackendDep) -> MlflowJSON:
    ids = [experiment_id_of(backend, str(i)) for i in s.as_list(params.get("experiment_ids"), "experiment_ids")]
    page = runs.search(
        backend, experiment_ids=ids, filter=s.optional_str(params, "filter"),
        order_by=[str(o) for o in s.as_list(params.get("order_by"), "order_by")],
        lifecycle=_lifecycle(params, "run_view_type"), max_results=_max_results(params, 1000),
        page_token=s.optional_str(params, "page_token"),
    )
    answer: dict[str, Any] = {"runs": [s.run_json(run) for run in page.runs]}
    if page.next_page_token:
        answer["next_page_token"] = page.next_page_token
    return MlflowJSON(answer)


@endpoint("GET", "/metrics/get-history", READ)
def get_metric_history(params: Params, backend: BackendDep) -> MlflowJSON:
    """All points, or with ``max_results`` one page of them and a ``next_page_token``."""
    run_id = p.required_str(params, "run_id", "run_uuid")
    history = runs.metric_history(backend, run_id, p.required_str(params, "metric_key"))
    size = p.optional_int(params, "max_results")
    token = p.optional_str(params, "page_token")
    if size is None and token is None:
        return MlflowJSON({"metrics": [s.metric_json(m) for m in history]})
    if size is not None and size <= 0:
        raise InvalidInput(f"Invalid value {size} for parameter 'max_results' supplied. It must be a positive integer.")
    offset = _history_offset(token)
    end = len(history) if size is None else offset + size
    answer: dict[str, Any] = {"metrics": [s.metric_json(m) for m in history[offset:end]]}
    if end < len(history):
        answer["next_page_token"] = base64.urlsafe_b64encode(f"history:{end}".encode()).decode()
    return MlflowJSON(answer)


def _history_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        if not text.startswith("history:"):
            raise ValueError(text)
        offset = int(text.removeprefix("history:"))
    except ValueError:
        raise InvalidInput(f"Invalid page token {token!r}.") from None
    if offset < 0:
        raise InvalidInput(f"Invalid page token {token!r}.")
    return offset


# The ingestion calls come first among the routes tried: a client logging a run sends
# thousands of them, and each route tried before the match costs a few microseconds. Their
# paths are literal and overlap no other route, so the order changes nothing but speed.
INGESTION_PATHS = ("/runs/log-metric", "/runs/log-batch", "/runs/set-tag", "/runs/log-parameter")
router.routes.sort(key=lambda route: not getattr(route, "path", "").endswith(INGESTION_PATHS))

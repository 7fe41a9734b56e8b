"""MLflow 3 "logged models": create, finalize, tag, search, delete.

Only the MLflow-compatible API needs them. A logged model is owned by a run: its files are
that run's artifacts under ``logged-models/<model_id>/`` (so uploads and downloads use the
run-artifact path and its confinement, and nothing new is stored). A logged model created
outside a run gets an owner run of its own in the same experiment, named
``logged-model-<name>`` and tagged ``modelward.mlflow.logged_model`` with the model id.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from modelward.domain.actors import Actor
from modelward.domain.mlflow_models import (
    LoggedModel,
    LoggedModelMetric,
    LoggedModelStatus,
    validate_model_id,
)
from modelward.domain.names import (
    MAX_PARAM_VALUE_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    validate_key,
    validate_value,
)
from modelward.domain.tracking import Lifecycle, RunStatus
from modelward.errors import Conflict, InvalidInput, NotFound
from modelward.services import runs
from modelward.services.backend import Backend
from modelward.store import experiments as experiment_store
from modelward.store import mlflow_models as store
from modelward.store import run_writers as writer_store
from modelward.store import runs as run_store
from modelward.store.run_writers import UnitOfWork

OWNER_TAG = "modelward.mlflow.logged_model"
MAX_SEARCH_RESULTS = 1000
MAX_NAME_LENGTH = 256


def _now() -> datetime:
    return datetime.now(UTC)


def _new_model_id() -> str:
    return f"m-{uuid.uuid4().hex}"


def _checked(items: dict[str, str] | None, kind: str, limit: int) -> dict[str, str]:
    checked = {}
    for key, value in (items or {}).items():
        validate_key(key, kind)
        checked[key] = validate_value(str(value), kind, limit)
    return checked


def create(
    backend: Backend, actor: Actor, *, experiment_id: str, name: str | None = None,
    source_run_id: str | None = None, model_type: str | None = None,
    params: dict[str, str] | None = None, tags: dict[str, str] | None = None,
) -> LoggedModel:
    model_id = _new_model_id()
    name = name or f"model-{model_id[2:10]}"
    if len(name) > MAX_NAME_LENGTH or "/" in name:
        raise InvalidInput(f"Invalid logged model name {name!r}: at most {MAX_NAME_LENGTH} characters, no '/'.")
    params, tags = _checked(params, "param", MAX_PARAM_VALUE_LENGTH), _checked(tags, "tag", MAX_TAG_VALUE_LENGTH)
    with backend.read() as session:
        experiment = experiment_store.get(session, experiment_id)
        if experiment.lifecycle is not Lifecycle.ACTIVE:
            raise Conflict(f"experiment '{experiment.name}' is deleted; restore it to log models")
        if source_run_id:
            run = run_store.get(session, source_run_id)
            if run.experiment_id != experiment_id:
                raise InvalidInput(f"Run '{source_run_id}' is not in experiment '{experiment_id}'.")
    owner = source_run_id or _owner_run(backend, actor, experiment_id, name, model_id)
    now = _now()
    with backend.write() as session:
        runs.wrote(session, run_store.writable_pk(session, owner), actor, writer_store.LOGGED_MODELS)
        return store.create(
            session, id=model_id, experiment_id=experiment_id, run_id=owner, name=name, model_type=model_type or None,
            status=LoggedModelStatus.PENDING.value, params=params, tags=tags, metrics=[], created_by=actor.name,
            created_at=now, updated_at=now, deleted_at=None,
        )


def _owner_run(backend: Backend, actor: Actor, experiment_id: str, name: str, model_id: str) -> str:
    """A finished run that exists only to hold the files of a model logged outside any run."""
    run = runs.start(backend, actor, experiment_id=experiment_id, name=f"logged-model-{name}",
                     tags={OWNER_TAG: model_id})
    return runs.end(backend, run.id, actor=actor, status=RunStatus.FINISHED).id


def _wrote_model(session: UnitOfWork, run_id: str, actor: Actor) -> None:
    """A change to a logged model is a write into the run that owns its files."""
    runs.wrote(session, run_store.pk_of(session, run_id), actor, writer_store.LOGGED_MODELS)


def get(backend: Backend, model_id: str, *, allow_deleted: bool = False) -> LoggedModel:
    validate_model_id(model_id)
    with backend.read() as session:
        return store.get(session, model_id, allow_deleted=allow_deleted)


def finalize(backend: Backend, model_id: str, status: LoggedModelStatus, *, actor: Actor) -> LoggedModel:
    if status is LoggedModelStatus.PENDING:
        raise InvalidInput("A logged model is finalized as READY or FAILED, not PENDING.")
    validate_model_id(model_id)
    with backend.write() as session:
        _wrote_model(session, store.row_of(session, model_id).run_id, actor)
        return store.update(session, model_id, _now(), status=status.value)


def set_tags(backend: Backend, model_id: str, tags: dict[str, str], *, actor: Actor) -> LoggedModel:
    tags = _checked(tags, "tag", MAX_TAG_VALUE_LENGTH)
    validate_model_id(model_id)
    with backend.write() as session:
        current = store.row_of(session, model_id)
        _wrote_model(session, current.run_id, actor)
        return store.update(session, model_id, _now(), tags={**current.tags, **tags})


def delete_tag(backend: Backend, model_id: str, key: str, *, actor: Actor) -> LoggedModel:
    validate_model_id(model_id)
    with backend.write() as session:
        current = store.row_of(session, model_id)
        if key not in current.tags:
            raise NotFound(f"No tag with key: '{key}' found for logged model with ID '{model_id}'.")
        _wrote_model(session, current.run_id, actor)
        return store.update(session, model_id, _now(), tags={k: v for k, v in current.tags.items() if k != key})


MODEL_VERSIONS_TAG = "mlflow.modelVersions"


def record_model_version(backend: Backend, model_id: str, name: str, version: int, *, actor: Actor) -> None:
    """A registry version was made from this logged model: list it in the model's
    ``mlflow.modelVersions`` tag (JSON ``[{"name", "version"}]``), as MLflow's server does."""
    validate_model_id(model_id)
    entry: dict[str, Any] = {"name": name, "version": version}  # MLflow writes the number
    with backend.write() as session:
        current = store.row_of(session, model_id)
        try:
            listed = json.loads(current.tags.get(MODEL_VERSIONS_TAG) or "[]")
        except ValueError:
            listed = []
        if not isinstance(listed, list):
            listed = []
        if entry not in listed:
            listed.append(entry)
        _wrote_model(session, current.run_id, actor)
        store.update(session, model_id, _now(), tags={**current.tags, MODEL_VERSIONS_TAG: json.dumps(listed)})


def log_params(backend: Backend, model_id: str, params: dict[str, str], *, actor: Actor) -> LoggedModel:
    """New params; logging a param again with another value is refused, as for runs."""
    params = _checked(params, "param", MAX_PARAM_VALUE_LENGTH)
    validate_model_id(model_id)
    with backend.write() as session:
        current = store.row_of(session, model_id)
        for key, value in params.items():
            if key in current.params and current.params[key] != value:
                raise InvalidInput(f"Changing param values is not allowed. Param with key='{key}' was already "
                                   f"logged with value='{current.params[key]}' for logged model '{model_id}'.")
        _wrote_model(session, current.run_id, actor)
        return store.update(session, model_id, _now(), params={**current.params, **params})


def log_metrics(
    backend: Backend, model_id: str, metrics: Sequence[LoggedModelMetric], *, actor: Actor
) -> LoggedModel:
    """Metric points attributed to the model (each point once)."""
    for metric in metrics:
        validate_key(metric.key, "metric")
    validate_model_id(model_id)
    with backend.write() as session:
        current = store.row_of(session, model_id)
        points = {_point_key(m): m for m in current.metrics}
        for metric in metrics:
            points.setdefault(_point_key(metric.model_dump()), metric.model_dump())
        _wrote_model(session, current.run_id, actor)
        return store.update(session, model_id, _now(), metrics=list(points.values()))


def _point_key(point: dict[str, Any]) -> tuple[Any, ...]:
    return point["key"], point["step"], point["timestamp_ms"], point["value"], point.get("run_id")


def delete(backend: Backend, model_id: str, *, actor: Actor) -> None:
    """Soft delete: the model leaves searches; its files stay with the owning run."""
    validate_model_id(model_id)
    with backend.write() as session:
        now = _now()
        _wrote_model(session, store.row_of(session, model_id).run_id, actor)
        store.update(session, model_id, now, deleted_at=now)


def log_outputs(backend: Backend, run_id: str, model_ids: Sequence[str], *, actor: Actor) -> None:
    """The run produced these models (MLflow's ``runs/outputs``). A logged model already names
    its run, so nothing is stored but the writer: the caller vouches for the run's outputs."""
    for model_id in model_ids:
        validate_model_id(model_id)
    with backend.write() as session:
        run_pk = run_store.pk_of(session, run_id)
        for model_id in model_ids:
            store.row_of(session, model_id)
        runs.wrote(session, run_pk, actor, writer_store.OUTPUTS)


# -- search -----------------------------------------------------------------------------------

_CLAUSE = re.compile(
    r"^\s*(?P<field>[A-Za-z_][\w.]*|`[^`]+`|[A-Za-z_]+\.`[^`]+`)\s*(?P<op>=|!=|<=|>=|<|>|(?i:NOT\s+LIKE|I?LIKE))\s*"
    r"(?P<value>'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|-?[0-9.]+(?:[eE][-+]?[0-9]+)?)\s*$"
)
_AND = re.compile(r"\s+AND\s+(?=(?:[^'\"]|'[^']*'|\"[^\"]*\")*$)", re.IGNORECASE)
ATTRIBUTES = {"name", "model_id", "source_run_id", "status", "model_type", "experiment_id"}


def _clauses(text: str | None) -> list[tuple[str, str, str, Any]]:
    """``name = 'x' AND tags.k != 'v' AND metrics.acc > 0.9`` as (kind, key, op, value)."""
    if not text or not text.strip():
        return []
    found = []
    for part in _AND.split(text.strip()):
        match = _CLAUSE.match(part)
        if match is None:
            raise InvalidInput(f"Invalid logged model filter {text!r}: clause {part.strip()!r} is not "
                               "'<field> <op> <value>' (clauses join with AND only).")
        field = match["field"].replace("`", "")
        kind, _, key = field.partition(".") if "." in field else ("attributes", "", field)
        kind = {"tag": "tags", "param": "params", "metric": "metrics", "attribute": "attributes"}.get(kind, kind)
        if kind == "attributes" and key not in ATTRIBUTES:
            raise InvalidInput(f"Invalid logged model filter {text!r}: unknown attribute {key!r}; "
                               f"use one of {sorted(ATTRIBUTES)}, tags.<key>, params.<key> or metrics.<key>.")
        if kind not in ("attributes", "tags", "params", "metrics"):
            raise InvalidInput(f"Invalid logged model filter {text!r}: unknown field {field!r}.")
        raw = match["value"]
        value: Any = raw[1:-1].replace(raw[0] * 2, raw[0]) if raw[0] in "'\"" else float(raw)
        found.append((kind, key, " ".join(match["op"].upper().split()), value))
    return found


def _like(value: str, pattern: str, *, case: bool) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE | re.DOTALL) is not None


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if actual is None:
        return op == "!="
    if op in ("LIKE", "ILIKE", "NOT LIKE"):
        matched = _like(str(actual), str(expected), case=op != "ILIKE")
        return not matched if op == "NOT LIKE" else matched
    if isinstance(expected, float):
        try:
            actual = float(actual)
        except ValueError:
            return False
    else:
        actual = str(actual)
    try:
        return {"=": actual == expected, "!=": actual != expected, "<": actual < expected,
                "<=": actual <= expected, ">": actual > expected, ">=": actual >= expected}[op]
    except TypeError:
        return False


def _value_of(model: LoggedModel, kind: str, key: str) -> Any:
    if kind == "tags":
        return model.tags.get(key)
    if kind == "params":
        return model.params.get(key)
    if kind == "metrics":
        latest = [m for m in model.metrics if m.key == key]
        return max(latest, key=lambda m: (m.step, m.timestamp_ms)).value if latest else None
    return {"name": model.name, "model_id": model.id, "source_run_id": model.run_id, "status": model.status.value,
            "model_type": model.model_type, "experiment_id": model.experiment_id}[key]


ORDER_FIELDS = {
    "name": lambda m: m.name, "model_id": lambda m: m.id, "creation_timestamp": lambda m: m.created_at,
    "creation_time": lambda m: m.created_at, "last_updated_timestamp": lambda m: m.updated_at,
}


def _on_datasets(model: LoggedModel, datasets: Sequence[dict[str, str | None]]) -> bool:
    """MLflow's ``datasets`` criterion: the model has a metric point on one of them."""
    return any(
        m.dataset_name == d["dataset_name"] and (not d.get("dataset_digest") or m.dataset_digest == d["dataset_digest"])
        for d in datasets for m in model.metrics
    )


def _ordered(models: list[LoggedModel], order_by: Sequence[dict[str, Any]]) -> list[LoggedModel]:
    """Stable sorts, last key first; models lacking a metric sort last either way."""
    for order in reversed(order_by):
        field, ascending = str(order.get("field_name") or ""), order.get("ascending", True) is not False
        if field.startswith("metrics."):
            key = field.removeprefix("metrics.")
            having = [m for m in models if _value_of(m, "metrics", key) is not None]
            lacking = [m for m in models if _value_of(m, "metrics", key) is None]
            having.sort(key=lambda m: _value_of(m, "metrics", key), reverse=not ascending)
            models = having + lacking
        elif field in ORDER_FIELDS:
            models = sorted(models, key=ORDER_FIELDS[field], reverse=not ascending)
        else:
            raise InvalidInput(f"Invalid order_by field {field!r} for logged models: use one of "
                               f"{sorted(ORDER_FIELDS)} or metrics.<key>.")
    return models


def search(
    backend: Backend, experiment_ids: Sequence[str], *, filter: str | None = None,
    max_results: int = 100, page_token: str | None = None,
    datasets: Sequence[dict[str, str | None]] = (), order_by: Sequence[dict[str, Any]] = (),
) -> tuple[list[LoggedModel], str | None]:
    """Live logged models of the experiments matching ``filter`` (and with a metric on one of
    ``datasets``, if given), newest first unless ``order_by`` says otherwise, one page."""
    if not 1 <= max_results <= MAX_SEARCH_RESULTS:
        raise InvalidInput(f"max_results must be between 1 and {MAX_SEARCH_RESULTS}, got {max_results}")
    clauses = _clauses(filter)
    offset = _offset_of(page_token)
    with backend.read() as session:
        found = store.in_experiments(session, experiment_ids)
    matching = [m for m in found if all(_compare(_value_of(m, k, key), op, v) for k, key, op, v in clauses)]
    if datasets:
        matching = [m for m in matching if _on_datasets(m, datasets)]
    matching = _ordered(matching, order_by)
    page = matching[offset : offset + max_results]
    more = len(matching) > offset + max_results
    token = base64.urlsafe_b64encode(f"logged-models:{offset + max_results}".encode()).decode() if more else None
    return page, token


def _offset_of(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("logged-models:"))
    except ValueError:
        raise InvalidInput(f"Invalid page token {token!r}.") from None
    if offset < 0:
        raise InvalidInput(f"Invalid page token {token!r}.")
    return offset

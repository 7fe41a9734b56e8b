"""MLflow's JSON shapes, in and out: millisecond timestamps, string ids,
``lifecycle_stage``, the ``info``/``data`` split, and key/value lists.

Requests are read as plain dicts (query string for GET, JSON body otherwise, both merged)
and responses are built as plain dicts serialised with orjson: a log-batch of 1000
metrics never builds 1000 pydantic models.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request, Response

from modelward.api.mlflow.params import in_int64, out_of_range, request_params
from modelward.domain.tracking import Experiment, Metric, Run
from modelward.errors import InvalidInput

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INPUTS_TAG = "modelward.inputs"  # the run's MLflow dataset inputs, as JSON
MODEL_INPUTS_TAG = "modelward.model_inputs"  # logged models the run read: [{"model_id"}]
MODEL_OUTPUTS_TAG = "modelward.model_outputs"  # logged models the run produced: [{"model_id", "step"}]
HIDDEN_TAGS = frozenset({INPUTS_TAG, MODEL_INPUTS_TAG, MODEL_OUTPUTS_TAG})  # echoes, not MLflow tags
RUN_NAME_TAG = "mlflow.runName"
PARENT_RUN_TAG = "mlflow.parentRunId"
NOTE_TAG = "mlflow.note.content"


class MlflowJSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


# -- requests -----------------------------------------------------------------


async def mlflow_params(request: Request) -> dict[str, Any]:
    """Query parameters merged with the JSON body (MLflow sends GET arguments as a query)."""
    return await request_params(request)


Params = Annotated[dict[str, Any], Depends(mlflow_params)]


def required(params: dict[str, Any], *keys: str) -> str:
    """The first of ``keys`` present (e.g. ``run_id`` or its old name ``run_uuid``)."""
    for key in keys:
        value = params.get(key)
        if value not in (None, ""):
            return str(value)
    raise InvalidInput(f"Missing value for required parameter '{keys[0]}'.")


def optional_str(params: dict[str, Any], key: str) -> str | None:
    value = params.get(key)
    return None if value in (None, "") else str(value)


def as_int(value: Any, field: str) -> int:
    if isinstance(value, str) and len(value.strip().lstrip("+-").lstrip("0")) > 19:
        raise out_of_range(field, value)  # refused without converting thousands of digits
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput(f"Parameter '{field}' must be an integer, got {value!r}.") from None
    return in_int64(field, number)


def as_float(value: Any, field: str) -> float:
    """A number, or MLflow's strings for the values JSON has no literal for."""
    if isinstance(value, bool):
        raise InvalidInput(f"Parameter '{field}' must be a number, got {value!r}.")
    try:
        return float(value)  # also "NaN", "Infinity", "-Infinity"
    except (TypeError, ValueError):
        raise InvalidInput(f"Parameter '{field}' must be a number, got {value!r}.") from None


def as_list(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, str):  # a single repeated query parameter
        return [value]
    raise InvalidInput(f"Parameter '{field}' must be a list, got {type(value).__name__}.")


def key_values(value: Any, field: str) -> dict[str, str]:
    """``[{"key": k, "value": v}, ...]`` as a dict; a later duplicate key wins."""
    found: dict[str, str] = {}
    for item in as_list(value, field):
        if not isinstance(item, dict) or "key" not in item:
            raise InvalidInput(f"Each entry of '{field}' needs a 'key' and a 'value', got {item!r}.")
        found[str(item["key"])] = "" if item.get("value") is None else str(item["value"])
    return found


def from_ms(value: Any, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return EPOCH + timedelta(milliseconds=as_int(value, field))
    except OverflowError:
        raise InvalidInput(f"Parameter '{field}' is out of range: {value!r}.") from None


# -- responses ----------------------------------------------------------------


def ms(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    return int((moment - EPOCH).total_seconds() * 1000)


def json_float(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def kv_list(items: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in items.items()]


def artifact_root(experiment_id: str) -> str:
    return f"mlflow-artifacts:/{experiment_id}"


def run_artifact_uri(run: Run) -> str:
    return f"mlflow-artifacts:/{run.experiment_id}/{run.id}/artifacts"


def experiment_json(experiment: Experiment) -> dict[str, Any]:
    tags = dict(experiment.tags)
    if experiment.description and NOTE_TAG not in tags:
        tags[NOTE_TAG] = experiment.description
    return {
        "experiment_id": experiment.id,
        "name": experiment.name,
        "artifact_location": artifact_root(experiment.id),
        "lifecycle_stage": experiment.lifecycle.value,
        "creation_time": ms(experiment.created_at),
        "last_update_time": ms(experiment.updated_at),
        "tags": kv_list(tags),
    }


def run_info_json(run: Run) -> dict[str, Any]:
    info: dict[str, Any] = {
        "run_id": run.id,
        "run_uuid": run.id,
        "experiment_id": run.experiment_id,
        "user_id": run.user or "",
        "status": run.status.value,
        "start_time": ms(run.start_time),
        "artifact_uri": run_artifact_uri(run),
        "lifecycle_stage": run.lifecycle.value,
    }
    if run.name is not None:
        info["run_name"] = run.name
    if run.end_time is not None:
        info["end_time"] = ms(run.end_time)
    return info


def run_json(run: Run) -> dict[str, Any]:
    """A whole run. The latest value of each metric carries no step or time in
    modelward's run entity: they are sent as step 0 at the run's start time."""
    start_ms = ms(run.start_time)
    tags = {key: value for key, value in run.tags.items() if key not in HIDDEN_TAGS}
    if run.name is not None:
        tags.setdefault(RUN_NAME_TAG, run.name)
    if run.parent_run_id is not None:
        tags.setdefault(PARENT_RUN_TAG, run.parent_run_id)
    return {
        "info": run_info_json(run),
        "data": {
            "metrics": [
                {"key": key, "value": json_float(value), "timestamp": start_ms, "step": 0}
                for key, value in run.metrics.items()
            ],
            "params": kv_list(run.params),
            "tags": kv_list(tags),
        },
        "inputs": _run_inputs(run),
        "outputs": {"model_outputs": stored_list(run, MODEL_OUTPUTS_TAG)},
    }


def _run_inputs(run: Run) -> dict[str, Any]:
    inputs: dict[str, Any] = {"dataset_inputs": stored_inputs(run)}
    model_inputs = stored_list(run, MODEL_INPUTS_TAG)
    if model_inputs:
        inputs["model_inputs"] = model_inputs
    return inputs


def metric_json(metric: Metric) -> dict[str, Any]:
    return {"key": metric.key, "value": json_float(metric.value), "timestamp": metric.timestamp_ms,
            "step": metric.step}


# -- dataset inputs -------------------------------------------------------------

DATASET_FIELDS = ("name", "digest", "source_type", "source", "schema", "profile")


def stored_inputs(run: Run) -> list[dict[str, Any]]:
    return stored_list(run, INPUTS_TAG)


def stored_list(run: Run, tag: str) -> list[dict[str, Any]]:
    """The JSON list a hidden echo tag holds ([] when absent or unreadable)."""
    raw = run.tags.get(tag)
    if not raw:
        return []
    try:
        inputs = json.loads(raw)
    except ValueError:
        return []
    return inputs if isinstance(inputs, list) else []


def dataset_inputs(value: Any) -> list[dict[str, Any]]:
    """MLflow's ``DatasetInput`` list, checked and reduced to its known fields."""
    checked = []
    for item in as_list(value, "datasets"):
        dataset = item.get("dataset") if isinstance(item, dict) else None
        if not isinstance(dataset, dict) or not dataset.get("name") or not dataset.get("digest"):
            raise InvalidInput("Each dataset input needs a 'dataset' with a 'name' and a 'digest'.")
        fields = {key: str(dataset[key]) for key in DATASET_FIELDS if dataset.get(key) is not None}
        checked.append({"tags": kv_list(key_values(item.get("tags"), "tags")), "dataset": fields})
    return checked


def merge_inputs(current: Iterable[dict[str, Any]], new: Iterable[dict[str, Any]]) -> str:
    """Inputs keyed by (name, digest): logging a dataset again replaces its entry."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for item in [*current, *new]:
        dataset = item.get("dataset", {})
        merged[(dataset.get("name", ""), dataset.get("digest", ""))] = item
    return json.dumps(list(merged.values()), separators=(",", ":"))

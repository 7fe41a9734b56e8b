"""Property-based: random JSON bodies and wrongly typed fields on the main MLflow endpoints
(which our OpenAPI schema does not describe) never give a 5xx, and every refusal is an
MLflow-shaped error whose status is the one MLflow's table gives its code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from modelward.api.app import create_app
from modelward.api.mlflow.errors import MLFLOW_STATUS
from modelward.settings import Settings

# Any JSON value, with the troublemakers weighted in: huge and 64-bit-edge integers,
# non-finite floats, lone surrogates and NUL in text, deep nesting.
_SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(), st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**40]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", "NaN", "Infinity", "-1", "0", "9" * 30, "a\x00b", "\ud800", "runs:/x/model"]),
)
JSON_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)

@pytest.fixture(scope="module")
def mlflow_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings_ = Settings(home=Path(tmp_path_factory.mktemp("mlflow-properties")) / "store")
    with TestClient(create_app(settings_), raise_server_exceptions=False) as client:
        experiment = client.post("/api/2.0/mlflow/experiments/create", json={"name": "properties"}).json()
        run = client.post("/api/2.0/mlflow/runs/create", json={"experiment_id": experiment["experiment_id"]}).json()
        client.post("/api/2.0/mlflow/registered-models/create", json={"name": "prop-model"})
        known = {"experiment_id": experiment["experiment_id"], "run_id": run["run"]["info"]["run_id"],
                 "name": "prop-model", "version": "1"}
        yield client, known


INTS = st.integers() | st.sampled_from([0, -1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 10**30])
KEYS = st.sampled_from(["m", "loss", "a/b", "m.1", "bad key!"])
TEXT = st.text(max_size=12)
NUMBERS = st.floats() | INTS | st.sampled_from(["NaN", "Infinity", "-Infinity", "1.5", "1e999999"])
NAMES = st.text("abcdefgh", min_size=1, max_size=8).map(lambda t: f"p-{t}")
KEY_VALUES = st.lists(st.fixed_dictionaries({"key": KEYS, "value": TEXT}), max_size=3)
METRICS = st.lists(st.fixed_dictionaries({"key": KEYS, "value": NUMBERS, "timestamp": INTS, "step": INTS}), max_size=3)
FILTERS = st.sampled_from(["", "metrics.m > 1", "tags.x != 'y'", "params.a = '1'", "name LIKE 'p-%'",
                           "attributes.start_time > 9223372036854775808", "metrics.m > 1e999", "not a filter"])
ORDER_BY = st.lists(st.sampled_from(["metrics.m DESC", "name", "attributes.start_time", "x y z"]), max_size=2)
RUN, EXPERIMENT, MODEL = st.just("<run_id>"), st.just("<experiment_id>"), st.just("<name>")

# Each endpoint's fields, with a plausible value for each, so that the one wrong field among
# right ones reaches the handler (and the store).
ENDPOINTS: dict[tuple[str, str], dict[str, st.SearchStrategy[Any]]] = {
    ("POST", "/api/2.0/mlflow/experiments/create"): {"name": NAMES, "tags": KEY_VALUES},
    ("POST", "/api/2.0/mlflow/runs/create"): {"experiment_id": EXPERIMENT, "run_name": TEXT, "start_time": INTS,
                                              "tags": KEY_VALUES},
    ("POST", "/api/2.0/mlflow/runs/log-metric"): {"run_id": RUN, "key": KEYS, "value": NUMBERS, "timestamp": INTS,
                                                  "step": INTS},
    ("POST", "/api/2.0/mlflow/runs/log-batch"): {"run_id": RUN, "metrics": METRICS, "params": KEY_VALUES,
                                                 "tags": KEY_VALUES},
    ("POST", "/api/2.0/mlflow/runs/set-tag"): {"run_id": RUN, "key": KEYS, "value": TEXT},
    ("POST", "/api/2.0/mlflow/runs/search"): {"experiment_ids": st.lists(EXPERIMENT, max_size=2), "filter": FILTERS,
                                              "max_results": INTS, "order_by": ORDER_BY, "page_token": TEXT},
    ("POST", "/api/2.0/mlflow/registered-models/create"): {"name": NAMES, "tags": KEY_VALUES, "description": TEXT},
    ("GET", "/api/2.0/mlflow/registered-models/get"): {"name": MODEL | NAMES},
    ("GET", "/api/2.0/mlflow/registered-models/search"): {"filter": FILTERS, "max_results": INTS.map(str),
                                                          "order_by": ORDER_BY, "page_token": TEXT},
    ("POST", "/api/2.0/mlflow/model-versions/create"): {
        "name": MODEL, "source": st.sampled_from(["runs:/<run_id>/model", "s3://bucket/key", "file:///etc/passwd"]),
        "run_id": RUN, "tags": KEY_VALUES, "description": TEXT},
    ("GET", "/api/2.0/mlflow/model-versions/get"): {"name": MODEL, "version": INTS.map(str)},
}


def _bodies(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Mostly: every field of the endpoint, plausible four times in five and any JSON value
    otherwise, so that a wrong field meets right ones; else any subset with any values, or junk."""
    def mostly(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.integers(0, 4).flatmap(lambda draw: JSON_VALUES if draw == 0 else plausible)

    mostly_right = st.fixed_dictionaries({field: mostly(plausible) for field, plausible in fields.items()})
    any_subset = st.fixed_dictionaries({}, optional={field: plausible | JSON_VALUES for field, plausible in fields.items()})
    junk = st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=3)
    return st.one_of(mostly_right, mostly_right, any_subset, junk)


def _fill_known(body: dict[str, Any], known: dict[str, str]) -> dict[str, Any]:
    def fill(value: Any, key: str) -> Any:
        if isinstance(value, str) and value.startswith("<") and value.endswith(">"):
            return known.get(value[1:-1], "x")
        if isinstance(value, str) and "<run_id>" in value:
            return value.replace("<run_id>", known["run_id"])
        return value

    return {key: fill(value, key) for key, value in body.items()}


def _assert_mlflow_answer(method: str, path: str, response: Any) -> None:
    assert response.status_code < 500, (method, path, response.status_code, response.text[:300])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) >= {"error_code", "message"} and isinstance(body["message"], str), body
        assert MLFLOW_STATUS.get(body["error_code"]) == response.status_code, (path, body, response.status_code)


@pytest.mark.parametrize("endpoint", list(ENDPOINTS), ids=lambda e: f"{e[0]} {e[1].removeprefix('/api/2.0/mlflow/')}")
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_bodies_never_give_5xx(mlflow_http: tuple[TestClient, dict[str, str]],
                                      endpoint: tuple[str, str], data: st.DataObject) -> None:
    client, known = mlflow_http
    method, path = endpoint
    body = _fill_known(data.draw(_bodies(ENDPOINTS[endpoint])), known)
    if method == "GET":
        params = {key: value if isinstance(value, str) else json.dumps(value) for key, value in body.items()}
        params = {key.encode("utf-8", "replace").decode(): value.encode("utf-8", "replace").decode()
                  for key, value in params.items()}
        response = client.get(path, params=params)
    else:
        raw = json.dumps(body, allow_nan=True).encode()  # ensure_ascii: lone surrogates as \\ud800 escapes
        response = client.post(path, content=raw, headers={"content-type": "application/json"})
    _assert_mlflow_answer(method, path, response)


@pytest.mark.parametrize("raw", [b"[]", b"1", b'"text"', b"null", b"{", b"[" * 5000, b'{"a": 1e999999}',
                                 b'{"name": NaN}', b"\xff"])
@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e[0] == "POST"], ids=lambda e: e[1].rsplit("/", 1)[1])
def test_bodies_that_are_not_objects_are_mlflow_errors(mlflow_http: tuple[TestClient, dict[str, str]],
                                                       endpoint: tuple[str, str], raw: bytes) -> None:
    client, _ = mlflow_http
    response = client.post(endpoint[1], content=raw, headers={"content-type": "application/json"})
    _assert_mlflow_answer(*endpoint, response)

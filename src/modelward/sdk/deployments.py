"""``client.deployments``: serving endpoints (create, release, split, promote, roll back, retire),
their history, the prediction log behind them, and predictions through the gateway."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson

from modelward.domain.deployments import Deployment, DeploymentState, validate_name
from modelward.errors import InvalidInput
from modelward.sdk._http import HttpSession

PREDICTION_BODY_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def _path(name: str) -> str:
    return f"/api/v1/deployments/{quote(validate_name(name), safe='')}"


def _serve_path(name: str, what: str) -> str:
    return f"/serve/{quote(validate_name(name), safe='')}/{what}"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


@dataclass(frozen=True)
class Prediction:
    """What the gateway answered: the predictions, the version that answered and the request id
    (give it with feedback later)."""

    predictions: list[Any]
    version: int | None
    request_id: str | None
    revision: int | None = None


def prediction_body(data: Any) -> bytes:
    """MLflow's scoring body: ``dataframe_split`` for a pandas DataFrame, ``dataframe_records`` for
    a list of dicts; a dict already in one of MLflow's shapes is sent as it is."""
    if isinstance(data, dict):
        if not any(key in data for key in PREDICTION_BODY_KEYS):
            raise InvalidInput(f"a dict to predict on must be an MLflow scoring body with one of "
                               f"{', '.join(PREDICTION_BODY_KEYS)}; pass rows as a list of dicts or a DataFrame")
        return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)
    if isinstance(data, list):
        if not data or not all(isinstance(row, dict) for row in data):
            raise InvalidInput("rows to predict on must be a non-empty list of dicts (column -> value)")
        return orjson.dumps({"dataframe_records": data}, option=orjson.OPT_SERIALIZE_NUMPY)
    if hasattr(data, "to_json") and hasattr(data, "columns"):  # a pandas DataFrame
        split = data.to_json(orient="split", index=False, date_format="iso")
        return b'{"dataframe_split":' + split.encode() + b"}"
    raise InvalidInput(f"cannot predict on a {type(data).__name__}: give a pandas DataFrame, a list of dicts "
                       "or an MLflow scoring body")


class Deployments:
    def __init__(self, http: HttpSession) -> None:
        self._http = http
        self._sticky_keys: dict[str, str] = {}

    def _deployment(self, method: str, path: str, body: dict[str, Any] | None = None) -> Deployment:
        return Deployment.model_validate(self._http.call(method, path, json=body if body is not None else {}))

    # -- changing ---------------------------------------------------------------------------

    def create(self, name: str, *, model: str, version: int, environment: str, sticky_key: str | None = None,
               reason: str | None = None) -> Deployment:
        """A new endpoint in ``environment`` serving ``version`` of ``model`` with all its traffic.
        ``sticky_key`` ('header:x-customer-id' or 'field:customer_id') keeps a key on one version."""
        body = {"name": validate_name(name), "model": model, "environment": environment, "version": int(version),
                "sticky_key": sticky_key, "reason": reason}
        return self._deployment("POST", "/api/v1/deployments", body)

    def release(self, name: str, version: int, *, strategy: str | None = None, steps: list[int] | None = None,
                interval_s: float | None = None, reason: str | None = None) -> Deployment:
        """Start releasing ``version``: direct, canary (``steps``), blue_green or shadow; the
        model's policy chooses when ``strategy`` is None."""
        body = {"version": int(version), "strategy": strategy, "steps": steps, "interval_s": interval_s,
                "reason": reason}
        return self._deployment("POST", _path(name) + "/release", body)

    def set_traffic(self, name: str, weights: dict[int, int], *, shadows: list[int] | None = None,
                    reason: str | None = None) -> Deployment:
        """A split by weight, e.g. ``{1: 90, 2: 10}``, plus versions that get a shadow copy."""
        body = {"weights": {str(v): w for v, w in weights.items()}, "shadows": list(shadows or []), "reason": reason}
        return self._deployment("POST", _path(name) + "/traffic", body)

    def promote(self, name: str, *, reason: str | None = None) -> Deployment:
        """The rollout's next step (the next canary weight, the blue-green switch, the shadow taking over)."""
        return self._deployment("POST", _path(name) + "/promote", {"reason": reason})

    def pause(self, name: str, *, reason: str | None = None) -> Deployment:
        return self._deployment("POST", _path(name) + "/pause", {"reason": reason})

    def resume(self, name: str, *, reason: str | None = None) -> Deployment:
        return self._deployment("POST", _path(name) + "/resume", {"reason": reason})

    def rollback(self, name: str, *, reason: str | None = None) -> Deployment:
        """Back at once to the last settled state before the current one."""
        return self._deployment("POST", _path(name) + "/rollback", {"reason": reason})

    def retire(self, name: str, *, reason: str | None = None) -> Deployment:
        return self._deployment("POST", _path(name) + "/retire", {"reason": reason})

    def check(self, name: str) -> dict[str, Any]:
        """Judge the canary's current step by its guardrails (it may roll back or promote)."""
        return self._http.call("POST", _path(name) + "/check")  # type: ignore[no-any-return]

    # -- reading ----------------------------------------------------------------------------

    def get(self, name: str) -> Deployment:
        return Deployment.model_validate(self._http.call("GET", _path(name)))

    def list(self, *, environment: str | None = None, model: str | None = None) -> list[Deployment]:
        params = {k: v for k, v in {"environment": environment, "model": model}.items() if v is not None}
        data = self._http.call("GET", "/api/v1/deployments", params=params)
        return [Deployment.model_validate(item) for item in data["deployments"]]

    def history(self, name: str) -> list[DeploymentState]:
        """Every revision, oldest first."""
        data = self._http.call("GET", _path(name) + "/history")
        return [DeploymentState.model_validate(item) for item in data["revisions"]]

    def state_at(self, name: str, at: datetime) -> DeploymentState:
        """The state in force at ``at`` (a naive datetime is read as UTC)."""
        return DeploymentState.model_validate(self._http.call("GET", _path(name) + "/state",
                                                              params={"at": at.isoformat()}))

    def predictions(self, name: str, *, since: datetime | None = None, until: datetime | None = None,
                    version: int | None = None, mode: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Logged answers of the endpoint, newest first."""
        params = {"since": _iso(since), "until": _iso(until), "version": version, "mode": mode, "limit": limit}
        data = self._http.call("GET", _path(name) + "/predictions",
                               params={k: v for k, v in params.items() if v is not None})
        return data["predictions"]  # type: ignore[no-any-return]

    def stats(self, name: str, *, since: datetime | None = None, until: datetime | None = None) -> dict[str, Any]:
        """``{"versions": [...], "shadow": ...}``: per version and mode, requests, errors, latency and
        quality since ``since`` (default: the last hour); the shadow's agreement with live answers."""
        params = {k: v for k, v in {"since": _iso(since), "until": _iso(until)}.items() if v is not None}
        return self._http.call("GET", _path(name) + "/stats", params=params)  # type: ignore[no-any-return]

    def prediction(self, request_id: str) -> dict[str, Any]:
        """The records of one request (live and shadow answers) and its feedback."""
        return self._http.call("GET", f"/api/v1/predictions/{quote(request_id, safe='')}")  # type: ignore[no-any-return]

    # -- the gateway ------------------------------------------------------------------------

    def feedback(self, name: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        """Ground truth for answered requests: ``[{"request_id": ..., "ground_truth": ...}, ...]``."""
        return self._http.call("POST", _serve_path(name, "feedback"), json={"feedback": items})  # type: ignore[no-any-return]

    def predict(self, name: str, data: Any, *, proba: bool = False, request_id: str | None = None,
                routing_key: str | None = None) -> Prediction:
        """Score ``data`` (a DataFrame, a list of dicts, or an MLflow scoring body) on the endpoint.
        ``routing_key`` keeps a caller on one version (the endpoint's sticky header carries it)."""
        headers = {"content-type": "application/json"}
        if request_id is not None:
            headers["modelward-request-id"] = request_id
        if routing_key is not None:
            headers[self._sticky_header(name)] = routing_key
        response = self._http._send("POST", _serve_path(name, "predict_proba" if proba else "predict"),
                                    content=prediction_body(data), headers=headers)
        answer = orjson.loads(response.content)
        version = response.headers.get("modelward-version")
        revision = response.headers.get("modelward-deployment-revision")
        return Prediction(predictions=answer["predictions"], version=int(version) if version else None,
                          request_id=response.headers.get("modelward-request-id"),
                          revision=int(revision) if revision else None)

    def _sticky_header(self, name: str) -> str:
        key = self._sticky_keys.get(name)
        if key is None:
            key = self._sticky_keys[name] = self.get(name).sticky_key
        kind, _, header = key.partition(":")
        if kind != "header":
            raise InvalidInput(f"deployment '{name}' routes by the input field '{header}': put the key in the "
                               "data instead of routing_key")
        return header

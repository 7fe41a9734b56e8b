"""``client.explain``: global explanations of a version (computed and stored on the server, or
the latest stored), local ones of a row, and of a logged prediction by its request id."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from modelward.errors import InvalidInput
from modelward.sdk._http import HttpSession


def _base(model: str, version: int) -> str:
    if not isinstance(model, str) or not model.strip():
        raise InvalidInput(f"model must be a non-empty name, got {model!r}")
    return f"/api/v1/models/{quote(model, safe='')}/versions/{int(version)}/explanations"


def _rows(row: Any) -> list[dict[str, Any]]:
    if hasattr(row, "to_dict") and hasattr(row, "columns"):  # a DataFrame
        return [{str(k): v for k, v in record.items()} for record in row.to_dict(orient="records")]
    if isinstance(row, dict):
        return [row]
    if isinstance(row, list) and row and all(isinstance(item, dict) for item in row):
        return row
    raise InvalidInput("row must be a dict of feature values, a list of them, or a DataFrame")


class Explanations:
    def __init__(self, http: HttpSession) -> None:
        self._http = http

    def global_(self, model: str, version: int, *, dataset: dict[str, str] | None = None, seed: int = 0,
                top: int = 10) -> dict[str, Any]:
        """Compute and store a global explanation (a new revision); returns the stored document."""
        body = {"dataset": dataset, "seed": seed, "top": top}
        return self._http.call("POST", _base(model, version), json=body)  # type: ignore[no-any-return]

    def latest(self, model: str, version: int) -> dict[str, Any]:
        """The latest stored global explanation of the version."""
        return self._http.call("GET", _base(model, version) + "/latest")  # type: ignore[no-any-return]

    def local(self, model: str, version: int, row: Any, *, dataset: dict[str, str] | None = None,
              seed: int = 0) -> dict[str, Any]:
        """Attributions and nearest reference rows of ``row`` (a dict, a list of dicts or a DataFrame)."""
        body = {"inputs": _rows(row), "dataset": dataset, "seed": seed}
        return self._http.call("POST", _base(model, version) + "/local", json=body)  # type: ignore[no-any-return]

    def for_request(self, request_id: str) -> dict[str, Any]:
        """The local explanation of a logged prediction, with the version and deployment state then."""
        if not isinstance(request_id, str) or not request_id.strip():
            raise InvalidInput(f"request_id must be a non-empty string, got {request_id!r}")
        path = f"/api/v1/explanations/requests/{quote(request_id, safe='')}"
        return self._http.call("GET", path)  # type: ignore[no-any-return]

    def counterfactuals(self, model: str, version: int, row: dict[str, Any], *, constraints: dict[str, Any] | None = None,
                        target: Any = None, count: int = 3, max_evaluations: int = 2000, seed: int = 0) -> dict[str, Any]:
        """The smallest changes to ``row`` that change the version's answer (to ``target``: a class,
        or ``{"threshold": t, "direction": "above"}`` for regression), each checked by the model;
        ``constraints``: ``{"immutable": [...], "ranges": {f: [lo, hi]}, "monotone": {f: "increase_only"},
        "choices": {f: [...]}}``."""
        [one] = _rows(row) if not isinstance(row, list) else [row]  # a DataFrame of one row, or a dict
        body = {"inputs": one, "constraints": constraints, "target": target, "count": count,
                "max_evaluations": max_evaluations, "seed": seed}
        path = _base(model, version).removesuffix("/explanations") + "/counterfactuals"
        return self._http.call("POST", path, json=body)  # type: ignore[no-any-return]

    def counterfactuals_for_request(self, request_id: str, *, row: int = 0, constraints: dict[str, Any] | None = None,
                                    target: Any = None, count: int = 3, max_evaluations: int = 2000,
                                    seed: int = 0) -> dict[str, Any]:
        """Counterfactuals of a logged prediction (row ``row`` of its inputs), for the version that answered."""
        if not isinstance(request_id, str) or not request_id.strip():
            raise InvalidInput(f"request_id must be a non-empty string, got {request_id!r}")
        body = {"row": row, "constraints": constraints, "target": target, "count": count,
                "max_evaluations": max_evaluations, "seed": seed}
        return self._http.call("POST", f"/api/v1/counterfactuals/requests/{quote(request_id, safe='')}",
                               json=body)  # type: ignore[no-any-return]


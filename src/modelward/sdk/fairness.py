"""``client.fairness``: per-group fairness of a registered version, computed on the server on the
policy's evaluation dataset (or a named one), per sensitive feature or intersection."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from modelward.errors import InvalidInput
from modelward.sdk._http import HttpSession


def _features(features: Any) -> list[str | list[str]]:
    if isinstance(features, str):
        return [features]
    if isinstance(features, list | tuple) and features and all(
            isinstance(f, str) or (isinstance(f, list | tuple) and all(isinstance(c, str) for c in f))
            for f in features):
        return [f if isinstance(f, str) else list(f) for f in features]
    raise InvalidInput('features must be a column name or a list of them, with lists for intersections: '
                       f'["sex", ["sex", "age_band"]]; got {features!r}')


class Fairness:
    def __init__(self, http: HttpSession) -> None:
        self._http = http

    def for_version(self, model: str, version: int, features: Any, *, dataset: dict[str, str] | None = None,
                    seed: int = 0, bootstrap: int = 200, min_group_size: int = 30) -> dict[str, Any]:
        """Per group of each feature (``"sex"``) or intersection (``["sex", "age_band"]``): counts,
        performance, selection rate and error rates with bootstrap intervals, small groups flagged;
        the demographic parity and equalized odds differences and ratios. ``result["fairness"][name]``
        is the report, keyed ``"sex"`` or ``"sex & age_band"``."""
        if not isinstance(model, str) or not model.strip():
            raise InvalidInput(f"model must be a non-empty name, got {model!r}")
        body = {"features": _features(features), "dataset": dataset, "seed": seed, "bootstrap": bootstrap,
                "min_group_size": min_group_size}
        path = f"/api/v1/models/{quote(model, safe='')}/versions/{int(version)}/fairness"
        return self._http.call("POST", path, json=body)  # type: ignore[no-any-return]

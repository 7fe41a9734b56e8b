"""Counterfactuals for a registered version, or for a logged prediction, computed on the server.

Loading. Exactly as the serving gateway loads a version (``services.model_pool`` through
``services.model_files``): its files downloaded blob by blob, the folder checked against the
version's ``artifact_digest``, then the data-only loader (skops with its type audit, ONNX) in
this process; a code-bearing version (pyfunc, pickle) only when its policy says ``evaluation:
{code_models: isolated}`` (as for evaluations and explanations: this is analysis of a version,
not serving), and then in the sandboxed worker; otherwise PolicyViolation. Nothing a request
sends changes how the model loads.

Constraints. The caller's when given; else the version's tag ``modelward.counterfactual_constraints``
(JSON, as ``Constraints`` reads it); else none declared. In every case completed from the policy's
evaluation dataset when it names one (observed ranges and choices, MAD scales of the distance):
declared values win. Without such data only declared ranges and choices let a feature move.

A logged prediction (``for_request``) is explained with the inputs the log holds for its live
answer and the version that gave it; ``row`` picks one row of a batch request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from modelward.domain.governance import DatasetRef
from modelward.domain.policy import Policy
from modelward.domain.registry import ModelVersion
from modelward.errors import InvalidInput
from modelward.evaluation.counterfactuals import Constraints, Counterfactual, one_row, run
from modelward.services import analysis_cache, model_files, policies, predictions, registry
from modelward.services.backend import Backend

CONSTRAINTS_TAG = "modelward.counterfactual_constraints"


class VersionCounterfactuals(BaseModel):
    """Counterfactuals of one input for one version, with what they were computed under."""

    model: str
    version: int
    artifact_digest: str
    request_id: str | None = None  # for a logged prediction
    input: dict[str, Any]
    original_prediction: Any
    target: Any
    counterfactuals: list[Counterfactual]
    constraints: dict[str, Any]  # as used: declared, completed from the data
    constraints_source: str  # "request", "tag" or "none" (nothing declared)
    data: DatasetRef | None  # the data the ranges and scales come from
    actionable: list[str]
    evaluations: int
    distance: str


def for_version(
    backend: Backend, model: str, version: int, row: Any, *, constraints: Any = None, target: Any = None,
    count: int = 3, max_evaluations: int = 2000, seed: int = 0,
) -> VersionCounterfactuals:
    """Counterfactuals of ``row`` (a feature -> value mapping, or a one-row table) for ``version``."""
    found = registry.get_version(backend, model, version)
    policy = policies.effective_policy(backend, model)
    declared, source = _declared(found, constraints)
    data, ref = _reference_data(backend, policy)
    with analysis_cache.opened_for_analysis(backend, policy, found, analysis="search counterfactuals",
                                            doing="searches counterfactuals of") as loaded:
        frame = _typed_row(row, getattr(loaded, "signature", None))
        completed = declared.with_data(data[[c for c in frame.columns if c in data.columns]]) \
            if data is not None else declared
        result = run(loaded, frame, constraints=completed, target=target, count=count,
                     max_evaluations=max_evaluations, seed=seed)
    return VersionCounterfactuals(
        model=model, version=version, artifact_digest=found.artifact_digest,
        input={str(c): _plain(frame[c].iloc[0]) for c in frame.columns},
        original_prediction=result.original_prediction, target=result.target,
        counterfactuals=result.counterfactuals, constraints=completed.model_dump(mode="json"),
        constraints_source=source, data=ref, actionable=result.actionable, evaluations=result.evaluations,
        distance=result.distance,
    )


def for_request(
    backend: Backend, request_id: str, *, row: int = 0, constraints: Any = None, target: Any = None,
    count: int = 3, max_evaluations: int = 2000, seed: int = 0,
) -> VersionCounterfactuals:
    """Counterfactuals of a logged prediction: its live answer's inputs (row ``row`` of them) and version."""
    logged = predictions.get(backend, request_id)
    live = next((r for r in logged["records"] if r.get("mode") == "live"), None)
    if live is None:
        raise InvalidInput(f"request {request_id!r} has no live answer in the log, only shadow ones")
    if live.get("status", 200) >= 400:
        raise InvalidInput(f"request {request_id!r} failed (status {live['status']}): there is no prediction to "
                           "explain")
    version = registry.get_version(backend, live["model_name"], int(live["version"]))
    inputs = _logged_row(live["inputs"], row, version)
    found = for_version(backend, live["model_name"], int(live["version"]), inputs, constraints=constraints,
                        target=target, count=count, max_evaluations=max_evaluations, seed=seed)
    return found.model_copy(update={"request_id": request_id})


# -- parts ---------------------------------------------------------------------------------------------


def _declared(version: ModelVersion, constraints: Any) -> tuple[Constraints, str]:
    if constraints is not None:
        return Constraints.parse(constraints), "request"
    tagged = version.tags.get(CONSTRAINTS_TAG)
    if tagged is None:
        return Constraints(), "none"
    try:
        return Constraints.parse(tagged), "tag"
    except InvalidInput as exc:
        raise InvalidInput(f"the tag {CONSTRAINTS_TAG} of {model_files.label(version)} does not hold valid "
                           f"constraints: {exc}") from None


def _reference_data(backend: Backend, policy: Policy) -> tuple[Any, DatasetRef | None]:
    if policy.evaluation_dataset is None:
        return None, None
    return analysis_cache.load_dataset(backend, DatasetRef(**policy.evaluation_dataset.model_dump()))


def _typed_row(row: Any, signature: Any) -> Any:
    """The row as one typed DataFrame: through the model's signature when it has a table one."""
    import pandas as pd

    if isinstance(row, list) and len(row) == 1 and isinstance(row[0], Mapping):
        row = row[0]
    frame = one_row(row)
    if signature is not None and signature.input_kind == "dataframe":
        from modelward.formats.signature import enforce

        frame = enforce(signature, frame)
    return pd.DataFrame(frame).reset_index(drop=True)


def _logged_row(inputs: Any, index: int, version: ModelVersion) -> dict[str, Any]:
    """Row ``index`` of the logged inputs as feature -> value: row objects as they are, plain
    rows named by the version's table signature."""
    rows = inputs if isinstance(inputs, list) else [inputs]
    if not 0 <= index < len(rows):
        raise InvalidInput(f"the logged request has {len(rows)} input row(s); row {index} does not exist")
    picked = rows[index]
    if isinstance(picked, Mapping):
        return dict(picked)
    names = [spec.get("name") for spec in (version.signature or {}).get("inputs", []) if isinstance(spec, dict)]
    if isinstance(picked, list) and len(names) == len(picked) and all(isinstance(n, str) for n in names):
        return dict(zip(names, picked))
    raise InvalidInput("the logged inputs are not rows of named features (and the version's signature does not "
                       "name them): counterfactuals need named features")


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


__all__ = ["CONSTRAINTS_TAG", "VersionCounterfactuals", "for_request", "for_version"]

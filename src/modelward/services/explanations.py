"""Explanations of registered versions: global ones stored as evidence, local ones on request.

``global_`` computes permutation importance, partial dependence and (with the ``explain``
extra) SHAP on the policy's evaluation dataset, or on a named {run_id, path}, and stores the
document with the version as a new revision (the older ones are kept), with the digest of the
data read, the parameters, the seed and the library versions; audit ``model_version.explained``.

``local`` explains input rows sent with the call; ``local_for_request`` the inputs of a logged
prediction, with the version that answered and its endpoint's deployment state at that moment.
Both use the policy's evaluation dataset (or the named one) as the reference data: the fixed
background of the attributions and the rows the nearest examples come from.

What loads: the version's files verified against its digest and opened the one safe way
(``services.model_files.open_model``): data-only formats here; a pyfunc or pickle version only
in the sandboxed worker when its policy says ``evaluation: {code_models: isolated}``, else
PolicyViolation. Nothing here unpickles or imports a model's code.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelward.domain.actors import Actor
from modelward.domain.governance import DatasetRef
from modelward.domain.policy import Policy, Task
from modelward.errors import InvalidInput, NotFound
from modelward.services import analysis_cache, audit, model_files, policies
from modelward.services.backend import Backend
from modelward.store import explanations as store
from modelward.store import registry as registry_store

MAX_LOCAL_ROWS = 20
MAX_TOP = 50


def _opened(backend: Backend, policy: Policy, version: Any) -> Any:
    return analysis_cache.opened_for_analysis(backend, policy, version, analysis="explain", doing="explains")


def _dataset_ref(policy: Policy, dataset: DatasetRef | dict[str, Any] | None) -> DatasetRef:
    if dataset is not None:
        try:
            ref = DatasetRef.model_validate(dataset)
        except ValueError as exc:
            raise InvalidInput(f"dataset must be {{run_id, path}} of a Parquet or CSV artifact: {exc}") from None
        return DatasetRef(run_id=ref.run_id, path=ref.path)
    if policy.evaluation_dataset is None:
        raise InvalidInput("explaining needs data: the policy's evaluation_dataset, or a dataset "
                           "(run_id and path of a Parquet or CSV artifact)")
    return DatasetRef(**policy.evaluation_dataset.model_dump())


def _label_column(policy: Policy, data: Any) -> str | None:
    candidates = [policy.label] if policy.label else ["label", "target"]
    return next((name for name in candidates if name in data.columns), None)


def _feature_columns(model: Any, policy: Policy, data: Any, label: str | None) -> list[str]:
    """The model's inputs: its signature's columns, else the estimator's feature names, else every
    column but the label and the sensitive features."""
    signature = getattr(model, "signature", None)
    if signature is not None and signature.input_kind == "dataframe":
        columns = list(signature.column_names)
    elif getattr(getattr(model, "raw", None), "feature_names_in_", None) is not None:
        columns = [str(c) for c in model.raw.feature_names_in_]
    else:
        dropped = {label, *policy.sensitive_features}
        columns = [c for c in data.columns if c not in dropped]
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise InvalidInput(f"the data lacks the model's input column(s) {', '.join(map(str, missing))}")
    return columns


def _check_seed(seed: Any) -> None:
    if not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise InvalidInput(f"seed must be an integer from 0 to 2**32 - 1, got {seed!r}")


def _context(backend: Backend, name: str, version: int) -> tuple[Policy, Any]:
    with backend.read() as session:
        policy, _ = policies.effective_in(session, name)
        target = registry_store.get_version(session, name, version)
    return policy, target


def _libraries() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    from modelward.evaluation.explain import shap_available

    found: dict[str, str | None] = {"shap": None}  # None: not used, as it is not importable here
    for package in ("scikit-learn", "numpy", "pandas", *(("shap",) if shap_available() else ())):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


# -- global ----------------------------------------------------------------------------------------


def global_(backend: Backend, actor: Actor, model: str, version: int, *,
            dataset: DatasetRef | dict[str, Any] | None = None, seed: int = 0, top: int = 10) -> dict[str, Any]:
    """Compute and store a global explanation of the version; returns the stored document."""
    from modelward.evaluation import explain

    if not isinstance(top, int) or not 1 <= top <= MAX_TOP:
        raise InvalidInput(f"top must be an integer from 1 to {MAX_TOP}, got {top!r}")
    _check_seed(seed)
    policy, target = _context(backend, model, version)
    data, ref = analysis_cache.load_dataset(backend, _dataset_ref(policy, dataset))
    label = _label_column(policy, data)
    if label is None:
        raise InvalidInput("the data has no label column (the policy's label, or 'label' or 'target'): "
                           "permutation importance needs the truth")
    with _opened(backend, policy, target) as loaded:
        features = data[_feature_columns(loaded, policy, data, label)]
        try:
            computed = explain.global_explanation(
                loaded, features, data[label].to_numpy(), classification=policy.task is Task.CLASSIFICATION,
                positive_label=policy.positive_label, seed=seed, top=top)
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidInput(f"explaining {model_files.label(target)} failed on the data: "
                               f"{type(exc).__name__}: {exc}") from None
    now = datetime.now(UTC)
    document = global_document(actor, policy, target, ref, computed, rows=len(features), label=label,
                               seed=seed, top=top, at=now)
    with backend.write() as session:
        revision = record_global(session, actor, target, document, ref, at=now)
    return {**document, "revision": revision}


def global_document(actor: Actor, policy: Policy, target: Any, ref: DatasetRef, computed: dict[str, Any], *,
                    rows: int, label: str, seed: int, top: int, at: datetime, n_repeats: int = 5,
                    source: str = "request") -> dict[str, Any]:
    """The stored form of a global explanation: what was computed, on which data, with what.
    ``source``: "request" (asked for) or "evaluation" (computed by an explanation gate)."""
    from modelward.services.evaluations import finite_json

    return finite_json({
        "model": target.model_name, "version": target.version, "artifact_digest": target.artifact_digest,
        "kind": "global", "source": source, "dataset": ref.model_dump(mode="json"), "rows": rows,
        "parameters": {"seed": seed, "top": top, "n_repeats": n_repeats, "task": policy.task.value,
                       "positive_label": policy.positive_label, "label": label},
        "libraries": _libraries(), "created_by": actor.name, "created_at": at.isoformat(), **computed,
    })


def record_global(session: Any, actor: Actor, target: Any, document: dict[str, Any], ref: DatasetRef, *,
                  at: datetime) -> int:
    """Keep ``document`` as the version's newest explanation revision, audited, in the caller's
    transaction; returns the revision."""
    from modelward.services.governance import locked_version, subject_id

    name, version = target.model_name, target.version
    row = locked_version(session, name, version)
    revision = store.add(session, row, document, data_digest=ref.digest, created_by=actor.name, created_at=at)
    audit.record(session, actor, "model_version.explained", subject_type="model_version",
                 subject_id=subject_id(name, version), model_name=name,
                 details={"revision": revision, "dataset_digest": ref.digest, "source": document["source"],
                          "seed": document["parameters"]["seed"], "top": document["parameters"]["top"],
                          "shap": document.get("shap") is not None})
    return revision


def latest_global(backend: Backend, model: str, version: int) -> dict[str, Any]:
    with backend.read() as session:
        found = store.latest(session, registry_store.version_row(session, model, version))
    if found is None:
        raise NotFound(f"version {version} of model '{model}' has no stored global explanation; "
                       "compute one with POST .../explanations")
    return found


def global_revisions(backend: Backend, model: str, version: int) -> list[dict[str, Any]]:
    """Every stored global explanation of the version, newest first."""
    with backend.read() as session:
        return store.revisions(session, registry_store.version_row(session, model, version))


# -- local -----------------------------------------------------------------------------------------


def _rows_frame(row: Any, columns: list[str] | None = None) -> Any:
    """Input rows as a DataFrame: one dict, a list of dicts (records), or a DataFrame."""
    import pandas as pd

    if isinstance(row, pd.DataFrame):
        frame = row
    elif isinstance(row, dict):
        frame = pd.DataFrame([row])
    elif isinstance(row, list) and row and all(isinstance(item, dict) for item in row):
        frame = pd.DataFrame.from_records(row)
    elif isinstance(row, list) and row and all(isinstance(item, list) for item in row) and columns:
        if any(len(item) != len(columns) for item in row):
            raise InvalidInput(f"each input row must have {len(columns)} values ({', '.join(columns)})")
        frame = pd.DataFrame(row, columns=columns)
    else:
        raise InvalidInput("inputs must be a row ({feature: value}) or a non-empty list of rows")
    if frame.empty:
        raise InvalidInput("inputs must hold at least one row")
    if len(frame) > MAX_LOCAL_ROWS:
        raise InvalidInput(f"at most {MAX_LOCAL_ROWS} rows are explained per call, got {len(frame)}")
    return frame


def local(backend: Backend, model: str, version: int, row: dict[str, Any] | Any, *,
          dataset: DatasetRef | dict[str, Any] | None = None, seed: int = 0, nearest: int = 5) -> dict[str, Any]:
    """Attributions of each input row (summing to its prediction minus the base value) and the
    nearest rows of the reference data (the policy's evaluation dataset, or ``dataset``)."""
    from modelward.evaluation import explain
    from modelward.services import evaluations

    _check_seed(seed)
    if not isinstance(nearest, int) or not 0 <= nearest <= 50:
        raise InvalidInput(f"nearest must be an integer from 0 to 50, got {nearest!r}")
    policy, target = _context(backend, model, version)
    reference, ref = analysis_cache.load_dataset(backend, _dataset_ref(policy, dataset))
    label = _label_column(policy, reference)
    with _opened(backend, policy, target) as loaded:
        columns = _feature_columns(loaded, policy, reference, label)
        given = _rows_frame(row, columns)
        missing = [c for c in columns if c not in given.columns]
        if missing:
            raise InvalidInput(f"the input lacks the model's column(s) {', '.join(map(str, missing))}")
        rows = given[columns].astype(reference[columns].dtypes.to_dict(), errors="ignore")
        try:
            computed = explain.local_explanation(
                loaded, rows, reference[columns], classification=policy.task is Task.CLASSIFICATION,
                positive_label=policy.positive_label, seed=seed, nearest=nearest)
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidInput(f"explaining the input with {model_files.label(target)} failed: "
                               f"{type(exc).__name__}: {exc}") from None
    return evaluations.finite_json({"model": model, "version": version, "artifact_digest": target.artifact_digest,
                    "reference": ref.model_dump(mode="json"), "seed": seed, "libraries": _libraries(), **computed})


MAX_CHOICES = 50


def what_if_start(backend: Backend, model: str, version: int) -> dict[str, Any]:
    """What a what-if form starts from: the model's input features (each a number, or a choice
    among the reference data's values) and the first row of the reference data (the policy's
    evaluation dataset), the row ``local`` explains first."""
    import pandas as pd

    from modelward.services import evaluations

    policy, target = _context(backend, model, version)
    reference, ref = analysis_cache.load_dataset(backend, _dataset_ref(policy, None))
    label = _label_column(policy, reference)
    with _opened(backend, policy, target) as loaded:
        columns = _feature_columns(loaded, policy, reference, label)
    features = []
    for name in columns:
        column = reference[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            features.append({"name": str(name), "kind": "number",
                             "integer": bool(pd.api.types.is_integer_dtype(column)),
                             "min": _plain_value(column.min()), "max": _plain_value(column.max())})
        else:
            choices = [_plain_value(v) for v in pd.unique(column.dropna())][:MAX_CHOICES]
            features.append({"name": str(name), "kind": "choice", "choices": choices})
    row = {str(name): _plain_value(reference[name].iloc[0]) for name in columns}
    return evaluations.finite_json({"model": model, "version": version, "reference": ref.model_dump(mode="json"),
                                    "features": features, "row": row})


def _plain_value(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def local_for_request(backend: Backend, request_id: str) -> dict[str, Any]:
    """The local explanation of a logged prediction: its inputs as logged, the version that
    answered, and its endpoint's deployment state at that moment."""
    from modelward.services import deployments, predictions

    logged = predictions.get(backend, request_id)
    live = [r for r in logged["records"] if r.get("mode") == "live"] or logged["records"]
    record = live[0]
    inputs = record.get("inputs")
    if isinstance(inputs, dict) and "unserialisable" in inputs:
        raise InvalidInput(f"the inputs of request {request_id!r} were not logged as data, so they cannot be explained")
    at = record["at"] if isinstance(record["at"], datetime) else datetime.fromisoformat(str(record["at"]))
    try:
        state = deployments.state_at(backend, record["endpoint"], at)
        deployment = {"endpoint": record["endpoint"], "revision": state.revision, "action": state.action,
                      "status": state.status.value, "at": state.at.isoformat(), "weights": {str(v): w for v, w in state.weights().items()},
                      "routes": [route.model_dump(mode="json") for route in state.routes],
                      "rollout": state.rollout.model_dump(mode="json") if state.rollout else None}
    except NotFound as exc:
        deployment = {"endpoint": record["endpoint"], "note": str(exc)}
    explained = local(backend, record["model_name"], int(record["version"]), inputs)
    return {**explained, "request_id": request_id, "answered_at": at.isoformat(), "mode": record.get("mode"),
            "logged_outputs": record.get("outputs"), "deployment": deployment}


__all__ = ["global_", "global_revisions", "latest_global", "local", "local_for_request", "what_if_start"]

"""Registry use cases: register versions from run artifacts, tag, alias, search, compare.

Every change a reviewer or auditor would ask about (a model created, renamed or deleted; a
version registered, archived, staged or deleted; an alias moved or removed) appends an audit
event in the same transaction. Descriptions and tags are metadata and are not audited.

A version never copies bytes: its files name the blobs of the source run's artifacts by
digest, and its ``artifact_digest`` (SHA-256 over the sorted ``path\\tdigest`` manifest) fixes
them for good. Aliases move between versions; every move is kept, so "which version was
champion then?" is one query. Local files reach the registry through a run (the SDK uploads
them into a run of the ``_uploads`` experiment first), so there is one registration path.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any


from modelward.domain.actors import Actor
from modelward.domain.governance import authors_of, check_archivable
from modelward.domain.lineage import ArtifactKind, ArtifactSpec, ExecutionSpec, ExecutionType
from modelward.domain.names import MAX_TAG_VALUE_LENGTH, new_id, validate_key, validate_value
from modelward.domain.registry import (
    ARCHIVED,
    CANDIDATE,
    MODEL_FIELDS,
    POINTER_STAGES,
    STAGE_TAG,
    STAGES,
    VERSION_FIELDS,
    AliasEvent,
    ModelPage,
    ModelVersion,
    RegisteredModel,
    VersionComparison,
    VersionFile,
    VersionPage,
    manifest_digest,
    parse_registry_filter,
    validate_alias,
    validate_model_name,
)
from modelward.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from modelward.services import audit, lineage, policies
from modelward.services.backend import Backend
from modelward.store import artifact_index
from modelward.store import experiments as experiment_store
from modelward.store import governance as governance_store
from modelward.store import registry as store
from modelward.store import run_writers
from modelward.store import runs as run_store

UPLOADS_EXPERIMENT = "_uploads"
"""Experiment holding the runs the SDK creates to carry local files into the registry."""

MAX_RESULTS_LIMIT = 10_000
MAX_METADATA_BYTES = 1 << 20
MODELWARD_MANIFEST = "modelward-model.yaml"
MLFLOW_MANIFEST = "MLmodel"
REQUIREMENTS_FILE = "requirements.txt"


def _version_subject(name: str, version: int) -> str:
    return f"{name}/{version}"


def _now() -> datetime:
    return datetime.now(UTC)


def _check_tags(tags: dict[str, str] | None) -> dict[str, str]:
    for key, value in (tags or {}).items():
        validate_key(key, "tag")
        validate_value(value, "tag", MAX_TAG_VALUE_LENGTH)
    return dict(tags or {})


def _decode_page_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("offset:"))
    except ValueError:
        raise InvalidInput(f"invalid page token {token!r}") from None
    if offset < 0:
        raise InvalidInput(f"invalid page token {token!r}")
    return offset


def _page_token(offset: int, more: bool) -> str | None:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode() if more else None


def _check_max_results(max_results: int) -> None:
    if not 1 <= max_results <= MAX_RESULTS_LIMIT:
        raise InvalidInput(f"max_results must be between 1 and {MAX_RESULTS_LIMIT}, got {max_results}")


# -- registered models ----------------------------------------------------------------------


def create_model(
    backend: Backend, actor: Actor, name: str, *, description: str | None = None,
    tags: dict[str, str] | None = None,
) -> RegisteredModel:
    validate_model_name(name)
    tags = _check_tags(tags)
    with backend.write() as session:
        model = store.create_model(
            session, model_id=new_id(), name=name, description=description, tags=tags,
            created_by=actor.name, now=_now(),
        )
        governance_store.bind_model_policies(session, f"model:{name}", model.id)  # a policy set before the model
        audit.record(session, actor, "model.created", subject_type="registered_model", subject_id=name,
                     model_name=name, details={"tags": tags} if tags else None)
        return model


def _ensure_model(backend: Backend, actor: Actor, name: str) -> None:
    with backend.read() as session:
        if store.find_model(session, name) is not None:
            return
    try:
        create_model(backend, actor, name)
    except AlreadyExists:  # another writer created it meanwhile: just what we wanted
        pass


def get_model(backend: Backend, name: str) -> RegisteredModel:
    with backend.read() as session:
        return store.get_model(session, name)


def search_models(
    backend: Backend, *, filter: str | None = None, max_results: int = 100, page_token: str | None = None
) -> ModelPage:
    _check_max_results(max_results)
    conditions = parse_registry_filter(filter, fields=MODEL_FIELDS)
    offset = _decode_page_token(page_token)
    with backend.read() as session:
        models, more = store.search_models(session, conditions, limit=max_results, offset=offset)
    return ModelPage(models=models, next_page_token=_page_token(offset + max_results, more))


def update_model(
    backend: Backend, actor: Actor, name: str, *, description: str | None = None, new_name: str | None = None,
    reason: str | None = None,
) -> RegisteredModel:
    with backend.write() as session:
        row = store.model_row(session, name, lock=True)
        if description is not None:
            policies.require_write(actor, f"change the description of model '{name}'")
            store.touch_model(session, row, _now(), description=description)
        if new_name is not None and new_name != name:
            _rename(session, actor, row, name, validate_model_name(new_name), reason)
        return store.get_model(session, row.name)


def _refuse_while_routed(session: Any, name: str, what: str, *, version: int | None = None) -> None:
    from modelward.services.deployments import refuse_while_routed

    refuse_while_routed(session, name, what, version=version)


def _rename(session: Any, actor: Actor, row: Any, name: str, new_name: str, reason: str | None) -> None:
    _refuse_while_routed(session, name, f"model '{name}' cannot be renamed")
    """A governed model keeps its policy and history under the new name; renaming it is governed."""
    _require_for_governed(session, actor, row, name, f"renaming model '{name}'", reason,
                          write_needed=f"rename model '{name}'")
    old_scope, new_scope = f"model:{name}", f"model:{new_name}"
    if governance_store.scope_in_use(session, new_scope):
        raise Conflict(f"a policy is stored for scope '{new_scope}': model '{name}' cannot take that name")
    store.rename_model(session, row, new_name, _now())
    governance_store.rescope_model_policies(session, row.id, old_scope, new_scope)
    audit.record(session, actor, "model.renamed", subject_type="registered_model", subject_id=new_name,
                 model_name=new_name, reason=reason, details={"from": name, "to": new_name})


def _require_for_governed(session: Any, actor: Actor, row: Any, name: str, what: str, reason: str | None,
                          *, write_needed: str, own_policy_governs: bool = False) -> None:
    """A governed model changes only by someone who could approve it, with a reason; any other
    model by anyone with write access. (Routes ask only READ for this: the rule is here.)

    ``own_policy_governs``: a model with a policy of its own counts as governed too. Deleting it
    would shed that policy (a new model under the name starts bare); renaming carries it along."""
    governed = _governed_parts(session, row, name)
    if own_policy_governs and governance_store.active_policy_row(session, f"model:{name}", model_id=row.id):
        governed = "; ".join(filter(None, [governed, "a policy of its own"]))
    if governed:
        policies.require_decider(session, actor, name, f"{what} ({governed})", reason=reason)
    else:
        policies.require_write(actor, write_needed)


def _governed_parts(session: Any, row: Any, name: str) -> str:
    """What makes a model governed: approved or released versions, protected aliases set."""
    parts = []
    versions = store.versions_with_status(session, row.id, policies.ALIAS_TARGET_STATES)
    if versions:
        parts.append("approved or released version(s) " + ", ".join(map(str, versions)))
    protected = sorted(set(store.aliases_of(session, row.id)) & policies.protected_alias_names(session, name))
    if protected:
        parts.append("protected alias(es) " + ", ".join(protected))
    return "; ".join(parts)


def set_model_tags(backend: Backend, actor: Actor, name: str, tags: dict[str, str]) -> RegisteredModel:
    tags = _check_tags(tags)
    with backend.write() as session:
        row = store.model_row(session, name, lock=True)
        before = store.model_entity(session, row).tags
        if set(tags) - {policies.RISK_TIER_TAG}:
            policies.require_write(actor, f"tag model '{name}'")
        _check_risk_tier(session, actor, name, before.get(policies.RISK_TIER_TAG),
                         tags.get(policies.RISK_TIER_TAG, before.get(policies.RISK_TIER_TAG)))
        store.set_model_tags(session, row.id, tags)
        store.touch_model(session, row, _now())
        changed = {k: v for k, v in tags.items() if before.get(k) != v}
        if changed:
            audit.record(session, actor, "model.tags_set", subject_type="registered_model", subject_id=name,
                         model_name=name, details={"tags": changed, "previous": {k: before.get(k) for k in changed}})
        return store.get_model(session, name)


def delete_model_tag(backend: Backend, actor: Actor, name: str, key: str) -> None:
    with backend.write() as session:
        row = store.model_row(session, name, lock=True)
        before = store.model_tag(session, row.id, key)
        if key == policies.RISK_TIER_TAG:
            _check_risk_tier(session, actor, name, before, None)
        else:
            policies.require_write(actor, f"untag model '{name}'")
        store.delete_model_tag(session, row.id, key)
        audit.record(session, actor, "model.tag_deleted", subject_type="registered_model", subject_id=name,
                     model_name=name, details={"key": key, "previous": before})


def _check_risk_tier(session: Any, actor: Actor, name: str, before: str | None, after: str | None) -> None:
    """The risk tier chooses the tier policy: only who may approve the model may change it."""
    if before == after:
        return
    if policies.effective_in(session, name)[1]:
        policies.require_decider(session, actor, name, f"changing the risk tier of model '{name}'",
                                 reason=None, reason_required=False)
    else:
        policies.require_write(actor, f"change the risk tier of model '{name}'")
    audit.record(session, actor, "model.risk_tier_changed", subject_type="registered_model", subject_id=name,
                 model_name=name, details={"from": before, "to": after})


def delete_model(backend: Backend, actor: Actor, name: str, *, reason: str | None = None) -> None:
    """The model, its versions, files, tags, aliases and their history. Blobs stay for gc.

    A governed model (approved or released versions, protected aliases set) is deleted only by
    someone who could approve it, with a reason. The audit event keeps what was deleted."""
    with backend.write() as session:
        row = store.model_row(session, name, lock=True)
        _refuse_while_routed(session, name, f"model '{name}' cannot be deleted")
        _require_for_governed(session, actor, row, name, f"deleting model '{name}'", reason,
                              write_needed=f"delete model '{name}'", own_policy_governs=True)
        model = store.get_model(session, name)
        versions, _ = store.search_versions(session, [], limit=MAX_RESULTS_LIMIT, offset=0, model_name=name)
        store.delete_model(session, row)
        audit.record(
            session, actor, "model.deleted", subject_type="registered_model", subject_id=name, model_name=name,
            reason=reason, details={
                "versions": {str(v.version): {"status": v.status, "artifact_digest": v.artifact_digest} for v in versions},
                "aliases": model.aliases,
            },
        )


# -- registration -------------------------------------------------------------------------------


def register_version(
    backend: Backend, actor: Actor, name: str, *, run_id: str, artifact_path: str = "model",
    description: str | None = None, tags: dict[str, str] | None = None, create_model: bool = True,
    allow_empty: bool = False,
) -> ModelVersion:
    """A new version from the files a run logged under ``artifact_path`` (a folder or one file).

    With nothing there, NotFound, unless ``allow_empty`` (MLflow's API only, whose clients
    register such sources): then a version with no files, which cannot be downloaded."""
    validate_model_name(name)
    tags = _check_tags(tags)
    _refuse_server_tags(tags)
    prefix = _normalize_prefix(artifact_path)
    with backend.read() as session:
        run = run_store.row_of(session, run_id)
        run_pk, experiment_id, run_user = run.pk, run.experiment_id, run.user
        metrics = run_store.latest_metrics(session, run_pk)
        try:
            files = _files_under(session, run_pk, run_id, prefix)
        except NotFound:
            if not allow_empty:
                raise
            files = []
        from_uploads = experiment_store.name_of(session, experiment_id) == UPLOADS_EXPERIMENT
    metadata = _as_stored(_read_metadata(backend, files))
    source = "upload" if from_uploads else f"runs:/{run_id}/{prefix}" if prefix else f"runs:/{run_id}"
    if create_model:
        _ensure_model(backend, actor, name)
    with backend.write() as session:
        model = store.model_row(session, name, lock=True)
        now = _now()
        version = store.add_version(
            session, model=model, version=store.next_version_number(session, model, touched_at=now), files=files,
            tags=tags, description=description, status=CANDIDATE, source=source, source_run_id=run_id,
            artifact_digest=manifest_digest(files), metrics=_finite(metrics), card=None,
            authors=sorted(authors_of(actor.name, run_user, writers=run_writers.users(session, run_pk))),
            created_by=actor.name, created_at=now, updated_at=now, **metadata,
        )
        _record_lineage(session, version, prefix)
        audit.record(
            session, actor, "model_version.registered", subject_type="model_version",
            subject_id=_version_subject(name, version.version), model_name=name,
            details={"version": version.version, "source": source, "run_id": run_id,
                     "artifact_digest": version.artifact_digest, "files": len(files)},
        )
        # Read in this transaction, so the common case (no evaluation dataset) costs no other one.
        evaluate = policies.effective_in(session, name)[0].evaluation_dataset is not None
    if not evaluate:
        return version  # as committed: nothing has changed it since
    from modelward.services import evaluations  # governance: evaluate now, as the policy names a dataset

    evaluations.evaluate_on_registration(backend, actor, name, version.version)
    return get_version(backend, name, version.version)


SOURCE_VERIFIED_TAG = "modelward.source_verified"
"""``false`` on a version registered from an external reference (see ``register_external``)."""
CLAIMED_RUN_TAG = "modelward.claimed_run_id"
"""An external version's ``run_id`` as the client claimed it: another server's run, unverified."""
MAX_SOURCE_LENGTH = 1024  # the model_versions.source column


def _refuse_server_tags(keys: Any) -> None:
    """The stage, the source's verification and a claimed run are the server's to write: a
    contributor's tag edit must not make an unverified version read as verified."""
    for key in keys:
        if key == STAGE_TAG:
            raise InvalidInput(f"tag '{STAGE_TAG}' holds the version's stage: change it with transition-stage")
        if key in (SOURCE_VERIFIED_TAG, CLAIMED_RUN_TAG):
            raise InvalidInput(f"tag '{key}' is set by the server when a version is registered; it cannot be changed")


def register_external(
    backend: Backend, actor: Actor, name: str, *, source: str, description: str | None = None,
    tags: dict[str, str] | None = None, claimed_run_id: str | None = None,
) -> ModelVersion:
    """A version recording ``source`` as an UNVERIFIED external reference, with no files.

    MLflow registers any source URI (s3://..., a local path, models:/name/1, http://...).
    modelward records it as given and never opens, reads, resolves or fetches it: the server
    chooses every storage location, so bytes reach the registry only through a run. Such a
    version is tagged ``modelward.source_verified = false``; it cannot be downloaded, loaded,
    evaluated or approved on evidence, as it has no files (``no_files_reason`` says why).
    The native API does not offer this: it registers from a run only.
    """
    validate_model_name(name)
    tags = _check_tags(tags)
    _refuse_server_tags(tags)
    if not isinstance(source, str) or not source.strip():
        raise InvalidInput("a model version needs a source")
    if len(source) > MAX_SOURCE_LENGTH:
        raise InvalidInput(f"model version source is {len(source)} characters; the limit is {MAX_SOURCE_LENGTH}")
    if any(ord(c) < 32 or ord(c) == 127 for c in source):
        raise InvalidInput(f"model version source {source!r} contains control characters")
    tags[SOURCE_VERIFIED_TAG] = "false"
    if claimed_run_id:  # another server's run, kept as part of the unverified reference
        tags[CLAIMED_RUN_TAG] = claimed_run_id
    with backend.write() as session:
        model = store.model_row(session, name, lock=True)
        now = _now()
        version = store.add_version(
            session, model=model, version=store.next_version_number(session, model, touched_at=now), files=[],
            tags=tags, description=description, status=CANDIDATE, source=source, source_run_id=None,
            artifact_digest=manifest_digest([]), metrics={}, card=None,
            authors=sorted(authors_of(actor.name)),
            created_by=actor.name, created_at=now, updated_at=now, flavor=None, signature=None, requirements=[],
        )
        audit.record(
            session, actor, "model_version.registered", subject_type="model_version",
            subject_id=_version_subject(name, version.version), model_name=name,
            details={"version": version.version, "source": source, "run_id": None, "verified": False,
                     "artifact_digest": version.artifact_digest, "files": 0},
        )
        evaluate = policies.effective_in(session, name)[0].evaluation_dataset is not None
    if not evaluate:
        return version
    from modelward.services import evaluations  # records why it cannot be evaluated

    evaluations.evaluate_on_registration(backend, actor, name, version.version)
    return get_version(backend, name, version.version)


def no_files_reason(version: ModelVersion) -> str:
    """Why ``version`` has nothing to download, load or evaluate (it has no files)."""
    label = f"version {version.version} of model '{version.model_name}'"
    if version.source_run_id is None:
        return (f"{label} has no verified files: its source '{version.source}' is an external reference "
                "modelward never opens; attach files by registering from a run (runs:/<run_id>/<path>)")
    return (f"{label} has no files: its source '{version.source}' held no stored artifacts when it was "
            "registered; log the files to the run and register again")


def _normalize_prefix(artifact_path: str | None) -> str:
    from modelward.artifacts import normalize_logical_path

    if artifact_path in (None, "", ".", "/"):
        return ""
    return normalize_logical_path(artifact_path)


def _files_under(session: Any, run_pk: int, run_id: str, prefix: str) -> list[VersionFile]:
    """The version's manifest: paths relative to ``prefix`` (a lone file keeps its base name)."""
    found = artifact_index.list_(session, run_pk, prefix)
    if found:
        cut = len(prefix) + 1 if prefix else 0
        return [VersionFile(path=f.path[cut:], digest=f.digest, size=f.size) for f in found]
    if prefix:
        try:
            single = artifact_index.get(session, run_pk, prefix)
        except NotFound:
            single = None
        if single is not None:
            return [VersionFile(path=prefix.rsplit("/", 1)[-1], digest=single.digest, size=single.size)]
    where = f"at '{prefix}'" if prefix else "at all"
    raise NotFound(f"run '{run_id}' has no artifact {where}: log the model's files before registering them")


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    # JSON columns cannot hold NaN or infinity; such a metric is left out of the snapshot.
    return {k: v for k, v in metrics.items() if v == v and v not in (float("inf"), float("-inf"))}


def _read_metadata(backend: Backend, files: list[VersionFile]) -> dict[str, Any]:
    """flavor, signature and requirements from modelward's manifest or MLflow's MLmodel."""
    by_path = {f.path: f for f in files}
    found: dict[str, Any] = {"flavor": None, "signature": None, "requirements": []}
    manifest = _load_yaml(backend, by_path.get(MODELWARD_MANIFEST)) or {}
    mlmodel = _load_yaml(backend, by_path.get(MLFLOW_MANIFEST)) or {}
    if mlmodel:
        flavors = mlmodel.get("flavors") if isinstance(mlmodel.get("flavors"), dict) else {}
        native = [k for k in flavors if k != "python_function"]
        found["flavor"] = (native or list(flavors) or [None])[0]
        found["signature"] = _mlflow_signature(mlmodel.get("signature"))
    if manifest:
        found["flavor"] = manifest.get("flavor") or found["flavor"]
        if isinstance(manifest.get("signature"), dict):
            found["signature"] = manifest["signature"]
        if isinstance(manifest.get("requirements"), list):
            found["requirements"] = [str(r) for r in manifest["requirements"]]
    requirements = by_path.get(REQUIREMENTS_FILE)
    if requirements is not None and not found["requirements"] and requirements.size <= MAX_METADATA_BYTES:
        text = backend.artifacts.read_bytes(requirements.digest).decode("utf-8", errors="replace")
        found["requirements"] = [
            line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith(("#", "-"))
        ]
    if found["flavor"] is not None:
        found["flavor"] = str(found["flavor"])[:64]
    return found


def _as_stored(metadata: dict[str, Any]) -> dict[str, Any]:
    """The metadata as its JSON columns will read back (keys become strings), so the version
    built in the registering transaction equals the one a later read returns."""
    try:
        return json.loads(json.dumps(metadata))  # type: ignore[no-any-return]
    except (TypeError, ValueError):  # not JSON: storing it fails, as it always has
        return metadata


def _load_yaml(backend: Backend, item: VersionFile | None) -> dict[str, Any] | None:
    if item is None or item.size > MAX_METADATA_BYTES:
        return None
    import yaml  # here, not at import: only a registration reading a manifest needs it

    try:
        loaded = yaml.safe_load(backend.artifacts.read_bytes(item.digest))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"model file '{item.path}' is not valid YAML: {exc}") from None
    return loaded if isinstance(loaded, dict) else None


def _mlflow_signature(raw: Any) -> dict[str, Any] | None:
    """MLmodel keeps ``inputs``/``outputs``/``params`` as JSON strings; store them parsed."""
    if not isinstance(raw, dict):
        return None
    parsed: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, str):
            try:
                parsed[key] = json.loads(value)
            except json.JSONDecodeError:
                parsed[key] = value
        else:
            parsed[key] = value
    return parsed


def _record_lineage(session: Any, version: ModelVersion, prefix: str) -> None:
    """Lineage of a registration, in the registration's own transaction.

    The source run's execution outputs the model files (MODEL artifacts named by their run
    URI, so they are the very nodes a run that logged them as outputs already holds), and a
    'registration' execution reads them and outputs ``models:/NAME/VERSION``. Files are
    identified by run URI, not by digest: identical files of other runs (a shared
    requirements.txt) must not join this version to those runs. The digest is a property.
    """
    run_id = version.source_run_id
    if run_id is None:
        return
    lone_file = bool(prefix) and len(version.files) == 1 and not artifact_index.list_(
        session, run_store.pk_of(session, run_id), prefix)
    model_files = [
        ArtifactSpec(kind=ArtifactKind.MODEL, uri=f"runs:/{run_id}/{_run_path(prefix, f.path, lone_file)}",
                     name=f.path, properties={"digest": f"sha256:{f.digest}", "size": f.size})
        for f in version.files
    ] or [ArtifactSpec(kind=ArtifactKind.MODEL, uri=f"runs:/{run_id}/{prefix}" if prefix else f"runs:/{run_id}")]
    produced = lineage.record_in(session, execution=ExecutionSpec(run_id=run_id), outputs=model_files)
    label = f"{version.model_name}/{version.version}"
    lineage.record_in(
        session,
        execution=ExecutionSpec(type=ExecutionType.REGISTRATION, external_id=label,
                                name=f"register {version.model_name} v{version.version}",
                                properties={"model_name": version.model_name, "version": version.version}),
        inputs=[ArtifactSpec(id=artifact.id) for artifact in produced.outputs],
        outputs=[ArtifactSpec(kind=ArtifactKind.MODEL, uri=lineage.version_uri(version.model_name, version.version),
                              name=label, properties={"artifact_digest": version.artifact_digest})],
    )


def _run_path(prefix: str, path: str, lone_file: bool) -> str:
    if lone_file:
        return prefix
    return f"{prefix}/{path}" if prefix else path


# -- versions ---------------------------------------------------------------------------------


def get_version(backend: Backend, name: str, version: int) -> ModelVersion:
    with backend.read() as session:
        return store.get_version(session, name, version)


def _version_order(order_by: Sequence[str]) -> list[tuple[str, bool]]:
    """MLflow's ``order_by`` for versions (``"name DESC"``, ...); empty: newest-updated first."""
    order = []
    for item in order_by:
        field, _, direction = str(item).strip().partition(" ")
        field = field.removeprefix("attributes.").removeprefix("attribute.")
        direction = direction.strip().upper() or "ASC"
        if field not in store.VERSION_ORDER_COLUMNS or direction not in ("ASC", "DESC"):
            raise InvalidInput(f"Invalid order_by {item!r} for model versions: use one of "
                               f"{sorted(store.VERSION_ORDER_COLUMNS)}, optionally followed by ASC or DESC.")
        order.append((field, direction == "DESC"))
    return order or [("last_updated_timestamp", True)]


def search_versions(
    backend: Backend, *, filter: str | None = None, model_name: str | None = None,
    max_results: int = 100, page_token: str | None = None, order_by: Sequence[str] | None = None,
) -> VersionPage:
    """``order_by`` None keeps the native order (by name, newest version first); a list,
    even empty, is MLflow's (newest-updated first by default)."""
    _check_max_results(max_results)
    conditions = parse_registry_filter(filter, fields=VERSION_FIELDS)
    order = None if order_by is None else _version_order(order_by)
    offset = _decode_page_token(page_token)
    with backend.read() as session:
        if model_name is not None:
            store.model_row(session, model_name)
        versions, more = store.search_versions(
            session, conditions, limit=max_results, offset=offset, model_name=model_name, order=order
        )
    return VersionPage(versions=versions, next_page_token=_page_token(offset + max_results, more))


def latest_versions(backend: Backend, name: str) -> list[ModelVersion]:
    page = search_versions(backend, model_name=name, max_results=1)
    return page.versions


def newest_per_stage(
    backend: Backend, name: str, *, stages: Sequence[str] | None = None, with_model: bool = False,
) -> tuple[RegisteredModel | None, list[ModelVersion]]:
    """The newest version in each MLflow stage (oldest first), only ``stages`` when given;
    with ``with_model``, the model too, read in the same transaction."""
    with backend.read() as session:
        row = store.model_row(session, name)
        model = store.model_entity(session, row) if with_model else None
        return model, store.newest_per_stage(session, row, stages)


def update_version(backend: Backend, name: str, version: int, *, description: str | None = None) -> ModelVersion:
    """The description only: files (and so the artifact digest) never change, and the status
    moves through ``archive_version`` or the governance life cycle, never by assignment."""
    with backend.write() as session:
        row = store.version_row(session, name, version)
        if description is not None:
            store.update_version(session, row, _now(), description=description)
        return store.version_entity(session, row)


def archive_version(
    backend: Backend, actor: Actor, name: str, version: int, *, reason: str | None = None
) -> ModelVersion:
    """Hide a version from listings; refused while it is in review, approved or released."""
    with backend.write() as session:
        store.model_row(session, name, lock=True)  # one status change per model at a time, as governance does
        row = store.version_row(session, name, version)
        if row.status == ARCHIVED:
            return store.version_entity(session, row)
        previous = row.status
        check_archivable(previous)
        store.update_version(session, row, _now(), status=ARCHIVED)
        audit.record(
            session, actor, "model_version.archived", subject_type="model_version",
            subject_id=_version_subject(name, version), model_name=name, reason=reason,
            details={"from": previous, "to": ARCHIVED},
        )
        return store.version_entity(session, row)


def set_version_tags(backend: Backend, actor: Actor, name: str, version: int, tags: dict[str, str]) -> ModelVersion:
    tags = _check_tags(tags)
    _refuse_server_tags(tags)
    with backend.write() as session:
        row = store.version_row(session, name, version)
        before = store.version_entity(session, row).tags
        store.set_version_tags(session, row.pk, tags)
        store.update_version(session, row, _now())
        changed = {k: v for k, v in tags.items() if before.get(k) != v}
        if changed:
            audit.record(session, actor, "model_version.tags_set", subject_type="model_version",
                         subject_id=_version_subject(name, version), model_name=name,
                         details={"tags": changed, "previous": {k: before.get(k) for k in changed}})
        return store.version_entity(session, row)


def delete_version_tag(backend: Backend, actor: Actor, name: str, version: int, key: str) -> None:
    _refuse_server_tags([key])
    with backend.write() as session:
        row = store.version_row(session, name, version)
        before = store.version_entity(session, row).tags.get(key)
        store.delete_version_tag(session, row.pk, key)
        audit.record(session, actor, "model_version.tag_deleted", subject_type="model_version",
                     subject_id=_version_subject(name, version), model_name=name,
                     details={"key": key, "previous": before})


def delete_version(backend: Backend, actor: Actor, name: str, version: int, *, reason: str | None = None) -> None:
    """Refused (Conflict naming the alias) while an alias points at the version; an approved or
    released version is deleted only by someone who could approve it, with a reason."""
    with backend.write() as session:
        model = store.model_row(session, name, lock=True)
        row = store.version_row(session, name, version)
        _refuse_while_routed(session, name, f"version {version} of model '{name}' cannot be deleted", version=version)
        if row.status in policies.ALIAS_TARGET_STATES:
            policies.require_decider(session, actor, name, f"deleting {row.status} version {version} of model '{name}'",
                                     reason=reason)
        else:
            policies.require_write(actor, f"delete version {version} of model '{name}'")
        details = {"status": row.status, "artifact_digest": row.artifact_digest, "source": row.source}
        store.delete_version(session, name, row)
        store.touch_model(session, model, _now())  # a version change is the model's, as in MLflow
        audit.record(session, actor, "model_version.deleted", subject_type="model_version",
                     subject_id=_version_subject(name, version), model_name=name, reason=reason, details=details)


def version_files(backend: Backend, name: str, version: int) -> list[VersionFile]:
    return get_version(backend, name, version).files


def open_file(backend: Backend, name: str, version: int, path: str) -> tuple[VersionFile, Iterator[bytes]]:
    """One file of a version, streamed and verified against its digest."""
    for item in version_files(backend, name, version):
        if item.path == path:
            return item, backend.artifacts.iter_chunks(item.digest)
    raise NotFound(f"version {version} of model '{name}' has no file '{path}'")


# -- aliases ----------------------------------------------------------------------------------


def set_alias(
    backend: Backend, actor: Actor, name: str, alias: str, version: int, *, reason: str | None = None
) -> ModelVersion:
    with backend.write() as session:
        model, target = _move_alias(session, actor, name, alias, version, reason=reason)
        return store.version_entity(session, target, model=model)


def point_alias(
    backend: Backend, actor: Actor, name: str, alias: str, version: int, *, reason: str | None = None
) -> None:
    """``set_alias`` for callers that do not need the version back (MLflow's API answers ``{}``)."""
    with backend.write() as session:
        _move_alias(session, actor, name, alias, version, reason=reason)


def _move_alias(
    session: Any, actor: Actor, name: str, alias: str, version: int, *, reason: str | None
) -> tuple[Any, Any]:
    validate_alias(alias)
    model = store.model_row(session, name, lock=True)  # serialises movers of this model's aliases
    target = store.version_row(session, name, version)
    policies.check_alias_move(session, actor, name, alias, target_status=target.status)  # protected aliases
    previous = _alias_version(session, model, alias)
    store.set_alias(session, model=model, alias=alias, version=target, actor=actor.name, reason=reason, now=_now())
    audit.record(
        session, actor, "alias.moved", subject_type="alias", subject_id=f"{name}@{alias}", model_name=name,
        reason=reason, details={"alias": alias, "from_version": previous, "to_version": version,
                                "to_status": target.status},
    )
    return model, target


def _alias_version(session: Any, model: Any, alias: str) -> int | None:
    try:
        return store.alias_target(session, model, alias).version
    except NotFound:
        return None


def delete_alias(backend: Backend, actor: Actor, name: str, alias: str, *, reason: str | None = None) -> None:
    validate_alias(alias)
    with backend.write() as session:
        model = store.model_row(session, name, lock=True)
        policies.check_alias_move(session, actor, name, alias, target_status=None)  # protected aliases
        previous = _alias_version(session, model, alias)
        store.delete_alias(session, model=model, alias=alias, actor=actor.name, reason=reason, now=_now())
        audit.record(
            session, actor, "alias.deleted", subject_type="alias", subject_id=f"{name}@{alias}", model_name=name,
            reason=reason, details={"alias": alias, "from_version": previous},
        )


# -- stages (MLflow's deprecated precursor of aliases) ------------------------------------------


def set_stage(
    backend: Backend, actor: Actor, name: str, version: int, stage: str, *, archive_existing: bool = False,
) -> ModelVersion:
    """Put a version in an MLflow stage (kept as the ``mlflow.current_stage`` tag).

    Staging and Production point serving at a version as an alias does, so a policy that
    protects the alias ``production`` (or ``staging``) protects the stage the same way:
    entering it, and leaving it, need what moving that alias needs. ``archive_existing``
    moves the stage's other versions to Archived, as MLflow does."""
    if stage not in STAGES:
        raise InvalidInput(f"stage '{stage}' is not one of {', '.join(STAGES)}")
    with backend.write() as session:
        model = store.model_row(session, name, lock=True)
        target = store.version_row(session, name, version)
        entity = store.version_entity(session, target)
        previous = entity.tags.get(STAGE_TAG, "None")
        if previous in POINTER_STAGES and previous != stage:
            policies.check_alias_move(session, actor, name, previous.lower(), target_status=None)
        if stage in POINTER_STAGES:
            policies.check_alias_move(session, actor, name, stage.lower(), target_status=target.status)
        elif previous not in POINTER_STAGES:
            policies.require_write(actor, f"change the stage of version {version} of model '{name}'")
        archived = _archive_stage(session, name, stage, keep=version) if archive_existing and stage in POINTER_STAGES else []
        store.set_version_tags(session, target.pk, {STAGE_TAG: stage})
        store.update_version(session, target, _now())
        store.touch_model(session, model, _now())  # a version change is the model's, as in MLflow
        audit.record(
            session, actor, "model_version.stage_changed", subject_type="model_version",
            subject_id=_version_subject(name, version), model_name=name,
            details={"from": previous, "to": stage, "archived_versions": archived},
        )
        return store.version_entity(session, target)


def _archive_stage(session: Any, name: str, stage: str, *, keep: int) -> list[int]:
    """Move every other version in ``stage`` to Archived; the numbers of the versions moved."""
    versions, _ = store.search_versions(session, [], limit=MAX_RESULTS_LIMIT, offset=0, model_name=name)
    moved = []
    for other in versions:
        if other.version != keep and other.tags.get(STAGE_TAG) == stage:
            row = store.version_row(session, name, other.version)
            store.set_version_tags(session, row.pk, {STAGE_TAG: "Archived"})
            store.update_version(session, row, _now())
            moved.append(other.version)
    return sorted(moved)


def get_by_alias(backend: Backend, name: str, alias: str, *, as_of: datetime | None = None) -> ModelVersion:
    """The version ``alias`` names now, or named at ``as_of`` (from the alias history)."""
    with backend.read() as session:
        model = store.model_row(session, name)
        if as_of is None:
            return store.version_entity(session, store.alias_target(session, model, alias))
        # An instant, in UTC: SQLite compares the stored UTC text, so an offset must not reach it.
        moment = as_of.astimezone(UTC) if as_of.tzinfo else as_of.replace(tzinfo=UTC)
        number = store.alias_version_at(session, model, alias, moment)
        if number is None:
            raise NotFound(f"alias '{alias}' of model '{name}' named no version at {moment.isoformat()}")
        try:
            return store.get_version(session, name, number)
        except NotFound:
            raise NotFound(
                f"alias '{alias}' of model '{name}' named version {number} at {moment.isoformat()}, "
                "but that version has since been deleted"
            ) from None


def alias_history(backend: Backend, name: str, *, alias: str | None = None) -> list[AliasEvent]:
    with backend.read() as session:
        return store.alias_history(session, store.model_row(session, name), alias)


# -- compare ----------------------------------------------------------------------------------


def compare(backend: Backend, name: str, versions: Sequence[int]) -> VersionComparison:
    """Metrics, source-run params, signature, requirements, card and digests side by side."""
    if len(versions) < 2:
        raise InvalidInput("compare needs at least two versions")
    with backend.read() as session:
        found = [store.get_version(session, name, v) for v in versions]
        params = {str(v.version): _source_params(session, v) for v in found}
        summaries = {str(v.version): lineage.version_summary_in(session, name, v.version) for v in found}
    keys = [str(v.version) for v in found]
    result = VersionComparison(model_name=name, versions=[v.version for v in found])
    metric_keys = sorted({k for v in found for k in v.metrics})
    result.metrics = {k: {key: v.metrics.get(k) for key, v in zip(keys, found, strict=True)} for k in metric_keys}
    param_keys = sorted({k for p in params.values() for k in p})
    result.params = {k: {key: params[key].get(k) for key in keys} for k in param_keys}
    result.signature = {key: v.signature for key, v in zip(keys, found, strict=True)}
    result.requirements = {key: v.requirements for key, v in zip(keys, found, strict=True)}
    result.card = {key: v.card for key, v in zip(keys, found, strict=True)}
    result.artifact_digest = {key: v.artifact_digest for key, v in zip(keys, found, strict=True)}
    result.data_digests = {key: _input_digests(summaries[key]) for key in keys}
    result.differences = _differences(result)
    return result


def _input_digests(summary: dict[str, Any]) -> list[str]:
    """``name digest`` of each dataset the version was trained on (from lineage), sorted."""
    return sorted(f"{d['name']} {d['digest'] or '(no digest)'}" for d in summary["datasets"]
                  if d["role"] in ("training", "upstream"))


def _source_params(session: Any, version: ModelVersion) -> dict[str, str]:
    if version.source_run_id is None:
        return {}
    try:
        return run_store.get(session, version.source_run_id).params
    except NotFound:  # the source run was purged; the version stands on its own
        return {}


def _differences(result: VersionComparison) -> list[str]:
    differing = []
    for group in ("metrics", "params"):
        for key, values in getattr(result, group).items():
            if len({json.dumps(v) for v in values.values()}) > 1:
                differing.append(f"{group}.{key}")
    for group in ("signature", "requirements", "card", "artifact_digest", "data_digests"):
        if len({json.dumps(v, sort_keys=True, default=str) for v in getattr(result, group).values()}) > 1:
            differing.append(group)
    return differing

"""Import an MLflow tracking store or server into modelward, so a team moves over in one command.

The source is read through the real mlflow client (``MlflowClient``), so every store kind it
accepts works the same: an ``http(s)://`` server, a ``sqlite:///`` (or other database) store,
a file store (``./mlruns``, ``file:///...``). Nothing here parses MLflow's files, and no model
is ever loaded: artifacts are copied as bytes, one file at a time through a temporary folder,
into modelward's artifact service.

What lands where, and the rules it keeps:

* Experiments by name (MLflow's ``Default`` is modelward's ``Default``), with their tags and
  description; an experiment that is deleted in MLflow is imported, then deleted (restorable).
* Runs keep their MLflow id, so ``runs:/<id>/...`` URIs and links keep working; also name,
  status, start/end time, user, params, tags, the full metric history (every step and
  timestamp, NaN included), dataset inputs and every artifact at its path. Runs are written
  in bulk (``runs.create_many``). Deleted runs are imported, then deleted.
* MLflow 3 logged models: their files are copied into their source run under
  ``logged-models/<model_id>/`` (modelward's layout), so versions registered from
  ``models:/m-...`` carry their files.
* Registered models with description and tags; versions in MLflow's order with description,
  tags and their source run. Every version enters as a *candidate*: MLflow's stages and
  aliases say nothing about modelward's review, so nothing is approved or released by an
  import. Aliases and stages go through the registry's governed paths: one a policy protects
  (an unreviewed version may not carry it) is skipped and reported with the policy's reason.
* Idempotent: a run already in the store (same id) is skipped, a version already imported
  (tag ``mlflow.import.source_version``) is skipped, an alias already in place is kept.
  An interrupted import is resumed by running it again: a run still marked
  ``modelward.import.pending`` was cut short and is purged and copied again.
* Everything is written by the importing actor: the registry's own audit events, plus a
  ``run.imported`` / ``experiment.imported`` event per item and one ``mlflow.imported``
  event with the summary.
"""

from __future__ import annotations

import getpass
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from modelward.domain.actors import Actor
from modelward.domain.registry import STAGE_TAG
from modelward.domain.tracking import Lifecycle, RunStatus
from modelward.errors import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    PolicyViolation,
    ServiceUnavailable,
)
from modelward.services import access, artifacts, audit, datasets, experiments, registry, runs
from modelward.services.backend import Backend

Progress = Callable[[str, int, int | None], None]

SOURCE_RUN_TAG = "mlflow.import.source_run_id"  # only on a run whose MLflow id is not 32 hex digits
SOURCE_EXPERIMENT_TAG = "mlflow.import.source_experiment_id"
SOURCE_VERSION_TAG = "mlflow.import.source_version"
PENDING_TAG = "modelward.import.pending"  # on a run until all of it (metrics, inputs, files) is in
INPUTS_TAG = "modelward.inputs"  # the MLflow API's echo of a run's dataset inputs (api/mlflow/schemas.py)
PROMPT_TAG = "mlflow.prompt.is_prompt"
NOTE_TAG = "mlflow.note.content"
PARENT_TAG = "mlflow.parentRunId"
LOGGED_MODELS_PREFIX = "logged-models"
RUN_PAGE = 1000
MODEL_PAGE = 100
POINTS_PER_BATCH = runs.MAX_METRICS_PER_BATCH
RUNS_PER_BATCH = 200
GOVERNED_REFUSALS = (PolicyViolation, PermissionDenied, Conflict, InvalidInput)


@dataclass
class Skipped:
    """Something the import did not copy, and why."""

    what: str
    reason: str

    def __str__(self) -> str:
        return f"{self.what} ({self.reason})"


@dataclass
class MlflowImportSummary:
    source: str
    experiments: int = 0
    runs: int = 0
    metric_points: int = 0
    artifacts: int = 0
    artifact_bytes: int = 0
    datasets: int = 0
    logged_models: int = 0
    models: int = 0
    versions: int = 0
    aliases: int = 0
    stages: int = 0
    deleted_experiments: int = 0
    deleted_runs: int = 0
    runs_present: int = 0
    versions_present: int = 0
    resumed_runs: int = 0
    unverified_versions: int = 0
    skipped: list[Skipped] = field(default_factory=list)

    def __str__(self) -> str:
        text = (f"imported {self.experiments:,} experiments, {self.runs:,} runs, {self.metric_points:,} metric points, "
                f"{self.artifacts:,} artifacts, {self.models:,} models with {self.versions:,} versions and "
                f"{self.aliases:,} aliases from {self.source}")
        notes = []
        if self.deleted_runs or self.deleted_experiments:
            notes.append(f"{self.deleted_experiments:,} experiments and {self.deleted_runs:,} runs as deleted")
        if self.runs_present or self.versions_present:
            notes.append(f"{self.runs_present:,} runs and {self.versions_present:,} versions already present")
        if self.resumed_runs:
            notes.append(f"{self.resumed_runs:,} interrupted runs copied again")
        if self.unverified_versions:
            notes.append(f"{self.unverified_versions:,} versions with an external source recorded unverified")
        if self.skipped:
            notes.append("skipped: " + "; ".join(map(str, self.skipped)))
        return text + (" (" + "; ".join(notes) + ")" if notes else "")

    def as_dict(self) -> dict[str, Any]:
        values = {k: v for k, v in self.__dict__.items() if k != "skipped"}
        return {**values, "skipped": [{"what": s.what, "reason": s.reason} for s in self.skipped]}


def import_from_mlflow(
    backend: Backend, tracking_uri: str, *, progress: Progress | None = None, actor: Actor | None = None,
    registry_uri: str | None = None,
) -> MlflowImportSummary:
    """Copy everything ``tracking_uri`` holds (see the module's docstring) into ``backend``.

    ``actor`` (default: the local operator, by their login name) is who the audit trail names
    for every write. The registry's rules apply to it as to anyone: an import approves nothing."""
    actor = actor or access.local_operator(_login_name())
    report = progress or (lambda stage, done, total: None)
    source = display_uri(tracking_uri)
    summary = MlflowImportSummary(source=source)
    with _mlflow_client(tracking_uri, registry_uri) as client, \
            tempfile.TemporaryDirectory(prefix="modelward-mlflow-import-") as scratch:
        importer = _Importer(backend, client, actor, summary, report, scratch)
        importer.experiments_and_runs()
        importer.registered_models()
    with backend.write() as session:
        audit.record(session, actor, "mlflow.imported", subject_type="import", subject_id=source,
                     details=summary.as_dict())
    return summary


def _login_name() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in this environment (a container without one)
        return None


def display_uri(uri: str) -> str:
    """The URI without a password (a database URL may hold one): it goes into records."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _file_store_path(uri: str) -> Path | None:
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return Path(parts.path)
    if parts.scheme == "" or (len(parts.scheme) == 1 and uri[1:3] in (":\\", ":/")):  # a path (or C:\...)
        return Path(uri)
    return None


@contextmanager
def _mlflow_client(tracking_uri: str, registry_uri: str | None) -> Iterator[Any]:
    """The mlflow client on the source, once it answered; a file store is read with MLflow's opt-in."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:  # pragma: no cover - mlflow is a dependency
        raise InvalidInput("importing from MLflow needs the mlflow client: pip install 'modelward[mlflow]'") from None
    _refuse_missing_source(tracking_uri)
    # MLflow 3 keeps file stores in maintenance mode: reading one for a migration is the point.
    # Its per-file download progress bars would bury the import's own progress.
    settings = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    if _file_store_path(tracking_uri) is not None:
        settings["MLFLOW_ALLOW_FILE_STORE"] = "true"
    with _environment(settings):
        try:
            client = MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri or tracking_uri)
            # The first call tells a wrong address at once; later calls keep the client's retries.
            with _environment({"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}):
                client.search_experiments(max_results=1)
        except Exception as exc:  # the client raises many kinds; say which source failed
            raise ServiceUnavailable(
                f"cannot read the MLflow source {display_uri(tracking_uri)}: {_first_line(exc)}") from exc
        yield client


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Environment variables the mlflow client reads, set for a while and then as they were."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _refuse_missing_source(uri: str) -> None:
    """MLflow creates an empty store at a path that does not exist: a typo would import nothing."""
    path = _file_store_path(uri)
    if uri.startswith("sqlite:///"):  # sqlite:///relative.db, sqlite:////absolute.db
        path = Path(uri[len("sqlite:///"):].split("?", 1)[0])
    if path is not None and not path.exists():
        raise NotFound(f"there is no MLflow store at {uri}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]


def _paged(fetch: Callable[[str | None], Any]) -> Iterator[Any]:
    token = None
    while True:
        page = fetch(token)
        yield from page
        token = getattr(page, "token", None)
        if not token:
            return


def _from_ms(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def _is_our_id(run_id: str) -> bool:
    return len(run_id) == 32 and all(c in "0123456789abcdef" for c in run_id)


@dataclass
class _SourceRun:
    """One MLflow run as read, with what creating it in modelward needs."""

    run: Any
    depth: int = 0

    @property
    def id(self) -> str:
        return str(self.run.info.run_id)

    @property
    def parent(self) -> str | None:
        return self.run.data.tags.get(PARENT_TAG) or None


class _Importer:
    def __init__(self, backend: Backend, client: Any, actor: Actor, summary: MlflowImportSummary,
                 report: Progress, scratch: str) -> None:
        self.backend, self.client, self.actor, self.summary, self.report = backend, client, actor, summary, report
        self.scratch = scratch  # where each file waits, alone, between download and upload
        self.run_ids: dict[str, str] = {}  # MLflow run id -> modelward run id (the same, but for odd ids)
        self.artifact_uris: dict[str, str] = {}  # MLflow run id -> its artifact root URI
        self.logged_models: dict[str, list[Any]] = {}  # MLflow run id -> its logged models (this experiment)

    # -- experiments ----------------------------------------------------------------------------

    def experiments_and_runs(self) -> None:
        from mlflow.entities import ViewType

        sources = list(_paged(lambda token: self.client.search_experiments(
            view_type=ViewType.ALL, max_results=1000, page_token=token)))
        sources.sort(key=lambda e: (e.experiment_id != "0", e.name))
        for done, source in enumerate(sources, 1):
            experiment_id, delete_after = self._experiment(source)
            self._runs_of(source.experiment_id, experiment_id)
            if delete_after:
                experiments.delete(self.backend, experiment_id, actor=self.actor)
            self.report("experiments", done, len(sources))

    def _experiment(self, source: Any) -> tuple[str, bool]:
        """The modelward experiment for ``source`` (found by name or created), writable for now;
        and whether to delete it once its runs are in (it is deleted in MLflow)."""
        deleted = source.lifecycle_stage == "deleted"
        tags = {k: v for k, v in source.tags.items() if v is not None}
        try:
            found = experiments.get_by_name(self.backend, source.name)
        except NotFound:
            found = None
        if found is None:
            tags[SOURCE_EXPERIMENT_TAG] = str(source.experiment_id)
            if source.name == experiments.DEFAULT_EXPERIMENT:
                created = experiments.ensure_default(self.backend)
                experiments.set_tags(self.backend, created.id, tags)
                if tags.get(NOTE_TAG):
                    experiments.update(self.backend, created.id, description=tags[NOTE_TAG])
            else:
                created = experiments.create(self.backend, source.name, description=tags.get(NOTE_TAG), tags=tags)
            self.summary.experiments += 1
            self.summary.deleted_experiments += deleted
            with self.backend.write() as session:
                audit.record(session, self.actor, "experiment.imported", subject_type="experiment",
                             subject_id=created.id, details={"name": source.name, "source": self.summary.source,
                                                             "source_experiment_id": str(source.experiment_id)})
            return created.id, deleted
        ours = found.tags.get(SOURCE_EXPERIMENT_TAG) == str(source.experiment_id)  # made by an import of it
        if found.lifecycle is Lifecycle.DELETED:
            if not self._has_runs_to_copy(source.experiment_id):
                return found.id, False
            experiments.restore(self.backend, found.id, actor=self.actor)  # to add the runs it lacks
            return found.id, True
        return found.id, deleted and ours  # an experiment of the store's own stays as it is

    def _has_runs_to_copy(self, source_experiment_id: str) -> bool:
        for source in self._source_runs(source_experiment_id):
            present = self._present(source.id)
            if present is None or PENDING_TAG in present.tags:
                return True
        return False

    # -- runs -------------------------------------------------------------------------------------

    def _source_runs(self, source_experiment_id: str) -> Iterator[_SourceRun]:
        from mlflow.entities import ViewType

        for run in _paged(lambda token: self.client.search_runs(
                [source_experiment_id], run_view_type=ViewType.ALL, max_results=RUN_PAGE, page_token=token)):
            yield _SourceRun(run)

    def _present(self, source_run_id: str) -> Any | None:
        """The modelward run already imported from ``source_run_id``, if any."""
        if _is_our_id(source_run_id):
            try:
                return runs.get(self.backend, source_run_id)
            except NotFound:
                return None
        page = runs.search(self.backend, filter=f"tags.`{SOURCE_RUN_TAG}` = '{source_run_id}'", lifecycle=None,
                           max_results=1)
        return page.runs[0] if page.runs else None

    def _runs_of(self, source_experiment_id: str, experiment_id: str) -> None:
        """Parents before children: a level of the run tree at a time, each level in bulk."""
        todo: list[_SourceRun] = []
        self.logged_models = self._logged_models_of(source_experiment_id)
        for source in self._source_runs(source_experiment_id):
            self.artifact_uris[source.id] = str(source.run.info.artifact_uri or "")
            present = self._present(source.id)
            if present is not None and present.tags.get(PENDING_TAG) is None:
                self.run_ids[source.id] = present.id
                self.summary.runs_present += 1
                continue
            if present is not None:  # an earlier import stopped half-way through this run
                runs.delete(self.backend, present.id, actor=self.actor, permanent=True)
                self.summary.resumed_runs += 1
            todo.append(source)
        by_id = {source.id: source for source in todo}
        for source in todo:
            source.depth = _depth(source, by_id)
        for depth in sorted({source.depth for source in todo}):
            level = [source for source in todo if source.depth == depth]
            for batch in self._batches(level):
                self._import_batch(experiment_id, batch)

    def _batches(self, level: Sequence[_SourceRun]) -> Iterator[list[tuple[_SourceRun, runs.NewMetrics]]]:
        batch: list[tuple[_SourceRun, runs.NewMetrics]] = []
        points = 0
        for source in level:
            metrics = self._history(source.id, source.run.data.metrics)
            if batch and (points + len(metrics.keys) > POINTS_PER_BATCH or len(batch) >= RUNS_PER_BATCH):
                yield batch
                batch, points = [], 0
            batch.append((source, metrics))
            points += len(metrics.keys)
        if batch:
            yield batch

    def _history(self, run_id: str, latest: dict[str, float]) -> runs.NewMetrics:
        columns = runs.NewMetrics(keys=[], values=[], steps=[], timestamps_ms=[])
        for key in sorted(latest):
            for point in self.client.get_metric_history(run_id, key):
                columns.keys.append(key)
                columns.values.append(float(point.value))
                columns.steps.append(int(point.step or 0))  # type: ignore[union-attr]
                columns.timestamps_ms.append(int(point.timestamp))  # type: ignore[union-attr]
        return columns

    def _import_batch(self, experiment_id: str, batch: list[tuple[_SourceRun, runs.NewMetrics]]) -> None:
        specs, rest = [], []
        for source, metrics in batch:
            first, more = _split(metrics, POINTS_PER_BATCH)
            specs.append(self._spec(source, experiment_id, first))
            rest.append(more)
        created = runs.create_many(self.backend, self.actor, specs)
        for (source, metrics), run, more in zip(batch, created, rest, strict=True):
            self.run_ids[source.id] = run.id
            for chunk in more:
                runs.log_batch(self.backend, run.id, actor=self.actor, metric_keys=chunk.keys,
                               metric_values=chunk.values, metric_steps=chunk.steps,
                               metric_timestamps_ms=chunk.timestamps_ms)
            self.summary.metric_points += len(metrics.keys)
            self.report("metrics", self.summary.metric_points, None)
            self._finish_run(source, run.id)
            self.summary.runs += 1
            self.report("runs", self.summary.runs, None)

    def _spec(self, source: _SourceRun, experiment_id: str, metrics: runs.NewMetrics) -> runs.NewRun:
        info, data = source.run.info, source.run.data
        tags = {k: v for k, v in data.tags.items() if v is not None}
        tags[PENDING_TAG] = "true"
        inputs = _dataset_inputs(source.run)
        if inputs:
            tags[INPUTS_TAG] = _json(inputs)
        parent = self.run_ids.get(source.parent or "")
        fields: dict[str, Any] = {
            "experiment_id": experiment_id, "name": info.run_name or tags.get("mlflow.runName"),
            "parent_run_id": parent, "tags": tags, "metrics": metrics,
            "params": {k: "" if v is None else str(v) for k, v in data.params.items()},
            "status": RunStatus.parse(info.status or "FINISHED"), "start_time": _from_ms(info.start_time),
            "end_time": _from_ms(info.end_time),
        }
        user = info.user_id or tags.get("mlflow.user")
        if _is_our_id(source.id) and user:
            return runs.ImportedRun(id=source.id, user=str(user)[:256], **fields)
        if _is_our_id(source.id):
            return runs.ImportedRun(id=source.id, user=self.actor.name, **fields)
        fields["tags"][SOURCE_RUN_TAG] = source.id
        return runs.NewRun(**fields)

    def _finish_run(self, source: _SourceRun, run_id: str) -> None:
        """Inputs, files and logged models; then the audit event, the marker off, and the
        MLflow lifecycle (a deleted run is deleted last: nothing is written to a deleted run)."""
        inputs = _dataset_inputs(source.run)
        if inputs:
            self.summary.datasets += len(datasets.log_mlflow_inputs(self.backend, run_id, inputs, actor=self.actor))
        self._copy_run_artifacts(source.id, run_id)
        self._copy_logged_models(source.id, run_id)
        with self.backend.write() as session:
            audit.record(session, self.actor, "run.imported", subject_type="run", subject_id=run_id,
                         details={"source": self.summary.source, "source_run_id": source.id})
        runs.delete_tag(self.backend, run_id, PENDING_TAG, actor=self.actor)
        if source.run.info.lifecycle_stage == "deleted":
            runs.delete(self.backend, run_id, actor=self.actor)
            self.summary.deleted_runs += 1

    # -- artifacts ----------------------------------------------------------------------------------

    def _copy_run_artifacts(self, source_run_id: str, run_id: str) -> None:
        """The run's own files, read from its artifact root (one repository per run: the
        client's ``runs:/`` path would look the run up again for every file)."""
        root = self.artifact_uris.get(source_run_id)
        if not root:
            return
        repository = self._repository(root)
        self._copy_tree(lambda path: list(repository.list_artifacts(path)),
                        lambda path, folder: str(repository.download_artifacts(path, dst_path=folder)), run_id, "")

    def _repository(self, artifact_uri: str) -> Any:
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        return get_artifact_repository(artifact_uri, tracking_uri=self.client.tracking_uri)

    def _logged_models_of(self, source_experiment_id: str) -> dict[str, list[Any]]:
        """The experiment's MLflow 3 logged models by source run (none from a store without them)."""
        try:
            models = list(_paged(lambda token: self.client.search_logged_models(
                [source_experiment_id], page_token=token)))
        except Exception:  # noqa: BLE001 - an older store or server without logged models
            return {}
        by_run: dict[str, list[Any]] = {}
        for model in models:
            if model.source_run_id:
                by_run.setdefault(str(model.source_run_id), []).append(model)
        return by_run

    def _copy_logged_models(self, source_run_id: str, run_id: str) -> None:
        """An MLflow 3 logged model's files live beside the run's; here they become the run's,
        under ``logged-models/<model_id>/`` (as modelward's MLflow API stores them)."""
        for model in self.logged_models.get(source_run_id, []):
            repository = self._repository(model.artifact_location)
            self._copy_tree(lambda path, repository=repository: list(repository.list_artifacts(path)),
                            lambda path, folder, repository=repository: str(
                                repository.download_artifacts(path, dst_path=folder)),
                            run_id, f"{LOGGED_MODELS_PREFIX}/{model.model_id}")
            self.summary.logged_models += 1

    def _copy_tree(self, listing: Callable[[str | None], list[Any]], download: Callable[[str, str], str],
                   run_id: str, prefix: str) -> None:
        """Every file under the listing, one at a time: download, upload, remove."""
        folders: list[str | None] = [None]
        while folders:
            folder = folders.pop()
            for item in listing(folder):
                if item.is_dir:
                    folders.append(item.path)
                    continue
                target = f"{prefix}/{item.path}" if prefix else item.path
                local = Path(download(item.path, self.scratch))
                try:
                    with open(local, "rb") as stream:
                        stored = artifacts.upload(self.backend, run_id, target, stream, actor=self.actor,
                                                  size_hint=local.stat().st_size)
                finally:
                    local.unlink(missing_ok=True)  # one file on disk at a time
                self.summary.artifacts += 1
                self.summary.artifact_bytes += stored.size
                self.report("artifacts", self.summary.artifacts, None)

    # -- registry -----------------------------------------------------------------------------------

    def registered_models(self) -> None:
        sources = list(_paged(lambda token: self.client.search_registered_models(
            max_results=MODEL_PAGE, page_token=token)))
        for done, source in enumerate(sources, 1):
            if (source.tags or {}).get(PROMPT_TAG) == "true":
                self.summary.skipped.append(Skipped(f"prompt '{source.name}'", "MLflow prompts are not imported"))
                continue
            self._model(source)
            self.report("models", done, len(sources))

    def _model(self, source: Any) -> None:
        tags = {k: v for k, v in (source.tags or {}).items() if v is not None}
        try:
            registry.get_model(self.backend, source.name)
        except NotFound:
            try:
                registry.create_model(self.backend, self.actor, source.name, description=source.description or None,
                                      tags=tags)
                self.summary.models += 1
            except AlreadyExists:
                pass
        versions = self._source_versions(source.name)
        numbers = self._versions(source.name, versions)
        # The model lists its aliases (alias -> version); each version lists its own, too.
        aliases = dict(getattr(source, "aliases", None) or {}) or {
            alias: version.version for version in versions for alias in (version.aliases or [])}
        for alias, source_version in sorted(aliases.items()):
            self._alias(source.name, alias, numbers.get(int(source_version)))

    def _source_versions(self, name: str) -> list[Any]:
        quoted = name.replace("'", "\\'")
        found = list(_paged(lambda token: self.client.search_model_versions(
            filter_string=f"name = '{quoted}'", page_token=token)))
        return sorted((v for v in found if v.name == name), key=lambda v: int(v.version))

    def _versions(self, name: str, sources: list[Any]) -> dict[int, int]:
        """Each MLflow version as a modelward version (in MLflow's order); MLflow number -> ours."""
        numbers = self._imported_versions(name)
        for source in sources:
            number = int(source.version)
            if number in numbers:
                self.summary.versions_present += 1
                continue
            tags = {k: v for k, v in (source.tags or {}).items() if v is not None and k != STAGE_TAG}
            tags[SOURCE_VERSION_TAG] = str(number)
            version = self._register(name, source, tags)
            numbers[number] = version.version
            self.summary.versions += 1
            stage = source.current_stage or "None"
            if stage != "None":
                self._stage(name, version.version, stage)
        return numbers

    def _imported_versions(self, name: str) -> dict[int, int]:
        found: dict[int, int] = {}
        token = None
        while True:
            page = registry.search_versions(self.backend, model_name=name, max_results=1000, page_token=token)
            for version in page.versions:
                if version.tags.get(SOURCE_VERSION_TAG, "").isdigit():
                    found[int(version.tags[SOURCE_VERSION_TAG])] = version.version
            token = page.next_page_token
            if not token:
                return found

    def _register(self, name: str, source: Any, tags: dict[str, str]) -> Any:
        """From the source run's copied files when the version's source is inside that run;
        otherwise as an unverified external reference (modelward never opens it)."""
        description = source.description or None
        run_id = self.run_ids.get(source.run_id or "")
        path = self._path_in_run(source) if run_id else None
        if run_id is not None and path is not None:
            return registry.register_version(self.backend, self.actor, name, run_id=run_id, artifact_path=path,
                                             description=description, tags=tags, create_model=False,
                                             allow_empty=True)
        self.summary.unverified_versions += 1
        return registry.register_external(self.backend, self.actor, name, source=str(source.source),
                                          description=description, tags=tags, claimed_run_id=source.run_id or None)

    def _path_in_run(self, source: Any) -> str | None:
        """Where in its run a version's files are: ``runs:/<id>/<path>``, the run's artifact URI
        followed by a path, or an MLflow 3 logged model (``models:/m-...``) copied into the run."""
        text, run_id = str(source.source or ""), str(source.run_id)
        if text.startswith(f"runs:/{run_id}"):
            return text[len(f"runs:/{run_id}"):].strip("/")
        root = self.artifact_uris.get(run_id, "")
        if root and (text == root or text.startswith(root.rstrip("/") + "/")):
            return text[len(root):].strip("/")
        model_id = getattr(source, "model_id", None) or (text[len("models:/"):] if text.startswith("models:/m-") else None)
        if model_id and "/" not in model_id:
            return f"{LOGGED_MODELS_PREFIX}/{model_id}"
        return None

    def _stage(self, name: str, version: int, stage: str) -> None:
        try:
            registry.set_stage(self.backend, self.actor, name, version, stage)
            self.summary.stages += 1
        except GOVERNED_REFUSALS as exc:
            self.summary.skipped.append(Skipped(f"stage {stage} of {name} version {version}", _first_line(exc)))

    def _alias(self, name: str, alias: str, version: int | None) -> None:
        if version is None:
            self.summary.skipped.append(Skipped(f"alias {name}@{alias}", "its version was not imported"))
            return
        try:
            if registry.get_by_alias(self.backend, name, alias).version == version:
                return  # already in place (an earlier import)
        except NotFound:
            pass
        try:
            registry.set_alias(self.backend, self.actor, name, alias, version, reason=f"imported from {self.summary.source}")
            self.summary.aliases += 1
        except GOVERNED_REFUSALS as exc:
            self.summary.skipped.append(Skipped(f"alias {name}@{alias} -> version {version}", _first_line(exc)))


def _depth(source: _SourceRun, by_id: dict[str, _SourceRun]) -> int:
    """How many of the runs being imported are above this one (a cycle counts as a root)."""
    depth, seen, parent = 0, {source.id}, source.parent
    while parent in by_id and parent not in seen:
        seen.add(parent)
        depth += 1
        parent = by_id[parent].parent
    return depth


def _split(metrics: runs.NewMetrics, size: int) -> tuple[runs.NewMetrics, list[runs.NewMetrics]]:
    """The first ``size`` points, and the rest in chunks of ``size`` (a run bigger than a batch)."""
    def part(start: int) -> runs.NewMetrics:
        end = start + size
        return runs.NewMetrics(keys=metrics.keys[start:end], values=metrics.values[start:end],
                               steps=(metrics.steps or [])[start:end],
                               timestamps_ms=(metrics.timestamps_ms or [])[start:end])

    if len(metrics.keys) <= size:
        return metrics, []
    return part(0), [part(start) for start in range(size, len(metrics.keys), size)]


def _dataset_inputs(run: Any) -> list[dict[str, Any]]:
    """The run's MLflow dataset inputs in the shape the MLflow API takes them."""
    found = []
    for item in getattr(getattr(run, "inputs", None), "dataset_inputs", None) or []:
        dataset = item.dataset
        if not dataset.name or not dataset.digest:
            continue
        fields = {key: str(getattr(dataset, key)) for key in ("name", "digest", "source_type", "source", "schema",
                                                              "profile") if getattr(dataset, key, None) is not None}
        found.append({"tags": [{"key": t.key, "value": t.value} for t in item.tags or []], "dataset": fields})
    return found


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


__all__ = ["MlflowImportSummary", "Skipped", "display_uri", "import_from_mlflow"]

"""Run use cases: start, log, end, search, compare, annotate, delete."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelward.domain.actors import Actor
from modelward.domain.names import (
    MAX_PARAM_VALUE_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    new_id,
    validate_key,
    validate_value,
)
from modelward.domain.search import parse_filter, parse_order_by
from modelward.domain.tracking import (
    Lifecycle,
    LogChunk,
    Metric,
    Note,
    ProcessInfo,
    Run,
    RunPage,
    RunStatus,
)
from modelward.errors import Conflict, InvalidInput
from modelward.services import audit
from modelward.services.background import Periodic
from modelward.services.leases import LeasedPeriodic
from modelward.services.backend import Backend
from modelward.services.lifecycle import refuse_purging_evidence
from modelward.store import experiments as experiment_store
from modelward.store import notes as note_store
from modelward.store import run_logs as log_store
from modelward.store import run_writers as writer_store
from modelward.store import runs as store

MAX_RESULTS_LIMIT = 50_000
MAX_METRICS_PER_BATCH = 100_000
MAX_RUNS_PER_BATCH = 1000
SILENT_RUNS_PER_SWEEP = 1000

log = logging.getLogger("modelward.services")


def wrote(session: writer_store.UnitOfWork, run_pk: int, actor: Actor, *kinds: str) -> None:
    """Record that ``actor`` wrote ``kinds`` into the run, in the caller's transaction."""
    writer_store.record(session, run_pk, actor.name, kinds, datetime.now(UTC))


def start(
    backend: Backend,
    actor: Actor,
    *,
    experiment_id: str,
    name: str | None = None,
    parent_run_id: str | None = None,
    tags: dict[str, str] | None = None,
    process: ProcessInfo | None = None,
    environment: dict[str, Any] | None = None,
    start_time: datetime | None = None,
    status: RunStatus = RunStatus.RUNNING,
) -> Run:
    for key, value in (tags or {}).items():
        validate_key(key, "tag")
        validate_value(value, "tag", MAX_TAG_VALUE_LENGTH)
    process = process or ProcessInfo()
    with backend.write() as session:
        experiment = experiment_store.get(session, experiment_id)
        if experiment.lifecycle is not Lifecycle.ACTIVE:
            raise Conflict(f"experiment '{experiment.name}' is deleted; restore it to add runs")
        if parent_run_id is not None:
            store.pk_of(session, parent_run_id)
        run, run_pk = store.create_with_pk(
            session,
            id=new_id(),
            experiment_id=experiment_id,
            name=name,
            status=status.value,
            lifecycle=Lifecycle.ACTIVE.value,
            user=actor.name,
            parent_run_id=parent_run_id,
            start_time=start_time or datetime.now(UTC),
            pipeline_run_id=process.pipeline_run_id,
            trigger_type=process.trigger_type,
            process_type=process.process_type,
            step_name=process.step_name,
            environment=environment or {},
            tags=tags,
        )
        wrote(session, run_pk, actor, writer_store.CREATED)
        return run


def get(backend: Backend, run_id: str) -> Run:
    with backend.read() as session:
        return store.get(session, run_id)


def experiment_of(backend: Backend, run_id: str) -> str:
    """The id of the run's experiment (NotFound if there is no such run), in one query."""
    with backend.read() as session:
        return store.experiment_id_of(session, run_id)


def run_status(status: RunStatus | str) -> RunStatus:
    return RunStatus.parse(status)


def end(
    backend: Backend,
    run_id: str,
    *,
    actor: Actor,
    status: RunStatus = RunStatus.FINISHED,
    error_message: str | None = None,
    error_traceback: str | None = None,
    end_time: datetime | None = None,
) -> Run:
    """Record how a run ended: FINISHED, FAILED (with the error) or KILLED."""
    status = run_status(status)
    fields: dict[str, Any] = {"status": status.value}
    if status.is_terminal:
        fields["end_time"] = end_time or datetime.now(UTC)
    if error_message is not None:
        fields["error_message"] = error_message
    if error_traceback is not None:
        fields["error_traceback"] = error_traceback
    with backend.write() as session:
        row = store.writable_row(session, run_id)
        wrote(session, row.pk, actor, writer_store.STATUS)
        return store.update_row(session, row, **fields)


def heartbeat(backend: Backend, run_id: str, *, now: datetime | None = None) -> RunStatus:
    """The run's process says it is alive: a RUNNING run's heartbeat time moves to now (the
    server's clock). Answers the run's status; a run that is not RUNNING is left as it is.
    Not an authorship: the heartbeat writes nothing anyone reads as the run's content."""
    with backend.write() as session:
        return RunStatus(store.record_heartbeat(session, run_id, now or datetime.now(UTC)))


def kill_silent_runs(
    backend: Backend, *, timeout_s: float, now: datetime | None = None, limit: int = SILENT_RUNS_PER_SWEEP
) -> list[str]:
    """Mark KILLED every RUNNING run whose heartbeat stopped more than ``timeout_s`` ago (its
    process died without a word): end_time is its last heartbeat, the error message says
    since when. Runs that never sent one (created without the fluent API, MLflow clients)
    are not watched. Cheap when there is nothing to do: one read on an index."""
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=timeout_s)
    with backend.read() as session:
        silent = store.silent_runs(session, cutoff, limit)
    if not silent:
        return []
    killed = []
    with backend.write() as session:
        for run_pk, run_id, last_beat in silent:
            message = f"no heartbeat since {last_beat.isoformat()} (the timeout is {timeout_s:g} s): its process is gone"
            if store.kill_if_silent(session, run_pk, cutoff, end_time=last_beat, message=message):
                killed.append(run_id)
    if killed:
        log.info("marked %d run(s) KILLED after their heartbeat stopped: %s", len(killed), ", ".join(killed))
    return killed


def HeartbeatSweeper(backend: Backend, *, timeout_s: float, leased: bool = True) -> LeasedPeriodic | Periodic:  # noqa: N802
    """``kill_silent_runs`` at start and then every few seconds (a quarter of the timeout, at
    most a minute), while the server (or an embedded client) runs: in a server, only in the one
    process of several that holds the ``heartbeat-sweep`` lease. An embedded client sweeps
    without one (each kill is a conditional UPDATE, so a second sweeper only repeats a no-op),
    so that a client killed with its lease does not keep the next one from sweeping."""
    def sweep() -> list[str]:
        return kill_silent_runs(backend, timeout_s=timeout_s)

    interval_s = min(60.0, max(0.25, timeout_s / 4))
    if not leased:
        return Periodic("heartbeat-sweep", sweep, interval_s=interval_s)
    return LeasedPeriodic(backend, "heartbeat-sweep", sweep, interval_s=interval_s, at_start=True)


class NewMetrics(BaseModel):
    """Metric points as parallel columns (as in a batch)."""

    model_config = ConfigDict(extra="forbid")
    keys: list[str]
    values: list[float]
    steps: list[int] | None = None
    timestamps_ms: list[int] | None = None


class NewRun(BaseModel):
    """One run of ``create_many``: what ``start`` takes, and its data and outcome."""

    model_config = ConfigDict(extra="forbid")
    experiment_id: str
    name: str | None = None
    parent_run_id: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    metrics: NewMetrics | None = None
    status: RunStatus = RunStatus.RUNNING
    start_time: datetime | None = None
    end_time: datetime | None = None
    error_message: str | None = None
    process: ProcessInfo = Field(default_factory=ProcessInfo)
    environment: dict[str, Any] = Field(default_factory=dict)


class ImportedRun(NewRun):
    """A run copied from another store (an MLflow import): it keeps its id and who ran it.
    Services build it; the API never accepts it, so no client chooses a run's id or user."""

    id: str = Field(pattern=r"^[0-9a-f]{32}$")
    user: str = Field(min_length=1, max_length=256)


def create_many(backend: Backend, actor: Actor, runs: Sequence[NewRun]) -> list[Run]:
    """Many runs with their params, tags and metrics in one transaction: all or none.

    For runs that exist as data already (imports, backfills, a grid computed in one
    process); a handful of statements in all plus two per run with metrics, instead of a
    request per run and per batch. Bounded: ``MAX_RUNS_PER_BATCH`` runs and
    ``MAX_METRICS_PER_BATCH`` points in all (and the server's request size limit)."""
    if len(runs) > MAX_RUNS_PER_BATCH:
        raise InvalidInput(f"a bulk create makes at most {MAX_RUNS_PER_BATCH} runs, got {len(runs)}")
    points = sum(len(spec.metrics.keys) for spec in runs if spec.metrics)
    if points > MAX_METRICS_PER_BATCH:
        raise InvalidInput(f"a bulk create holds at most {MAX_METRICS_PER_BATCH} metric points, got {points}")
    now = datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    columns: list[tuple[Sequence[str], Sequence[float], Sequence[int], Sequence[int]]] = []
    for spec in runs:
        _check_tags(spec.tags)
        spec.params = _check_params(spec.params)
        metrics = spec.metrics or NewMetrics(keys=[], values=[])
        count = len(metrics.keys)
        steps = metrics.steps if metrics.steps is not None else [0] * count
        stamps = metrics.timestamps_ms if metrics.timestamps_ms is not None else [now_ms] * count
        if not (len(metrics.values) == len(steps) == len(stamps) == count):
            raise InvalidInput("metric keys, values, steps and timestamps must have the same length")
        for key in set(metrics.keys):
            validate_key(key, "metric")
        columns.append((metrics.keys, metrics.values, steps, stamps))
    if not runs:
        return []
    with backend.write() as session:
        for experiment_id in dict.fromkeys(spec.experiment_id for spec in runs):
            experiment = experiment_store.get(session, experiment_id)
            if experiment.lifecycle is not Lifecycle.ACTIVE:
                raise Conflict(f"experiment '{experiment.name}' is deleted; restore it to add runs")
        for parent in dict.fromkeys(spec.parent_run_id for spec in runs if spec.parent_run_id):
            store.pk_of(session, parent)
        fields: list[dict[str, Any]] = [
            {
                "id": spec.id if isinstance(spec, ImportedRun) else new_id(), "experiment_id": spec.experiment_id,
                "name": spec.name, "status": spec.status.value, "lifecycle": Lifecycle.ACTIVE.value,
                "user": spec.user if isinstance(spec, ImportedRun) else actor.name,
                "parent_run_id": spec.parent_run_id, "start_time": spec.start_time or now,
                "end_time": spec.end_time or (now if spec.status.is_terminal else None),
                "error_message": spec.error_message,
                "pipeline_run_id": spec.process.pipeline_run_id, "trigger_type": spec.process.trigger_type,
                "process_type": spec.process.process_type, "step_name": spec.process.step_name,
                "environment": spec.environment,
            }
            for spec in runs
        ]
        pks = store.insert_runs(session, fields)
        store.insert_params_and_tags(
            session, [(pk, spec.params) for pk, spec in zip(pks, runs, strict=True)],
            [(pk, spec.tags) for pk, spec in zip(pks, runs, strict=True)],
        )
        for pk, spec, columns_of_run in zip(pks, runs, columns, strict=True):
            store.log_metrics(session, pk, *columns_of_run)
            kinds = [kind for kind, items in ((writer_store.PARAMS, spec.params), (writer_store.METRICS, columns_of_run[0]),
                                              (writer_store.TAGS, spec.tags)) if items]
            wrote(session, pk, actor, writer_store.CREATED, *kinds)
        return store.get_many(session, [f["id"] for f in fields])


def rename(backend: Backend, run_id: str, name: str, *, actor: Actor) -> Run:
    with backend.write() as session:
        row = store.writable_row(session, run_id)
        wrote(session, row.pk, actor, writer_store.NAME)
        return store.update_row(session, row, name=name)


def _check_params(params: dict[str, str]) -> dict[str, str]:
    checked = {}
    for key, value in params.items():
        validate_key(key, "param")
        checked[key] = validate_value(str(value), "param", MAX_PARAM_VALUE_LENGTH)
    return checked


def _check_tags(tags: dict[str, str]) -> dict[str, str]:
    for key, value in tags.items():
        validate_key(key, "tag")
        validate_value(value, "tag", MAX_TAG_VALUE_LENGTH)
    return tags


def log_batch(
    backend: Backend,
    run_id: str,
    *,
    actor: Actor,
    metric_keys: Sequence[str] = (),
    metric_values: Sequence[float] = (),
    metric_steps: Sequence[int] | None = None,
    metric_timestamps_ms: Sequence[int] | None = None,
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    """Params, tags and metric points in one transaction: all of them or none, with
    their writer (one more statement per call, not per point)."""
    count = len(metric_keys)
    if count > MAX_METRICS_PER_BATCH:
        raise InvalidInput(f"a batch holds at most {MAX_METRICS_PER_BATCH} metric points, got {count}")
    steps = metric_steps if metric_steps is not None else [0] * count
    now_ms = int(time.time() * 1000)
    stamps = metric_timestamps_ms if metric_timestamps_ms is not None else [now_ms] * count
    if not (len(metric_values) == len(steps) == len(stamps) == count):
        raise InvalidInput("metric keys, values, steps and timestamps must have the same length")
    for key in set(metric_keys):
        validate_key(key, "metric")
    params = _check_params(params or {})
    tags = _check_tags(tags or {})
    with backend.write() as session:
        run_pk = store.writable_pk(session, run_id)
        store.log_params(session, run_pk, params)
        store.set_tags(session, run_pk, tags)
        store.log_metrics(session, run_pk, metric_keys, metric_values, steps, stamps)
        kinds = [kind for kind, items in ((writer_store.PARAMS, params), (writer_store.METRICS, metric_keys),
                                          (writer_store.TAGS, tags)) if items]
        wrote(session, run_pk, actor, *kinds)


def delete_tag(backend: Backend, run_id: str, key: str, *, actor: Actor) -> None:
    with backend.write() as session:
        run_pk = store.writable_pk(session, run_id)
        store.delete_tag(session, run_pk, key)
        wrote(session, run_pk, actor, writer_store.TAGS)


def metric_history(backend: Backend, run_id: str, key: str) -> list[Metric]:
    with backend.read() as session:
        return store.metric_history(session, store.pk_of(session, run_id), key)


def _decode_page_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("offset:"))
    except ValueError as exc:
        raise InvalidInput(f"invalid page token {token!r}") from exc
    if offset < 0:
        raise InvalidInput(f"invalid page token {token!r}")
    return offset


def _encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def page_token_for(offset: int) -> str | None:
    """The token of the page starting at ``offset`` (None for the first page)."""
    return _encode_page_token(offset) if offset > 0 else None


def count_by_experiment(backend: Backend, experiment_ids: Sequence[str]) -> dict[str, int]:
    with backend.read() as session:
        return store.count_by_experiment(session, experiment_ids)


def search(
    backend: Backend,
    *,
    experiment_ids: Sequence[str] | None = None,
    filter: str | None = None,
    order_by: Sequence[str] | None = None,
    lifecycle: Lifecycle | None = Lifecycle.ACTIVE,
    max_results: int = 1000,
    page_token: str | None = None,
) -> RunPage:
    if not 1 <= max_results <= MAX_RESULTS_LIMIT:
        raise InvalidInput(f"max_results must be between 1 and {MAX_RESULTS_LIMIT}, got {max_results}")
    expr = parse_filter(filter)
    order = parse_order_by(list(order_by or []))
    offset = _decode_page_token(page_token)
    with backend.read() as session:
        runs, more = store.search(
            session, experiment_ids=experiment_ids, expr=expr, order=order,
            lifecycle=lifecycle, limit=max_results, offset=offset,
        )
    return RunPage(runs=runs, next_page_token=_encode_page_token(offset + max_results) if more else None)


def get_many(backend: Backend, run_ids: Sequence[str]) -> list[Run]:
    with backend.read() as session:
        return store.get_many(session, run_ids)


def writers(backend: Backend, run_id: str) -> dict[str, list[str]]:
    """Who wrote into the run: user -> kinds (``created``, ``params``, ``artifacts``, ...)."""
    with backend.read() as session:
        return writer_store.writers(session, store.pk_of(session, run_id))


def delete(backend: Backend, run_id: str, *, actor: Actor, permanent: bool = False) -> None:
    # Deleting or restoring a run writes nothing into it: audited, but not an authorship.
    with backend.write() as session:
        experiment_id = store.row_of(session, run_id).experiment_id
        if permanent:
            refuse_purging_evidence(session, f"run '{run_id}'", run_id=run_id)
            store.purge(session, run_id)
        else:
            store.set_lifecycle(session, run_id, Lifecycle.DELETED, datetime.now(UTC))
        audit.record(session, actor, "run.purged" if permanent else "run.deleted",
                     subject_type="run", subject_id=run_id, details={"experiment_id": experiment_id})


def restore(backend: Backend, run_id: str, *, actor: Actor) -> Run:
    with backend.write() as session:
        store.set_lifecycle(session, run_id, Lifecycle.ACTIVE, None)
        restored = store.get(session, run_id)
        audit.record(session, actor, "run.restored",
                     subject_type="run", subject_id=run_id, details={"experiment_id": restored.experiment_id})
        return restored


def add_note(backend: Backend, actor: Actor, run_id: str, text: str) -> Note:
    if not text.strip():
        raise InvalidInput("a note needs some text")
    with backend.write() as session:
        run_pk = store.pk_of(session, run_id)
        wrote(session, run_pk, actor, writer_store.NOTES)
        return note_store.add(session, run_pk, author=actor.name, text=text)


def update_note(backend: Backend, actor: Actor, run_id: str, note_id: int, text: str) -> Note:
    if not text.strip():
        raise InvalidInput("a note needs some text")
    with backend.write() as session:
        run_pk = store.pk_of(session, run_id)
        wrote(session, run_pk, actor, writer_store.NOTES)
        return note_store.update(session, run_pk, note_id, text=text)


def notes(backend: Backend, run_id: str) -> list[Note]:
    with backend.read() as session:
        return note_store.list_(session, store.pk_of(session, run_id))


def append_logs(backend: Backend, run_id: str, chunks: Sequence[tuple[str, str]], *, actor: Actor) -> int:
    for stream, _ in chunks:
        if stream not in ("stdout", "stderr"):
            raise InvalidInput(f"log stream must be 'stdout' or 'stderr', got {stream!r}")
    with backend.write() as session:
        run_pk = store.pk_of(session, run_id)
        wrote(session, run_pk, actor, writer_store.LOGS)
        return log_store.append(session, run_pk, chunks)


def read_logs(backend: Backend, run_id: str, *, after_seq: int = 0, limit: int = 1000) -> list[LogChunk]:
    with backend.read() as session:
        return log_store.read(session, store.pk_of(session, run_id), after_seq=after_seq, limit=limit)


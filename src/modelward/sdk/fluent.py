"""The module-level API (``modelward.start_run``, ``modelward.log_metric``, ...).

A default Client, an active experiment and a stack of active runs (nested runs push
onto it). Metrics go through the client's background batcher unless the run was
started with ``synchronous=True``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from modelward.domain.tracking import Experiment, ProcessInfo, Run, RunStatus
from modelward.errors import InvalidInput
from modelward.sdk.client import Client, check_metric_key, metric_step, metric_value, run_status
from modelward.sdk.environment import capture_environment
from modelward.sdk.output_capture import OutputCapture
from modelward.sdk.system_metrics import SystemMetricsSampler
from modelward.settings import Settings

DEFAULT_EXPERIMENT = "Default"
log = logging.getLogger("modelward.sdk")

_lock = threading.RLock()
_client: Client | None = None
_tracking_uri: str | None = None
_experiment: Experiment | None = None
_runs: list[ActiveRun] = []
_capture: OutputCapture | None = None


def set_tracking_uri(uri: str | None) -> None:
    """Talk to a server (``http://...``) or, with None, to the embedded store."""
    global _client, _tracking_uri, _experiment
    with _lock:
        if _client is not None:
            _client.close()
        _client, _tracking_uri, _experiment = None, uri, None


def get_client() -> Client:
    global _client
    with _lock:
        if _client is None:
            _client = Client(_tracking_uri) if _tracking_uri else Client(settings=Settings())
        return _client


def set_experiment(name: str) -> Experiment:
    """Make ``name`` (e.g. 'team/churn/baseline') the active experiment, creating it if needed."""
    global _experiment
    experiment = get_client().experiments.get_or_create(name)
    _experiment = experiment
    return experiment


def _process_from_env() -> ProcessInfo:
    return ProcessInfo(
        pipeline_run_id=os.environ.get("MODELWARD_PIPELINE_RUN_ID"),
        trigger_type=os.environ.get("MODELWARD_TRIGGER_TYPE"),
        process_type=os.environ.get("MODELWARD_PROCESS_TYPE"),
        step_name=os.environ.get("MODELWARD_STEP_NAME"),
    )


def _tags_from_env() -> dict[str, str]:
    """A rerun started by ``modelward runs reproduce``'s run.sh is tagged with the run it reproduces."""
    from modelward.domain.lineage import REPRODUCES_ENV, REPRODUCES_TAG

    original = os.environ.get(REPRODUCES_ENV, "").strip()
    return {REPRODUCES_TAG: original} if original else {}


class ActiveRun:
    """A run being recorded; use it as a context manager.

    Leaving the block normally ends the run FINISHED; an exception ends it FAILED with
    the message and traceback stored; Ctrl-C ends it KILLED.
    """

    def __init__(self, client: Client, run: Run, *, synchronous: bool, system_metrics: SystemMetricsSampler | None) -> None:
        self.client = client
        self.run = run
        self.synchronous = synchronous
        self._sampler = system_metrics
        self.ended = False

    @property
    def id(self) -> str:
        return self.run.id

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is None:
            self.end(RunStatus.FINISHED)
        elif isinstance(exc, KeyboardInterrupt):
            self.end(RunStatus.KILLED, error_message="interrupted (KeyboardInterrupt)")
        else:
            self.end(
                RunStatus.FAILED,
                error_message=f"{type(exc).__name__}: {exc}",
                error_traceback="".join(traceback.format_exception(exc_type, exc, tb)),
            )

    def log_metric(self, key: str, value: float, step: int = 0, timestamp_ms: int | None = None) -> None:
        # Checked here, at the call: a bad point raises now instead of sinking its batch later.
        check_metric_key(key)
        number, step = metric_value(key, value), metric_step(key, step)
        stamp = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
        if self.synchronous:
            self.client.runs.log_metric_columns(self.id, [key], [number], [step], [stamp])
        else:
            self.client.batcher.add_metric(self.id, key, number, step, stamp)

    def log_metrics(self, metrics: dict[str, float], step: int = 0) -> None:
        stamp = int(time.time() * 1000)
        for key, value in metrics.items():
            self.log_metric(key, value, step, stamp)

    def log_params(self, params: dict[str, Any]) -> None:
        self.client.runs.log_params(self.id, params)

    def set_tags(self, tags: dict[str, Any]) -> None:
        self.client.runs.set_tags(self.id, {k: str(v) for k, v in tags.items()})

    def log_artifact(self, local_path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        self.client.artifacts.upload(self.id, local_path, artifact_path)

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.artifacts.upload_bytes(self.id, artifact_file, text.encode("utf-8"))

    def log_dict(self, data: Any, artifact_file: str) -> None:
        self.log_text(json.dumps(data, indent=2, sort_keys=True, default=str), artifact_file)

    def note(self, text: str) -> None:
        self.client.runs.add_note(self.id, text)

    def flush(self) -> None:
        self.client.flush()

    def end(self, status: RunStatus = RunStatus.FINISHED, *, error_message: str | None = None,
            error_traceback: str | None = None) -> None:
        if self.ended:
            return
        status = run_status(status)
        self.ended = True
        try:
            if self._sampler is not None:
                self._sampler.stop()
            self.client.batcher.unwatch(self.id)
            _pop(self)
            self.client.flush()
        finally:
            self.run = self.client.runs.end(
                self.id, status, error_message=error_message, error_traceback=error_traceback
            )


def start_run(
    name: str | None = None,
    *,
    experiment: str | None = None,
    run_id: str | None = None,
    nested: bool = False,
    tags: dict[str, Any] | None = None,
    pipeline_run_id: str | None = None,
    trigger_type: str | None = None,
    process_type: str | None = None,
    step_name: str | None = None,
    capture_output: bool = True,
    log_environment: bool = True,
    system_metrics: bool = False,
    system_metrics_interval_s: float = 10.0,
    synchronous: bool = False,
) -> ActiveRun:
    """Start (or, with ``run_id``, resume) a run and make it the active one.

    Process info defaults to ``MODELWARD_PIPELINE_RUN_ID``, ``MODELWARD_TRIGGER_TYPE``,
    ``MODELWARD_PROCESS_TYPE`` and ``MODELWARD_STEP_NAME`` so orchestrators can set it.
    """
    client = get_client()
    with _lock:
        if _runs and not nested and run_id is None:
            raise InvalidInput(
                f"run {_runs[-1].id} is already active; end it first or pass nested=True"
            )
        parent = _runs[-1].id if (_runs and nested) else None
    if run_id is not None:
        run = client.runs.get(run_id)
    else:
        defaults = _process_from_env()
        process = ProcessInfo(
            pipeline_run_id=pipeline_run_id or defaults.pipeline_run_id,
            trigger_type=trigger_type or defaults.trigger_type,
            process_type=process_type or defaults.process_type,
            step_name=step_name or defaults.step_name,
        )
        target = client.experiments.get_or_create(experiment) if experiment else (
            _experiment or client.experiments.get_or_create(DEFAULT_EXPERIMENT)
        )
        run = client.runs.create(
            target.id, name=name, parent_run_id=parent,
            tags={**_tags_from_env(), **{k: str(v) for k, v in (tags or {}).items()}}, process=process,
            environment=capture_environment() if log_environment else {},
        )
    sampler = None
    if system_metrics:
        sampler = SystemMetricsSampler(
            lambda values, step: active.log_metrics(values, step=step), interval_s=system_metrics_interval_s
        )
    active = ActiveRun(client, run, synchronous=synchronous, system_metrics=sampler)
    _push(active, capture_output)
    client.batcher.watch(run.id, lambda run_id: _heartbeat(client, run_id))
    if sampler is not None:
        sampler.start()
    return active


def _heartbeat(client: Client, run_id: str) -> bool:
    """Tell the server the run's process lives; False once the run is no longer RUNNING."""
    status = client.runs.heartbeat(run_id)
    if status is RunStatus.KILLED:
        log.warning("modelward: run %s was marked KILLED (its heartbeat stopped for too long); "
                    "what it logs is still stored, and ending it records its real status", run_id)
    return status is RunStatus.RUNNING


def _push(run: ActiveRun, capture_output: bool) -> None:
    global _capture
    with _lock:
        _runs.append(run)
        if capture_output and _capture is None:
            _capture = OutputCapture(_route_output)
            _capture.start()


def _pop(run: ActiveRun) -> None:
    global _capture
    with _lock:
        if _capture is not None:
            _capture.flush_pending()
        if run in _runs:
            _runs.remove(run)
        if not _runs and _capture is not None:
            _capture.stop()
            _capture = None


def _route_output(stream: str, text: str) -> None:
    """Captured output belongs to the innermost active run."""
    current = _runs[-1] if _runs else None
    if current is not None:
        current.client.batcher.add_log(current.id, stream, text)


def active_run() -> ActiveRun | None:
    return _runs[-1] if _runs else None


def _require_run() -> ActiveRun:
    run = active_run()
    if run is None:
        raise InvalidInput("no active run: call modelward.start_run() first")
    return run


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    checked = run_status(status)
    run = active_run()
    if run is not None:
        run.end(checked)


def log_metric(key: str, value: float, step: int = 0) -> None:
    _require_run().log_metric(key, value, step)


def log_metrics(metrics: dict[str, float], step: int = 0) -> None:
    _require_run().log_metrics(metrics, step)


def log_param(key: str, value: Any) -> None:
    _require_run().log_params({key: value})


def log_params(params: dict[str, Any]) -> None:
    _require_run().log_params(params)


def set_tag(key: str, value: Any) -> None:
    _require_run().set_tags({key: value})


def set_tags(tags: dict[str, Any]) -> None:
    _require_run().set_tags(tags)


def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
    _require_run().log_artifact(local_path, artifact_path)


def log_artifacts(local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
    _require_run().log_artifact(local_dir, artifact_path)


def log_text(text: str, artifact_file: str) -> None:
    _require_run().log_text(text, artifact_file)


def log_dict(data: Any, artifact_file: str) -> None:
    _require_run().log_dict(data, artifact_file)


def note(text: str) -> None:
    _require_run().note(text)


def flush() -> None:
    """Store everything queued so far (metrics and captured output) and wait for it."""
    if _client is not None:
        _client.flush()


def log_figure(figure: Any, artifact_file: str) -> None:
    """Save a matplotlib figure as an artifact (PNG or SVG by the file's suffix)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(artifact_file).name
        figure.savefig(path)
        parent = str(Path(artifact_file).parent)
        _require_run().log_artifact(path, None if parent == "." else parent)

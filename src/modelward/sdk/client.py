"""Client: the explicit SDK. ``Client()`` is embedded (SQLite and local files in
``./.modelward``) unless ``MODELWARD_TRACKING_URI`` or ``tracking_uri=`` names a server."""

from __future__ import annotations

import atexit
import hashlib
import operator
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from modelward.artifacts import normalize_logical_path
from modelward.domain.names import validate_key
from modelward.domain.tracking import (
    ArtifactFile,
    Experiment,
    LogChunk,
    Metric,
    Note,
    ProcessInfo,
    Run,
    RunPage,
    RunStatus,
    encode_float,
)
from modelward.errors import IntegrityError, InvalidInput, ServiceUnavailable
from modelward.sdk._http import HttpSession, ReplayableFile, raise_for_error
from modelward.sdk.audit import Audit, Webhooks
from modelward.sdk.batcher import Batcher
from modelward.sdk.data_checks import DataChecks
from modelward.sdk.direct_transfer import DirectTransfer
from modelward.sdk.datasets import Datasets
from modelward.sdk.deployments import Deployments
from modelward.sdk.lineage import Lineage
from modelward.sdk.governance import Governance, Policies
from modelward.sdk.model_cards import ModelCards
from modelward.sdk.explanations import Explanations
from modelward.sdk.fairness import Fairness
from modelward.sdk.personal_data import PersonalData
from modelward.sdk.erasure import Erasure
from modelward.sdk.data_governance import DataGovernanceClient
from modelward.sdk.models import Models
from modelward.sdk.monitoring import Monitoring
from modelward.sdk.evidence import EvidenceClient
from modelward.settings import Settings


def _path(value: str) -> str:
    return quote(value, safe="")


class Experiments:
    def __init__(self, http: HttpSession) -> None:
        self._http = http

    def create(
        self, name: str, *, description: str | None = None, tags: dict[str, str] | None = None
    ) -> Experiment:
        body = {"name": name, "description": description, "tags": tags or {}}
        return Experiment.model_validate(self._http.call("POST", "/api/v1/experiments", json=body))

    def get(self, experiment_id: str) -> Experiment:
        return Experiment.model_validate(self._http.call("GET", f"/api/v1/experiments/{_path(experiment_id)}"))

    def get_by_name(self, name: str) -> Experiment:
        data = self._http.call("GET", "/api/v1/experiments/by-name", params={"name": name})
        return Experiment.model_validate(data)

    def resolve(self, name_or_id: str) -> Experiment:
        from modelward.errors import NotFound

        try:
            return self.get_by_name(name_or_id)
        except NotFound:
            return self.get(name_or_id)

    def get_or_create(self, name: str) -> Experiment:
        from modelward.errors import AlreadyExists, NotFound

        try:
            return self.get_by_name(name)
        except NotFound:
            try:
                return self.create(name)
            except AlreadyExists:  # another process created it meanwhile
                return self.get_by_name(name)

    def list(
        self,
        *,
        prefix: str | None = None,
        lifecycle: str = "active",
        name_like: str | None = None,
        limit: int = 1000,
    ) -> list[Experiment]:
        params: dict[str, Any] = {"lifecycle": lifecycle, "limit": limit}
        if prefix:
            params["prefix"] = prefix
        if name_like:
            params["name_like"] = name_like
        data = self._http.call("GET", "/api/v1/experiments", params=params)
        return [Experiment.model_validate(item) for item in data["experiments"]]

    def rename(self, experiment_id: str, new_name: str) -> Experiment:
        data = self._http.call("PATCH", f"/api/v1/experiments/{_path(experiment_id)}", json={"name": new_name})
        return Experiment.model_validate(data)

    def set_tags(self, experiment_id: str, tags: dict[str, str]) -> Experiment:
        data = self._http.call("PUT", f"/api/v1/experiments/{_path(experiment_id)}/tags", json={"tags": tags})
        return Experiment.model_validate(data)

    def delete(self, experiment_id: str, *, permanent: bool = False) -> None:
        self._http.call(
            "DELETE", f"/api/v1/experiments/{_path(experiment_id)}",
            params={"permanent": str(permanent).lower()},
        )

    def restore(self, experiment_id: str) -> Experiment:
        return Experiment.model_validate(
            self._http.call("POST", f"/api/v1/experiments/{_path(experiment_id)}/restore")
        )


MAX_RUNS_PER_REQUEST = 1000  # the server's limit for ``Runs.create_many``
_checked_keys: set[str] = set()  # metric keys already found valid (they repeat, point after point)


def check_metric_key(key: str) -> str:
    """``key`` if it is a valid metric key, else InvalidInput, before anything is queued or sent."""
    if key not in _checked_keys:
        validate_key(key, "metric")
        if len(_checked_keys) < 100_000:
            _checked_keys.add(key)
    return key


def metric_value(key: str, value: Any) -> float:
    """A metric value as a float: ints, floats, numpy and torch scalars, never a string or None."""
    if type(value) is float:
        return value
    if isinstance(value, str | bytes | bytearray) or not hasattr(value, "__float__"):
        raise InvalidInput(f"metric '{key}' value must be a number, got {type(value).__name__} {value!r:.60}")
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInput(f"metric '{key}' value {value!r:.60} is not a number: {exc}") from None


def metric_step(key: str, step: Any) -> int:
    if type(step) is int:
        return step
    try:
        return operator.index(step)
    except TypeError:
        raise InvalidInput(f"metric '{key}' step must be an integer, got {type(step).__name__} {step!r:.60}") from None


def run_status(status: RunStatus | str) -> RunStatus:
    return RunStatus.parse(status)


class Runs:
    def __init__(self, http: HttpSession) -> None:
        self._http = http

    def create(
        self,
        experiment_id: str,
        *,
        name: str | None = None,
        parent_run_id: str | None = None,
        tags: dict[str, str] | None = None,
        process: ProcessInfo | None = None,
        environment: dict[str, Any] | None = None,
        start_time: datetime | None = None,
    ) -> Run:
        body = {
            "experiment_id": experiment_id, "name": name, "parent_run_id": parent_run_id,
            "tags": tags or {}, "process": (process or ProcessInfo()).model_dump(),
            "environment": environment or {},
            "start_time": start_time.isoformat() if start_time else None,
        }
        return Run.model_validate(self._http.call("POST", "/api/v1/runs", json=body))

    def create_many(self, runs: Sequence[dict[str, Any]]) -> list[Run]:
        """Create many runs, each with its params, tags and metrics, in one request and one
        transaction (all of them or none), answered in the order given.

        Use it when the runs already exist as data: importing or backfilling history,
        recording a grid or a sweep whose trials were computed in this process, tests and
        demos that need many runs. A run trained live belongs in ``start_run`` or
        ``create`` instead (it gets a heartbeat, streaming metrics and logs). Each item takes
        ``experiment_id`` and optionally ``name``, ``parent_run_id``, ``tags``, ``params``,
        ``metrics`` (key -> value, or key -> list of values for steps 0, 1, ...), ``status``
        (default RUNNING; a terminal one sets ``end_time`` unless given), ``start_time``,
        ``end_time``, ``error_message``, ``process`` and ``environment``. At most
        ``MAX_RUNS_PER_REQUEST`` runs and the server's ``max_request_bytes`` per call: split
        larger sets into several calls.
        """
        if len(runs) > MAX_RUNS_PER_REQUEST:
            raise InvalidInput(
                f"create_many takes at most {MAX_RUNS_PER_REQUEST} runs per call, got {len(runs)}: "
                "split them into several calls"
            )
        if not runs:
            return []
        now_ms = int(time.time() * 1000)
        data = self._http.call("POST", "/api/v1/runs/batch", json={"runs": [_bulk_run(spec, now_ms) for spec in runs]})
        return RunPage.model_validate(data).runs

    def get(self, run_id: str) -> Run:
        return Run.model_validate(self._http.call("GET", f"/api/v1/runs/{_path(run_id)}"))

    def get_many(self, run_ids: Sequence[str]) -> list[Run]:
        data = self._http.call("POST", "/api/v1/runs/get-many", json={"run_ids": list(run_ids)})
        return RunPage.model_validate(data).runs

    def rename(self, run_id: str, name: str) -> Run:
        return Run.model_validate(self._http.call("PATCH", f"/api/v1/runs/{_path(run_id)}", json={"name": name}))

    def end(
        self,
        run_id: str,
        status: RunStatus | str = RunStatus.FINISHED,
        *,
        error_message: str | None = None,
        error_traceback: str | None = None,
    ) -> Run:
        body = {"status": run_status(status).value, "error_message": error_message,
                "error_traceback": error_traceback}
        return Run.model_validate(self._http.call("POST", f"/api/v1/runs/{_path(run_id)}/end", json=body))

    def heartbeat(self, run_id: str) -> RunStatus:
        """Say the run's process is alive; answers the run's status (only RUNNING runs are
        watched: the server marks one KILLED when its heartbeats stop for
        ``run_heartbeat_timeout_s``). The fluent API sends it for every active run."""
        data = self._http.call("POST", f"/api/v1/runs/{_path(run_id)}/heartbeat")
        return RunStatus(data["status"])

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Iterable[Metric] | None = None,
        params: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        points = list(metrics or [])
        self.log_metric_columns(
            run_id,
            [m.key for m in points], [m.value for m in points],
            [m.step for m in points], [m.timestamp_ms for m in points],
            params=params, tags=tags,
        )

    def log_metric_columns(
        self,
        run_id: str,
        keys: list[str],
        values: list[float],
        steps: list[int] | None = None,
        timestamps_ms: list[int] | None = None,
        *,
        params: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """The bulk path: metric points as parallel lists, in one request. Keys and values
        are checked before anything is sent (InvalidInput naming the first bad one)."""
        for key in set(keys):
            check_metric_key(key)
        if any(type(v) is not float for v in values):
            values = [metric_value(keys[i] if i < len(keys) else "?", v) for i, v in enumerate(values)]
        body: dict[str, Any] = {
            "params": {k: str(v) for k, v in (params or {}).items()},
            "tags": {k: str(v) for k, v in (tags or {}).items()},
        }
        if keys:
            body["metrics"] = {
                "keys": keys,
                "values": [encode_float(v) for v in values],
                "steps": steps,
                "timestamps_ms": timestamps_ms,
            }
        self._http.call("POST", f"/api/v1/runs/{_path(run_id)}/batch", json=body)

    def log_metric(self, run_id: str, key: str, value: float, step: int = 0) -> None:
        self.log_metric_columns(
            run_id, [check_metric_key(key)], [metric_value(key, value)], [metric_step(key, step)],
            [int(time.time() * 1000)],
        )

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        self.log_metric_columns(run_id, [], [], params=params)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self.log_metric_columns(run_id, [], [], tags=tags)

    def delete_tag(self, run_id: str, key: str) -> None:
        self._http.call("DELETE", f"/api/v1/runs/{_path(run_id)}/tags/{quote(key)}")

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        data = self._http.call("GET", f"/api/v1/runs/{_path(run_id)}/metrics/{quote(key)}")
        return [Metric.model_validate(item) for item in data["metrics"]]

    def search(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter: str | None = None,
        *,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        lifecycle: str = "active",
    ) -> RunPage:
        body = {
            "experiment_ids": list(experiment_ids) if experiment_ids is not None else None,
            "filter": filter, "order_by": list(order_by or []), "max_results": max_results,
            "page_token": page_token, "lifecycle": lifecycle,
        }
        return RunPage.model_validate(self._http.call("POST", "/api/v1/runs/search", json=body))

    def search_all(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter: str | None = None,
        *,
        order_by: Sequence[str] | None = None,
        page_size: int = 1000,
    ) -> Iterator[Run]:
        """Every matching run, page after page."""
        token = None
        while True:
            page = self.search(
                experiment_ids, filter, order_by=order_by, max_results=page_size, page_token=token
            )
            yield from page.runs
            token = page.next_page_token
            if not token:
                return

    def delete(self, run_id: str, *, permanent: bool = False) -> None:
        self._http.call("DELETE", f"/api/v1/runs/{_path(run_id)}", params={"permanent": str(permanent).lower()})

    def restore(self, run_id: str) -> Run:
        return Run.model_validate(self._http.call("POST", f"/api/v1/runs/{_path(run_id)}/restore"))

    def add_note(self, run_id: str, text: str) -> Note:
        return Note.model_validate(self._http.call("POST", f"/api/v1/runs/{_path(run_id)}/notes", json={"text": text}))

    def update_note(self, run_id: str, note_id: int, text: str) -> Note:
        data = self._http.call("PATCH", f"/api/v1/runs/{_path(run_id)}/notes/{note_id}", json={"text": text})
        return Note.model_validate(data)

    def notes(self, run_id: str) -> list[Note]:
        data = self._http.call("GET", f"/api/v1/runs/{_path(run_id)}/notes")
        return [Note.model_validate(item) for item in data["notes"]]

    def writers(self, run_id: str) -> dict[str, list[str]]:
        """Who wrote into the run, its creator included: user -> kinds (``created``, ``params``,
        ``metrics``, ``tags``, ``artifacts``, ...), in the order they first wrote."""
        data = self._http.call("GET", f"/api/v1/runs/{_path(run_id)}/writers")
        return {user: list(kinds) for user, kinds in data["writers"].items()}

    def append_logs(self, run_id: str, chunks: list[tuple[str, str]]) -> None:
        self._http.call("POST", f"/api/v1/runs/{_path(run_id)}/logs", json={"chunks": chunks})

    def logs(self, run_id: str, *, after_seq: int = 0, limit: int = 1000) -> list[LogChunk]:
        data = self._http.call(
            "GET", f"/api/v1/runs/{_path(run_id)}/logs", params={"after_seq": after_seq, "limit": limit}
        )
        return [LogChunk.model_validate(item) for item in data["chunks"]]


def _bulk_run(spec: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """One ``create_many`` item as the wire shape: params and tags as strings, metrics as columns."""
    unknown = set(spec) - _BULK_FIELDS
    if unknown:
        raise InvalidInput(f"create_many: unknown run field(s) {', '.join(sorted(unknown))}")
    keys: list[str] = []
    values: list[float | str] = []
    steps: list[int] = []
    for key, given in (spec.get("metrics") or {}).items():
        check_metric_key(key)
        series = given if isinstance(given, list | tuple) else [given]
        for step, value in enumerate(series):
            keys.append(key)
            values.append(encode_float(metric_value(key, value)))
            steps.append(step)
    item: dict[str, Any] = {k: v for k, v in spec.items() if k not in ("metrics", "params", "tags", "process")}
    for moment in ("start_time", "end_time"):
        if isinstance(item.get(moment), datetime):
            item[moment] = item[moment].isoformat()
    if "status" in item:
        item["status"] = run_status(item["status"]).value
    item["params"] = {k: str(v) for k, v in (spec.get("params") or {}).items()}
    item["tags"] = {k: str(v) for k, v in (spec.get("tags") or {}).items()}
    process = spec.get("process")
    if process is not None:
        item["process"] = process.model_dump() if isinstance(process, ProcessInfo) else process
    if keys:
        item["metrics"] = {"keys": keys, "values": values, "steps": steps, "timestamps_ms": [now_ms] * len(keys)}
    return item


_BULK_FIELDS = {
    "experiment_id", "name", "parent_run_id", "tags", "params", "metrics", "status", "start_time",
    "end_time", "error_message", "process", "environment",
}


DIGEST_HEADER = "X-Modelward-Digest"  # the SHA-256 the server sends with every artifact download


class Artifacts:
    def __init__(self, http: HttpSession) -> None:
        self._http = http
        # Presigned URLs to the object store when the server offers them; ``direct.use = False``
        # keeps every transfer on the path through the server.
        self.direct = DirectTransfer(http)

    def upload(self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None) -> list[ArtifactFile]:
        """A file, or a folder's files, under the run's logical ``artifact_path``."""
        source = Path(local_path)
        if not source.exists():
            raise InvalidInput(f"local path '{source}' does not exist")
        if source.is_dir():
            files = sorted(p for p in source.rglob("*") if p.is_file())
            base = artifact_path or ""
            return [
                self.upload_file(run_id, f, "/".join(filter(None, [base, f.relative_to(source).as_posix()])))
                for f in files
            ]
        target = "/".join(filter(None, [artifact_path, source.name]))
        return [self.upload_file(run_id, source, target)]

    def upload_file(self, run_id: str, local_file: Path, logical_path: str) -> ArtifactFile:
        try:
            handle = open(local_file, "rb")
        except FileNotFoundError:
            raise InvalidInput(f"local file '{local_file}' does not exist") from None
        except IsADirectoryError:
            raise InvalidInput(f"local path '{local_file}' is a folder; use upload() for folders") from None
        with handle:
            if self.direct.available():
                return self.direct.upload_file(run_id, Path(local_file), logical_path)
            return self.upload_bytes(run_id, logical_path, ReplayableFile(handle))  # re-sent whole on a retry

    def upload_bytes(self, run_id: str, logical_path: str, data: bytes | Iterator[bytes] | ReplayableFile) -> ArtifactFile:
        # Checked here too, so a bad path fails with the reason before any byte is sent.
        url = f"/api/v1/runs/{_path(run_id)}/artifacts/{quote(normalize_logical_path(logical_path))}"
        return ArtifactFile.model_validate(self._http.call("PUT", url, content=data))

    def list(self, run_id: str, prefix: str = "") -> list[ArtifactFile]:
        data = self._http.call("GET", f"/api/v1/runs/{_path(run_id)}/artifacts", params={"prefix": prefix})
        return [ArtifactFile.model_validate(item) for item in data["files"]]

    def iter_bytes(self, run_id: str, logical_path: str) -> Iterator[bytes]:
        """The file's bytes in chunks, checked against the digest the server sends with them.

        The last chunk is held back until the bytes verified: when they do not match, or the
        transfer ended early (a server aborts a download of a corrupted blob), IntegrityError is
        raised in its place, so a consumer never holds the whole of a corrupt file.
        """
        if self.direct.available():
            return self.direct.iter_bytes(run_id, logical_path)
        url = f"/api/v1/runs/{_path(run_id)}/artifacts/{quote(normalize_logical_path(logical_path))}"
        return _verified_download(self._http, url, f"artifact '{logical_path}' of run {run_id}")

    def read_bytes(self, run_id: str, logical_path: str) -> bytes:
        return b"".join(self.iter_bytes(run_id, logical_path))

    def download_file(
        self, run_id: str, logical_path: str, target: str | os.PathLike[str],
        *, on_chunk: Callable[[int], object] | None = None,
    ) -> Path:
        """One file to ``target``; it appears there only once verified, and a failed download
        leaves nothing behind (an existing file at ``target`` is kept). ``on_chunk(n)`` is called
        with the size of each chunk written (progress bars)."""
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            with open(partial, "wb") as out:
                for chunk in self.iter_bytes(run_id, logical_path):
                    out.write(chunk)
                    if on_chunk is not None:
                        on_chunk(len(chunk))
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        return target

    def download(self, run_id: str, logical_path: str, dest: str | os.PathLike[str]) -> Path:
        """One file, or every file under a folder path, into ``dest`` (a folder); each verified."""
        files = self.list(run_id, logical_path.strip("/"))
        written = [self.download_file(run_id, source, target)
                   for source, target in download_targets(files, logical_path, Path(dest))]
        return written[0] if len(written) == 1 else Path(dest)


def download_targets(files: list[ArtifactFile], logical_path: str, dest: Path) -> list[tuple[str, Path]]:
    """(logical path, local file) pairs for a download of ``logical_path`` into the folder ``dest``:
    ``files`` are those listed under it as a folder; none means it names one file."""
    folder = logical_path.strip("/")
    if not files:
        return [(logical_path, dest / Path(folder).name)]
    return [(item.path, dest / item.path[len(folder):].lstrip("/")) for item in files]


def _verified_download(http: HttpSession, url: str, what: str) -> Iterator[bytes]:
    # Reads the response itself (not HttpSession.stream) for its digest and length headers.
    check: _TransferCheck | None = None
    try:
        with http._client.stream("GET", url) as response:
            if response.status_code >= 400:
                response.read()
                raise_for_error(response)
            check = _TransferCheck(response, what)
            held = b""
            for chunk in response.iter_bytes():
                check.update(chunk)
                if held:
                    yield held
                held = chunk
            check.verify()
            if held:
                yield held
    except httpx.TransportError as exc:
        if check is None:
            raise ServiceUnavailable(f"cannot reach the modelward server at {http.where}: {exc}") from exc
        raise check.broken_off() from None


class _TransferCheck:
    """The digest and length a download must arrive with, checked as its chunks come in."""

    def __init__(self, response: httpx.Response, what: str) -> None:
        self.what, self._response = what, response
        expected = response.headers.get(DIGEST_HEADER, "").removeprefix("sha256:")
        if not expected:
            raise IntegrityError(f"the server sent {what} without its {DIGEST_HEADER} header; it cannot be verified")
        self.expected = expected
        length = response.headers.get("content-length", "")
        self.length = int(length) if length.isdigit() else None
        self._hasher = hashlib.sha256()

    def update(self, chunk: bytes) -> None:
        self._hasher.update(chunk)

    def broken_off(self) -> IntegrityError:
        got = self._response.num_bytes_downloaded
        of = f" of {self.length}" if self.length is not None else ""
        return IntegrityError(
            f"the download of {self.what} broke off after {got}{of} bytes: the server aborts a download "
            "whose stored copy is corrupted (see the server's log), or the connection failed"
        )

    def verify(self) -> None:
        if self.length is not None and self._response.num_bytes_downloaded < self.length:
            raise self.broken_off()
        actual = self._hasher.hexdigest()
        if actual != self.expected:
            raise IntegrityError(
                f"{self.what} is corrupted: its bytes hash to {actual}, the server's digest is {self.expected}"
            )


class Client:
    """``Client()`` embedded, ``Client("http://host:5000")`` remote; the same calls either way.

    Without auth, a client acts as the machine's operator (the local admin, recorded under
    the OS user name); ``user="rita"`` acts as the stored user ``rita`` instead, with exactly
    her roles (``modelward auth add-user``); a name the store does not know may only log
    work. With auth the token decides and ``user`` changes nothing.
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        *,
        settings: Settings | None = None,
        token: str | None = None,
        user: str | None = None,
    ) -> None:
        settings = settings or Settings()
        if tracking_uri is not None:
            settings = settings.model_copy(update={"tracking_uri": tracking_uri})
        self.settings = settings
        self.http = HttpSession(settings, token=token, user=user)
        self.experiments = Experiments(self.http)
        self.runs = Runs(self.http)
        self.artifacts = Artifacts(self.http)
        self.lineage = Lineage(self.http)
        self.datasets = Datasets(self.http, self.artifacts)
        self.data_checks = DataChecks(self.http)
        self.models = Models(self.http, self.runs, self.artifacts, self.experiments, flush=self.flush)
        self.cards = ModelCards(self.http)
        self.audit = Audit(self.http)
        self.webhooks = Webhooks(self.http)
        self.policies, self.governance = Policies(self.http), Governance(self.http)
        self.deployments = Deployments(self.http)
        self.monitoring = Monitoring(self.http)
        self.evidence = EvidenceClient(self.http)
        self.explain = Explanations(self.http)
        self.fairness = Fairness(self.http)
        self.personal_data = PersonalData(self.http)
        self.erasure = Erasure(self.http)
        self.data_governance = DataGovernanceClient(self.http)
        self._batcher: Batcher | None = None
        _open_clients.add(self)

    @property
    def batcher(self) -> Batcher:
        if self._batcher is None:
            self._batcher = Batcher(self.runs.log_metric_columns, self.runs.append_logs)
        return self._batcher

    def flush(self) -> None:
        if self._batcher is not None:
            self._batcher.flush()

    def gc(self, *, dry_run: bool = False, grace_seconds: float = 3600) -> dict[str, Any]:
        """Remove artifact blobs nothing references any more (older than the grace period)."""
        params = {"dry_run": str(dry_run).lower(), "grace_seconds": grace_seconds}
        return self.http.call("POST", "/api/v1/gc", params=params)  # type: ignore[no-any-return]

    def compare(self, run_ids: Sequence[str]) -> Any:
        """Runs side by side as a pandas DataFrame: one row per run, params and metrics as columns."""
        from modelward.sdk.tables import runs_frame

        return runs_frame(self.runs.get_many(run_ids))

    def close(self) -> None:
        _open_clients.discard(self)
        if self._batcher is not None:
            self._batcher.close()
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Clients nobody closed, closed at exit: their queued metrics are sent first, then an embedded
# app's lifespan ends on its own loop. Left to the interpreter's last garbage collection, that
# lifespan task deadlocked the exit of a script that made a Client() and never closed it.
_open_clients: set[Client] = set()


@atexit.register
def _close_open_clients() -> None:
    for client in list(_open_clients):
        try:
            client.close()
        except Exception:  # at exit there is no caller left to raise to
            pass

"""The prediction log: every answer of a serving endpoint (or a sample), written off the request
path, and the ground truth attached later. Monitoring and the canary guardrails read it.

``PredictionLog.submit`` only puts a record on a bounded queue; one writer thread flushes it in
batches (one Parquet part per endpoint and day, then its index rows). A full queue drops the
record and counts it: overload costs log records, never request latency.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import queue
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from modelward.domain.actors import Actor
from modelward.domain.kpis import validate_name
from modelward.domain.predictions import MODES, PredictionRecord, Rows, VersionStats
from modelward.errors import InvalidInput, NotFound, PayloadTooLarge, ServiceUnavailable
from modelward.services.backend import Backend
from modelward.store import predictions as store

log = logging.getLogger("modelward.predictions")

MAX_FEEDBACK_ITEMS = 10_000
WRITE_ATTEMPTS = 3  # a batch is written this many times before its records count as lost
REPORT_INTERVAL_S = 30.0  # at most one warning per this interval about drops or failed writes
_STOP = object()


class _Flush:
    """A marker: the writer sets ``done`` once every record queued before it is written."""

    def __init__(self) -> None:
        self.done = threading.Event()


_TASKS = ("classification", "regression")


def sampled(request_id: str, sample_rate: float) -> bool:
    """Whether ``request_id`` is in the sample: the same answer for the same id, in every process."""
    if sample_rate >= 1.0:
        return True
    if sample_rate <= 0.0:
        return False
    digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < sample_rate * 2**64


@dataclass
class _Batch:
    """Records of one flush grouped by partition; a part already written is not written again."""

    by_partition: dict[tuple[str, Any], list[PredictionRecord]]
    parts: dict[tuple[str, Any], str] = field(default_factory=dict)
    attempts: int = 0

    def size(self) -> int:
        return sum(len(records) for records in self.by_partition.values())


class PredictionLog:
    def __init__(self, backend: Backend, *, capacity: int = 10_000, batch_size: int = 500,
                 flush_interval_s: float = 1.0, sample_rate: float = 1.0) -> None:
        if capacity < 1 or batch_size < 1 or flush_interval_s <= 0 or not 0.0 <= sample_rate <= 1.0:
            raise InvalidInput("prediction log: capacity and batch_size must be positive, flush_interval_s "
                               "above 0 and sample_rate between 0 and 1")
        self._backend = backend
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=capacity)
        self.batch_size, self.flush_interval_s, self.sample_rate = batch_size, flush_interval_s, sample_rate
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._last_error: str | None = None
        self._closed = False
        self._thread: threading.Thread | None = None
        self._last_report = float("-inf")
        self._reported: Counter[str] = Counter()
        self._wake = threading.Event()  # set to end the writer's sleep early
        self._flushed: list[_Flush] = []  # flush markers met, released after the records before them

    # -- the request path ------------------------------------------------------------------
    def submit(self, record: PredictionRecord) -> bool:
        """Queue ``record`` for writing; never blocks. False when it is not written: outside the
        sample, the queue full, or the log closed (the last two count as dropped)."""
        if not sampled(record.request_id, self.sample_rate):
            self._count("sampled_out")
            return False
        if self._closed:
            self._count("dropped")
            return False
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._count("dropped")
            return False
        if self._queue.qsize() >= self.batch_size:
            self._wake.set()  # a full batch need not wait for the interval
        return True

    def _count(self, name: str, amount: int = 1) -> None:
        with self._counts_lock:
            self._counts[name] += amount

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="modelward-prediction-log", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float | None = None) -> None:
        """Stop taking records and write every record queued before returning."""
        if self._closed:
            return
        self._closed = True
        if self._thread is None:  # never started: write what was queued here
            self._drain_and_write()
            return
        self._queue.put(_STOP)
        self._wake.set()
        self._thread.join(timeout_s)

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Write every record queued so far before returning (True), or give up after ``timeout_s``."""
        if self._closed or self._thread is None:
            return True
        marker = _Flush()
        try:
            self._queue.put(marker, timeout=timeout_s)
        except queue.Full:
            return False
        self._wake.set()
        return marker.done.wait(timeout_s)

    def stats(self) -> dict[str, Any]:
        with self._counts_lock:
            counts = dict(self._counts)
        return {"queued": self._queue.qsize(), "written": counts.get("written", 0),
                "dropped": counts.get("dropped", 0), "lost": counts.get("lost", 0),
                "sampled_out": counts.get("sampled_out", 0), "batches": counts.get("batches", 0),
                "failed_writes": counts.get("failed_writes", 0), "last_error": self._last_error}

    # -- the writer thread -----------------------------------------------------------------
    def _run(self) -> None:
        stopping = False
        while not stopping:
            records, stopping = self._collect()
            if records:
                self._write_with_retries(records, closing=stopping)
            for marker in self._flushed:
                marker.done.set()
            self._flushed.clear()
            self._report_if_due()
        self._drain_and_write()  # records submitted while the stop marker was on its way
        for marker in self._flushed:
            marker.done.set()
        self._report_if_due(force=True)

    def _collect(self) -> tuple[list[PredictionRecord], bool]:
        """Up to batch_size records. The writer sleeps a whole interval (or until a batch is full,
        a flush is asked or the log closes) and then takes what is queued: waking for each record
        cost every request a hand-over of the interpreter lock, +16% at the gateway's p50."""
        if self._queue.qsize() < self.batch_size:
            self._wake.wait(self.flush_interval_s)
        self._wake.clear()
        records: list[PredictionRecord] = []
        while len(records) < self.batch_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return records, True
            if isinstance(item, _Flush):
                self._flushed.append(item)
                break
            records.append(item)
        return records, False

    def _drain_and_write(self) -> None:
        records: list[PredictionRecord] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Flush):
                self._flushed.append(item)
            elif item is not _STOP:
                records.append(item)
        for start in range(0, len(records), self.batch_size):
            self._write_with_retries(records[start:start + self.batch_size], closing=True)

    def _write_with_retries(self, records: list[PredictionRecord], *, closing: bool) -> None:
        by_partition: dict[tuple[str, Any], list[PredictionRecord]] = defaultdict(list)
        for record in records:
            by_partition[store.partition_of(record)].append(record)
        batch = _Batch(dict(by_partition))
        while True:
            batch.attempts += 1
            try:
                self._write(batch)
                return
            except Exception as exc:  # noqa: BLE001  storage down must not end the writer
                self._last_error = f"{type(exc).__name__}: {exc}"
                self._count("failed_writes")
                if batch.attempts >= WRITE_ATTEMPTS:
                    self._count("lost", batch.size())
                    self._report_if_due()
                    return
                self._report_if_due()
            # Wait before trying again (shorter when closing, so close() ends soon).
            time.sleep(min(self.flush_interval_s, 0.1) if closing else self.flush_interval_s)

    def _write(self, batch: _Batch) -> None:
        for partition in list(batch.by_partition):
            records = batch.by_partition[partition]
            part = batch.parts.get(partition)
            if part is None:
                part = store.new_part_name(*partition)
                store.write_part(self._backend.artifacts, part, records)
                batch.parts[partition] = part  # retries only redo the index of a written file
            with self._backend.write() as session:
                store.insert_index(session, part, records)
            del batch.by_partition[partition]
            self._count("written", len(records))
        self._count("batches")

    def _report_if_due(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_report < REPORT_INTERVAL_S:
            return
        self._last_report = now
        stats = self.stats()
        new = {name: stats[name] - self._reported[name] for name in ("dropped", "lost", "failed_writes")}
        if any(new.values()):
            log.warning("prediction log: since the last report %d writes failed, %d records were dropped (queue "
                        "full) and %d lost (write failed %d times); last error: %s", new["failed_writes"],
                        new["dropped"], new["lost"], WRITE_ATTEMPTS, stats["last_error"])
        self._reported.update(new)


# -- protection: what the log keeps of a protected endpoint's inputs ---------------------------------

WITHHELD = {"withheld": "monitoring.log_protect: inputs without named columns are not logged"}
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_DIGITS = re.compile(r"[0-9]+")


class LogProtection:
    """The policy's ``monitoring.log_protect`` for one endpoint: its input columns hashed (keyed
    HMAC-SHA256, hex, exactly as ``personal_data.protect`` with the same secret, so hashed values
    still join and count) or dropped. Built once per deployment state and applied on the request
    path, before a record is queued: no clear value of these columns is held for the writer.

    The model is given the full input; only the record changes. Inputs that are not a table with
    named columns (a tensor) cannot be matched to the rules and are withheld whole (``WITHHELD``).
    An error message may quote input values (a signature check, a model's exception): it is kept
    with the protected columns' values of the request, quoted text and numbers replaced
    (``<value>``, ``<name>``, ``<n>``, as monitoring's error classes already replace the last two)."""

    __slots__ = ("columns", "_key", "_base")

    def __init__(self, columns: dict[str, str], key: bytes) -> None:
        self.columns, self._key = dict(columns), key
        self._base = hmac.new(key, digestmod=hashlib.sha256)  # copied per value: the key is set up once

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LogProtection) and (other.columns, other._key) == (self.columns, self._key)

    def __repr__(self) -> str:  # never the key
        return f"LogProtection({self.columns!r})"

    def apply(self, record: PredictionRecord) -> PredictionRecord:
        clear = record.inputs
        record.inputs = self.inputs(clear)
        if record.error is not None:
            record.error = self.redact(record.error, clear)
        return record

    def inputs(self, inputs: Any) -> Any:
        """``inputs`` as the log may keep them: Rows for a frame, dicts for records."""
        if inputs is None:
            return None
        if isinstance(inputs, Rows):
            return self._rows(inputs.columns, inputs.values, None)
        if hasattr(inputs, "to_numpy") and hasattr(inputs, "columns") and hasattr(inputs, "iloc"):
            return self._rows([str(c) for c in inputs.columns], inputs.to_numpy(), inputs)
        if isinstance(inputs, dict):
            return self._records([inputs])[0]
        if isinstance(inputs, list) and all(isinstance(row, dict) for row in inputs):
            return self._records(inputs)
        return dict(WITHHELD)

    def _rows(self, columns: list[str], values: Any, frame: Any) -> Any:
        import numpy as np

        actions = [self.columns.get(name) for name in columns]
        values = np.asarray(values)
        if not any(actions):
            return Rows(list(columns), values)
        if values.ndim != 2 or values.shape[1] != len(columns):
            return dict(WITHHELD)
        if "hash" in actions:
            # One numeric array for the whole frame may have turned ints into floats (5 -> 5.0): then
            # the frame's own column gives each value's text as protect() sees it (iloc is slow).
            upcast = frame is not None and values.dtype.kind != "O"
            values = values.astype(object)  # a copy: the frame the model was given stays as it is
            for j, action in enumerate(actions):
                if action == "hash":
                    column = frame.iloc[:, j] if upcast else values[:, j]
                    values[:, j] = np.array(self._hashed(column), dtype=object)
        kept = [j for j, action in enumerate(actions) if action != "drop"]
        return Rows([columns[j] for j in kept], values[:, kept])

    def _records(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = [{k: v for k, v in row.items() if self.columns.get(k) != "drop"} for row in rows]
        for name, action in self.columns.items():
            present = [i for i, row in enumerate(rows) if name in row and action == "hash"]
            if present:
                hashed = self._hashed([rows[i][name] for i in present])
                for i, value in zip(present, hashed):
                    kept[i][name] = value
        return kept

    def _hashed(self, values: Any) -> list[str | None]:
        """The hex HMAC-SHA256 of each value's text, None for a null: ``protect``'s hashes (a test
        holds them equal), computed here without pandas' factorize, which cost a one-row request ms."""
        digests: dict[str, str] = {}
        hashed: list[str | None] = []
        for value in values.tolist() if hasattr(values, "tolist") else list(values):
            if _is_null(value):
                hashed.append(None)
                continue
            text = str(value)
            if text not in digests:
                mac = self._base.copy()
                mac.update(text.encode("utf-8"))
                digests[text] = mac.hexdigest()
            hashed.append(digests[text])
        return hashed

    def redact(self, message: str, inputs: Any) -> str:
        for value in self._clear_values(inputs):
            message = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", "<value>", message)
        return _DIGITS.sub("<n>", _QUOTED.sub("<name>", message))

    def _clear_values(self, inputs: Any) -> list[str]:
        """The text of every value of a protected column in ``inputs``, longest first."""
        found: set[str] = set()
        if hasattr(inputs, "columns") and hasattr(inputs, "iloc"):
            for j, name in enumerate(inputs.columns):
                if str(name) in self.columns:
                    found.update(str(v) for v in inputs.iloc[:, j].tolist() if not _is_null(v))
        elif isinstance(inputs, Rows):
            for j, name in enumerate(inputs.columns):
                if name in self.columns:
                    found.update(str(row[j]) for row in inputs.values.tolist() if not _is_null(row[j]))
        else:
            rows = [inputs] if isinstance(inputs, dict) else inputs if isinstance(inputs, list) else []
            found.update(str(row[name]) for row in rows if isinstance(row, dict)
                         for name in self.columns if not _is_null(row.get(name)))
        return sorted((v for v in found if v), key=len, reverse=True)


def _is_null(value: Any) -> bool:
    """None, NaN, NaT or pandas' NA (which protect() leaves null); never a container."""
    if value is None:
        return True
    if isinstance(value, (str, bytes, list, tuple, dict)):
        return False
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # an array in a cell
        return False


def log_protection(columns: dict[str, str], secret: str | None) -> LogProtection | None:
    """The protection ``columns`` (a policy's ``monitoring.log_protect``) asks for, with the key of
    ``secret`` (the server's ``hash_secret``); None when nothing is protected. ServiceUnavailable
    when a column is to be hashed and there is no usable secret: such an endpoint must not serve,
    rather than log the column in clear (or drop it unasked)."""
    if not columns:
        return None
    from modelward.evaluation.personal_data.protect import MIN_SECRET_BYTES

    hashed = sorted(name for name, action in columns.items() if action == "hash")
    key = secret.encode("utf-8") if secret is not None else b""
    if hashed and secret is None:
        raise ServiceUnavailable(
            f"the policy's monitoring.log_protect hashes {', '.join(map(repr, hashed))} in the prediction log and "
            "this server has no hash_secret (MODELWARD_HASH_SECRET): the endpoint does not serve rather than log "
            "those columns in clear")
    if hashed and len(key) < MIN_SECRET_BYTES:
        raise ServiceUnavailable(f"the server's hash_secret (MODELWARD_HASH_SECRET) must be at least "
                                 f"{MIN_SECRET_BYTES} bytes long to hash monitoring.log_protect columns")
    return LogProtection(columns, key)


# -- reading ---------------------------------------------------------------------------------------

def records(backend: Backend, endpoint: str, *, since: datetime | None = None, until: datetime | None = None,
            version: int | None = None, mode: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """The full records of ``endpoint``, newest first."""
    if mode is not None and mode not in MODES:
        raise InvalidInput(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if limit < 1:
        raise InvalidInput(f"limit must be positive, got {limit}")
    with backend.read() as session:
        rows = store.index_rows(session, endpoint, since=since, until=until, version=version, mode=mode, limit=limit)
        wanted = [(row.request_id, row.mode, row.part) for row in rows]
    return store.read_records(backend.artifacts, wanted)


def get(backend: Backend, request_id: str) -> dict[str, Any]:
    """The records of one request (its live answer and any shadow answers) and its feedback."""
    with backend.read() as session:
        rows = store.index_rows_of_request(session, request_id)
        if not rows:
            raise NotFound(f"no prediction with request id {request_id!r} is in the log")
        feedback = store.feedback_of(session, request_id)
        wanted = [(row.request_id, row.mode, row.part) for row in rows]
    return {"request_id": request_id, "records": store.read_records(backend.artifacts, wanted), "feedback": feedback}


# -- feedback ----------------------------------------------------------------------------------------

def add_feedback(backend: Backend, actor: Actor, endpoint: str, items: list[dict[str, Any]]) -> dict[str, int]:
    """Attach ground truth (and business values) to logged requests of ``endpoint``: all or nothing.
    Feedback given again for a request replaces the earlier one."""
    if not isinstance(items, list) or not items:
        raise InvalidInput("feedback must be a non-empty list of items")
    if len(items) > MAX_FEEDBACK_ITEMS:
        raise PayloadTooLarge(f"at most {MAX_FEEDBACK_ITEMS} feedback items per call, got {len(items)}")
    now = datetime.now(UTC)
    checked = {item["request_id"]: item for item in (_checked_item(i, item) for i, item in enumerate(items))}
    with backend.write() as session:
        rows_of = store.live_rows_of(session, endpoint, checked)
        unknown = sorted(set(checked) - set(rows_of))
        if unknown:
            shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
            raise NotFound(f"no prediction of endpoint {endpoint!r} with request id {shown}; nothing was stored")
        for request_id, item in checked.items():
            truth = item["ground_truth"]
            if isinstance(truth, list) and len(truth) != rows_of[request_id]:
                raise InvalidInput(f"feedback for request {request_id!r} has {len(truth)} ground-truth values, "
                                   f"the request had {rows_of[request_id]} rows")
        store.upsert_feedback(session, [
            {"request_id": request_id, "endpoint": endpoint, "ground_truth": item["ground_truth"],
             "values": item.get("values"), "at": now, "actor": actor.name}
            for request_id, item in checked.items()
        ])
    return {"accepted": len(checked)}


def _checked_item(position: int, item: Any) -> dict[str, Any]:
    where = f"feedback item {position}"
    if not isinstance(item, dict):
        raise InvalidInput(f"{where} must be an object with request_id and ground_truth")
    request_id = item.get("request_id")
    if not isinstance(request_id, str) or not 0 < len(request_id) <= 128:
        raise InvalidInput(f"{where}: request_id must be a string of 1 to 128 characters")
    if "ground_truth" not in item or item["ground_truth"] is None:
        raise InvalidInput(f"{where} (request {request_id!r}) has no ground_truth")
    unknown = set(item) - {"request_id", "ground_truth", "values"}
    if unknown:
        raise InvalidInput(f"{where} (request {request_id!r}) has unknown fields: {', '.join(sorted(unknown))}")
    values = item.get("values")
    if values is not None and (not isinstance(values, dict) or not all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for k, v in values.items())):
        raise InvalidInput(f"{where} (request {request_id!r}): values must map names to finite numbers")
    for name in values or {}:  # business values are KPIs: named so an alert rule can name them
        validate_name(name, f"{where} (request {request_id!r}): values key")
    return {"request_id": request_id, "ground_truth": item["ground_truth"],
            "values": {k: float(v) for k, v in values.items()} if values is not None else None}


# -- figures for monitoring and the canary guardrails -------------------------------------------------

def version_stats(backend: Backend, endpoint: str, *, since: datetime, until: datetime | None = None,
                  task: str = "classification") -> list[VersionStats]:
    """One entry per (version, mode) answering on ``endpoint`` in [since, until): request count,
    errors (status 500 and above), p50/p95 latency, and quality of the answers that have feedback:
    ``accuracy`` for classification, ``mae`` and ``rmse`` for regression, over all rows."""
    if task not in _TASKS:
        raise InvalidInput(f"task must be one of {', '.join(_TASKS)}, got {task!r}")
    with backend.read() as session:
        figures = store.latency_figures(session, endpoint, since=since, until=until)
        judged = store.answered_with_feedback(session, endpoint, since=since, until=until)
    outputs = _outputs_of(backend, [(request_id, mode, part) for request_id, mode, _, part, _ in judged])
    pairs: dict[tuple[int, str], list[tuple[Any, Any]]] = defaultdict(list)
    for request_id, mode, version, _, truth in judged:
        if (request_id, mode) in outputs:
            pairs[(version, mode)].extend(_aligned(outputs[(request_id, mode)], truth))
    result = []
    for (version, mode), entry in sorted(figures.items()):
        quality, compared = _quality(pairs.get((version, mode), []), task)
        result.append(VersionStats(
            version=version, mode=mode, requests=entry["requests"], errors=entry["errors"],
            error_rate=entry["errors"] / entry["requests"] if entry["requests"] else 0.0,
            p50_ms=entry["p50_ms"], p95_ms=entry["p95_ms"], quality=quality, feedback_rows=compared,
        ))
    return result


def shadow_agreement(backend: Backend, endpoint: str, *, since: datetime, until: datetime | None = None,
                     shadow_version: int | None = None) -> dict[str, Any]:
    """How often a shadow version's answers equal the live answers to the same requests.

    Without ``shadow_version``, the version of the newest shadow answer in the window."""
    with backend.read() as session:
        shadows = store.answered(session, endpoint, since=since, until=until, mode="shadow")
        if shadow_version is None and shadows:
            shadow_version = max(shadows, key=lambda s: s[3])[1]
        shadows = [s for s in shadows if s[1] == shadow_version]
        lives = store.live_answers_of(session, endpoint, [request_id for request_id, *_ in shadows])
    twins = [(request_id, part, lives[request_id]) for request_id, _, part, _ in shadows if request_id in lives]
    wanted = [(r, "shadow", part) for r, part, _ in twins] + [(r, "live", live[1]) for r, _, live in twins]
    outputs = _outputs_of(backend, wanted)
    primary_versions: Counter[int] = Counter()
    equal = compared = 0
    differences: list[float] = []
    for request_id, _, (live_version, _) in twins:
        primary_versions[live_version] += 1
        for shadow_value, live_value in _aligned(outputs.get((request_id, "shadow")), outputs.get((request_id, "live"))):
            compared += 1
            equal += shadow_value == live_value
            if _is_number(shadow_value) and _is_number(live_value):
                differences.append(abs(float(shadow_value) - float(live_value)))
    return {
        "shadow_version": shadow_version,
        "primary_version": primary_versions.most_common(1)[0][0] if primary_versions else None,
        "compared": compared,
        "agreement_rate": equal / compared if compared else None,
        "mean_abs_difference": sum(differences) / len(differences) if differences else None,
    }


def _outputs_of(backend: Backend, wanted: list[tuple[str, str, str]]) -> dict[tuple[str, str], Any]:
    return {(r["request_id"], r["mode"]): r["outputs"] for r in store.read_records(backend.artifacts, wanted)}


def _rows_of(value: Any) -> list[Any]:
    """An answer as one value per row: a list stays a list, ``{"predictions": [...]}`` is unwrapped,
    a scalar is one row."""
    if isinstance(value, dict) and "predictions" in value:
        value = value["predictions"]
    return value if isinstance(value, list) else [value]


def _aligned(answer: Any, truth: Any) -> Iterable[tuple[Any, Any]]:
    """(answer, truth) per row; nothing when they do not line up (counted nowhere, judged never)."""
    if answer is None or truth is None:
        return []
    answers, truths = _rows_of(answer), _rows_of(truth)
    return zip(answers, truths) if len(answers) == len(truths) else []


def _quality(pairs: list[tuple[Any, Any]], task: str) -> tuple[dict[str, float], int]:
    if task == "classification":
        if not pairs:
            return {}, 0
        return {"accuracy": sum(answer == truth for answer, truth in pairs) / len(pairs)}, len(pairs)
    errors = [float(answer) - float(truth) for answer, truth in pairs if _is_number(answer) and _is_number(truth)]
    if not errors:
        return {}, 0
    return ({"mae": sum(abs(e) for e in errors) / len(errors),
             "rmse": math.sqrt(sum(e * e for e in errors) / len(errors))}, len(errors))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)

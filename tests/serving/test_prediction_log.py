"""The prediction log: written off the request path, nothing lost on close, drops counted under
overload, feedback all or nothing, and the per-version figures the canary guardrails read.

Runs on SQLite and PostgreSQL (the ``backend`` fixture), with one test on a moto S3 artifact root.
"""

from __future__ import annotations

import logging
import math
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text

from modelward.domain.actors import Actor
from modelward.domain.predictions import PredictionRecord
from modelward.errors import InvalidInput, NotFound
from modelward.services import predictions
from modelward.services.backend import Backend
from modelward.services.predictions import PredictionLog
from modelward.settings import Settings
from tests.fixtures.s3 import s3_storage_options

ACTOR = Actor(name="labeller")
NOW = datetime.now(UTC).replace(microsecond=0)
HOUR_AGO = NOW - timedelta(hours=1)


def record(request_id: str, *, endpoint: str = "churn", version: int = 1, mode: str = "live",
           at: datetime = NOW, latency_ms: float = 5.0, status: int = 200, outputs: Any = None,
           inputs: Any = None, rows: int = 1) -> PredictionRecord:
    return PredictionRecord(
        request_id=request_id, endpoint=endpoint, model_name="churn-model", version=version, mode=mode, at=at,
        latency_ms=latency_ms, status=status, error=None if status < 400 else "model failed",
        inputs=inputs if inputs is not None else {"rows": [[1.0, 2.0]] * rows},
        outputs=outputs if outputs is not None else [0] * rows, rows=rows,
    )


def write_all(backend: Backend, records: list[PredictionRecord]) -> PredictionLog:
    """Queue every record on a log that is not started, then close it: one synchronous flush."""
    log = PredictionLog(backend, capacity=max(len(records), 1), batch_size=len(records) or 1)
    assert all(log.submit(r) for r in records)
    log.close()
    assert log.stats()["written"] == len(records)
    return log


@pytest.fixture
def started() -> Iterator[list[PredictionLog]]:
    """Logs a test started: closed at the end even when the test fails."""
    logs: list[PredictionLog] = []
    yield logs
    for log in logs:
        log.close(timeout_s=30)


# -- writing ------------------------------------------------------------------------------------

def test_concurrent_submitters_lose_nothing_and_every_record_reads_back(
    backend: Backend, started: list[PredictionLog],
) -> None:
    log = PredictionLog(backend, capacity=20_000, batch_size=500, flush_interval_s=0.05)
    started.append(log)
    log.start()
    threads, per_thread = 8, 2_500

    def submit(worker: int) -> None:
        for i in range(per_thread):
            at = NOW - timedelta(milliseconds=worker * per_thread + i)
            accepted = log.submit(record(f"w{worker}-{i}", at=at, inputs={"x": [worker, i]}, outputs=[i % 3]))
            assert accepted

    workers = [threading.Thread(target=submit, args=(w,)) for w in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    log.close()

    stats = log.stats()
    assert stats["written"] == threads * per_thread
    assert stats["dropped"] == stats["lost"] == stats["queued"] == 0 and stats["last_error"] is None
    found = predictions.records(backend, "churn", limit=50_000)
    assert len(found) == threads * per_thread
    assert [r["at"] for r in found] == sorted((r["at"] for r in found), reverse=True)
    for entry in found:
        worker, i = (int(n) for n in entry["request_id"][1:].split("-"))
        assert entry["inputs"] == {"x": [worker, i]} and entry["outputs"] == [i % 3]
        assert entry["version"] == 1 and entry["mode"] == "live" and entry["status"] == 200


def test_flush_returns_once_what_was_submitted_is_readable(backend: Backend, started: list[PredictionLog]) -> None:
    log = PredictionLog(backend, flush_interval_s=3_600)  # the interval alone would not write it
    started.append(log)
    log.start()
    assert log.submit(record("now"))
    assert log.flush()
    assert [r["request_id"] for r in predictions.records(backend, "churn")] == ["now"]
    predictions.add_feedback(backend, ACTOR, "churn", [{"request_id": "now", "ground_truth": [0]}])


def test_frames_and_arrays_are_stored_as_json(backend: Backend) -> None:
    import pandas as pd

    frame = pd.DataFrame({"age": [31, 45], "plan": ["basic", "pro"]})
    circular: list[Any] = []
    circular.append(circular)
    write_all(backend, [record("frame", rows=2, inputs=frame, outputs=np.array([0.25, 0.75])),
                        record("odd", outputs=circular)])
    stored = {r["request_id"]: r for r in predictions.records(backend, "churn")}
    assert stored["frame"]["inputs"] == [{"age": 31, "plan": "basic"}, {"age": 45, "plan": "pro"}]
    assert stored["frame"]["outputs"] == [0.25, 0.75]
    assert "unserialisable" in stored["odd"]["outputs"]


def test_a_part_of_frames_of_one_layout_has_a_typed_rows_file_and_a_mixed_one_none(backend: Backend) -> None:
    import pandas as pd

    from modelward.domain.predictions import Rows
    from modelward.store import predictions as store

    first = pd.DataFrame({"age": [31, 45], "score": [0.5, np.nan], "vip": [True, False], "plan": ["basic", None]})
    second = pd.DataFrame({"age": [52], "score": [np.inf], "vip": [False], "plan": ["pro"]})
    write_all(backend, [
        record("f0", rows=2, inputs=Rows.of(first)), record("f1", inputs=Rows.of(second)),
        record("f1", version=2, mode="shadow", inputs=Rows.of(second)),
        record("n0", endpoint="numbers", rows=2, inputs=Rows(["x", "y"], np.array([[1, 2], [3, 4]]))),
        record("m0", endpoint="mixed", inputs=Rows.of(first[["age"]])),  # two layouts, and no frame
        record("m1", endpoint="mixed", inputs=Rows.of(first)), record("m2", endpoint="mixed", inputs=[{"age": 3}]),
    ])
    names = backend.artifacts.list_dataset_files("predictions")
    rows_files = sorted(n for n in names if n.endswith(store.ROWS_SUFFIX))
    parts = {n.split("/")[1]: n for n in names if n not in rows_files}
    assert rows_files == sorted(store.rows_file_of(parts[e]) for e in ("endpoint=churn", "endpoint=numbers"))
    table, schema = store.read_rows_file(backend.artifacts, store.rows_file_of(parts["endpoint=churn"]),
                                         ["age", "score", "vip", "plan"])
    assert [(f.name, str(f.type)) for f in schema] == [
        ("request_id", "string"), ("mode", "string"), ("row", "int32"), ("age", "double"), ("score", "double"),
        ("vip", "bool"), ("plan", "string")]
    assert table.to_pydict() == {
        "request_id": ["f0", "f0", "f1", "f1"], "mode": ["live", "live", "live", "shadow"], "row": [0, 1, 0, 0],
        "age": [31.0, 45.0, 52.0, 52.0], "score": [0.5, None, None, None], "vip": [True, False, False, False],
        "plan": ["basic", None, "pro", "pro"]}
    numbers, schema = store.read_rows_file(backend.artifacts, store.rows_file_of(parts["endpoint=numbers"]), ["x", "y"])
    assert [str(f.type) for f in schema][3:] == ["double", "double"]
    assert numbers.to_pydict() == {"request_id": ["n0", "n0"], "mode": ["live", "live"], "row": [0, 1],
                                   "x": [1.0, 3.0], "y": [2.0, 4.0]}
    # the part itself still holds the inputs as JSON
    stored = {r["request_id"]: r for r in predictions.records(backend, "churn")}
    assert stored["f0"]["inputs"] == [{"age": 31, "score": 0.5, "vip": True, "plan": "basic"},
                                      {"age": 45, "score": None, "vip": False, "plan": None}]


def test_one_flush_writes_one_part_per_endpoint_and_day(backend: Backend) -> None:
    yesterday = NOW - timedelta(days=1)
    records = [record(f"a{i}", endpoint="churn", at=NOW) for i in range(3)]
    records += [record(f"b{i}", endpoint="churn", at=yesterday) for i in range(2)]
    records += [record(f"c{i}", endpoint="fraud scores", at=NOW) for i in range(4)]
    log = write_all(backend, records)

    assert log.stats()["batches"] == 1
    parts = backend.artifacts.list_dataset_files("predictions")
    folders = sorted(part.rsplit("/", 1)[0] for part in parts)
    assert folders == sorted([
        f"predictions/endpoint=churn/date={NOW.date()}", f"predictions/endpoint=churn/date={yesterday.date()}",
        f"predictions/endpoint=fraud%20scores/date={NOW.date()}",
    ])
    assert all(part.rsplit("/", 1)[1].startswith("part-") and part.endswith(".parquet") for part in parts)
    assert {r["request_id"] for r in predictions.records(backend, "fraud scores")} == {f"c{i}" for i in range(4)}


def test_records_filter_by_window_version_and_mode(backend: Backend) -> None:
    write_all(backend, [
        record("old", at=NOW - timedelta(hours=2)),
        record("v1", at=NOW - timedelta(minutes=2)),
        record("v2", version=2, at=NOW - timedelta(minutes=1)),
        record("v2", version=3, mode="shadow", at=NOW - timedelta(minutes=1)),
    ])
    assert [r["request_id"] for r in predictions.records(backend, "churn", since=HOUR_AGO)] == ["v2", "v2", "v1"]
    assert [r["request_id"] for r in predictions.records(backend, "churn", until=HOUR_AGO)] == ["old"]
    assert [r["version"] for r in predictions.records(backend, "churn", version=1)] == [1, 1]
    assert [r["version"] for r in predictions.records(backend, "churn", mode="shadow")] == [3]
    assert [r["request_id"] for r in predictions.records(backend, "churn", limit=1)] == ["v2"]
    with pytest.raises(InvalidInput, match="mode"):
        predictions.records(backend, "churn", mode="canary")


def test_a_request_id_sent_twice_keeps_its_first_record(backend: Backend) -> None:
    write_all(backend, [record("same", outputs=[1])])
    write_all(backend, [record("same", outputs=[2])])
    found = predictions.get(backend, "same")["records"]
    assert [r["outputs"] for r in found] == [[1]]


def test_a_stalled_writer_makes_submit_drop_and_count_instead_of_waiting(
    backend: Backend, started: list[PredictionLog],
) -> None:
    log = PredictionLog(backend, capacity=100, batch_size=1, flush_interval_s=0.05)
    started.append(log)
    with backend.write() as session:  # holds the lock the writer's index insert waits for
        if backend.engine.dialect.name == "postgresql":
            session.execute(text("LOCK TABLE prediction_index IN EXCLUSIVE MODE"))
        else:
            session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: SQLite's write lock
        log.start()
        assert log.submit(record("first"))
        _wait_until(lambda: log.stats()["queued"] == 0)  # the writer holds it, stuck on the lock
        accepted = [log.submit(record(f"r{i}")) for i in range(250)]
        assert accepted == [True] * 100 + [False] * 150  # a full queue answers False at once
        assert log.stats()["dropped"] == 150 and log.stats()["queued"] == 100
    log.close()

    stats = log.stats()
    assert stats["written"] == 101 and stats["dropped"] == 150 and stats["lost"] == 0
    assert len(predictions.records(backend, "churn")) == 101
    assert not log.submit(record("after close")) and log.stats()["dropped"] == 151


def test_a_failing_store_does_not_end_the_writer(
    sqlite_settings: Settings, started: list[PredictionLog], caplog: pytest.LogCaptureFixture,
) -> None:
    backend = Backend.from_settings(sqlite_settings)
    root = backend.artifacts.local_root
    assert root is not None
    blocker = root / "predictions"
    blocker.write_text("a file where the log's folder belongs")  # every Parquet write now fails
    log = PredictionLog(backend, batch_size=10, flush_interval_s=0.02)
    started.append(log)
    caplog.set_level(logging.WARNING, logger="modelward.predictions")
    log.start()
    for i in range(10):
        assert log.submit(record(f"lost{i}"))
    _wait_until(lambda: log.stats()["lost"] == 10)
    assert log.stats()["failed_writes"] == 3 and "predictions" in (log.stats()["last_error"] or "")

    blocker.unlink()
    for i in range(5):
        assert log.submit(record(f"kept{i}"))
    log.close()
    assert log.stats()["written"] == 5 and log.stats()["lost"] == 10
    assert sorted(r["request_id"] for r in predictions.records(backend, "churn")) == [f"kept{i}" for i in range(5)]
    warnings = [r for r in caplog.records if r.name == "modelward.predictions"]
    assert 1 <= len(warnings) < log.stats()["failed_writes"]  # reported, not once per failure
    assert "lost" in warnings[-1].getMessage()
    backend.close()


def test_sampling_keeps_about_half_and_the_same_ids_every_time(backend: Backend) -> None:
    ids = [f"req-{i}" for i in range(2_000)]
    first, second = (PredictionLog(backend, capacity=2_000, sample_rate=0.5) for _ in range(2))
    kept_first = {i for i in ids if first.submit(record(i))}
    kept_second = {i for i in ids if second.submit(record(i))}
    assert kept_first == kept_second
    assert 850 < len(kept_first) < 1_150  # binomial(2000, 0.5): five standard deviations
    assert first.stats()["sampled_out"] == 2_000 - len(kept_first)
    first.close()
    assert {r["request_id"] for r in predictions.records(backend, "churn", limit=5_000)} == kept_first


# -- feedback --------------------------------------------------------------------------------------

def test_bulk_feedback_is_stored_and_given_again_replaces(backend: Backend) -> None:
    write_all(backend, [record("a", rows=2, outputs=[1, 0]), record("b"), record("c")])
    answer = predictions.add_feedback(backend, ACTOR, "churn", [
        {"request_id": "a", "ground_truth": [1, 1]},
        {"request_id": "b", "ground_truth": 0, "values": {"revenue": 12.5}},
        {"request_id": "c", "ground_truth": 1},
    ])
    assert answer == {"accepted": 3}
    stored = predictions.get(backend, "b")["feedback"]
    assert stored["ground_truth"] == 0 and stored["values"] == {"revenue": 12.5} and stored["actor"] == "labeller"

    predictions.add_feedback(backend, Actor(name="auditor"), "churn", [{"request_id": "b", "ground_truth": 1}])
    replaced = predictions.get(backend, "b")["feedback"]
    assert replaced["ground_truth"] == 1 and replaced["values"] is None and replaced["actor"] == "auditor"
    assert predictions.get(backend, "a")["feedback"]["ground_truth"] == [1, 1]


def test_feedback_naming_an_unknown_request_stores_nothing(backend: Backend) -> None:
    write_all(backend, [record("known"), record("elsewhere", endpoint="fraud")])
    with pytest.raises(NotFound, match="ghost") as refused:
        predictions.add_feedback(backend, ACTOR, "churn", [
            {"request_id": "known", "ground_truth": 1},
            {"request_id": "ghost", "ground_truth": 0},
            {"request_id": "elsewhere", "ground_truth": 0},  # logged, but by another endpoint
        ])
    assert "elsewhere" in str(refused.value) and "known" not in str(refused.value).split(":")[-1]
    assert predictions.get(backend, "known")["feedback"] is None
    with pytest.raises(NotFound):
        predictions.get(backend, "ghost")


def test_feedback_that_cannot_be_right_is_refused(backend: Backend) -> None:
    write_all(backend, [record("two rows", rows=2, outputs=[0, 1])])
    with pytest.raises(InvalidInput, match="2 rows"):
        predictions.add_feedback(backend, ACTOR, "churn", [{"request_id": "two rows", "ground_truth": [1, 0, 1]}])
    with pytest.raises(InvalidInput, match="ground_truth"):
        predictions.add_feedback(backend, ACTOR, "churn", [{"request_id": "two rows"}])
    with pytest.raises(InvalidInput, match="values"):
        predictions.add_feedback(backend, ACTOR, "churn", [
            {"request_id": "two rows", "ground_truth": [1, 0], "values": {"revenue": "a lot"}}])
    with pytest.raises(InvalidInput, match="10000"):
        predictions.add_feedback(backend, ACTOR, "churn",
                                 [{"request_id": f"r{i}", "ground_truth": 1} for i in range(10_001)])
    assert predictions.get(backend, "two rows")["feedback"] is None


# -- figures ---------------------------------------------------------------------------------------

def test_version_stats_match_the_records_written(backend: Backend) -> None:
    at = NOW - timedelta(minutes=5)
    live_latencies = [3.0, 9.0, 4.5, 12.0, 7.25, 30.0, 5.0, 6.0]
    live = [record(f"r{i}", version=1, at=at, latency_ms=ms, rows=2, outputs=[i % 2, 1],
                   status=500 if i in (5, 6) else 200) for i, ms in enumerate(live_latencies)]
    shadow = [record(f"r{i}", version=2, mode="shadow", at=at, latency_ms=1.0 + i, rows=2, outputs=[1, 1])
              for i in range(8)]
    before_window = [record("early", version=1, at=NOW - timedelta(hours=3), latency_ms=999.0, rows=2)]
    write_all(backend, live + shadow + before_window)
    truths = {"r0": [0, 1], "r1": [0, 1], "r2": [1, 1], "r5": [1, 0], "early": [0, 0]}
    predictions.add_feedback(backend, ACTOR, "churn",
                             [{"request_id": r, "ground_truth": t} for r, t in truths.items()])

    stats = {(s.version, s.mode): s for s in predictions.version_stats(backend, "churn", since=HOUR_AGO)}
    assert set(stats) == {(1, "live"), (2, "shadow")}
    v1 = stats[(1, "live")]
    assert (v1.requests, v1.errors, v1.error_rate) == (8, 2, 0.25)
    assert math.isclose(v1.p50_ms, float(np.percentile(live_latencies, 50)))
    assert math.isclose(v1.p95_ms, float(np.percentile(live_latencies, 95)))
    # r0 -> [0,1] vs [0,1]: 2 right; r1 -> [1,1] vs [0,1]: 1; r2 -> [0,1] vs [1,1]: 1; r5 failed: not judged.
    assert v1.feedback_rows == 6 and math.isclose(v1.quality["accuracy"], 4 / 6)
    v2 = stats[(2, "shadow")]
    assert (v2.requests, v2.errors) == (8, 0)
    assert math.isclose(v2.p95_ms, float(np.percentile([1.0 + i for i in range(8)], 95)))
    # [1,1] against r0 [0,1], r1 [0,1], r2 [1,1], r5 [1,0]: 1 + 1 + 2 + 1 of 8.
    assert v2.feedback_rows == 8 and math.isclose(v2.quality["accuracy"], 5 / 8)

    with pytest.raises(InvalidInput, match="task"):
        predictions.version_stats(backend, "churn", since=HOUR_AGO, task="ranking")


def test_version_stats_for_regression(backend: Backend) -> None:
    answers = {"a": [2.0, 4.0], "b": [10.0, 0.5], "c": [1.0, 1.0]}
    truths = {"a": [1.0, 4.0], "b": [7.0, 0.5]}
    write_all(backend, [record(r, rows=2, outputs=o) for r, o in answers.items()])
    predictions.add_feedback(backend, ACTOR, "churn", [{"request_id": r, "ground_truth": t} for r, t in truths.items()])

    [stats] = predictions.version_stats(backend, "churn", since=HOUR_AGO, task="regression")
    errors = np.array([2.0 - 1.0, 0.0, 10.0 - 7.0, 0.0])
    assert stats.feedback_rows == 4 and stats.requests == 3
    assert math.isclose(stats.quality["mae"], float(np.abs(errors).mean()))
    assert math.isclose(stats.quality["rmse"], float(np.sqrt((errors ** 2).mean())))


def test_shadow_agreement_compares_each_shadow_answer_with_its_live_twin(backend: Backend) -> None:
    at = NOW - timedelta(minutes=1)
    live = {"a": [0.25, 1.0], "b": [2.0, 3.0], "c": [5.0, 5.0], "lonely": [1.0, 1.0]}
    shadow = {"a": [0.25, 1.5], "b": [2.0, 3.0], "c": [4.0, 7.0]}
    write_all(backend, [record(r, version=4, at=at, rows=2, outputs=o) for r, o in live.items()]
              + [record(r, version=5, mode="shadow", at=at, rows=2, outputs=o) for r, o in shadow.items()]
              + [record("broken", version=5, mode="shadow", at=at, status=500, rows=2, outputs=[9.0, 9.0])])

    agreement = predictions.shadow_agreement(backend, "churn", since=HOUR_AGO)
    differences = [0.0, 0.5, 0.0, 0.0, 1.0, 2.0]
    assert agreement["shadow_version"] == 5 and agreement["primary_version"] == 4
    assert agreement["compared"] == 6 and math.isclose(agreement["agreement_rate"], 3 / 6)
    assert math.isclose(agreement["mean_abs_difference"], sum(differences) / 6)
    none = predictions.shadow_agreement(backend, "churn", since=NOW + timedelta(hours=1))
    assert none["compared"] == 0 and none["agreement_rate"] is None


# -- an object store as the artifact root -----------------------------------------------------------

def test_the_log_on_an_s3_artifact_root(s3_server: tuple[str, str], tmp_path: Path) -> None:
    endpoint_url, bucket = s3_server
    settings = Settings(home=tmp_path / "store", artifact_root=f"s3://{bucket}/root-{uuid.uuid4().hex}",
                        artifact_storage_options=s3_storage_options(endpoint_url))
    backend = Backend.from_settings(settings)
    try:
        log = write_all(backend, [record(f"s{i}", outputs=[i], inputs={"i": i}) for i in range(20)]
                        + [record("s3", version=2, mode="shadow", outputs=[4], inputs={"i": 3})])
        assert log.stats()["batches"] == 1
        parts = backend.artifacts.list_dataset_files("predictions")
        assert len(parts) == 1 and parts[0].startswith(f"predictions/endpoint=churn/date={NOW.date()}/part-")
        found = predictions.get(backend, "s3")
        assert [(r["mode"], r["outputs"], r["inputs"]) for r in found["records"]] == [
            ("live", [3], {"i": 3}), ("shadow", [4], {"i": 3})]
        predictions.add_feedback(backend, ACTOR, "churn", [{"request_id": f"s{i}", "ground_truth": [3]}
                                                            for i in range(20)])
        stats = {s.mode: s for s in predictions.version_stats(backend, "churn", since=HOUR_AGO)}
        assert stats["live"].requests == 20 and stats["live"].quality == {"accuracy": 1 / 20}
        assert stats["shadow"].quality == {"accuracy": 0.0}
    finally:
        backend.close()


def _wait_until(condition, attempts: int = 3_000) -> None:  # type: ignore[no-untyped-def]
    """Poll a condition another thread will make true (a bound, not a timing assertion)."""
    event = threading.Event()
    for _ in range(attempts):
        if condition():
            return
        event.wait(0.01)
    raise AssertionError("the condition never held")

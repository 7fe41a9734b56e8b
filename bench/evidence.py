"""Benchmark: the evidence of one prediction on a store of 1,000,000 predictions, 1,000 versions
and 100,000 audit events (issue 17: under 1 s warm).

The store, built once through the services and the stores' own writers and cached under
``.cache/evidence/`` (``--regenerate`` forces a rebuild):

* 1,000 versions: 100 models of 10 versions each, registered with ``registry.register_version``
  from one run holding a small skops iris classifier (every version re-uses its files). The
  served model, ``iris``, is registered last; two of its versions are approved (policy: one
  approval) and deployed to endpoint ``bench``: v9 stable, v10 as a 50% canary.
* 100,000 audit events in all: the registrations and governance above, then filler events
  (``audit.record`` in transactions of 50) spread over the 100 models (20% name no model), one
  in 500 an anchored action (``alias.moved``: a signed checkpoint after its commit, as the
  server does). After each transaction of 50 a checkpoint of the head is signed
  (``checkpoints.anchor_now``): read as one event per 6 s, that is the server's default cadence
  (``audit_anchor_interval_s`` = 300 s), about 2,000 checkpoints.
* 1,000,000 one-row predictions of the endpoint (4 iris features, the version that the 50/50
  canary gives), at times spread from the canary's start to the last audit event, written with
  ``store.predictions.write_part`` + ``insert_index`` in parts of 10,000; ground truth for 30%.

Then, warm (two calls first), the median and p90 of ``--calls`` calls each:

* ``evidence.for_request`` on random request ids;
* ``evidence.for_moment`` of the endpoint at random moments of the log;
* the verification alone: ``evidence.verify_span`` over the events a request's evidence cites
  (listed once beforehand), and the listing of those events (``audit.list_``).

    python bench/evidence.py [--predictions 1000000] [--audit-events 100000] [--calls 20] [--profile] [--regenerate]

``--profile`` adds a cProfile of five ``for_request`` calls (top functions by cumulative time).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from modelward import models
from modelward.domain.actors import Actor, Role
from modelward.domain.predictions import PredictionRecord, Rows
from modelward.services import (
    artifacts,
    audit,
    checkpoints,
    deployments,
    evidence,
    experiments,
    governance,
    policies,
    registry,
    runs,
)
from modelward.services.backend import Backend
from modelward.settings import Settings
from modelward.store import predictions as prediction_store

ENDPOINT, MODEL = "bench", "iris"
MODELS, VERSIONS_PER_MODEL = 100, 10
AUDIT_EVENTS = 100_000
EVENTS_PER_CHECKPOINT = 50  # one event per 6 s of history: a checkpoint each 300 s, the server's default
ANCHORED_EVERY = 500
PART_SIZE = 10_000
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
AUTHOR = Actor(name="alice", roles=frozenset({Role.CONTRIBUTOR}))
APPROVER = Actor(name="ann", roles=frozenset({Role.APPROVER}))
ADMIN = Actor(name="root")
POLICY = f"""\
model: {MODEL}
gates: [{{metric: accuracy, min: 0.5}}]
review: {{approvals: 1, risk_assessment_required: false}}
release:
  strategy: canary
  steps: [50, 100]
"""
FILLER_ACTIONS = ("run.created", "run.finished", "dataset.logged", "model_version.tagged", "review.commented")
CACHE = Path(__file__).resolve().parent.parent / ".cache" / "evidence"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- building the store ---------------------------------------------------------------------------


def generate(home: Path, n_predictions: int, n_events: int) -> dict:
    backend = Backend.from_settings(Settings(home=home))
    started = time.perf_counter()
    run_id, held_out = _model_run(backend)
    names = [f"model-{i:03d}" for i in range(MODELS - 1)] + [MODEL]
    policies.set_policy(backend, ADMIN, POLICY + f"evaluation_dataset: {json.dumps(held_out)}\n")
    for index, name in enumerate(names):
        for _ in range(VERSIONS_PER_MODEL):
            registry.register_version(backend, AUTHOR, name, run_id=run_id)
        if index % 10 == 9:
            _log(f"  {(index + 1) * VERSIONS_PER_MODEL:,} versions ({time.perf_counter() - started:.0f} s)")
    stable, canary = VERSIONS_PER_MODEL - 1, VERSIONS_PER_MODEL
    for version in (stable, canary):
        governance.approve(backend, APPROVER, MODEL, version, comment="accuracy and card reviewed")
    deployments.create(backend, APPROVER, ENDPOINT, model=MODEL, environment="production", version=stable)
    deployments.release(backend, APPROVER, ENDPOINT, canary, strategy="canary", steps=[50, 100],
                        reason="the challenger on half the traffic")
    canary_at = datetime.now(UTC)
    _audit_filler(backend, names, n_events, started)
    last_event_at = audit.list_(backend, limit=1)[0].at
    _predictions(backend, n_predictions, canary_at, last_event_at, (stable, canary), started)
    backend.close()
    return {"since": canary_at.isoformat(), "until": last_event_at.isoformat()}


def _model_run(backend: Backend) -> tuple[str, dict[str, str]]:
    """One run holding a small skops classifier (every version is registered from its files) and
    the evaluation data the policy names."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    data = load_iris(as_frame=True)
    features = data.frame.drop(columns=["target"])
    features.columns = FEATURES
    model = LogisticRegression(max_iter=500).fit(features, data.frame["target"])
    run = runs.start(backend, AUTHOR, experiment_id=experiments.create(backend, "bench").id, name="train")
    with tempfile.TemporaryDirectory() as tmp:
        folder = models.save(model, Path(tmp) / "model", input_example=features.head(3))
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            artifacts.upload(backend, run.id, f"model/{path.relative_to(folder).as_posix()}",
                             io.BytesIO(path.read_bytes()), actor=AUTHOR)
    held_out = io.BytesIO()
    features.assign(target=data.frame["target"]).to_parquet(held_out)
    artifacts.upload(backend, run.id, "data/eval.parquet", io.BytesIO(held_out.getvalue()), actor=AUTHOR)
    return run.id, {"run_id": run.id, "path": "data/eval.parquet"}


def _audit_filler(backend: Backend, names: list[str], n_events: int, started: float) -> None:
    rng = random.Random(0)
    with backend.read() as session:
        from modelward.store import audit as audit_store

        have = audit_store.last(session).seq
    written = have
    while written < n_events:
        with backend.write() as session:
            for _ in range(min(EVENTS_PER_CHECKPOINT, n_events - written)):
                written += 1
                model = rng.choice(names) if rng.random() < 0.8 else None
                version = rng.randint(1, VERSIONS_PER_MODEL)
                action = "alias.moved" if written % ANCHORED_EVERY == 0 else rng.choice(FILLER_ACTIONS)
                subject = ("model_version", f"{model}/{version}") if model else ("run", f"run-{written}")
                audit.record(session, rng.choice(("alice", "bob", "ann", "ci")), action, subject_type=subject[0],
                             subject_id=subject[1], model_name=model, details={"n": written, "note": "bench"})
        checkpoints.anchor_now(backend)
        if written % 10_000 < EVENTS_PER_CHECKPOINT:
            _log(f"  {written:,} audit events ({time.perf_counter() - started:.0f} s)")


def _predictions(backend: Backend, n: int, since: datetime, until: datetime, versions: tuple[int, int],
                 started: float) -> None:
    rng = np.random.default_rng(0)
    span_us = max(1, int((until - since).total_seconds() * 1_000_000))
    offsets = np.sort(rng.integers(0, span_us, n))
    for first in range(0, n, PART_SIZE):
        records = _records(rng, first, since, offsets[first:first + PART_SIZE], versions)
        for day in sorted({prediction_store.partition_of(r) for r in records}):
            chunk = [r for r in records if prediction_store.partition_of(r) == day]
            part = prediction_store.new_part_name(*day)
            prediction_store.write_part(backend.artifacts, part, chunk)
            with backend.write() as session:
                prediction_store.insert_index(session, part, chunk)
        now = datetime.now(UTC)
        truths = [{"request_id": r.request_id, "endpoint": ENDPOINT, "ground_truth": [int(rng.integers(0, 3))],
                   "values": None, "at": now, "actor": "labeller"} for r in records if rng.random() < 0.3]
        with backend.write() as session:
            prediction_store.upsert_feedback(session, truths)
        if (first + PART_SIZE) % 100_000 == 0:
            _log(f"  {first + PART_SIZE:,} predictions ({time.perf_counter() - started:.0f} s)")


def _records(rng: np.random.Generator, first: int, since: datetime, offsets: np.ndarray,
             versions: tuple[int, int]) -> list[PredictionRecord]:
    size = len(offsets)
    features = np.round(rng.normal([5.8, 3.0, 3.7, 1.2], [0.8, 0.4, 1.7, 0.7], size=(size, 4)), 1)
    answered = np.where(rng.random(size) < 0.5, versions[0], versions[1])
    classes = rng.integers(0, 3, size)
    latency = np.round(rng.gamma(2.0, 2.0, size), 3)
    return [PredictionRecord(
        request_id=f"q{first + i}", endpoint=ENDPOINT, model_name=MODEL, version=int(answered[i]), mode="live",
        at=since + timedelta(microseconds=int(offsets[i])), latency_ms=float(latency[i]), status=200, error=None,
        inputs=Rows(FEATURES, features[i:i + 1]), outputs=[int(classes[i])], rows=1) for i in range(size)]


# -- timing ---------------------------------------------------------------------------------------------


def _timed(call, arguments: list) -> dict[str, float]:
    seconds = []
    for argument in arguments:
        started = time.perf_counter()
        call(argument)
        seconds.append(time.perf_counter() - started)
    seconds.sort()
    return {"median_ms": round(statistics.median(seconds) * 1000, 1),
            "p90_ms": round(seconds[int(0.9 * (len(seconds) - 1))] * 1000, 1),
            "max_ms": round(seconds[-1] * 1000, 1)}


def measure(home: Path, n_predictions: int, calls: int, window: dict, profile: bool) -> dict:
    backend = Backend.from_settings(Settings(home=home))
    rng = random.Random(1)
    since, until = datetime.fromisoformat(window["since"]), datetime.fromisoformat(window["until"])
    request_ids = [f"q{rng.randrange(n_predictions)}" for _ in range(calls)]
    moments = [since + (until - since) * rng.random() for _ in range(calls)]
    for request_id in request_ids[:2]:
        evidence.for_request(backend, request_id)  # warm: connections, key, caches
    evidence.for_moment(backend, ENDPOINT, moments[0])
    sample = evidence.for_request(backend, request_ids[0])
    cited = {}
    for request_id in request_ids:
        found = evidence.for_request(backend, request_id)
        cited[request_id] = (found.audit.since, found.audit.until)
    spans = {r: audit.list_(backend, model=MODEL, since=s, until=u + timedelta(microseconds=1),
                            limit=evidence.MAX_CITED_EVENTS, newest_first=False) for r, (s, u) in cited.items()}
    verifications = [evidence.verify_span(backend, spans[r]) for r in request_ids]
    results = {
        "for_request": _timed(lambda r: evidence.for_request(backend, r), request_ids),
        "for_moment": _timed(lambda m: evidence.for_moment(backend, ENDPOINT, m), moments),
        "audit_list (cited events)": _timed(
            lambda r: audit.list_(backend, model=MODEL, since=cited[r][0], until=cited[r][1] + timedelta(microseconds=1),
                                  limit=evidence.MAX_CITED_EVENTS, newest_first=False), request_ids),
        "verify_span alone": _timed(lambda r: evidence.verify_span(backend, spans[r]), request_ids),
    }
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for request_id in request_ids[:5]:
            evidence.for_request(backend, request_id)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
        _log(out.getvalue())
    backend.close()
    cited_counts = [len(spans[r]) for r in request_ids]
    return {
        "timings": results,
        "cited_events_median": statistics.median(cited_counts),
        "rehashed_median": statistics.median(v.checked for v in verifications),
        "segments_median": statistics.median(len(v.segments) for v in verifications),
        "verification_status": sorted({v.status for v in verifications}),
        "sample": {"request_id": sample.request_id, "versions": sample.versions,
                   "answered": [a.why for a in (sample.deployment.answered if sample.deployment else [])],
                   "audit_events": len(sample.audit.events), "verification": sample.audit.verification.status,
                   "rehashed": sample.audit.verification.checked},
    }


def _counts(home: Path) -> dict[str, int]:
    from sqlalchemy import text

    backend = Backend.from_settings(Settings(home=home))
    with backend.read() as session:
        counts = {table: session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                  for table in ("prediction_index", "model_versions", "audit_events")}
    counts["checkpoints"] = len(checkpoints.object_seqs(backend.artifacts))
    backend.close()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", type=int, default=1_000_000)
    parser.add_argument("--audit-events", type=int, default=AUDIT_EVENTS)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args()
    home = CACHE / f"n{args.predictions}-a{args.audit_events}"
    done = home / "generated.json"
    if args.regenerate and home.exists():
        shutil.rmtree(home)
    if not done.exists():
        if home.exists():
            shutil.rmtree(home)  # a half-built store from an interrupted run
        _log(f"building the store in {home} ...")
        started = time.perf_counter()
        window = generate(home, args.predictions, args.audit_events)
        done.write_text(json.dumps({**window, "seconds": round(time.perf_counter() - started, 1)}))
    window = json.loads(done.read_text())
    result = {"store": {**_counts(home), "built_in_s": window["seconds"]},
              **measure(home, args.predictions, args.calls, window, args.profile)}
    print(json.dumps(result, indent=2, default=str))
    print(f"\n{'call':<28}{'median ms':>11}{'p90 ms':>9}{'max ms':>9}")
    for name, figures in result["timings"].items():
        print(f"{name:<28}{figures['median_ms']:>11}{figures['p90_ms']:>9}{figures['max_ms']:>9}")


if __name__ == "__main__":
    main()

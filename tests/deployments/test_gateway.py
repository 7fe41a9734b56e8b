"""The gateway in a real ``modelward server`` process, over real HTTP: sticky splits, weights that
converge, a blue-green switch under concurrent clients, shadows off the answer's path, a canary
rolled back by its guardrails, a prediction log that loses nothing at a clean shutdown."""

from __future__ import annotations

import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from modelward.services import deployments, predictions
from modelward.services.backend import Backend
from modelward.services.model_pool import ModelPool
from modelward.settings import Settings
from tests.deployments.helpers import APPROVER, approve, approved_versions, iris, register_estimator, set_policy
from tests.fixtures.servers import ServerProcess, start_server, stop_server

FEATURES, TARGET = iris()
ROWS = FEATURES.to_dict(orient="records")
ENV = {"MODELWARD_CANARY_CHECK_INTERVAL_S": "0.5", "MODELWARD_GATEWAY_REFRESH_S": "0.2"}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gateway")


@pytest.fixture(scope="module")
def store(home: Path) -> Iterator[tuple[Backend, list[int]]]:
    backend = Backend.from_settings(Settings(home=home))
    versions = approved_versions(backend, "iris", 3)
    yield backend, versions
    backend.close()


@pytest.fixture(scope="module")
def server(home: Path, store: tuple[Backend, list[int]]) -> Iterator[ServerProcess]:
    running = start_server(home, env=ENV)
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def expected(store: tuple[Backend, list[int]]) -> dict[int, np.ndarray]:
    """Each version's probabilities for every iris row, computed in this process."""
    backend, versions = store
    with ModelPool(backend) as pool:
        return {v: np.asarray(pool.get("iris", v).predict_proba(FEATURES)) for v in versions}


def _wait_until(condition, what: str, timeout_s: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _serving(http: httpx.Client, name: str, revision: int) -> bool:
    answer = http.get(f"/serve/{name}/ready")
    return answer.status_code == 200 and answer.json()["revision"] >= revision


def test_a_split_is_sticky_per_key_and_converges_to_its_weights(store, server) -> None:  # type: ignore[no-untyped-def]
    backend, (v1, v2, _) = store
    deployments.create(backend, APPROVER, "split", model="iris", environment="production", version=v1)
    state = deployments.set_traffic(backend, APPROVER, "split", {v1: 90, v2: 10}).state
    with httpx.Client(base_url=server.url, timeout=30) as http:
        _wait_until(lambda: _serving(http, "split", state.revision), "the split to be served")
        first: dict[str, str] = {}
        for round_ in range(3):
            for key in range(300):
                answer = http.post("/serve/split/predict", json=ROWS[:1], headers={"modelward-routing-key": f"c{key}"})
                assert answer.status_code == 200, answer.text
                version = answer.headers["modelward-version"]
                assert first.setdefault(f"c{key}", version) == version, f"key c{key} moved in round {round_}"
        counts = Counter(http.post("/serve/split/predict", json=ROWS[:1]).headers["modelward-version"]
                         for _ in range(10_000))
    assert counts[str(v1)] + counts[str(v2)] == 10_000
    assert abs(counts[str(v2)] / 10_000 - 0.10) < 0.02, counts
    assert set(first.values()) == {str(v1), str(v2)}


def test_a_blue_green_switch_under_eight_clients_loses_nothing_and_is_never_half_done(  # type: ignore[no-untyped-def]
        store, server, expected) -> None:
    backend, (v1, v2, _) = store
    deployments.create(backend, APPROVER, "bluegreen", model="iris", environment="production", version=v1)
    standby = deployments.release(backend, APPROVER, "bluegreen", v2, strategy="blue_green").state
    stop, failures, seen = threading.Event(), [], Counter()
    lock = threading.Lock()

    def client(index: int) -> None:
        rng = random.Random(index)
        with httpx.Client(base_url=server.url, timeout=30) as http:
            while not stop.is_set():
                row = rng.randrange(len(ROWS))
                answer = http.post("/serve/bluegreen/predict_proba", json={"dataframe_records": [ROWS[row]]})
                if answer.status_code != 200:
                    failures.append(answer.text)
                    continue
                version = int(answer.headers["modelward-version"])
                got = np.asarray(answer.json()["predictions"][0])
                if not np.allclose(got, expected[version][row]):
                    failures.append(f"version {version} header with another version's answer for row {row}")
                with lock:
                    seen[version] += 1

    with httpx.Client(base_url=server.url, timeout=30) as http:
        _wait_until(lambda: _serving(http, "bluegreen", standby.revision), "the standby to be loaded")
        assert set(http.get("/serve/bluegreen/ready").json()["versions"]) == {v1, v2}
        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        _wait_until(lambda: seen[v1] > 200, "traffic on blue")
        switched = deployments.promote(backend, APPROVER, "bluegreen").state
        _wait_until(lambda: _serving(http, "bluegreen", switched.revision), "the switch to be served")
        after_switch = seen[v2]
        _wait_until(lambda: seen[v2] > after_switch + 200, "traffic on green")
        stop.set()
        for thread in threads:
            thread.join()
        tail = Counter(http.post("/serve/bluegreen/predict", json=ROWS[:1]).headers["modelward-version"]
                       for _ in range(50))
    assert failures == []
    assert seen[v1] > 0 and seen[v2] > 0
    assert tail == {str(v2): 50}


def test_a_shadow_never_changes_an_answer_and_runs_after_it(store, server, expected) -> None:  # type: ignore[no-untyped-def]
    backend, (v1, _, _) = store
    # Slow on purpose (~0.1 s an answer): its copies are still queued when the twenty answers are back.
    slow = register_estimator(backend, "iris", RandomForestClassifier(n_estimators=1500, random_state=0)
                              .fit(FEATURES, TARGET))
    approve(backend, "iris", slow)
    deployments.create(backend, APPROVER, "shadowed", model="iris", environment="production", version=v1)
    state = deployments.release(backend, APPROVER, "shadowed", slow, strategy="shadow").state
    ids = [f"shadow-{i}" for i in range(20)]
    with httpx.Client(base_url=server.url, timeout=30) as http:
        _wait_until(lambda: _serving(http, "shadowed", state.revision), "the shadow to be loaded")
        for index, request_id in enumerate(ids):
            answer = http.post("/serve/shadowed/predict_proba", json=[ROWS[index]],
                               headers={"modelward-request-id": request_id})
            assert answer.status_code == 200 and answer.headers["modelward-version"] == str(v1)
            assert np.allclose(answer.json()["predictions"][0], expected[v1][index])
        # All twenty answers are back while the slow shadow is still scoring their copies.
        assert http.get("/serve/shadowed/ready").json()["shadow_backlog"] > 0
        _wait_until(lambda: http.get("/serve/shadowed/ready").json()["shadow_backlog"] == 0, "the shadows")
    _wait_until(lambda: len([r for r in predictions.records(backend, "shadowed", mode="shadow", limit=100)]) == 20,
                "the shadow records to be written")
    shadows = predictions.records(backend, "shadowed", mode="shadow", limit=100)
    assert {r["request_id"] for r in shadows} == set(ids)
    assert {r["version"] for r in shadows} == {slow}


def test_a_canary_that_fails_its_quality_guardrail_is_rolled_back_by_itself(tmp_path: Path) -> None:
    backend = Backend.from_settings(Settings(home=tmp_path))
    policy = """\
model: {name}
gates: [{{metric: accuracy, min: 0.1}}]
review: {{approvals: 1, risk_assessment_required: false}}
release:
  strategy: canary
  steps: [50, 100]
  interval_s: 3600
  guardrails: {{min_requests: 20, max_error_rate: 0.5, quality_metric: accuracy, max_quality_regression: 0.05}}
"""
    set_policy(backend, "guarded", policy)
    good = register_estimator(backend, "guarded", RandomForestClassifier(n_estimators=20, random_state=0)
                              .fit(FEATURES, TARGET))
    shuffled = TARGET.sample(frac=1.0, random_state=1).to_numpy()
    bad = register_estimator(backend, "guarded", RandomForestClassifier(n_estimators=20, random_state=0)
                             .fit(FEATURES, shuffled))
    for version in (good, bad):
        approve(backend, "guarded", version)
    deployments.create(backend, APPROVER, "guarded", model="guarded", environment="production", version=good)
    canary = deployments.release(backend, APPROVER, "guarded", bad).state
    assert canary.weights() == {bad: 50, good: 50}
    running = start_server(tmp_path, env=ENV)
    try:
        with httpx.Client(base_url=running.url, timeout=30) as http:
            _wait_until(lambda: _serving(http, "guarded", canary.revision), "the canary to be served")
            feedback = []
            for index in range(150):
                answer = http.post("/serve/guarded/predict", json=[ROWS[index]],
                                   headers={"modelward-routing-key": f"k{index}"})
                assert answer.status_code == 200
                feedback.append({"request_id": answer.headers["modelward-request-id"],
                                 "ground_truth": [int(TARGET.iloc[index])]})
            assert http.post("/serve/guarded/feedback", json=feedback).status_code == 200
            _wait_until(lambda: deployments.get(backend, "guarded").state.action == "deployment.rolled_back",
                        "the guardrails to roll the canary back")
    finally:
        stop_server(running)
    state = deployments.get(backend, "guarded").state
    assert state.actor == "modelward:guardrails" and "accuracy" in (state.reason or "")
    assert state.weights() == {good: 100}
    from modelward.services import audit, registry

    event = audit.list_(backend, action="deployment.rolled_back")[0]
    assert event.details["trigger"] == "guardrail" and event.details["check"]["healthy"] is False
    assert registry.get_version(backend, "guarded", bad).status == "approved"  # drained, no longer released
    backend.close()


def test_a_bad_request_names_its_column_and_never_reaches_the_model(store, server) -> None:  # type: ignore[no-untyped-def]
    backend, (v1, _, _) = store
    deployments.create(backend, APPROVER, "strict", model="iris", environment="production", version=v1)
    columns = list(FEATURES.columns)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        _wait_until(lambda: _serving(http, "strict", 1), "the endpoint")
        answer = http.post("/serve/strict/predict", json={"dataframe_split": {
            "columns": columns, "data": [["wide", 3.0, 1.4, 0.2]]}})
        assert answer.status_code == 400
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert columns[0] in answer.json()["message"]
        missing = http.post("/serve/strict/predict", json=[{c: 1.0 for c in columns[1:]}])
        assert missing.status_code == 400 and columns[0] in missing.json()["message"]
        unknown = http.post("/serve/nowhere/predict", json=ROWS[:1])
        assert unknown.status_code == 404 and "nowhere" in unknown.json()["message"]


def test_the_prediction_log_holds_every_request_after_a_clean_shutdown_under_load(tmp_path: Path) -> None:
    backend = Backend.from_settings(Settings(home=tmp_path))
    (v1,) = approved_versions(backend, "iris", 1)
    deployments.create(backend, APPROVER, "logged", model="iris", environment="production", version=v1)
    running = start_server(tmp_path, env=ENV)
    sent: list[str] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        with httpx.Client(base_url=running.url, timeout=30) as http:
            for number in range(250):
                request_id = f"load-{index}-{number}"
                answer = http.post("/serve/logged/predict", json=ROWS[:5], headers={"modelward-request-id": request_id})
                assert answer.status_code == 200
                with lock:
                    sent.append(request_id)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    running.process.send_signal(signal.SIGTERM)
    # uvicorn shuts down cleanly, then re-raises the signal it caught: -SIGTERM is its clean exit.
    assert running.process.wait(timeout=60) in (0, -signal.SIGTERM), running.log()
    assert "Traceback" not in running.log()
    logged = predictions.records(backend, "logged", limit=5000)
    assert len(sent) == 2000
    assert sorted(r["request_id"] for r in logged) == sorted(sent)
    assert all(r["rows"] == 5 and r["status"] == 200 for r in logged)
    backend.close()

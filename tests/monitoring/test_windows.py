"""Continuous evaluation windows: every figure against a hand computation on the same data
(numpy, and the gates' own metrics from modelward.evaluation.metrics, i.e. scikit-learn), UTC
bucketing at the boundaries, estimated quality without labels, CBPE accuracy on calibrated
probabilities, and the change-point tests.

Records go through the real PredictionLog and feedback through the real service, on SQLite and
PostgreSQL (the ``backend`` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

from modelward.domain.actors import Actor
from modelward.domain.predictions import PredictionRecord
from modelward.errors import InvalidInput
from modelward.evaluation import estimation
from modelward.evaluation.metrics import classification_metrics, regression_metrics
from modelward.services import monitoring, predictions
from modelward.services.backend import Backend
from modelward.services.predictions import PredictionLog

ACTOR = Actor(name="labeller")
T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
CLOSE = 1e-9


def record(request_id: str, at: datetime, *, version: int = 1, latency_ms: float = 5.0, status: int = 200,
           outputs: Any = None, rows: int = 1, error: str | None = None, mode: str = "live") -> PredictionRecord:
    return PredictionRecord(request_id=request_id, endpoint="churn", model_name="churn-model", version=version,
                            mode=mode, at=at, latency_ms=latency_ms, status=status, error=error,
                            inputs={"rows": [[1.0, 2.0]] * rows}, outputs=outputs, rows=rows)


def write_all(backend: Backend, records: list[PredictionRecord]) -> None:
    log = PredictionLog(backend, capacity=len(records), batch_size=len(records))
    assert all(log.submit(r) for r in records)
    log.close()
    assert log.stats()["written"] == len(records)


def feedback(backend: Backend, truths: dict[str, Any]) -> None:
    items = [{"request_id": r, "ground_truth": t} for r, t in truths.items()]
    for start in range(0, len(items), 5000):
        predictions.add_feedback(backend, ACTOR, "churn", items[start:start + 5000])


def by_key(windows: list[Any]) -> dict[tuple[datetime, int], Any]:
    return {(w.start, w.version): w for w in windows}


def hand_ece(proba: np.ndarray, true: np.ndarray) -> float:
    confidence, correct = proba.max(axis=1), proba.argmax(axis=1) == true
    total = 0.0
    for b in range(10):
        inside = (np.minimum((confidence * 10).astype(int), 9) == b)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return total


def hand_cbpe(proba: np.ndarray) -> dict[str, float]:
    """NannyML's CBPE written out for a binary task whose probabilities are calibrated."""
    p, predicted = proba[:, 1], proba.argmax(axis=1)
    tp, fp = np.sum(p * (predicted == 1)), np.sum((1 - p) * (predicted == 1))
    fn, tn = np.sum(p * (predicted == 0)), np.sum((1 - p) * (predicted == 0))
    order = np.argsort(-p, kind="stable")
    tpr = np.concatenate(([0], np.cumsum(p[order]) / p.sum()))
    fpr = np.concatenate(([0], np.cumsum(1 - p[order]) / (1 - p).sum()))
    return {"accuracy": (tp + tn) / len(p), "precision": tp / (tp + fp), "recall": tp / (tp + fn),
            "specificity": tn / (tn + fp), "f1": 2 * tp / (2 * tp + fp + fn), "roc_auc": float(np.trapezoid(tpr, fpr))}


# -- the figures of each window ----------------------------------------------------------------------

@pytest.fixture
def logged(backend: Backend) -> dict[str, Any]:
    """Two hours, two versions; requests of one and two rows, some failing (422, 503), labels on
    some of the successful ones; probabilities as predict_proba answers."""
    rng = np.random.default_rng(7)
    records, truths, plan = [], {}, []
    for i in range(240):
        at = T0 + timedelta(seconds=30 * i + 7)
        version = 1 + i % 2
        rows = 1 + i % 3 // 2
        status = 422 if i % 17 == 0 else 503 if i % 23 == 0 else 200
        p = np.round(rng.random(rows), 6)
        outputs = [[float(1 - x), float(x)] for x in p] if status == 200 else None
        error = None if status == 200 else (f"input column 'x{i}' is missing" if status == 422
                                            else f"version {version} of model 'churn-model' failed: boom {i}")
        latency = float(np.round(rng.gamma(2.0, 3.0), 4))
        records.append(record(f"r{i}", at, version=version, latency_ms=latency, status=status, outputs=outputs,
                              rows=rows, error=error))
        truth = [int(rng.random() < x) for x in p]
        if status == 200 and i % 3 != 0:
            truths[f"r{i}"] = truth if rows > 1 else truth[0]
        plan.append({"id": f"r{i}", "hour": at.replace(minute=0, second=0), "version": version, "rows": rows,
                     "status": status, "latency": latency, "p": p, "truth": truth, "error": error})
    write_all(backend, records)
    feedback(backend, truths)
    return {"plan": plan, "labelled": set(truths)}


def test_every_window_figure_matches_a_hand_computation(backend: Backend, logged: dict[str, Any]) -> None:
    windows = monitoring.windows(backend, "churn", since=T0, until=T0 + timedelta(hours=2), every="hour",
                                 task="classification")
    assert [(w.start, w.version) for w in windows] == [
        (T0, 1), (T0, 2), (T0 + timedelta(hours=1), 1), (T0 + timedelta(hours=1), 2)]
    for window in windows:
        mine = [e for e in logged["plan"] if e["hour"] == window.start and e["version"] == window.version]
        assert window.end == window.start + timedelta(hours=1) and window.mode == "live"
        assert window.requests == len(mine) and window.rows == sum(e["rows"] for e in mine)
        client = sum(400 <= e["status"] < 500 for e in mine)
        server = sum(e["status"] >= 500 for e in mine)
        assert window.errors == {"4xx": client, "5xx": server} and client and server
        assert window.error_rate == pytest.approx((client + server) / len(mine), abs=CLOSE)
        assert window.server_error_rate == pytest.approx(server / len(mine), abs=CLOSE)
        assert sum(window.error_classes.values()) == client + server
        assert window.error_classes.get("input column <name> is missing") == client
        assert window.error_classes.get("version <n> of model <name> failed: boom <n>") == server
        assert window.seconds == 3600
        assert window.requests_per_s == pytest.approx(len(mine) / 3600, abs=CLOSE)
        assert window.rows_per_s == pytest.approx(window.rows / 3600, abs=CLOSE)
        latencies = np.array([e["latency"] for e in mine])
        for q, value in ((50, window.latency_p50_ms), (95, window.latency_p95_ms), (99, window.latency_p99_ms)):
            assert value == pytest.approx(np.percentile(latencies, q), abs=CLOSE)

        ok = [e for e in mine if e["status"] == 200]
        judged = [e for e in ok if e["id"] in logged["labelled"]]
        p = np.concatenate([e["p"] for e in judged])
        proba, true = np.column_stack([1 - p, p]), np.concatenate([e["truth"] for e in judged])
        expected = classification_metrics(true, proba.argmax(axis=1), proba=proba, classes=[0, 1])["metrics"]
        assert window.labelled_rows == len(true)
        assert set(window.quality) == set(expected) | {"calibration_error"}
        for name, value in expected.items():
            assert window.quality[name] == pytest.approx(value, abs=CLOSE), name
        assert window.quality["calibration_error"] == pytest.approx(hand_ece(proba, true), abs=CLOSE)

        every_p = np.concatenate([e["p"] for e in ok])
        assert window.estimated_rows == len(every_p)
        assert window.estimation_basis.startswith("assumed calibrated")  # under 100 labelled rows a window
        for name, value in hand_cbpe(np.column_stack([1 - every_p, every_p])).items():
            assert window.estimated[name] == pytest.approx(value, abs=CLOSE), name


def test_every_none_is_one_window_over_exactly_the_range(backend: Backend, logged: dict[str, Any]) -> None:
    """What an alert rule reads: a range across the hour boundary is one window per version."""
    since, until = T0 + timedelta(minutes=40), T0 + timedelta(minutes=95)
    windows = monitoring.windows(backend, "churn", since=since, until=until, every=None, task="classification")
    assert [(w.start, w.end, w.version) for w in windows] == [(since, until, 1), (since, until, 2)]
    for window in windows:
        mine = [e for e in logged["plan"] if e["version"] == window.version
                and since <= T0 + timedelta(seconds=30 * int(e["id"][1:]) + 7) < until]
        assert window.requests == len(mine) and window.seconds == 55 * 60
        latencies = np.array([e["latency"] for e in mine])
        assert window.latency_p95_ms == pytest.approx(np.percentile(latencies, 95), abs=CLOSE)
        judged = [e for e in mine if e["status"] == 200 and e["id"] in logged["labelled"]]
        assert window.labelled_rows == sum(e["rows"] for e in judged)


def test_one_version_and_windows_without_feedback(backend: Backend, logged: dict[str, Any]) -> None:
    later = T0 + timedelta(hours=5)
    write_all(backend, [record(f"u{i}", later + timedelta(minutes=i), version=2, outputs=[[0.2, 0.8]])
                        for i in range(4)])
    windows = monitoring.windows(backend, "churn", since=T0, until=later + timedelta(hours=1), every="hour",
                                 version=2, task="classification")
    assert {w.version for w in windows} == {2} and len(windows) == 3
    unlabelled = windows[-1]
    assert unlabelled.start == later and unlabelled.requests == 4
    assert unlabelled.labelled_rows == 0 and unlabelled.quality == {}
    assert unlabelled.estimated_rows == 4
    assert unlabelled.estimated["accuracy"] == pytest.approx(0.8, abs=CLOSE)
    assert unlabelled.estimated["precision"] == pytest.approx(0.8, abs=CLOSE)
    assert unlabelled.estimated["recall"] == pytest.approx(1.0, abs=CLOSE)


def test_a_request_id_logged_twice_counts_once_with_its_first_answer(backend: Backend) -> None:
    write_all(backend, [record("dup", T0 + timedelta(minutes=1), outputs=[[0.9, 0.1]]),
                        record("other", T0 + timedelta(minutes=2), outputs=[[0.3, 0.7]])])
    write_all(backend, [record("dup", T0 + timedelta(minutes=3), outputs=[[0.1, 0.9]])])  # a later part
    feedback(backend, {"dup": 0, "other": 1})
    [window] = monitoring.windows(backend, "churn", since=T0, until=T0 + timedelta(hours=1), every="hour",
                                  task="classification")
    assert window.requests == 2 and window.labelled_rows == 2 and window.estimated_rows == 2
    assert window.quality["accuracy"] == 1.0  # the first answer to "dup" said class 0, and was right
    assert window.estimated["accuracy"] == pytest.approx((0.9 + 0.7) / 2, abs=CLOSE)


def test_regression_windows_match_scikit_learn(backend: Backend) -> None:
    rng = np.random.default_rng(3)
    truth = rng.normal(10, 2, 60)
    guess = truth + rng.normal(0, 0.5, 60)
    write_all(backend, [record(f"g{i}", T0 + timedelta(minutes=i), outputs={"predictions": [float(guess[i])]})
                        for i in range(60)])
    feedback(backend, {f"g{i}": float(truth[i]) for i in range(0, 60, 2)})
    [window] = monitoring.windows(backend, "churn", since=T0, until=T0 + timedelta(hours=1), every="hour",
                                  task="regression")
    expected = regression_metrics(truth[::2], guess[::2])["metrics"]
    assert window.labelled_rows == 30 and window.task == "regression" and window.estimated == {}
    for name, value in expected.items():
        assert window.quality[name] == pytest.approx(value, abs=CLOSE), name


def test_label_answers_give_realised_quality_and_no_estimate(backend: Backend) -> None:
    labels = ["yes", "no", "yes", "yes", "no", "no"]
    truths = ["yes", "no", "no", "yes", "yes", "no"]
    write_all(backend, [record(f"l{i}", T0 + timedelta(minutes=i), outputs=[labels[i]]) for i in range(6)])
    feedback(backend, {f"l{i}": truths[i] for i in range(6)})
    [window] = monitoring.windows(backend, "churn", since=T0, until=T0 + timedelta(hours=1), every="hour",
                                  task="classification", positive_label="yes")
    expected = classification_metrics(truths, labels, positive_label="yes")["metrics"]
    assert window.estimated == {} and "roc_auc" not in window.quality
    for name in ("accuracy", "precision", "recall", "specificity", "f1"):
        assert window.quality[name] == pytest.approx(expected[name], abs=CLOSE), name


def test_versions_answering_labels_and_probabilities_in_one_query_each_keep_their_quality(backend: Backend) -> None:
    """v1 answers predict_proba, v2 labels, v3 both in one hour: every one is judged; ROC AUC only
    where every answer of the window has probabilities."""
    proba = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]]
    truth = [0, 1, 1, 1]
    labels = [0, 1, 0, 0]
    records = [record(f"p{i}", T0 + timedelta(minutes=i), version=1, outputs=[proba[i]]) for i in range(4)]
    records += [record(f"q{i}", T0 + timedelta(minutes=i), version=2, outputs=[labels[i]]) for i in range(4)]
    records += [record(f"m{i}", T0 + timedelta(minutes=i), version=3,
                       outputs=[proba[i]] if i % 2 else [labels[i]]) for i in range(4)]
    write_all(backend, records)
    feedback(backend, {f"{prefix}{i}": truth[i] for prefix in "pqm" for i in range(4)})
    windows = {w.version: w for w in monitoring.windows(backend, "churn", since=T0, until=T0 + timedelta(hours=1),
                                                        every="hour", task="classification")}
    argmax = [int(np.argmax(p)) for p in proba]
    mixed = [argmax[i] if i % 2 else labels[i] for i in range(4)]
    for version, predicted in ((1, argmax), (2, labels), (3, mixed)):
        expected = classification_metrics(truth, predicted)["metrics"]
        assert windows[version].labelled_rows == 4, version
        assert windows[version].quality["accuracy"] == pytest.approx(expected["accuracy"], abs=CLOSE), version
    assert windows[1].quality["roc_auc"] == pytest.approx(skm.roc_auc_score(truth, [p[1] for p in proba]), abs=CLOSE)
    assert "roc_auc" not in windows[2].quality and "roc_auc" not in windows[3].quality


# -- bucketing -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("every", "width"), [("minute", timedelta(minutes=1)), ("hour", timedelta(hours=1)),
                                              ("day", timedelta(days=1))])
def test_windows_are_utc_buckets_closed_at_the_start(backend: Backend, every: str, width: timedelta) -> None:
    boundary = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # a minute, an hour and a day boundary at once
    moments = [boundary - timedelta(microseconds=1), boundary, boundary + width - timedelta(microseconds=1),
               boundary + width]
    write_all(backend, [record(f"b{i}", at, outputs=[[0.5, 0.5]]) for i, at in enumerate(moments)])
    since = boundary - width
    windows = monitoring.windows(backend, "churn", since=since, until=boundary + 2 * width, every=every,
                                 task="classification")
    assert [(w.start, w.end, w.requests) for w in windows] == [
        (boundary - width, boundary, 1), (boundary, boundary + width, 2), (boundary + width, boundary + 2 * width, 1)]
    # A range starting inside a window: the window is cut, throughput is per second of the cut part.
    cut = monitoring.windows(backend, "churn", since=boundary + width / 2, until=boundary + 2 * width,
                             every=every, task="classification")
    assert [(w.start, w.requests) for w in cut] == [(boundary, 1), (boundary + width, 1)]
    assert cut[0].seconds == (width / 2).total_seconds()
    assert cut[0].requests_per_s == pytest.approx(1 / (width / 2).total_seconds(), abs=CLOSE)
    # A local-time range means the same instants.
    local = monitoring.windows(backend, "churn", since=(boundary - width).astimezone(
        __import__("datetime").timezone(timedelta(hours=5))), until=boundary + 2 * width, every=every,
        task="classification")
    assert [(w.start, w.requests) for w in local] == [(w.start, w.requests) for w in windows]


def test_bad_queries_are_refused(backend: Backend) -> None:
    with pytest.raises(InvalidInput, match="every must be one of"):
        monitoring.windows(backend, "churn", since=T0, until=T0 + timedelta(hours=1), every="week")
    with pytest.raises(InvalidInput, match="until"):
        monitoring.windows(backend, "churn", since=T0, until=T0, every="hour")
    with pytest.raises(InvalidInput, match="mode"):
        monitoring.windows(backend, "churn", since=T0, until=T0 + timedelta(hours=1), mode="canary")
    assert monitoring.windows(backend, "nobody", since=T0, until=T0 + timedelta(hours=1)) == []


# -- CBPE -------------------------------------------------------------------------------------------------

def calibrated(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of the positive class and labels drawn from them: calibrated by construction."""
    p = rng.beta(2, 2, n)
    return np.column_stack([1 - p, p]), (rng.random(n) < p).astype(int)


def test_cbpe_estimates_accuracy_of_calibrated_probabilities_within_three_standard_errors() -> None:
    # Labels drawn from the probabilities: realised accuracy = mean of Bernoulli(q_i), q_i the top
    # probability, whose mean is the CBPE estimate; its standard error is sqrt(sum q(1-q)) / n.
    rng = np.random.default_rng(11)
    proba, true = calibrated(rng, 5000)
    estimate = estimation.cbpe(proba)
    realised = skm.accuracy_score(true, proba.argmax(axis=1))
    assert abs(estimate["accuracy"][0] - realised) < 3 * estimation.accuracy_standard_error(proba)
    assert abs(estimate["roc_auc"][0] - skm.roc_auc_score(true, proba[:, 1])) < 0.02
    assert estimate["rows"][0] == 5000


def test_cbpe_with_isotonic_calibration_corrects_overconfident_probabilities() -> None:
    rng = np.random.default_rng(5)

    def overconfident(n: int) -> tuple[np.ndarray, np.ndarray]:
        proba, true = calibrated(rng, n)
        p = proba[:, 1] ** 3 / (proba[:, 1] ** 3 + proba[:, 0] ** 3)  # pushed towards 0 and 1
        return np.column_stack([1 - p, p]), true

    reference, reference_true = overconfident(20_000)
    proba, true = overconfident(5000)
    realised = skm.accuracy_score(true, proba.argmax(axis=1))
    naive = estimation.cbpe(proba)["accuracy"][0]
    fitted = estimation.fit_calibration(reference, reference_true)
    corrected = estimation.cbpe(proba, calibration=fitted)["accuracy"][0]
    tolerance = 3 * np.sqrt(realised * (1 - realised) / len(true))
    assert abs(naive - realised) > tolerance  # the raw probabilities promise too much
    assert abs(corrected - realised) < tolerance


def test_cbpe_per_window_matches_one_window_at_a_time() -> None:
    rng = np.random.default_rng(2)
    proba, _ = calibrated(rng, 900)
    groups = rng.integers(0, 3, 900)
    together = estimation.cbpe(proba, groups=groups, n_groups=3)
    for g in range(3):
        alone = hand_cbpe(proba[groups == g])
        for name, value in alone.items():
            assert together[name][g] == pytest.approx(value, abs=CLOSE), name


def test_service_calibrates_on_the_first_window_with_enough_labels(backend: Backend) -> None:
    rng = np.random.default_rng(9)
    proba, true = calibrated(rng, 300)
    write_all(backend, [record(f"c{i}", T0 + timedelta(minutes=i // 3), outputs=[proba[i].tolist()])
                        for i in range(300)])
    feedback(backend, {f"c{i}": int(true[i]) for i in range(150)})  # the first hour only
    first, second = monitoring.windows(backend, "churn", since=T0, until=T0 + timedelta(hours=2), every="hour",
                                       task="classification")
    assert first.labelled_rows == 150 and second.labelled_rows == 0
    assert second.estimation_basis == (f"isotonic calibration on 150 labelled rows of the window from "
                                       f"{T0.isoformat()}")
    fitted = estimation.fit_calibration(proba[:150], true[:150])
    expected = estimation.cbpe(proba[180:], calibration=fitted)  # the second hour: rows 180 to 299
    assert second.estimated["accuracy"] == pytest.approx(expected["accuracy"][0], abs=CLOSE)


# -- decay ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["page_hinkley", "cusum"])
def test_change_point_finds_a_step_and_nothing_in_a_stationary_series(method: str) -> None:
    rng = np.random.default_rng(21)
    stationary = 0.9 + rng.normal(0, 0.01, 200)
    assert estimation.decay(stationary, method=method).index is None
    stepped = stationary.copy()
    stepped[120:] -= 0.03  # accuracy falls by three standard deviations at window 120
    change = estimation.decay(stepped, method=method)
    assert change.direction == "down" and 120 <= change.index <= 130 and change.statistic > estimation.DEFAULT_THRESHOLD


def test_decay_report_gives_the_trend_and_the_first_window_of_the_change() -> None:
    rng = np.random.default_rng(4)
    values = np.concatenate([0.9 + rng.normal(0, 0.01, 30), 0.84 + rng.normal(0, 0.01, 10)])

    class W:
        def __init__(self, i: int, v: float) -> None:
            self.start, self.quality, self.estimated = T0 + timedelta(hours=i), {"accuracy": v}, {}

    report = estimation.decay_report([W(i, v) for i, v in enumerate(values)], "accuracy")
    assert report["changed"] and report["direction"] == "down"
    assert 30 <= report["change_index"] <= 33 and report["change_start"] == T0 + timedelta(hours=report["change_index"])
    assert report["slope_per_hour"] == pytest.approx(np.polyfit(np.arange(40), values, 1)[0], abs=CLOSE)
    assert report["slope_per_window"] == pytest.approx(report["slope_per_hour"], abs=CLOSE)


# -- multiclass and the policy's task ------------------------------------------------------------------

def test_multiclass_windows_give_macro_figures_as_the_gates(backend: Backend) -> None:
    rng = np.random.default_rng(13)
    proba = rng.dirichlet([2, 2, 2], 90)
    true = np.array([rng.choice(3, p=row) for row in proba])
    true[:3] = [0, 1, 2]  # every class among the labels
    write_all(backend, [record(f"m{i}", T0 + timedelta(minutes=i % 60), outputs=[proba[i].tolist()])
                        for i in range(90)])
    feedback(backend, {f"m{i}": int(true[i]) for i in range(90)})
    [window] = monitoring.windows(backend, "churn", since=T0, until=T0 + timedelta(hours=1), every="hour",
                                  task="classification")
    expected = classification_metrics(true, proba.argmax(axis=1), proba=proba, classes=[0, 1, 2])["metrics"]
    for name, value in expected.items():
        assert window.quality[name] == pytest.approx(value, abs=CLOSE), name
    assert window.quality["calibration_error"] == pytest.approx(hand_ece(proba, true), abs=CLOSE)
    assert window.estimated["accuracy"] == pytest.approx(proba.max(axis=1).mean(), abs=CLOSE)


def test_the_task_defaults_to_the_models_policy(backend: Backend) -> None:
    from modelward.services import policies

    write_all(backend, [record(f"t{i}", T0 + timedelta(minutes=i), outputs=[float(i)]) for i in range(4)])
    feedback(backend, {f"t{i}": float(i) + 1 for i in range(4)})
    [window] = monitoring.windows(backend, "churn", since=T0, until=T0 + timedelta(hours=1), every="hour")
    assert window.task == "classification" and window.quality["accuracy"] == 0.0  # the default policy
    policies.set_policy(backend, Actor(name="root"), "task: regression\ngates: []\n")  # a global policy
    [window] = monitoring.windows(backend, "churn", since=T0, until=T0 + timedelta(hours=1), every="hour")
    assert window.task == "regression" and window.quality["mae"] == pytest.approx(1.0, abs=CLOSE)


def test_an_explicit_reference_range_calibrates_the_estimate(backend: Backend) -> None:
    rng = np.random.default_rng(17)
    proba, true = calibrated(rng, 400)
    write_all(backend, [record(f"e{i}", T0 + timedelta(seconds=18 * i), outputs=[proba[i].tolist()])
                        for i in range(400)])  # 200 an hour
    feedback(backend, {f"e{i}": int(true[i]) for i in range(200)})
    later = monitoring.windows(backend, "churn", since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2),
                               every="hour", task="classification", reference=(T0, T0 + timedelta(hours=1)))
    [window] = later
    assert window.labelled_rows == 0
    assert window.estimation_basis == "isotonic calibration on 200 labelled rows of the reference range"
    expected = estimation.cbpe(proba[200:], calibration=estimation.fit_calibration(proba[:200], true[:200]))
    for name in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert window.estimated[name] == pytest.approx(expected[name][0], abs=CLOSE), name


def test_decay_is_judged_per_version(backend: Backend, logged: dict[str, Any]) -> None:
    windows = monitoring.windows(backend, "churn", since=T0, until=T0 + timedelta(hours=2), every="minute",
                                 task="classification")
    with pytest.raises(InvalidInput, match="per version"):
        monitoring.decay_report(windows, "estimated.accuracy")
    report = monitoring.decay_report([w for w in windows if w.version == 1], "latency_p50_ms", method="cusum")
    assert report["points"] == sum(w.version == 1 for w in windows) and report["method"] == "cusum"

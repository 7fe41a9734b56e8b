"""Input and prediction drift of logged answers (services.input_drift) against scipy and a hand PSI
on the same rows, on SQLite and PostgreSQL; the same figures with the artifact store on S3.

Records go through the real PredictionLog; the store is built once per module, backend and layout:
"rows" (frames of one layout per part: every part has a companion rows file, read column by
column), "json" (inputs as plain lists of dicts: no companion, the JSON is parsed) and "mixed"
(both, and a part whose frames have two layouts)."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from modelward.domain.actors import Actor
from modelward.domain.predictions import PredictionRecord, Rows
from modelward.errors import IntegrityError, InvalidInput, NotFound
from modelward.services import input_drift, monitoring, policies
from modelward.services.backend import Backend
from modelward.services.predictions import PredictionLog
from modelward.settings import Settings
from modelward.store import predictions as store
from tests.fixtures.postgres import drop_database, new_database
from tests.fixtures.s3 import s3_storage_options

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
TOL = 1e-6
ROOT = Actor(name="root")


def make_reference(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": np.round(rng.normal(40, 10, rows), 1),
        "income": np.round(rng.normal(50_000, 8_000, rows), 0),
        "city": rng.choice(["A", "B", "C"], rows, p=[0.5, 0.3, 0.2]),
        "label": (rng.random(rows) < 0.4).astype(int),
    })


REFERENCE = make_reference(2000, 1)        # small: KS p-values exact
BIG_REFERENCE = make_reference(12_000, 2)  # more than 10,000 values: Smirnov's asymptotic p-value


def plan_requests(seed: int = 7) -> list[dict[str, Any]]:
    """Three hours of one- to three-row requests, two versions; hour 2 has income shifted up by
    two standard deviations and more city C; some answers fail; hour 3 brings a new column and
    loses city."""
    rng = np.random.default_rng(seed)
    plan = []
    for i in range(330):
        hour = i // 110
        at = T0 + timedelta(hours=hour, seconds=int(rng.integers(0, 3600)))
        n = 1 + i % 3
        shift = 16_000 if hour == 2 else 0
        frame = pd.DataFrame({
            "age": np.round(rng.normal(40, 10, n), 1),
            "income": np.round(rng.normal(50_000 + shift, 8_000, n), 0),
            "city": rng.choice(["A", "B", "C"], n, p=[0.2, 0.3, 0.5] if hour == 2 else [0.5, 0.3, 0.2]),
        })
        if hour == 1 and i % 10 == 0:
            frame.loc[0, "age"] = np.nan  # logged as null: a missing value
        p = np.round(rng.random(n), 4)
        plan.append({"id": f"r{i}", "at": at, "version": 1 + i % 2, "status": 503 if i % 29 == 0 else 200,
                     "frame": frame, "p": p})
    # At the hour boundaries: the last microsecond of hour 0 and the first of hour 1.
    for name, at in (("edge-before", T0 + timedelta(hours=1) - timedelta(microseconds=1)),
                     ("edge-after", T0 + timedelta(hours=1))):
        plan.append({"id": name, "at": at, "version": 1, "status": 200,
                     "frame": pd.DataFrame({"age": [99.5], "income": [1.0], "city": ["B"]}), "p": np.array([0.9])})
    for i in range(12):  # hour 3: a column "extra" appears, "city" is gone
        plan.append({"id": f"s{i}", "at": T0 + timedelta(hours=3, minutes=i), "version": 1, "status": 200,
                     "frame": pd.DataFrame({"age": [30.0 + i], "income": [50_000.0], "extra": [i]}),
                     "p": np.array([0.2])})
    return plan


PLAN = plan_requests()


LAYOUTS = ("rows", "json", "mixed")
BATCH = 60  # records a part


def inputs_of(frame: pd.DataFrame, as_rows: bool) -> Any:
    """The frame as the gateway logs it (Rows), or the same rows as a plain list of dicts."""
    found = Rows.of(frame)
    return found if as_rows else [dict(zip(found.columns, row)) for row in found.values.tolist()]


def records_of(plan: list[dict[str, Any]], as_rows: bool = True) -> list[PredictionRecord]:
    out = []
    for entry in plan:
        ok = entry["status"] == 200
        out.append(PredictionRecord(
            request_id=entry["id"], endpoint="churn", model_name="churn-model", version=entry["version"],
            mode="live", at=entry["at"], latency_ms=3.0, status=entry["status"], error=None if ok else "boom",
            inputs=inputs_of(entry["frame"], as_rows),
            outputs=[[float(1 - q), float(q)] for q in entry["p"]] if ok else None, rows=len(entry["frame"])))
    return out


def batches_of(plan: list[dict[str, Any]], layout: str) -> list[list[PredictionRecord]]:
    """The records of ``plan`` in the batches (one part each) of ``layout``."""
    same = [e for e in plan if "city" in e["frame"].columns]
    other = [e for e in plan if "city" not in e["frame"].columns]  # hour 3: "extra", no "city"
    chunks = [same[i:i + BATCH] for i in range(0, len(same), BATCH)]
    if layout != "mixed":
        return [records_of(chunk, as_rows=layout == "rows") for chunk in [*chunks, other] if chunk]
    half = len(other) // 2
    batches = [records_of(chunk, as_rows=i % 2 == 0) for i, chunk in enumerate(chunks[:-1])]
    batches.append(records_of(chunks[-1] + other[:half]))  # two frame layouts: no rows file
    batches.append(records_of(other[half:]))
    return batches


def write_log(backend: Backend, layout: str = "rows", plan: list[dict[str, Any]] | None = None) -> None:
    for records in batches_of(PLAN if plan is None else plan, layout):
        log = PredictionLog(backend, capacity=len(records), batch_size=len(records))
        assert all(log.submit(r) for r in records)
        log.close()
        assert log.stats()["written"] == len(records)


def parts_and_rows_files(backend: Backend) -> tuple[list[str], list[str]]:
    names = backend.artifacts.list_dataset_files("predictions")
    rows_files = [n for n in names if n.endswith(store.ROWS_SUFFIX)]
    return [n for n in names if n not in rows_files], rows_files


def current_rows(since: datetime, until: datetime, version: int | None = None) -> pd.DataFrame:
    chosen = [e for e in PLAN if since <= e["at"] < until and e["status"] == 200
              and (version is None or e["version"] == version)]
    frames = [e["frame"].assign(label=(e["p"] > 0.5).astype(int)) for e in chosen]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module", params=[
    *(("sqlite", layout) for layout in LAYOUTS),
    *(pytest.param(("postgres", layout), marks=pytest.mark.postgres) for layout in ("rows", "mixed"))],
    ids=lambda p: "-".join(p) if isinstance(p, tuple) else str(p))
def logged(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[tuple[Backend, str]]:
    """(a store holding PLAN in a layout, the layout)."""
    database, layout = request.param
    database_url = None
    if database == "postgres":
        admin = request.getfixturevalue("postgres_admin")
        database_url = new_database(admin)
    found = Backend.from_settings(Settings(home=tmp_path_factory.mktemp("drift"), database_url=database_url))
    write_log(found, layout)
    yield found, layout
    found.close()
    if database_url is not None:
        drop_database(admin, database_url)


@pytest.fixture(scope="module")
def backend(logged: tuple[Backend, str]) -> Backend:
    return logged[0]


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Backend]]:
    """layout -> a SQLite store holding PLAN in it: for comparing the layouts' figures."""
    found = {layout: Backend.from_settings(Settings(home=tmp_path_factory.mktemp(f"layout-{layout}")))
             for layout in LAYOUTS}
    for layout, backend in found.items():
        write_log(backend, layout)
    yield found
    for backend in found.values():
        backend.close()


# -- hand computations -------------------------------------------------------------------------------

def hand_psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    edges = np.unique(np.quantile(reference, np.arange(1, bins) / bins))
    ref = np.bincount(np.searchsorted(edges, reference, side="left"), minlength=edges.size + 1) / reference.size
    cur = np.bincount(np.searchsorted(edges, current, side="left"), minlength=edges.size + 1) / current.size
    return shares_psi(ref, cur)


def shares_psi(ref: np.ndarray, cur: np.ndarray) -> float:
    ref, cur = ref.astype(float).copy(), cur.astype(float).copy()
    for shares in (ref, cur):
        smallest = shares[shares > 0].min()
        shares[shares == 0] = smallest / 1e6 if smallest <= 1e-4 else 1e-4
    return float(np.sum((ref - cur) * np.log(ref / cur)))


def hand_js_numeric(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    edges = np.unique(np.quantile(reference, np.arange(1, bins) / bins))
    ref = np.bincount(np.searchsorted(edges, reference, side="left"), minlength=edges.size + 1) / reference.size
    cur = np.bincount(np.searchsorted(edges, current, side="left"), minlength=edges.size + 1) / current.size
    return float(distance.jensenshannon(ref, cur))


def assert_numeric(result: Any, reference: np.ndarray, current: np.ndarray) -> None:
    assert result.current_rows == current.size
    missing = np.isnan(current)
    assert result.current_missing_rate == pytest.approx(missing.mean(), abs=TOL)
    assert result.tests["missing_rate"].value == pytest.approx(missing.mean(), abs=TOL)
    current = current[~missing]
    ks = stats.ks_2samp(reference, current)
    assert result.tests["ks"].statistic == pytest.approx(ks.statistic, abs=TOL)
    assert result.tests["ks"].value == pytest.approx(ks.pvalue, abs=TOL)
    w = stats.wasserstein_distance(reference, current)
    assert result.tests["wasserstein"].statistic == pytest.approx(w, rel=TOL, abs=TOL)
    assert result.tests["wasserstein"].value == pytest.approx(w / max(np.std(reference), 0.001), abs=TOL)
    assert result.tests["psi"].value == pytest.approx(hand_psi(reference, current), abs=TOL)
    assert result.tests["jensen_shannon"].value == pytest.approx(hand_js_numeric(reference, current), abs=TOL)


def assert_categorical(result: Any, reference: pd.Series, current: pd.Series) -> None:
    levels = sorted(set(reference) | set(current))
    ref = reference.value_counts().reindex(levels, fill_value=0).to_numpy(dtype=float)
    cur = current.value_counts().reindex(levels, fill_value=0).to_numpy(dtype=float)
    chi = stats.chisquare(cur, ref / ref.sum() * cur.sum())
    assert result.tests["chi_square"].statistic == pytest.approx(chi.statistic, abs=TOL)
    assert result.tests["chi_square"].value == pytest.approx(chi.pvalue, abs=TOL)
    assert result.tests["jensen_shannon"].value == pytest.approx(
        distance.jensenshannon(ref / ref.sum(), cur / cur.sum()), abs=TOL)
    assert result.tests["psi"].value == pytest.approx(shares_psi(ref / ref.sum(), cur / cur.sum()), abs=TOL)


# -- the figures -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("reference", [REFERENCE, BIG_REFERENCE], ids=["exact-ks", "asymptotic-ks"])
def test_hourly_drift_matches_scipy_and_a_hand_psi(backend: Backend, reference: pd.DataFrame) -> None:
    windows = input_drift.drift(backend, "churn", since=T0, until=T0 + timedelta(hours=3), every="hour",
                                reference=reference)
    assert [w.start for w in windows] == [T0 + timedelta(hours=h) for h in range(3)]
    assert current_rows(T0 + timedelta(hours=1), T0 + timedelta(hours=2))["age"].isna().sum() >= 5
    for window in windows:
        assert window.end == window.start + timedelta(hours=1) and window.version is None
        assert window.reference == "argument"
        current = current_rows(window.start, window.end)
        assert window.rows == len(current) == window.report.current_rows
        features = window.report.features
        assert set(features) == {"age", "income", "city"} and window.report.schema_changes == []
        for name in ("age", "income"):
            assert_numeric(features[name], reference[name].to_numpy(float), current[name].to_numpy(float))
        assert_categorical(features["city"], reference["city"], current["city"])
        # predictions (the larger probability's class) against the label column
        assert_numeric(window.report.output, reference["label"].to_numpy(float), current["label"].to_numpy(float))


def test_a_shifted_feature_drifts_and_an_unshifted_one_does_not(backend: Backend) -> None:
    first, second, shifted = input_drift.drift(backend, "churn", since=T0, until=T0 + timedelta(hours=3),
                                               every="hour", reference=BIG_REFERENCE)
    for window in (first, second):  # a few hundred rows: PSI and KS hold still, no more
        income = window.report.features["income"]
        assert not income.tests["psi"].drifted and not income.tests["ks"].drifted
    income, age = shifted.report.features["income"], shifted.report.features["age"]
    assert income.status == "drift" and all(income.tests[t].drifted for t in ("psi", "ks", "wasserstein"))
    assert shifted.report.features["city"].status == "drift"
    assert not age.tests["psi"].drifted and not age.tests["ks"].drifted and not age.tests["wasserstein"].drifted
    assert shifted.report.summary.drifted == 2 and shifted.report.summary.features == 3


def test_the_window_bounds_are_utc_hours_closed_at_the_start(backend: Backend) -> None:
    boundary = T0 + timedelta(hours=1)
    windows = input_drift.drift(backend, "churn", since=boundary - timedelta(microseconds=1),
                                until=boundary + timedelta(microseconds=1), every="hour", reference=REFERENCE)
    assert [(w.start, w.rows) for w in windows] == [(T0, 1), (boundary, 1)]
    assert windows[0].report.features["age"].tests["ks"].statistic == pytest.approx(
        stats.ks_2samp(REFERENCE["age"], [99.5]).statistic, abs=TOL)


def test_every_none_is_one_window_of_exactly_the_range(backend: Backend) -> None:
    since, until = T0 + timedelta(minutes=20), T0 + timedelta(hours=2, minutes=5)
    [window] = input_drift.drift(backend, "churn", since=since, until=until, every=None, version=2,
                                 reference=REFERENCE)
    assert (window.start, window.end, window.version) == (since, until, 2)
    current = current_rows(since, until, version=2)
    assert window.rows == len(current)
    assert_numeric(window.report.features["income"], REFERENCE["income"].to_numpy(float),
                   current["income"].to_numpy(float))
    assert_categorical(window.report.features["city"], REFERENCE["city"], current["city"])


def test_a_new_and_a_missing_column_are_schema_drift(backend: Backend) -> None:
    [window] = input_drift.drift(backend, "churn", since=T0 + timedelta(hours=3), until=T0 + timedelta(hours=4),
                                 reference=REFERENCE)
    changes = {(c.column, c.change) for c in window.report.schema_changes}
    assert changes == {("extra", "new"), ("city", "missing")}
    assert "city" not in window.report.features and window.report.summary.schema_changes == 2
    current = current_rows(T0 + timedelta(hours=3), T0 + timedelta(hours=4))
    assert_numeric(window.report.features["age"], REFERENCE["age"].to_numpy(float), current["age"].to_numpy(float))


def test_without_a_label_column_there_is_no_output_drift(backend: Backend) -> None:
    windows = input_drift.drift(backend, "churn", since=T0, until=T0 + timedelta(hours=1),
                                reference=REFERENCE.drop(columns=["label"]))
    assert windows[0].report.output is None and windows[0].report.summary.output_drifted is None


# -- the layouts: rows files and JSON give the same figures -------------------------------------------

def test_each_layout_writes_its_rows_files(logged: tuple[Backend, str]) -> None:
    backend, layout = logged
    parts, rows_files = parts_and_rows_files(backend)
    with_rows = [p for p in parts if store.rows_file_of(p) in rows_files]
    assert len(parts) == len(batches_of(PLAN, layout)) and len(rows_files) == len(with_rows)
    one_layout = [b for b in batches_of(PLAN, layout)
                  if all(isinstance(r.inputs, Rows) for r in b) and len({tuple(r.inputs.columns) for r in b}) == 1]
    assert len(with_rows) == len(one_layout) == {"rows": len(parts), "json": 0, "mixed": 4}[layout]


def flat(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(path, leaf) of a model dump: every figure of a drift window."""
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flat(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from flat(item, f"{path}[{index}]")
    else:
        yield path, value


def assert_same_windows(found: list[Any], expected: list[Any]) -> None:
    assert len(found) == len(expected)
    for window, other in zip(found, expected, strict=True):
        figures, others = dict(flat(window)), dict(flat(other))
        assert figures.keys() == others.keys()
        for path, value in figures.items():
            if isinstance(value, float) and isinstance(others[path], float):
                assert value == pytest.approx(others[path], rel=1e-12, abs=1e-12, nan_ok=True), path
            else:
                assert value == others[path], path


QUERIES = [
    {"since": T0, "until": T0 + timedelta(hours=4), "every": "hour", "reference": REFERENCE},
    {"since": T0, "until": T0 + timedelta(hours=4), "every": "hour", "reference": BIG_REFERENCE},
    {"since": T0 + timedelta(minutes=20), "until": T0 + timedelta(hours=2, minutes=5), "every": None, "version": 2,
     "reference": REFERENCE},
    {"since": T0, "until": T0 + timedelta(hours=4), "every": "minute", "version": 1, "reference": REFERENCE},
    {"since": T0, "until": T0 + timedelta(hours=4), "every": "day",
     "reference": REFERENCE.drop(columns=["label"])},
]


@pytest.mark.parametrize("query", QUERIES, ids=["hour", "hour-asymptotic", "range-v2", "minute-v1", "day-nolabel"])
def test_rows_files_json_and_a_mix_give_the_same_figures(layouts: dict[str, Backend], query: dict[str, Any]) -> None:
    from_json = input_drift.drift(layouts["json"], "churn", **query)
    assert from_json and sum(w.rows for w in from_json) > 0
    for layout in ("rows", "mixed"):
        assert_same_windows(input_drift.drift(layouts[layout], "churn", **query), from_json)


def test_rows_files_keep_the_indexed_record_and_the_mode_asked_for(
        layouts: dict[str, Backend], tmp_path: Path) -> None:
    """Shadow twins share their live record's part and request id; a request id sent again lands in
    a later part, which the index does not keep: neither may add rows to the live windows."""
    shifted = [{**e, "frame": e["frame"].assign(income=e["frame"]["income"] + 40_000)} for e in PLAN]
    fresh = [{**e, "id": f"x{i}"} for i, e in enumerate(PLAN[:20])]  # new ids: their part is in the index
    backend = Backend.from_settings(Settings(home=tmp_path / "store"))
    expected = Backend.from_settings(Settings(home=tmp_path / "expected"))
    try:
        write_log(expected, "rows")
        write_log(expected, "rows", fresh)
        for batch, twins in zip(batches_of(PLAN, "rows"), batches_of(shifted, "rows"), strict=True):
            for twin in twins:
                twin.mode, twin.version = "shadow", 3
            log = PredictionLog(backend, capacity=2 * len(batch), batch_size=2 * len(batch))
            assert all(log.submit(r) for r in batch + twins)
            log.close()
        write_log(backend, "rows", shifted[:40] + fresh)  # sent again: the index keeps the first records
        parts, rows_files = parts_and_rows_files(backend)
        assert len(rows_files) == len(parts)
        query = {"since": T0, "until": T0 + timedelta(hours=4), "every": "hour", "reference": REFERENCE}
        assert_same_windows(input_drift.drift(backend, "churn", **query), input_drift.drift(expected, "churn", **query))
        shadow = input_drift.drift(backend, "churn", **query, mode="shadow")
        live = input_drift.drift(layouts["rows"], "churn", **query)
        assert [w.rows for w in shadow] == [w.rows for w in live]
        assert shadow[0].report.features["income"].status == "drift"
        assert live[0].report.features["income"].status != "drift"
    finally:
        backend.close()
        expected.close()


def text_plan() -> list[dict[str, Any]]:
    """Two hours of requests; in hour 1 ``income`` comes as text: numbers, and some that are not."""
    rng = np.random.default_rng(11)
    plan = []
    for i in range(120):
        hour = i // 60
        n = 1 + i % 2
        income: Any = np.round(rng.normal(50_000, 8_000, n), 0)
        if hour == 1:
            income = ["n/a" if (i + j) % 7 == 0 else str(v) for j, v in enumerate(income)]
        frame = pd.DataFrame({"age": np.round(rng.normal(40, 10, n), 1), "income": income,
                              "city": rng.choice(["A", "B", "C"], n)})
        plan.append({"id": f"t{i}", "at": T0 + timedelta(hours=hour, seconds=i), "version": 1, "status": 200,
                     "frame": frame, "p": np.round(rng.random(n), 4)})
    return plan


def test_a_numeric_column_logged_as_text_reads_as_from_json_and_is_retyped(tmp_path: Path) -> None:
    plan = text_plan()
    stores = {layout: Backend.from_settings(Settings(home=tmp_path / layout)) for layout in ("rows", "json")}
    try:
        for layout, backend in stores.items():
            write_log(backend, layout, plan)
        span = {"since": T0, "until": T0 + timedelta(hours=2), "every": "hour", "reference": REFERENCE}
        numbers, text = input_drift.drift(stores["rows"], "churn", **span)
        json_numbers, json_text = input_drift.drift(stores["json"], "churn", **span)
        assert numbers.report.schema_changes == [] and json_text.report.schema_changes == []
        [change] = text.report.schema_changes
        assert (change.column, change.change, change.reference_dtype, change.current_dtype) == (
            "income", "retyped", "float64", "object")
        assert text.report.summary.schema_changes == 1
        text_values = [v for e in plan[60:] for v in e["frame"]["income"]]
        missing = sum(v == "n/a" for v in text_values) / len(text_values)
        assert 0 < missing < 1
        assert text.report.features["income"].current_missing_rate == pytest.approx(missing, abs=1e-12)
        parsed = np.array([np.nan if v == "n/a" else float(v) for v in text_values])
        assert_numeric(text.report.features["income"], REFERENCE["income"].to_numpy(float), parsed)
        # apart from the retyping only the rows files can see, the same figures as the JSON's
        assert_same_windows([numbers], [json_numbers])
        assert_same_windows([text.report.features, text.report.output],
                            [json_text.report.features, json_text.report.output])
    finally:
        for backend in stores.values():
            backend.close()


# -- the reference from the policy, and bad input ------------------------------------------------------

def log_reference_artifact(backend: Backend, frame: pd.DataFrame) -> tuple[str, str]:
    from modelward.services import artifacts, experiments, runs

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    data = buffer.getvalue()
    experiment = experiments.create(backend, f"drift-{uuid.uuid4().hex[:8]}")
    run = runs.start(backend, ROOT, experiment_id=experiment.id)
    artifacts.upload(backend, run.id, "data/reference.parquet", io.BytesIO(data), actor=ROOT)
    return run.id, hashlib.sha256(data).hexdigest()


def test_the_reference_comes_from_the_policy_artifact_and_its_digest_is_checked(backend: Backend) -> None:
    run_id, digest = log_reference_artifact(backend, REFERENCE)
    policies.set_policy(backend, ROOT, f"model: churn-model\nmonitoring:\n  reference: {{run_id: {run_id}, "
                                       f"path: data/reference.parquet, digest: '{digest}'}}\n")
    try:
        from_policy = input_drift.drift(backend, "churn", since=T0, until=T0 + timedelta(hours=3))
        given = input_drift.drift(backend, "churn", since=T0, until=T0 + timedelta(hours=3), reference=REFERENCE)
        assert {w.reference for w in from_policy} == {f"runs:/{run_id}/data/reference.parquet"}
        assert [w.report for w in from_policy] == [w.report for w in given]
        policy = policies.effective_policy(backend, "churn-model")
        first = input_drift.resolve_reference(backend, policy, "churn-model", 1, None)
        assert input_drift.resolve_reference(backend, policy, "churn-model", 2, None) is first  # cached by digest
        wrong = "0" * 64
        policies.set_policy(backend, ROOT, f"model: churn-model\nmonitoring:\n  reference: {{run_id: {run_id}, "
                                           f"path: data/reference.parquet, digest: '{wrong}'}}\n")
        with pytest.raises((NotFound, IntegrityError)):
            input_drift.drift(backend, "churn", since=T0, until=T0 + timedelta(hours=1))
    finally:
        policies.set_policy(backend, ROOT, "model: churn-model\n")


def test_bad_queries_are_refused_with_our_errors(backend: Backend) -> None:
    hour = {"since": T0, "until": T0 + timedelta(hours=1)}
    with pytest.raises(NotFound, match="nobody"):
        input_drift.drift(backend, "nobody", **hour, reference=REFERENCE)
    with pytest.raises(InvalidInput, match="until"):
        input_drift.drift(backend, "churn", since=T0, until=T0, reference=REFERENCE)
    with pytest.raises(InvalidInput, match="every"):
        input_drift.drift(backend, "churn", **hour, every="week", reference=REFERENCE)
    with pytest.raises(InvalidInput, match="monitoring.reference"):
        input_drift.drift(backend, "churn", **hour)  # no reference anywhere
    assert input_drift.drift(backend, "churn", since=T0 - timedelta(days=2), until=T0 - timedelta(days=1),
                             reference=REFERENCE) == []


def test_without_a_policy_reference_the_versions_training_dataset_is_the_reference(
        sqlite_settings: Settings) -> None:
    from modelward.domain.datasets import DatasetCreate
    from modelward.services import artifacts, datasets, registry
    from tests.registry.helpers import ALICE, run_with_model

    backend = Backend.from_settings(sqlite_settings)
    try:
        run_id = run_with_model(backend)
        buffer = io.BytesIO()
        REFERENCE.to_parquet(buffer, index=False)
        artifacts.upload(backend, run_id, "data/train.parquet", io.BytesIO(buffer.getvalue()), actor=ALICE)
        datasets.log(backend, DatasetCreate(name="train", digest="sha256:" + hashlib.sha256(buffer.getvalue()).hexdigest(),
                                            run_id=run_id, direction="input", snapshot_path="data/train.parquet"),
                     actor=ALICE)
        assert registry.register_version(backend, ALICE, "churn-model", run_id=run_id).version == 1
        write_log(backend)
        span = {"since": T0, "until": T0 + timedelta(hours=1), "version": 1}
        [window] = input_drift.drift(backend, "churn", **span)
        assert window.reference == f"runs:/{run_id}/data/train.parquet" and window.version == 1
        assert window.report == input_drift.drift(backend, "churn", **span, reference=REFERENCE)[0].report
        with pytest.raises(InvalidInput, match="monitoring.reference"):  # version 2 has no lineage
            input_drift.drift(backend, "churn", **{**span, "version": 2})
    finally:
        backend.close()


# -- an object store as the artifact root ------------------------------------------------------------------

def test_drift_and_windows_on_s3_equal_those_on_local_files(s3_server: tuple[str, str], tmp_path: Path) -> None:
    endpoint_url, bucket = s3_server
    local = Backend.from_settings(Settings(home=tmp_path / "local"))
    remote = Backend.from_settings(Settings(home=tmp_path / "s3", artifact_root=f"s3://{bucket}/drift-{uuid.uuid4().hex}",
                                            artifact_storage_options=s3_storage_options(endpoint_url)))
    try:
        for backend in (local, remote):
            write_log(backend, "mixed")
        _, rows_files = parts_and_rows_files(remote)
        assert len(rows_files) == len(parts_and_rows_files(local)[1]) > 0
        span = {"since": T0, "until": T0 + timedelta(hours=4), "every": "hour"}
        on_s3 = input_drift.drift(remote, "churn", **span, reference=REFERENCE)
        assert len(on_s3) == 4 and on_s3 == input_drift.drift(local, "churn", **span, reference=REFERENCE)
        windows = monitoring.windows(remote, "churn", **span, task="classification")
        assert windows and windows == monitoring.windows(local, "churn", **span, task="classification")
    finally:
        local.close()
        remote.close()

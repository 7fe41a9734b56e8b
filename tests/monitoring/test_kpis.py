"""Business KPIs per endpoint, on SQLite and PostgreSQL: values logged one call at a time and in
batches, and the ``values`` of feedback, window by window against a hand computation of the same
plan; UTC boundaries, the one window of ``every=None``, feedback counted for the live answer's
version and window (never the shadow copy's, never another endpoint's), the filters, the alert
rules' ``kpi.<name>[.<aggregate>]`` and every refusal.

Endpoints are real deployments (tests.deployments.helpers), answers go through the real
PredictionLog and feedback through the real service."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from modelward.domain.kpis import NAME, parse_metric
from modelward.domain.monitoring import KPI_METRIC
from modelward.domain.predictions import PredictionRecord
from modelward.errors import InvalidInput, NotFound, PayloadTooLarge
from modelward.services import deployments, kpis, predictions
from modelward.services.backend import Backend
from modelward.services.predictions import PredictionLog
from modelward.settings import Settings
from tests.deployments.helpers import APPROVER, approved_versions
from tests.fixtures.postgres import drop_database, new_database

T0 = datetime(2026, 11, 29, 22, 0, tzinfo=UTC)  # four hours from here cross midnight, UTC
END = T0 + timedelta(hours=4)
MIDNIGHT = datetime(2026, 11, 30, tzinfo=UTC)
MODEL = "shop-model"
WIDTHS = {"minute": 60, "hour": 3600, "day": 86400, None: None}


@dataclass(frozen=True)
class Entry:
    at: datetime
    name: str
    version: int | None
    value: float
    source: str  # "logged" or "feedback"


@dataclass
class Shop:
    backend: Backend
    v1: int
    v2: int
    plan: list[Entry]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shop(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    admin = request.getfixturevalue("postgres_admin") if request.param == "postgres" else None
    database_url = new_database(admin) if admin is not None else None
    backend = Backend.from_settings(Settings(home=tmp_path_factory.mktemp("kpis"), database_url=database_url))
    v1, v2 = approved_versions(backend, MODEL, 2)
    for name in ("shop", "spare", "other"):
        deployments.create(backend, APPROVER, name, model=MODEL, environment="production", version=v1)
    plan = _logged_one_by_one(backend, v1, v2) + _logged_in_a_batch(backend, v1, v2) + _feedback(backend, v1, v2)
    yield Shop(backend, v1, v2, plan)
    backend.close()
    if admin is not None and database_url is not None:
        drop_database(admin, database_url)


def _logged_one_by_one(backend: Backend, v1: int, v2: int) -> list[Entry]:
    """Values at the edges of minutes, hours and the day, given naive, in UTC and in other offsets."""
    calls: list[tuple[dict[str, float], datetime, int | None]] = [
        ({"revenue": 10.0, "unit.cost": 2.5}, T0 + timedelta(minutes=10), v1),
        ({"edge": 1.0}, T0 + timedelta(hours=1) - timedelta(microseconds=1), v1),  # 22:59:59.999999
        ({"edge": 2.0}, (T0 + timedelta(hours=1)).replace(tzinfo=None), v1),  # naive 23:00: read as UTC
        ({"edge": 4.0}, (T0 + timedelta(minutes=90)).astimezone(timezone(timedelta(hours=5, minutes=30))), v1),
        ({"edge": 16.0}, MIDNIGHT - timedelta(microseconds=1), v1),
        ({"edge": 8.0, "conversion": 1}, MIDNIGHT.astimezone(timezone(timedelta(hours=-7))), v1),
        ({"revenue": 3.0}, T0 + timedelta(minutes=30), None),
    ]
    plan = []
    for values, at, version in calls:
        assert kpis.record(backend, APPROVER, "shop", values, at=at, version=version) == len(values)
        moment = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        plan += [Entry(moment, name, version, float(v), "logged") for name, v in values.items()]
    return plan


def _logged_in_a_batch(backend: Backend, v1: int, v2: int) -> list[Entry]:
    """400 values in one call: single {name, value} items and {values} items, some at ISO text."""
    rng = np.random.default_rng(11)
    items: list[dict[str, Any]] = []
    plan = []
    for i in range(200):
        at = T0 + timedelta(seconds=int(rng.integers(0, 4 * 3600)), microseconds=int(rng.integers(0, 10**6)))
        version = [v1, v2, None][i % 3]
        revenue, cost = round(float(rng.normal(20, 8)), 2), round(float(rng.gamma(2, 1.5)), 3)
        stamp: Any = at.isoformat() if i % 5 == 0 else at
        if i % 2:
            items.append({"values": {"revenue": revenue, "cost": cost}, "at": stamp, "version": version})
        else:
            items += [{"name": "revenue", "value": revenue, "at": stamp, "version": version,
                       "request_id": f"batch-{i}"},
                      {"name": "cost", "value": cost, "at": stamp, "version": version}]
        plan += [Entry(at, "revenue", version, revenue, "logged"), Entry(at, "cost", version, cost, "logged")]
    assert kpis.record_many(backend, APPROVER, "shop", items) == 400
    return plan


def _answer(request_id: str, at: datetime, version: int, *, endpoint: str = "shop", mode: str = "live",
            status: int = 200) -> PredictionRecord:
    return PredictionRecord(request_id=request_id, endpoint=endpoint, model_name=MODEL, version=version, mode=mode,
                            at=at, latency_ms=3.0, status=status, error=None if status < 400 else "boom",
                            inputs={"rows": [[1.0]]}, outputs=[1] if status < 400 else None, rows=1)


def _feedback(backend: Backend, v1: int, v2: int) -> list[Entry]:
    """60 live answers (their shadow copies scored by the other version five minutes later), feedback
    on two thirds of them, business values on most of that; a failed answer's values count too.
    Answers of another endpoint carry other values, which must not leak in."""
    answers, items, other, plan = [], [], [], []
    for i in range(60):
        at = T0 + timedelta(minutes=4 * i, seconds=13)
        version, shadow_version = (v1, v2) if i % 2 else (v2, v1)
        status = 503 if i % 10 == 7 else 200
        answers += [_answer(f"r{i}", at, version, status=status),
                    _answer(f"r{i}", at + timedelta(minutes=5), shadow_version, mode="shadow"),
                    _answer(f"o{i}", at, version, endpoint="other")]
        other.append({"request_id": f"o{i}", "ground_truth": 1, "values": {"revenue": 1000.0, "conversion": 1}})
        if i % 3 == 0:
            continue
        values = None if i % 4 == 1 else {"revenue": round(2.5 * i, 2), "conversion": i % 2}
        items.append({"request_id": f"r{i}", "ground_truth": 1, **({"values": values} if values else {})})
        plan += [Entry(at, name, version, float(v), "feedback") for name, v in (values or {}).items()]
    log = PredictionLog(backend, capacity=len(answers), batch_size=len(answers))
    assert all(log.submit(a) for a in answers)
    log.close()
    assert log.stats()["written"] == len(answers)
    predictions.add_feedback(backend, APPROVER, "shop", [{**items[0], "values": {"revenue": -99.0}}])
    predictions.add_feedback(backend, APPROVER, "shop", items)  # replaces the first feedback on items[0]
    predictions.add_feedback(backend, APPROVER, "other", other)
    return plan


# -- the hand computation ------------------------------------------------------------------------

def _floor(at: datetime, width: int) -> datetime:
    return datetime.fromtimestamp(int(at.timestamp()) // width * width, UTC)


def expected(plan: list[Entry], since: datetime, until: datetime, every: str | None, *,
             names: set[str] | None = None, version: int | None = None) -> dict[tuple[Any, ...], dict[str, Any]]:
    width = WIDTHS[every]
    groups: dict[tuple[Any, ...], list[Entry]] = {}
    for entry in plan:
        if since <= entry.at < until and (names is None or entry.name in names) and (
                version is None or entry.version == version):
            start = since if width is None else _floor(entry.at, width)
            groups.setdefault((start, entry.name, entry.version), []).append(entry)
    return {key: {"count": len(group), "sum": math.fsum(e.value for e in group),
                  "min": min(e.value for e in group), "max": max(e.value for e in group),
                  "sources": sorted({e.source for e in group})}
            for key, group in groups.items()}


def observed(windows: list[Any]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {(w.start, w.name, w.version): {"count": w.count, "sum": w.sum, "min": w.min, "max": w.max,
                                           "sources": w.sources} for w in windows}


def assert_matches(windows: list[Any], wanted: dict[tuple[Any, ...], dict[str, Any]]) -> None:
    found = observed(windows)
    assert sorted(found, key=_order) == sorted(wanted, key=_order)
    for key, figures in wanted.items():
        got = found[key]
        assert (got["count"], got["min"], got["max"], got["sources"]) == (
            figures["count"], pytest.approx(figures["min"]), pytest.approx(figures["max"]), figures["sources"]), key
        assert got["sum"] == pytest.approx(figures["sum"], rel=1e-12, abs=1e-9), key
    for window in windows:
        assert window.mean == pytest.approx(wanted[(window.start, window.name, window.version)]["sum"] / window.count)


def _order(key: tuple[Any, ...]) -> tuple[Any, ...]:
    start, name, version = key
    return start, name, version is not None, version or 0


# -- windows ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("every", ["minute", "hour", "day", None])
def test_windows_match_a_hand_computation(shop: Shop, every: str | None) -> None:
    windows = kpis.windows(shop.backend, "shop", since=T0, until=END, every=every)
    wanted = expected(shop.plan, T0, END, every)
    assert len(wanted) > 4 and {"logged", "feedback"} <= {s for f in wanted.values() for s in f["sources"]}
    assert_matches(windows, wanted)
    assert [_order((w.start, w.name, w.version)) for w in windows] == sorted(
        _order((w.start, w.name, w.version)) for w in windows)
    width = WIDTHS[every]
    for window in windows:
        assert window.end == (END if width is None else window.start + timedelta(seconds=width))


def test_a_range_off_the_window_edges_keeps_its_values_only(shop: Shop) -> None:
    since, until = T0 + timedelta(minutes=25, seconds=7), T0 + timedelta(hours=3, minutes=10)
    windows = kpis.windows(shop.backend, "shop", since=since, until=until, every="hour")
    assert windows[0].start == T0  # the window's own start, though the range begins inside it
    assert_matches(windows, expected(shop.plan, since, until, "hour"))


def test_utc_boundaries_of_minutes_hours_and_days(shop: Shop) -> None:
    def sums(every: str | None, since: datetime = T0, until: datetime = END) -> dict[datetime, float]:
        windows = kpis.windows(shop.backend, "shop", since=since, until=until, every=every, names=["edge"])
        return {w.start: w.sum for w in windows}

    eleven, half_past = T0 + timedelta(hours=1), T0 + timedelta(minutes=90)
    assert sums("minute") == {eleven - timedelta(minutes=1): 1.0, eleven: 2.0, half_past: 4.0,
                              MIDNIGHT - timedelta(minutes=1): 16.0, MIDNIGHT: 8.0}
    assert sums("hour") == {T0: 1.0, eleven: 22.0, MIDNIGHT: 8.0}
    assert sums("day") == {MIDNIGHT - timedelta(days=1): 23.0, MIDNIGHT: 8.0}
    # every=None: exactly [since, until), whatever the edges
    assert sums(None, eleven, MIDNIGHT) == {eleven: 22.0}
    assert sums(None, eleven - timedelta(microseconds=1), MIDNIGHT + timedelta(microseconds=1)) == {
        eleven - timedelta(microseconds=1): 31.0}
    naive = kpis.windows(shop.backend, "shop", since=eleven.replace(tzinfo=None), until=MIDNIGHT.replace(tzinfo=None),
                         every=None, names=["edge"])
    assert [(w.start, w.end, w.count) for w in naive] == [(eleven, MIDNIGHT, 3)]


def test_feedback_values_count_for_the_live_answer_version_and_window(shop: Shop) -> None:
    windows = kpis.windows(shop.backend, "shop", since=T0, until=END, every="hour", names=["conversion"])
    from_feedback = [e for e in shop.plan if e.name == "conversion"]
    assert_matches(windows, expected(from_feedback, T0, END, "hour"))
    # 40 answers have feedback, 30 of them values, 10 a conversion (odd i, so v1); and one logged
    assert sum(w.count for w in windows) == 31 and sum(w.sum for w in windows) == 11.0
    assert [w.sources for w in windows if w.start == MIDNIGHT and w.version == shop.v1] == [["feedback", "logged"]]
    # r2 and r4 answered by v2 in the first half hour; r1's values (-99) were replaced by feedback without
    # any; r7 (a 503) counts; the same ids on "other" never do
    revenue = kpis.windows(shop.backend, "shop", since=T0, until=T0 + timedelta(minutes=32), every=None,
                           names=["revenue"], version=shop.v2)
    batch = [e for e in shop.plan if e.name == "revenue" and e.version == shop.v2 and e.source == "logged"
             and e.at < T0 + timedelta(minutes=32)]
    assert len(revenue) == 1
    assert revenue[0].sum == pytest.approx(5.0 + 10.0 + math.fsum(e.value for e in batch))  # r2, r4
    r7 = T0 + timedelta(minutes=28, seconds=13)
    with_failed = kpis.windows(shop.backend, "shop", since=r7, until=r7 + timedelta(milliseconds=1), every=None)
    assert [(w.name, w.version, w.sum, w.sources) for w in with_failed] == [
        ("conversion", shop.v1, 1.0, ["feedback"]), ("revenue", shop.v1, 17.5, ["feedback"])]
    everything = kpis.windows(shop.backend, "shop", since=T0, until=END, every=None)
    assert max(w.max for w in everything) < 1000.0 and min(w.min for w in everything) > -99.0


def test_names_and_version_filters(shop: Shop) -> None:
    names = ["cost", "unit.cost"]
    windows = kpis.windows(shop.backend, "shop", since=T0, until=END, every="hour", names=names, version=shop.v1)
    assert {w.name for w in windows} == set(names) and {w.version for w in windows} == {shop.v1}
    assert_matches(windows, expected(shop.plan, T0, END, "hour", names=set(names), version=shop.v1))
    assert kpis.windows(shop.backend, "shop", since=T0, until=END, names=["nothing.logged"]) == []
    assert kpis.windows(shop.backend, "no-such-endpoint", since=T0, until=END) == []
    assert kpis.windows(shop.backend, "shop", since=END, until=END + timedelta(days=1)) == []


# -- alert rules -----------------------------------------------------------------------------------

def test_value_gives_the_aggregate_an_alert_rule_names(shop: Shop) -> None:
    since, until = T0 + timedelta(minutes=45), T0 + timedelta(hours=3)
    revenue = [e.value for e in shop.plan if e.name == "revenue" and since <= e.at < until]
    assert len(revenue) > 50

    def value(metric: str, **options: Any) -> float | None:
        return kpis.value(shop.backend, "shop", metric, since=since, until=until, **options)

    assert value("kpi.revenue") == pytest.approx(math.fsum(revenue) / len(revenue))
    assert value("kpi.revenue.mean") == value("kpi.revenue")
    assert value("kpi.revenue.sum") == pytest.approx(math.fsum(revenue))
    assert value("kpi.revenue.count") == len(revenue)
    assert (value("kpi.revenue.min"), value("kpi.revenue.max")) == (min(revenue), max(revenue))
    of_v2 = [e.value for e in shop.plan if e.name == "revenue" and e.version == shop.v2 and since <= e.at < until]
    assert value("kpi.revenue.sum", version=shop.v2) == pytest.approx(math.fsum(of_v2))
    assert kpis.value(shop.backend, "shop", "kpi.unit.cost", since=T0, until=END) == pytest.approx(
        np.mean([e.value for e in shop.plan if e.name == "unit.cost"]))
    assert value("kpi.never.logged") is None and value("kpi.never.logged.max") is None
    assert value("kpi.never.logged.count") == 0.0
    for metric in ("revenue", "kpi.", "kpi.bad name", "kpi..sum", "drift.psi", "kpi." + "x" * 129):
        with pytest.raises(InvalidInput, match="metric"):
            value(metric)


def test_the_kpi_name_rule_is_the_name_part_of_alert_rules() -> None:
    assert KPI_METRIC.pattern == rf"^kpi\.{NAME}$"
    assert parse_metric("kpi.revenue.sum") == ("revenue", "sum")
    assert parse_metric("kpi.sum") == ("sum", "mean")  # a KPI may be called sum
    assert parse_metric("kpi.unit.cost") == ("unit.cost", "mean")
    assert parse_metric("kpi.a-b_c.max") == ("a-b_c", "max")


# -- refusals --------------------------------------------------------------------------------------

def _spare_count(shop: Shop) -> int:
    until = datetime.now(UTC) + timedelta(days=1)
    return sum(w.count for w in kpis.windows(shop.backend, "spare", since=T0, until=until, every=None))


def test_record_refuses_bad_input_and_writes_nothing(shop: Shop) -> None:
    backend, at = shop.backend, T0 + timedelta(minutes=1)
    before = _spare_count(shop)
    refused: list[tuple[dict[str, Any], dict[str, Any], type[Exception], str]] = [
        ({}, {}, InvalidInput, "values must map KPI names to numbers"),
        ({"bad name": 1.0}, {}, InvalidInput, "'bad name' is not a KPI name"),
        ({".dot": 1.0}, {}, InvalidInput, "is not a KPI name"),
        ({"x" * 129: 1.0}, {}, InvalidInput, "129 characters long"),
        ({"ok": True}, {}, InvalidInput, r"values\['ok'\] must be a number"),
        ({"ok": "3"}, {}, InvalidInput, r"values\['ok'\] must be a number"),
        ({"ok": math.nan}, {}, InvalidInput, "must be a finite number"),
        ({"ok": -math.inf}, {}, InvalidInput, "must be a finite number"),
        ({"ok": 10 ** 400}, {}, InvalidInput, "must be a finite number"),
        ({f"k{i}": 1.0 for i in range(1001)}, {}, PayloadTooLarge, "at most 1000"),
        ({"ok": 1.0}, {"at": datetime.now(UTC) + timedelta(minutes=2)}, InvalidInput, "at .* is in the future"),
        ({"ok": 1.0}, {"at": "yesterday"}, InvalidInput, "at must be a date and time"),
        ({"ok": 1.0}, {"at": at, "version": 0}, InvalidInput, "version must be a model version number"),
        ({"ok": 1.0}, {"at": at, "version": True}, InvalidInput, "version must be"),
        ({"ok": 1.0}, {"at": at, "request_id": ""}, InvalidInput, "request_id must be a string"),
        ({"ok": 1.0}, {"at": at, "request_id": "r" * 129}, InvalidInput, "request_id must be a string"),
    ]
    for values, options, error, message in refused:
        with pytest.raises(error, match=message):
            kpis.record(backend, APPROVER, "spare", values, **options)
    with pytest.raises(NotFound, match="deployment 'nowhere' does not exist"):
        kpis.record(backend, APPROVER, "nowhere", {"ok": 1.0})
    assert _spare_count(shop) == before


def test_record_takes_a_slightly_early_clock_and_counts_its_rows(shop: Shop) -> None:
    before = _spare_count(shop)
    soon = datetime.now(UTC) + timedelta(seconds=30)
    assert kpis.record(shop.backend, "modelward:job", "spare", {"a": 1, "b": 2.5}, at=soon, version=shop.v2,
                       request_id="q1") == 2
    assert _spare_count(shop) == before + 2
    windows = kpis.windows(shop.backend, "spare", since=soon - timedelta(seconds=1), until=soon + timedelta(seconds=1),
                           every=None)
    assert [(w.name, w.version, w.sum, w.sources) for w in windows] == [
        ("a", shop.v2, 1.0, ["logged"]), ("b", shop.v2, 2.5, ["logged"])]


def test_record_many_is_all_or_nothing(shop: Shop) -> None:
    before, at = _spare_count(shop), T0 + timedelta(minutes=5)
    good = {"name": "ok", "value": 1.0, "at": at}
    refused: list[tuple[Any, type[Exception], str]] = [
        ([], InvalidInput, "non-empty list"),
        ("abc", InvalidInput, "non-empty list"),
        ([good] * 10_001, PayloadTooLarge, "at most 10000 KPI items"),
        ([{"values": {f"k{i}": 1.0 for i in range(1000)}, "at": at}] * 101, PayloadTooLarge, "item 100 goes past"),
        ([good, "x"], InvalidInput, "item 1 must be an object"),
        ([good, {"name": "ok", "value": 1.0, "colour": "red"}], InvalidInput, "item 1 has unknown fields: colour"),
        ([good, {"name": "ok", "value": 1.0, "values": {"b": 1.0}}], InvalidInput, "item 1 must have either"),
        ([good, {"value": 1.0}], InvalidInput, "item 1 must have either"),
        ([good, {"name": "ok"}], InvalidInput, "item 1: name 'ok' has no value"),
        ([good, {"values": {"b": 1.0}, "value": 2.0}], InvalidInput, "item 1: value goes with name"),
        ([good, {"name": "no good", "value": 1.0}], InvalidInput, "item 1: name 'no good' is not a KPI name"),
        ([good, {"name": "ok", "value": math.nan}], InvalidInput, r"item 1\['ok'\] must be a finite number"),
        ([good, {"values": {"b": "1"}}], InvalidInput, r"item 1: values\['b'\] must be a number"),
        ([good, {"values": {}}], InvalidInput, "item 1: values must map KPI names"),
        ([good, {**good, "version": -1}], InvalidInput, "item 1: version must be"),
        ([good, {**good, "at": "2026-13-01"}], InvalidInput, "item 1: at must be a date and time"),
        ([good, {**good, "at": datetime.now(UTC) + timedelta(hours=1)}], InvalidInput, "item 1: at .* future"),
    ]
    for items, error, message in refused:
        with pytest.raises(error, match=message):
            kpis.record_many(shop.backend, APPROVER, "spare", items)
    with pytest.raises(NotFound, match="deployment 'nowhere'"):
        kpis.record_many(shop.backend, APPROVER, "nowhere", [good])
    assert _spare_count(shop) == before


def test_windows_refuse_bad_arguments(shop: Shop) -> None:
    refused: list[tuple[dict[str, Any], str]] = [
        ({"every": "week"}, "every must be one of minute, hour, day or None"),
        ({"since": END, "until": T0}, "until .* must be after since"),
        ({"until": T0}, "until .* must be after since"),
        ({"since": "not a time"}, "since must be a date and time"),
        ({"until": 17}, "until must be a date and time"),
        ({"names": []}, "names must be a non-empty list"),
        ({"names": "revenue"}, "names must be a non-empty list"),
        ({"names": ["revenue", "no good"]}, "names: KPI name 'no good' is not a KPI name"),
        ({"version": "1"}, "version must be a model version number"),
    ]
    for options, message in refused:
        with pytest.raises(InvalidInput, match=message):
            kpis.windows(shop.backend, "shop", **{"since": T0, "until": END, **options})
    with pytest.raises(PayloadTooLarge, match="at most 1000"):
        kpis.windows(shop.backend, "shop", since=T0, until=END, names=[f"k{i}" for i in range(1001)])


def test_feedback_refuses_values_that_are_not_finite(shop: Shop) -> None:
    for bad in (math.nan, math.inf):
        with pytest.raises(InvalidInput, match="values must map names to finite numbers"):
            predictions.add_feedback(shop.backend, APPROVER, "shop",
                                     [{"request_id": "r3", "ground_truth": 1, "values": {"revenue": bad}}])
    with pytest.raises(InvalidInput, match="values key 'net revenue' is not a KPI name"):
        predictions.add_feedback(shop.backend, APPROVER, "shop",
                                 [{"request_id": "r3", "ground_truth": 1, "values": {"net revenue": 1.0}}])
    assert kpis.windows(shop.backend, "shop", since=T0, until=END, every=None, names=["revenue"])

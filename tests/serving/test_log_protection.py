"""A policy's ``monitoring.log_protect`` keeps personal data out of the prediction log: a real
``modelward server`` serves a real model to which customers' e-mails, names and regions (Faker,
nobody real) are sent. The log, its companion Parquet and the shadow records hold the hashed
columns as ``personal_data.protect`` hashes them with the same secret and the dropped ones not at
all; the model is given everything; drift still runs; a server without the secret refuses to
serve the endpoint and says which setting it lacks, and serves again once the policy only drops.
"""

from __future__ import annotations

import time
import typing
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from faker import Faker

from modelward.domain.monitoring import LOG_PROTECT_ACTIONS, LogProtectAction
from modelward.domain.policy import parse_policy_yaml
from modelward.errors import InvalidInput, NotFound, ServiceUnavailable
from modelward.evaluation.personal_data import protect
from modelward.services import deployments, input_drift, policies, predictions
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.deployments.helpers import APPROVER, approve
from tests.fixtures.servers import ServerProcess, start_server, stop_server
from tests.governance.helpers import ADMIN, AUTHOR, dataset, log_folder

SECRET = "a hash secret of more than sixteen bytes " + uuid.uuid4().hex
MODEL = "customers"
ENDPOINT = "crm"
RULES = {"email": "hash", "name": "drop", "region": "hash"}
REGIONS = ["north", "south", "east", "west"]
POLICY = """\
model: {model}
gates: [{{metric: accuracy, min: 0.5}}]
review: {{approvals: 1, risk_assessment_required: false}}
monitoring:
  log_protect: {rules}
evaluation_dataset: {{run_id: {run_id}, path: {path}}}
"""
ENV = {"MODELWARD_GATEWAY_REFRESH_S": "0.2", "MODELWARD_CANARY_CHECK_INTERVAL_S": "0",
       "MODELWARD_ALERT_EVALUATION_INTERVAL_S": "0", "MODELWARD_WEBHOOKS_ENABLED": "false"}


def customers(count: int, seed: int) -> pd.DataFrame:
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rows = [{"email": fake.unique.email(), "name": fake.name(), "age": fake.random_int(18, 90),
             "income": float(fake.random_int(20_000, 120_000)), "region": REGIONS[i % len(REGIONS)]}
            for i in range(count)]
    return pd.DataFrame(rows)


def target_of(frame: pd.DataFrame) -> pd.Series:
    return ((frame["region"] == "north") | (frame["income"] > 90_000)).astype(int)


def fitted_model(frame: pd.DataFrame, c: float) -> Any:
    """The region decides most answers: a model given hashed regions would answer otherwise."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    encode = make_column_transformer((StandardScaler(), ["age", "income"]),
                                     (OneHotEncoder(handle_unknown="ignore"), ["region"]), remainder="drop")
    return make_pipeline(encode, LogisticRegression(C=c, max_iter=1000)).fit(frame, target_of(frame))


def register(backend: Backend, model: Any, example: pd.DataFrame) -> int:
    """A data-only (skops) version whose signature has every column, the personal ones too."""
    import tempfile

    from modelward import models
    from modelward.services import registry

    with tempfile.TemporaryDirectory() as tmp:
        folder = models.save(model, Path(tmp) / "model", input_example=example.head(3))
        run_id = log_folder(backend, AUTHOR, folder)
    return registry.register_version(backend, AUTHOR, MODEL, run_id=run_id).version


def policy_text(backend: Backend, rules: dict[str, str], data: dict[str, str]) -> str:
    shown = "{" + ", ".join(f"{column}: {action}" for column, action in rules.items()) + "}"
    return POLICY.format(model=MODEL, rules=shown, run_id=data["run_id"], path=data["path"])


@dataclass
class World:
    backend: Backend
    server: ServerProcess
    training: pd.DataFrame
    models: dict[int, Any]
    data: dict[str, str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("log-protection")
    backend = Backend.from_settings(Settings(home=home))
    training = customers(400, seed=7)
    data = dataset(backend, training.assign(target=target_of(training)))
    policies.set_policy(backend, ADMIN, policy_text(backend, RULES, data))
    models = {}
    for c in (1.0, 0.3):
        model = fitted_model(training, c)
        version = register(backend, model, training)
        approve(backend, MODEL, version)
        models[version] = model
    live, shadow = sorted(models)
    deployments.create(backend, APPROVER, ENDPOINT, model=MODEL, environment="production", version=live)
    deployments.release(backend, APPROVER, ENDPOINT, shadow, strategy="shadow")
    server = start_server(home, env={**ENV, "MODELWARD_HASH_SECRET": SECRET})
    try:
        yield World(backend, server, training, models, data)
    finally:
        stop_server(server)
        backend.close()


def _wait_until(condition: typing.Callable[[], Any], what: str, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _logged(backend: Backend, request_id: str, modes: int = 2) -> dict[str, Any]:
    """The request's records once the live answer and its shadow copy are both written."""
    def found() -> dict[str, Any] | None:
        try:
            entry = predictions.get(backend, request_id)
        except NotFound:
            return None
        return entry if len(entry["records"]) >= modes else None

    return _wait_until(found, f"the records of request {request_id}")  # type: ignore[no-any-return]


def _ask(server: ServerProcess, frame: pd.DataFrame, request_id: str, endpoint: str = ENDPOINT) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        return http.post(f"/serve/{endpoint}/predict", json=frame.to_dict(orient="records"),
                         headers={"modelward-request-id": request_id})


def _ready(server: ServerProcess, endpoint: str = ENDPOINT) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        return http.get(f"/serve/{endpoint}/ready")


def _all_text_of_the_log(backend: Backend, endpoint: str) -> tuple[str, list[Any]]:
    """Every value of every Parquet file (parts and companions) of ``endpoint``'s log, as text,
    and the schemas of the companions."""
    import pyarrow.parquet as pq

    filesystem, root = backend.artifacts.arrow_filesystem()
    names = backend.artifacts.list_dataset_files(f"predictions/endpoint={endpoint}")
    assert names, "the log has no files"
    texts, companions = [], []
    for name in names:
        with filesystem.open_input_file(f"{root}/{name}") as source:  # type: ignore[attr-defined]
            table = pq.read_table(source)
        texts.append(str(table.to_pylist()))
        if name.endswith(".rows.parquet"):
            companions.append(table.schema)
    return "\n".join(texts), companions


# -- the log keeps hashes and no dropped column; the model gets everything --------------------------

def test_records_hold_hashed_and_no_dropped_columns_and_the_answer_is_the_models(world: World) -> None:
    asked = customers(6, seed=11)
    live = min(world.models)
    answer = _ask(world.server, asked, "protected-1")
    assert answer.status_code == 200, answer.text
    assert int(answer.headers["modelward-version"]) == live
    # The model was given the clear regions: its answer is the one computed here on the clear frame.
    assert answer.json()["predictions"] == world.models[live].predict(asked).tolist()
    hashed_regions = asked.assign(region=protect(asked, {"region": "hash"}, secret=SECRET)["region"])
    assert answer.json()["predictions"] != world.models[live].predict(hashed_regions).tolist()  # they mattered

    entry = _logged(world.backend, "protected-1")
    expected = protect(asked, RULES, secret=SECRET)
    assert {r["mode"] for r in entry["records"]} == {"live", "shadow"}
    for record in entry["records"]:
        assert record["status"] == 200
        assert [set(row) for row in record["inputs"]] == [{"email", "age", "income", "region"}] * len(asked)
        assert [row["email"] for row in record["inputs"]] == expected["email"].tolist()
        assert [row["region"] for row in record["inputs"]] == expected["region"].tolist()
        assert [row["age"] for row in record["inputs"]] == asked["age"].tolist()  # unprotected: as sent
    assert all(len(row["email"]) == 64 and row["email"] not in set(asked["email"]) for row in entry["records"][0]["inputs"])


def test_hashes_are_stable_across_requests_and_the_reading_api(world: World) -> None:
    first, second = customers(3, seed=21), customers(3, seed=21)
    for request_id, frame in (("stable-1", first), ("stable-2", second.iloc[::-1])):
        assert _ask(world.server, frame, request_id).status_code == 200
    one, two = (_logged(world.backend, r)["records"] for r in ("stable-1", "stable-2"))
    emails_one = [row["email"] for row in one[0]["inputs"]]
    emails_two = [row["email"] for row in two[0]["inputs"]]
    assert emails_two == emails_one[::-1]  # the same customer, the same hash, in another request
    listed = {r["request_id"]: r for r in predictions.records(world.backend, ENDPOINT, mode="live", limit=100)}
    assert [row["email"] for row in listed["stable-1"]["inputs"]] == emails_one
    assert emails_one == protect(first, {"email": "hash"}, secret=SECRET)["email"].tolist()


def test_no_clear_value_is_in_any_parquet_file_of_the_log(world: World) -> None:
    asked = customers(5, seed=31)
    assert _ask(world.server, asked, "parquet-1").status_code == 200
    _logged(world.backend, "parquet-1")
    text, companions = _all_text_of_the_log(world.backend, ENDPOINT)
    assert protect(asked, RULES, secret=SECRET)["email"].iloc[0] in text  # what is there is the hash
    for clear in [*asked["email"], *asked["name"], *REGIONS]:
        assert clear not in text, f"{clear!r} is in the log in clear"
    assert companions, "no companion rows file was written"
    for schema in companions:
        assert "name" not in schema.names
        assert str(schema.field("email").type) == "string" and str(schema.field("region").type) == "string"


def test_an_error_message_quoting_an_input_is_logged_without_it(world: World) -> None:
    asked = customers(1, seed=41).assign(age="not a number")  # the signature check quotes the value
    answer = _ask(world.server, asked, "error-1")
    assert answer.status_code == 400 and "not a number" in answer.text  # the client gets the whole message
    [record] = _logged(world.backend, "error-1", modes=1)["records"]
    assert record["inputs"] is None and record["status"] == 400
    assert "not a number" not in record["error"] and "<name>" in record["error"]


def test_drift_runs_on_hashed_categories_and_reports_the_dropped_column_missing(world: World) -> None:
    batch = customers(40, seed=51)
    for start in range(0, len(batch), 10):
        assert _ask(world.server, batch.iloc[start:start + 10], f"drift-{start}").status_code == 200
    for start in range(0, len(batch), 10):
        _logged(world.backend, f"drift-{start}")
    # The reference as the SDK stores a protected snapshot (same secret), but with the clear names:
    # the log never has them, so the schema check names the column missing.
    reference = protect(world.training, {"email": "hash", "region": "hash"}, secret=SECRET)
    now = datetime.now(UTC)
    [window] = input_drift.drift(world.backend, ENDPOINT, since=now - timedelta(hours=1), until=now + timedelta(minutes=1),
                                 every=None, reference=reference.drop(columns=["email"]))
    features = window.report.features
    assert features["region"].kind == "categorical"
    assert features["region"].status == "stable", features["region"]  # the same regions, as the same hashes
    assert {c.column: c.change for c in window.report.schema_changes}.get("name") == "missing"
    clear = world.training.drop(columns=["email"])  # a reference of clear regions: every category is new
    [against_clear] = input_drift.drift(world.backend, ENDPOINT, since=now - timedelta(hours=1),
                                        until=now + timedelta(minutes=1), every=None, reference=clear)
    assert against_clear.report.features["region"].status != "stable"


# -- the secret: never shown; without it the endpoint does not serve ----------------------------------

def test_the_secret_is_in_no_answer_and_no_log_line(world: World) -> None:
    with httpx.Client(base_url=world.server.url, timeout=30) as http:
        shown = [http.get(path).text for path in (f"/serve/{ENDPOINT}/ready", "/metrics",
                                                   f"/api/v1/policies/effective/{MODEL}", "/ready")]
    ready = _ready(world.server).json()
    assert ready["log_protect"] == RULES
    assert all(SECRET not in text for text in shown)
    assert SECRET not in world.server.log_path.read_text(errors="replace")
    assert SECRET not in repr(Settings(hash_secret=SECRET)) and SECRET not in str(Settings(hash_secret=SECRET))


def test_without_the_secret_the_endpoint_refuses_and_serves_again_once_the_policy_only_drops(
        world: World, tmp_path: Path) -> None:
    home = world.server.home  # the same store, another home folder (its own log file), no MODELWARD_HASH_SECRET
    bare = start_server(tmp_path / "bare", env={
        **ENV, "MODELWARD_HASH_SECRET": "", "MODELWARD_DATABASE_URL": Settings(home=home).resolved_database_url,
        "MODELWARD_ARTIFACT_ROOT": Settings(home=home).resolved_artifact_root,
        "MODELWARD_AUDIT_SIGNING_KEY": str(Settings(home=home).resolved_audit_signing_key)})
    try:
        before = len(predictions.records(world.backend, ENDPOINT, limit=10_000))
        refused = _ask(bare, customers(2, seed=61), "refused-1")
        assert refused.status_code == 503, refused.text
        assert refused.json()["error_code"] == ServiceUnavailable.error_code
        assert "hash_secret" in refused.json()["message"] and "MODELWARD_HASH_SECRET" in refused.json()["message"]
        ready = _ready(bare)
        assert ready.status_code == 503 and "MODELWARD_HASH_SECRET" in ready.json()["problem"]

        # A policy that only drops needs no secret: the refusing server serves within its refresh,
        # and the other server follows the change as well.
        policies.set_policy(world.backend, ADMIN, policy_text(world.backend, {"email": "drop", "name": "drop"},
                                                              world.data))
        _wait_until(lambda: _ready(bare).status_code == 200, "the refused endpoint to serve again")
        _wait_until(lambda: _ready(world.server).json()["log_protect"] == {"email": "drop", "name": "drop"},
                    "the first server to follow the policy")
        asked = customers(2, seed=62)
        answer = _ask(bare, asked, "dropped-1")
        assert answer.status_code == 200, answer.text
        records = _logged(world.backend, "dropped-1")["records"]
        for record in records:
            assert [set(row) for row in record["inputs"]] == [{"age", "income", "region"}] * 2
            assert [row["region"] for row in record["inputs"]] == asked["region"].tolist()  # no longer hashed
        # Nothing was logged for the refused request.
        with pytest.raises(NotFound):
            predictions.get(world.backend, "refused-1")
        assert len(predictions.records(world.backend, ENDPOINT, limit=10_000)) == before + len(records)
    finally:
        stop_server(bare)
        policies.set_policy(world.backend, ADMIN, policy_text(world.backend, RULES, world.data))


# -- the policy: validated, each error naming its key -------------------------------------------------

def test_the_actions_are_those_of_protect() -> None:
    import importlib

    protect_module = importlib.import_module("modelward.evaluation.personal_data.protect")  # the package's name is the function
    assert LOG_PROTECT_ACTIONS == typing.get_args(LogProtectAction) == typing.get_args(protect_module.Action)


@pytest.mark.parametrize(("section", "named"), [
    ("log_protect: {email: mask}", "line 3, monitoring.log_protect.email: Input should be 'hash' or 'drop'"),
    ("log_protect: {'': drop}", "line 3, monitoring.log_protect: a column name cannot be empty"),
    ("log_protect: [email]", "line 3, monitoring.log_protect: Input should be a valid dictionary"),
    ("log_protekt: {email: hash}", "line 3, monitoring.log_protekt"),
])
def test_a_bad_log_protect_names_its_key(section: str, named: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_policy_yaml(f"model: m\nmonitoring:\n  {section}\n")
    assert named in str(caught.value)


def test_a_policy_with_log_protect_reads_back_as_written() -> None:
    policy = parse_policy_yaml("model: m\nmonitoring:\n  log_protect: {email: hash, name: drop}\n")
    assert policy.monitoring.log_protect == {"email": "hash", "name": "drop"}
    assert policy.model_dump(mode="json")["monitoring"]["log_protect"] == {"email": "hash", "name": "drop"}
    assert parse_policy_yaml("model: m\n").monitoring.log_protect == {}


# -- the protection itself: protect()'s hashes for every kind of column ---------------------------------

def test_every_kind_of_column_hashes_as_protect_does_and_the_frame_is_left_as_it_was() -> None:
    import numpy as np

    mixed = pd.DataFrame({"i": [1, 2, None], "f": [0.1, 2.0, np.nan], "s": ["x", None, "z"], "b": [True, False, True],
                          "d": pd.to_datetime(["2024-01-01", None, "2024-03-01"]),
                          "n": pd.array([1, None, 3], dtype="Int64"), "k": [7, 8, 9]})
    numeric = pd.DataFrame({"k": [7, 8], "x": [0.5, 1.5]})  # one float array for the frame: 7 must not hash as 7.0
    for frame in (mixed, numeric):
        rules = {column: "hash" for column in frame.columns}
        before = frame.copy()
        logged = predictions.log_protection(rules, SECRET).inputs(frame)  # type: ignore[union-attr]
        expected = protect(frame, rules, secret=SECRET)
        as_text = [[v if isinstance(v, str) else None for v in row] for row in logged.values.tolist()]
        assert as_text == [[v if isinstance(v, str) else None for v in row] for row in expected.to_numpy().tolist()]
        pd.testing.assert_frame_equal(frame, before)


def test_records_and_tensors() -> None:
    import numpy as np

    protection = predictions.log_protection({"email": "hash", "name": "drop"}, SECRET)
    assert protection is not None
    rows = [{"email": "ada@example.org", "name": "Ada", "age": 36}, {"email": None, "age": 1}]
    expected = protect(pd.DataFrame({"email": ["ada@example.org"]}), {"email": "hash"}, secret=SECRET)["email"][0]
    assert protection.inputs(rows) == [{"email": expected, "age": 36}, {"email": None, "age": 1}]
    assert protection.inputs(rows[0]) == {"email": expected, "age": 36}
    assert protection.inputs(np.zeros((2, 3))) == predictions.WITHHELD  # no names: nothing to match, nothing kept
    assert "ada" not in repr(protection) and SECRET not in repr(protection)


def test_a_short_secret_names_the_setting_and_drops_need_none() -> None:
    with pytest.raises(ServiceUnavailable, match="hash_secret .MODELWARD_HASH_SECRET. must be at least 16 bytes"):
        predictions.log_protection({"email": "hash"}, "short")
    assert predictions.log_protection({"email": "drop"}, None) is not None
    assert predictions.log_protection({}, None) is None

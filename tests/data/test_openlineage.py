"""Expectations declared in an OpenLineage dataset facet (``modelwardExpectations``): checked on the
data the node holds (a snapshot the SDK logged at the same namespace and name), else 'unchecked'."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx

from modelward.sdk.client import Client
from tests.data.frames import declaration, failed, faulty
from tests.fixtures.servers import ServerProcess

PRODUCER = "https://example.org/etl"
FACET = {"_producer": PRODUCER, "_schemaURL": "https://example.org/schemas/modelwardExpectations.json"}


def _event(job: str, datasets: list[dict]) -> dict:
    return {"eventType": "COMPLETE", "eventTime": datetime.now(UTC).isoformat(), "producer": PRODUCER,
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": str(uuid.uuid4())}, "job": {"namespace": "etl", "name": job}, "outputs": datasets}


def test_a_facet_declaration_is_checked_on_the_snapshot_of_the_same_node(live_server: ServerProcess, unique: str) -> None:
    namespace, name = "s3://warehouse", f"features/{unique}.parquet"
    with Client(live_server.url) as client:
        run_id = client.runs.create(client.experiments.get_or_create(f"ol-data-{unique}").id).id
        logged = client.datasets.log(faulty().assign(tag=unique), namespace=namespace, name=name, run_id=run_id,
                                     context="output", snapshot=True)
        elsewhere = f"features/{unique}-unseen.parquet"
        event = _event(f"build_{unique}", [
            {"namespace": namespace, "name": name, "facets": {"modelwardExpectations": {**FACET, "expectations": declaration()}}},
            {"namespace": namespace, "name": elsewhere,
             "facets": {"modelwardExpectations": {**FACET, "expectations": {"rows": {"min": 1}}}}},
        ])
        answer = httpx.post(f"{live_server.url}/api/v1/lineage/openlineage", json=event)
        assert answer.status_code == 201, answer.text
        checked = client.data_checks.latest(logged)
        assert checked.trigger == "openlineage" and checked.status == "failed"
        assert set(failed(checked)) == {"age.min", "age.max", "id.unique", "email.missing_max"}
        assert client.datasets.get(logged.id).expectations == declaration()
        unseen = client.datasets.find(name=elsewhere)[0]
        assert unseen.data_check["status"] == "unchecked"


def test_a_bad_facet_refuses_the_whole_event(live_server: ServerProcess, unique: str) -> None:
    event = _event(f"bad_{unique}", [{"namespace": "s3://w", "name": f"t-{unique}",
                                      "facets": {"modelwardExpectations": {**FACET, "expectations": {"colums": {}}}}}])
    answer = httpx.post(f"{live_server.url}/api/v1/lineage/openlineage", json=event)
    assert answer.status_code == 400
    assert "outputs[0].facets.modelwardExpectations.expectations" in answer.json()["message"]
    assert "colums: unknown key" in answer.json()["message"]
    with Client(live_server.url) as client:
        assert client.datasets.find(name=f"t-{unique}") == []


def test_checks_follow_a_node_merged_into_the_dataset(live_server: ServerProcess, unique: str) -> None:
    namespace, name = "s3://warehouse", f"late/{unique}.parquet"
    frame = faulty().assign(tag=unique)
    with Client(live_server.url) as client:
        run_id = client.runs.create(client.experiments.get_or_create(f"ol-merge-{unique}").id).id
        unplaced = client.datasets.log(frame, name="late", run_id=run_id, snapshot=True)  # by digest, no location
        event = _event(f"late_{unique}", [{"namespace": namespace, "name": name, "facets": {
            "modelwardExpectations": {**FACET, "expectations": {"columns": {"age": {"max": 120}}}}}}])
        assert httpx.post(f"{live_server.url}/api/v1/lineage/openlineage", json=event).status_code == 201
        name_only = client.datasets.find(name=name)[0]
        assert name_only.id != unplaced.id and name_only.data_check["status"] == "unchecked"
        placed = client.datasets.log(frame, namespace=namespace, name=name, run_id=run_id)
        assert placed.id == unplaced.id  # the name-only node was merged into the logged one
        assert [c.status for c in client.data_checks.list(placed)] == ["unchecked"]
        assert set(failed(client.data_checks.check(placed))) == {"age.max"}  # the declaration came along

"""OpenLineage run events from the real openlineage-python client over HTTP, into the same graph."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.generated import (
    data_quality_metrics_input_dataset as dq,
)
from openlineage.client.generated import output_statistics_output_dataset as out_stats
from openlineage.client.generated import parent_run, schema_dataset
from openlineage.client.transport.http import HttpCompression, HttpConfig, HttpTransport

from modelward.domain.tracking import ProcessInfo
from modelward.sdk.client import Client
from tests.fixtures.servers import ServerProcess

PRODUCER = "https://github.com/apache/airflow"


def _ol_client(url: str, *, compression: HttpCompression | None = None) -> OpenLineageClient:
    config = HttpConfig(url=url, endpoint="api/v1/lineage/openlineage", compression=compression)
    return OpenLineageClient(transport=HttpTransport(config))


def _now() -> str:
    return datetime.now(UTC).isoformat()


def test_airflow_style_job_joins_the_training_runs_graph(live_server: ServerProcess, unique: str) -> None:
    ol = _ol_client(live_server.url)
    run_id, parent_id = str(uuid.uuid4()), str(uuid.uuid4())
    job = Job(namespace="airflow", name=f"etl_{unique}.build_features")
    source = InputDataset(
        namespace="postgres://db:5432", name=f"raw.events_{unique}",
        facets={"schema": schema_dataset.SchemaDatasetFacet(fields=[
            schema_dataset.SchemaDatasetFacetFields(name="user_id", type="INT"),
            schema_dataset.SchemaDatasetFacetFields(name="amount", type="DOUBLE")])},
        inputFacets={"dataQualityMetrics": dq.DataQualityMetricsInputDatasetFacet(
            rowCount=1000, columnMetrics={"amount": dq.ColumnMetrics(nullCount=3, min=0.0, max=99.5,
                                                                     quantiles={"0.5": 12.0})})},
    )
    features = OutputDataset(
        namespace="postgres://db:5432", name=f"analytics.features_{unique}",
        outputFacets={"outputStatistics": out_stats.OutputStatisticsOutputDatasetFacet(rowCount=997)},
    )
    parent = parent_run.ParentRunFacet(run=parent_run.Run(runId=parent_id),
                                       job=parent_run.Job(namespace="airflow", name=f"etl_{unique}"))
    ol.emit(RunEvent(eventType=RunState.START, eventTime=_now(), run=Run(runId=run_id, facets={"parent": parent}),
                     job=job, producer=PRODUCER, inputs=[source]))
    ol.emit(RunEvent(eventType=RunState.COMPLETE, eventTime=_now(), run=Run(runId=run_id), job=job,
                     producer=PRODUCER, inputs=[source], outputs=[features]))

    with Client(live_server.url) as client:
        # a training run in the same pipeline reads the table the Airflow job wrote
        experiment = client.experiments.get_or_create(f"ol-{unique}")
        train = client.runs.create(experiment.id, name="train", process=ProcessInfo(pipeline_run_id=parent_id)).id
        client.runs.log_params(train, {"alpha": "0.3"})
        table = client.datasets.log(uri=f"postgres://db:5432/analytics.features_{unique}", run_id=train)
        client.artifacts.upload_bytes(train, "model.bin", unique.encode())
        model = client.lineage.log_output(train, {"kind": "model", "run_artifact_path": "model.bin"})

        up = client.lineage.upstream(f"artifact:{model.id}")
        ol_steps = [n for n in up.executions() if n.type == "openlineage"]
        assert [(s.name, s.status) for s in ol_steps] == [(f"airflow/etl_{unique}.build_features", "COMPLETE")]
        assert ol_steps[0].properties["started_at"] and ol_steps[0].properties["ended_at"]
        assert {n.name for n in up.artifacts()} == {"model.bin", f"analytics.features_{unique}", f"raw.events_{unique}"}
        assert table.id in {n.id for n in up.artifacts()}
        raw = client.datasets.find(name=f"raw.events_{unique}")[0]
        assert [c.name for c in raw.data_schema.columns] == ["user_id", "amount"]
        assert raw.statistics.row_count == 1000 and raw.statistics.columns["amount"].missing == 3
        assert raw.statistics.columns["amount"].quantiles == {"0.5": 12.0}
        assert client.datasets.get(table.id).statistics.row_count == 997
        # the parent run facet puts the job next to the training run in one pipeline context
        assert {e.type.value for e in client.lineage.pipeline(parent_id)} == {"openlineage", "pipeline_step"}
        assert {e.run_id for e in client.lineage.pipeline(parent_id)} == {None, train}


def test_gzip_events_and_late_events_do_not_reopen_a_finished_run(live_server: ServerProcess, unique: str) -> None:
    ol = _ol_client(live_server.url, compression=HttpCompression.GZIP)
    run_id = str(uuid.uuid4())
    job = Job(namespace="spark", name=f"job_{unique}")
    out = OutputDataset(namespace="s3://lake", name=f"t_{unique}")
    ol.emit(RunEvent(eventType=RunState.FAIL, eventTime=_now(), run=Run(runId=run_id), job=job,
                     producer=PRODUCER, outputs=[out]))
    ol.emit(RunEvent(eventType=RunState.RUNNING, eventTime=_now(), run=Run(runId=run_id), job=job, producer=PRODUCER))
    with Client(live_server.url) as client:
        dataset = client.datasets.find(name=f"t_{unique}")[0]
        assert dataset.uri == f"s3://lake/t_{unique}"
        producer = client.lineage.upstream(f"artifact:{dataset.id}", depth=1).executions()[0]
        assert producer.status == "FAILED" and producer.properties["last_event_type"] == "RUNNING"


def _event(unique: str, **changes: object) -> dict[str, object]:
    event: dict[str, object] = {
        "eventType": "COMPLETE", "eventTime": _now(), "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": str(uuid.uuid4())}, "job": {"namespace": "dbt", "name": f"model_{unique}"},
        "inputs": [{"namespace": "bq", "name": f"in_{unique}"}],
        "outputs": [{"namespace": "bq", "name": f"out_{unique}"}],
    }
    event.update(changes)
    return event


@pytest.mark.parametrize(("change", "field"), [
    ({"eventType": "DONE"}, "eventType"),
    ({"eventTime": "yesterday"}, "eventTime"),
    ({"run": {"runId": "not-a-uuid"}}, "run.runId"),
    ({"job": {"namespace": "dbt"}}, "job.name"),
    ({"outputs": [{"namespace": "bq", "name": "ok"}, {"namespace": "bq"}]}, "outputs[1].name"),
    ({"inputs": [{"namespace": "bq", "name": "x", "facets": {"schema": {"fields": [{"type": "INT"}]}}}]},
     "inputs[0].facets.schema.fields[0].name"),
    ({"inputs": "table"}, "inputs"),
])
def test_malformed_events_get_a_400_naming_the_field_and_store_nothing(
    live_server: ServerProcess, unique: str, change: dict[str, object], field: str
) -> None:
    response = httpx.post(f"{live_server.url}/api/v1/lineage/openlineage", json=_event(unique, **change))
    assert response.status_code == 400, response.text
    assert f"'{field}'" in response.json()["message"]
    with Client(live_server.url) as client:
        assert client.datasets.find(name=f"in_{unique}") == []
        assert client.datasets.find(name=f"out_{unique}") == []


def test_bodies_that_are_not_events(live_server: ServerProcess, unique: str) -> None:
    url = f"{live_server.url}/api/v1/lineage/openlineage"
    assert httpx.post(url, content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
    bad_gzip = httpx.post(url, content=b"plain", headers={"content-encoding": "gzip", "content-type": "application/json"})
    assert bad_gzip.status_code == 400 and "gzip" in bad_gzip.json()["message"]
    dataset_event = {"eventTime": _now(), "producer": PRODUCER, "dataset": {"namespace": "a", "name": "b"}}
    assert "'run'" in httpx.post(url, json=dataset_event).json()["message"]
    ok = httpx.post(url, content=gzip.compress(json.dumps(_event(unique)).encode()),
                    headers={"content-encoding": "gzip", "content-type": "application/json"})
    assert ok.status_code == 201 and ok.json()["execution"]["type"] == "openlineage"


def test_embedded_and_postgres_take_events_through_the_sdk(client: Client, unique: str) -> None:
    record = client.lineage.openlineage(_event(unique))
    assert [a.name for a in record.inputs] == [f"in_{unique}"]
    again = client.lineage.openlineage(_event(unique, run={"runId": record.execution.external_id}))
    assert again.execution.id == record.execution.id
    down = client.lineage.downstream(f"artifact:{record.inputs[0].id}")
    assert {n.name for n in down.artifacts()} == {f"in_{unique}", f"out_{unique}"}

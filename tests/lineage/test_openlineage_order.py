"""An OpenLineage pipeline and an SDK training run meet at one dataset node, in either order.

In production the pipeline usually runs first (OpenLineage names its output table by
namespace and name, with no digest) and training later logs that table's data with its
digest; sometimes training comes first. Either way there is one node, with the SDK's
profile (computed from the data) and the OpenLineage facets beside it, and impact analysis
from the pipeline's source reaches the training run and the registered model version.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pandas as pd
import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.generated import output_statistics_output_dataset as out_stats
from openlineage.client.generated import schema_dataset
from openlineage.client.transport.http import HttpConfig, HttpTransport

from modelward.errors import NotFound
from modelward.sdk.client import Client
from tests.fixtures.servers import ServerProcess
from tests.registry.helpers import MLMODEL

NAMESPACE = "postgres://db:5432"


def _frame(unique: str) -> pd.DataFrame:
    """This test's features table (its own content: the server is shared by the session's tests)."""
    return pd.DataFrame({"user_id": [1, 2, 3, 4], "amount": [int(unique, 16) / 7, 3.0, 7.25, 1.0]})


def _emit_pipeline(url: str, unique: str) -> None:
    """An Airflow-style job reads raw.events and writes analytics.features (START, COMPLETE)."""
    ol = OpenLineageClient(transport=HttpTransport(HttpConfig(url=url, endpoint="api/v1/lineage/openlineage")))
    run, job = Run(runId=str(uuid.uuid4())), Job(namespace="airflow", name=f"etl_{unique}.features")
    source = InputDataset(namespace=NAMESPACE, name=f"raw.events_{unique}")
    features = OutputDataset(
        namespace=NAMESPACE, name=f"analytics.features_{unique}",
        facets={"schema": schema_dataset.SchemaDatasetFacet(fields=[
            schema_dataset.SchemaDatasetFacetFields(name="user_id", type="BIGINT"),
            schema_dataset.SchemaDatasetFacetFields(name="amount", type="NUMERIC"),
            schema_dataset.SchemaDatasetFacetFields(name="dropped_later", type="TEXT")])},
        outputFacets={"outputStatistics": out_stats.OutputStatisticsOutputDatasetFacet(rowCount=997)},
    )
    for state in (RunState.START, RunState.COMPLETE):
        ol.emit(RunEvent(eventType=state, eventTime=datetime.now(UTC).isoformat(), run=run, job=job,
                         producer="https://github.com/apache/airflow", inputs=[source], outputs=[features]))


def _train(client: Client, unique: str, **location: str) -> tuple[str, str, str]:
    """A training run reads the features table's data; its model is registered. Returns
    (run id, dataset id, model name)."""
    experiment = client.experiments.get_or_create(f"ol-order-{unique}")
    run_id = client.runs.create(experiment.id, name="train").id
    client.runs.log_params(run_id, {"alpha": "0.1"})
    dataset = client.datasets.log(_frame(unique), name=f"analytics.features_{unique}", run_id=run_id, **location)
    client.artifacts.upload_bytes(run_id, "model/MLmodel", MLMODEL)
    client.artifacts.upload_bytes(run_id, "model/model.skops", unique.encode())
    model = f"features-model-{unique}"
    client.models.register(model, run_id=run_id, artifact_path="model")
    return run_id, dataset.id, model


def _assert_one_joined_graph(
    client: Client, unique: str, run_id: str, dataset_id: str, model: str, *, also_read_by: tuple[str, ...] = ()
) -> None:
    [features] = client.datasets.find(name=f"analytics.features_{unique}")
    assert features.id == dataset_id and features.digest is not None
    # the profile is the SDK's, computed from the data; the facets are kept beside it
    assert features.statistics is not None and features.statistics.row_count == len(_frame(unique))
    assert [c.name for c in features.data_schema.columns] == ["user_id", "amount"]
    facets = client.lineage.artifact(features.id).properties["openlineage"]
    assert facets["statistics"]["row_count"] == 997 and len(facets["schema"]["columns"]) == 3
    assert (facets["namespace"], facets["name"]) == (NAMESPACE, f"analytics.features_{unique}")
    [raw] = client.datasets.find(name=f"raw.events_{unique}")
    for ref in (f"dataset:{raw.id}", f"dataset:{features.id}"):
        impact = client.lineage.impact(ref)
        steps = [n for kind, nodes in impact.items() if kind in ("run", "pipeline_step") for n in nodes]
        assert sorted(n.run_id for n in steps) == sorted({run_id, *also_read_by}), ref
        assert f"models:/{model}/1" in {n.uri for n in impact["model"]}, ref
    origin = client.lineage.origin(f"models:/{model}/1")
    roles = {d.name: d.role for d in origin.datasets}
    assert roles == {f"analytics.features_{unique}": "training", f"raw.events_{unique}": "upstream"}


@pytest.mark.parametrize("location", ["namespace", "uri"])
def test_pipeline_first_then_training(live_server: ServerProcess, unique: str, location: str) -> None:
    _emit_pipeline(live_server.url, unique)
    with Client(live_server.url) as client:
        [name_only] = client.datasets.find(name=f"analytics.features_{unique}")
        assert name_only.digest is None and name_only.statistics.row_count == 997  # the facets, for now
        where = ({"namespace": NAMESPACE} if location == "namespace"
                 else {"uri": f"{NAMESPACE}/analytics.features_{unique}"})
        run_id, dataset_id, model = _train(client, unique, **where)
        assert dataset_id == name_only.id  # the node took the digest: edges stay where they are
        _assert_one_joined_graph(client, unique, run_id, dataset_id, model)


def test_training_first_then_pipeline(live_server: ServerProcess, unique: str) -> None:
    with Client(live_server.url) as client:
        run_id, dataset_id, model = _train(client, unique, namespace=NAMESPACE)
    _emit_pipeline(live_server.url, unique)
    with Client(live_server.url) as client:
        _assert_one_joined_graph(client, unique, run_id, dataset_id, model)


def test_a_digest_node_and_a_name_only_node_merge_with_their_edges(live_server: ServerProcess, unique: str) -> None:
    with Client(live_server.url) as client:
        experiment = client.experiments.get_or_create(f"ol-merge-{unique}")
        early = client.runs.create(experiment.id, name="early").id
        # logged with its digest but no location: nothing yet says it is the features table
        by_digest = client.datasets.log(_frame(unique), name=f"analytics.features_{unique}", run_id=early)
    _emit_pipeline(live_server.url, unique)
    with Client(live_server.url) as client:
        nodes = client.datasets.find(name=f"analytics.features_{unique}")
        [name_only] = [n for n in nodes if n.id != by_digest.id]
        run_id, dataset_id, model = _train(client, unique, namespace=NAMESPACE)
        assert dataset_id == by_digest.id
        with pytest.raises(NotFound):
            client.lineage.artifact(name_only.id)
        _assert_one_joined_graph(client, unique, run_id, dataset_id, model, also_read_by=(early,))
        readers = {n.run_id for n in client.lineage.downstream(f"dataset:{dataset_id}", depth=1).executions()}
        assert readers == {early, run_id}
        producer = client.lineage.upstream(f"dataset:{dataset_id}", depth=1).executions()
        assert [n.type for n in producer] == ["openlineage"]  # the edge came over from the merged node

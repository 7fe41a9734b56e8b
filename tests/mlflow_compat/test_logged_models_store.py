"""MLflow logged models over both databases: the service, and registration of their files."""

from __future__ import annotations

import io

import pytest

from modelward.domain.mlflow_models import LoggedModelMetric, LoggedModelStatus
from modelward.errors import InvalidInput, NotFound
from modelward.services import artifacts, experiments, registry, runs
from modelward.services import mlflow_models as service
from tests.registry.helpers import ALICE


@pytest.fixture
def experiment_id(backend) -> str:
    return experiments.create(backend, "lm").id


def test_logged_model_life_and_search(backend, experiment_id):
    run = runs.start(backend, ALICE, experiment_id=experiment_id)
    model = service.create(backend, ALICE, experiment_id=experiment_id, name="model", source_run_id=run.id,
                           params={"C": "1.0"}, tags={"flavor": "sklearn"})
    assert (model.run_id, model.status, model.artifact_prefix) == (run.id, LoggedModelStatus.PENDING, f"logged-models/{model.id}")
    service.log_params(backend, model.id, {"C": "1.0", "depth": "3"}, actor=ALICE)
    with pytest.raises(InvalidInput, match="Changing param values"):
        service.log_params(backend, model.id, {"C": "2.0"}, actor=ALICE)
    point = LoggedModelMetric(key="acc", value=0.9, timestamp_ms=1, step=0, run_id=run.id)
    service.log_metrics(backend, model.id, [point, point], actor=ALICE)
    service.set_tags(backend, model.id, {"stage": "dev"}, actor=ALICE)
    ready = service.finalize(backend, model.id, LoggedModelStatus.READY, actor=ALICE)
    assert (ready.status, ready.params, len(ready.metrics)) == (LoggedModelStatus.READY, {"C": "1.0", "depth": "3"}, 1)
    other = service.create(backend, ALICE, experiment_id=experiment_id, name="other")
    assert other.run_id != run.id and runs.get(backend, other.run_id).tags[service.OWNER_TAG] == other.id

    def ids(text: str | None) -> list[str]:
        return [m.id for m in service.search(backend, [experiment_id], filter=text)[0]]

    assert ids(None) == [other.id, model.id]
    assert ids("name = 'model'") == [model.id]
    assert ids(f"source_run_id = '{run.id}' AND tags.stage = 'dev' AND metrics.acc > 0.5") == [model.id]
    assert ids("name LIKE 'oth%'") == [other.id]
    assert ids("params.C != '1.0'") == [other.id]
    page, token = service.search(backend, [experiment_id], max_results=1)
    assert [m.id for m in page] == [other.id] and token
    assert [m.id for m in service.search(backend, [experiment_id], max_results=1, page_token=token)[0]] == [model.id]
    with pytest.raises(InvalidInput, match="unknown attribute"):
        ids("color = 'red'")
    service.delete(backend, other.id, actor=ALICE)
    assert ids(None) == [model.id]
    with pytest.raises(NotFound):
        service.get(backend, other.id)
    assert service.get(backend, other.id, allow_deleted=True).deleted_at is not None
    with pytest.raises(InvalidInput, match="logged model id"):
        service.get(backend, "m-../../x")


def test_a_logged_models_files_register_as_a_version(backend, experiment_id):
    run = runs.start(backend, ALICE, experiment_id=experiment_id)
    model = service.create(backend, ALICE, experiment_id=experiment_id, source_run_id=run.id)
    artifacts.upload(backend, run.id, f"{model.artifact_prefix}/MLmodel", io.BytesIO(b"flavors:\n  sklearn: {}\n"),
                     actor=ALICE)
    version = registry.register_version(backend, ALICE, "lm-model", run_id=run.id, artifact_path=model.artifact_prefix)
    assert [f.path for f in version.files] == ["MLmodel"] and version.flavor == "sklearn"


def test_empty_sources_register_only_when_allowed(backend, experiment_id):
    run = runs.start(backend, ALICE, experiment_id=experiment_id)
    with pytest.raises(NotFound, match="no artifact"):
        registry.register_version(backend, ALICE, "empty", run_id=run.id, artifact_path="model")
    version = registry.register_version(backend, ALICE, "empty", run_id=run.id, artifact_path="model", allow_empty=True)
    assert version.files == [] and version.version == 1

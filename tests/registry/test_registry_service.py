"""Registry use cases on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import threading
import time
from datetime import UTC, datetime

import pytest

from modelward.domain.registry import manifest_digest
from modelward.errors import Conflict, InvalidInput, NotFound
from modelward.services import artifacts, gc, registry, runs
from modelward.store import artifact_index
from tests.registry.helpers import ALICE, BOB, run_with_model


def test_register_from_run_references_blobs_and_reads_mlmodel(backend):
    run_id = run_with_model(backend)
    version = registry.register_version(backend, ALICE, "churn", run_id=run_id, description="first")
    assert version.version == 1
    assert [f.path for f in version.files] == ["MLmodel", "model.skops", "requirements.txt"]
    run_files = {f.path.removeprefix("model/"): f.digest for f in artifacts.list_(backend, run_id, "model")}
    assert {f.path: f.digest for f in version.files} == run_files  # no copy: same blobs
    assert version.artifact_digest == manifest_digest(version.files)
    assert version.flavor == "sklearn"
    assert version.signature == {"inputs": [{"type": "double", "name": "x"}], "outputs": [{"type": "long"}]}
    assert version.requirements == ["scikit-learn==1.4.0", "numpy==1.26"]
    assert version.metrics == {"acc": 0.9}
    assert version.source == f"runs:/{run_id}/model" and version.source_run_id == run_id
    assert version.created_by == "alice" and version.status == "candidate"
    assert registry.register_version(backend, BOB, "churn", run_id=run_id).version == 2
    assert registry.get_model(backend, "churn").latest_version == 2


def test_modelward_manifest_wins_over_mlmodel(backend):
    run_id = run_with_model(backend, {
        "model/modelward-model.yaml": b"flavor: skops\nrequirements: [skops==0.9]\nsignature: {inputs: [x]}\n",
        "model/MLmodel": b"flavors: {sklearn: {}}\n",
    })
    version = registry.register_version(backend, ALICE, "m", run_id=run_id)
    assert (version.flavor, version.requirements, version.signature) == ("skops", ["skops==0.9"], {"inputs": ["x"]})


def test_register_single_file(backend):
    run_id = run_with_model(backend, {"weights.onnx": b"onnx-bytes"})
    version = registry.register_version(backend, ALICE, "single", run_id=run_id, artifact_path="weights.onnx")
    assert [(f.path, f.size) for f in version.files] == [("weights.onnx", 10)]


def test_missing_artifact_path_is_not_found_naming_it(backend):
    run_id = run_with_model(backend)
    with pytest.raises(NotFound, match="no artifact at 'nothing/here'"):
        registry.register_version(backend, ALICE, "m", run_id=run_id, artifact_path="nothing/here")
    with pytest.raises(NotFound, match="run 'nope'"):
        registry.register_version(backend, ALICE, "m", run_id="nope")


@pytest.mark.parametrize("name", ["bad/name", "a@b", "x:y"])
def test_invalid_model_name(backend, name):
    run_id = run_with_model(backend)
    with pytest.raises(InvalidInput, match="model name"):
        registry.register_version(backend, ALICE, name, run_id=run_id)


def test_concurrent_registrations_get_distinct_numbers(backend):
    run_id = run_with_model(backend)
    registry.create_model(backend, ALICE, "busy")
    numbers, errors = [], []

    def register() -> None:
        try:
            numbers.append(registry.register_version(backend, ALICE, "busy", run_id=run_id).version)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(numbers) == list(range(1, 9))


def test_concurrent_first_registrations_create_the_model_once(backend):
    run_id = run_with_model(backend)
    numbers = []
    threads = [
        threading.Thread(target=lambda: numbers.append(
            registry.register_version(backend, ALICE, "fresh", run_id=run_id).version))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(numbers) == [1, 2, 3, 4]


def test_alias_race_leaves_one_consistent_answer(backend):
    run_id = run_with_model(backend)
    for _ in range(2):
        registry.register_version(backend, ALICE, "raced", run_id=run_id)
    barrier = threading.Barrier(2)

    def move(version: int) -> None:
        barrier.wait()
        registry.set_alias(backend, ALICE, "raced", "champion", version, reason=f"to {version}")

    threads = [threading.Thread(target=move, args=(v,)) for v in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    current = registry.get_by_alias(backend, "raced", "champion").version
    history = registry.alias_history(backend, "raced", alias="champion")
    assert sorted(e.version for e in history) == [1, 2]
    assert history[-1].version == current  # the last move in history is the one that holds
    assert registry.get_model(backend, "raced").aliases == {"champion": current}
    holders = [v.version for v in registry.search_versions(backend, model_name="raced").versions if v.aliases]
    assert holders == [current]


def test_as_of_answers_across_alias_moves(backend):
    run_id = run_with_model(backend)
    for _ in range(3):
        registry.register_version(backend, ALICE, "hist", run_id=run_id)
    moments = []
    for version in (1, 2, 3):
        registry.set_alias(backend, BOB, "hist", "champion", version, reason=f"promote {version}")
        time.sleep(0.01)
        moments.append(datetime.now(UTC))
        time.sleep(0.01)
    registry.delete_alias(backend, BOB, "hist", "champion", reason="retired")
    after_delete = datetime.now(UTC)
    for version, moment in zip((1, 2, 3), moments, strict=True):
        assert registry.get_by_alias(backend, "hist", "champion", as_of=moment).version == version
    with pytest.raises(NotFound, match="named no version"):
        registry.get_by_alias(backend, "hist", "champion", as_of=after_delete)
    with pytest.raises(NotFound, match="named no version"):
        registry.get_by_alias(backend, "hist", "champion", as_of=datetime(2000, 1, 1, tzinfo=UTC))
    with pytest.raises(NotFound, match="alias 'champion'"):
        registry.get_by_alias(backend, "hist", "champion")
    history = registry.alias_history(backend, "hist")
    assert [(e.version, e.actor, e.reason) for e in history] == [
        (1, "bob", "promote 1"), (2, "bob", "promote 2"), (3, "bob", "promote 3"), (None, "bob", "retired")
    ]


def test_deleting_a_version_an_alias_holds_is_refused(backend):
    run_id = run_with_model(backend)
    registry.register_version(backend, ALICE, "held", run_id=run_id)
    registry.set_alias(backend, ALICE, "held", "champion", 1)
    with pytest.raises(Conflict, match="'champion'"):
        registry.delete_version(backend, ALICE, "held", 1)
    registry.delete_alias(backend, ALICE, "held", "champion")
    registry.delete_version(backend, ALICE, "held", 1)
    with pytest.raises(NotFound):
        registry.get_version(backend, "held", 1)
    assert [e.version for e in registry.alias_history(backend, "held")] == [1, None]
    # numbers are never reused
    assert registry.register_version(backend, ALICE, "held", run_id=run_id).version == 2


def test_version_files_protect_blobs_from_gc_and_model_delete_releases_them(backend):
    run_id = run_with_model(backend, {"model/w.bin": b"precious"})
    version = registry.register_version(backend, ALICE, "kept", run_id=run_id)
    registry.set_alias(backend, ALICE, "kept", "prod", 1)
    runs.delete(backend, run_id, permanent=True, actor=ALICE)
    digest = version.files[0].digest
    with backend.read() as session:
        assert digest not in artifact_index.unreferenced_blobs(session)
    gc.collect(backend)
    assert backend.artifacts.exists(digest)
    registry.delete_model(backend, ALICE, "kept")
    with pytest.raises(NotFound):
        registry.get_model(backend, "kept")
    with backend.read() as session:
        assert digest in artifact_index.unreferenced_blobs(session)


def test_archive_update_and_tags(backend):
    run_id = run_with_model(backend)
    registry.register_version(backend, ALICE, "arch", run_id=run_id, tags={"team": "risk"})
    assert registry.archive_version(backend, ALICE, "arch", 1).status == "archived"
    updated = registry.update_version(backend, "arch", 1, description="notes")
    assert updated.description == "notes" and updated.tags == {"team": "risk"}
    registry.delete_version_tag(backend, ALICE, "arch", 1, "team")
    assert registry.get_version(backend, "arch", 1).tags == {}
    with pytest.raises(NotFound, match="tag 'team'"):
        registry.delete_version_tag(backend, ALICE, "arch", 1, "team")


def test_search_models_and_versions(backend):
    run_a = run_with_model(backend)
    run_b = run_with_model(backend, acc=0.5)
    registry.create_model(backend, ALICE, "churn-a", tags={"team": "risk"})
    registry.create_model(backend, ALICE, "fraud", tags={"team": "ops"})
    for _ in range(4):
        registry.register_version(backend, ALICE, "churn-a", run_id=run_a)
    registry.register_version(backend, ALICE, "fraud", run_id=run_b)
    registry.archive_version(backend, ALICE, "churn-a", 2)
    names = lambda f: [m.name for m in registry.search_models(backend, filter=f).models]  # noqa: E731
    assert names("name LIKE 'churn%'") == ["churn-a"]
    assert names("tags.team = 'ops'") == ["fraud"]
    assert names("name = 'churn-a' AND tags.team = 'ops'") == []
    found = registry.search_versions(backend, filter="name = 'churn-a' AND version_number > 2").versions
    assert [v.version for v in found] == [4, 3]
    assert [(v.model_name, v.version) for v in registry.search_versions(backend, filter=f"run_id = '{run_b}'").versions] == [("fraud", 1)]
    assert [v.version for v in registry.search_versions(backend, filter="status = 'archived'").versions] == [2]
    page = registry.search_versions(backend, model_name="churn-a", max_results=3)
    assert len(page.versions) == 3 and page.next_page_token
    rest = registry.search_versions(backend, model_name="churn-a", max_results=3, page_token=page.next_page_token)
    assert [v.version for v in rest.versions] == [1]
    with pytest.raises(InvalidInput, match="'bogus'"):
        registry.search_versions(backend, filter="bogus = 1")


def test_compare_versions(backend):
    run_a = run_with_model(backend, acc=0.9)
    run_b = run_with_model(backend, {"model/MLmodel": b"flavors: {sklearn: {}}\n"}, acc=0.7)
    registry.register_version(backend, ALICE, "cmp", run_id=run_a)
    registry.register_version(backend, ALICE, "cmp", run_id=run_b)
    result = registry.compare(backend, "cmp", [1, 2])
    assert result.metrics == {"acc": {"1": 0.9, "2": 0.7}}
    assert result.params == {"depth": {"1": "3", "2": "3"}}
    assert "metrics.acc" in result.differences and "params.depth" not in result.differences
    assert {"signature", "requirements", "artifact_digest"} <= set(result.differences)
    with pytest.raises(InvalidInput, match="at least two"):
        registry.compare(backend, "cmp", [1])


def test_duplicate_model_and_rename(backend):
    registry.create_model(backend, ALICE, "one")
    from modelward.errors import AlreadyExists

    with pytest.raises(AlreadyExists, match="'one'"):
        registry.create_model(backend, ALICE, "one")
    assert registry.update_model(backend, ALICE, "one", new_name="two", description="d").name == "two"
    with pytest.raises(NotFound):
        registry.get_model(backend, "one")


def test_uploads_experiment_source_is_upload(backend):
    run_id = run_with_model(backend, {"model/a.txt": b"a"}, experiment=registry.UPLOADS_EXPERIMENT)
    assert registry.register_version(backend, ALICE, "up", run_id=run_id).source == "upload"
    artifacts.upload(backend, run_id, "model/b.txt", io.BytesIO(b"b"), actor=ALICE)
    assert len(registry.register_version(backend, ALICE, "up", run_id=run_id).files) == 2

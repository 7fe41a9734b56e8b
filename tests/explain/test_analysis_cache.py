"""The warm caches of explanations and counterfactuals (``services.analysis_cache``), on real
models registered with skops files and real datasets in the artifact store (SQLite).

What is checked through the caches' own counters, never timing: a second call of the same
version reuses the opened model and the parsed dataset; another artifact is another entry; a
re-uploaded dataset is read afresh and a deleted one is refused, cached or not; the least
recently used model goes first and what leaves the cache is closed; a model in the isolated
worker is never kept."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from modelward.errors import NotFound
from modelward.services import analysis_cache, artifacts, counterfactuals, explanations, registry
from modelward.services.analysis_cache import BoundedCache
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.explain.test_explanations import PLAIN_POLICY, cancer, register_on
from tests.governance.helpers import ADMIN, dataset, register_model, set_model_policy


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    found = Backend.from_settings(Settings(home=tmp_path_factory.mktemp("analysis-cache")))
    yield found
    found.close()


@pytest.fixture(autouse=True)
def empty_caches() -> Iterator[None]:
    analysis_cache.clear()
    yield
    analysis_cache.clear()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return cancer().iloc[:200].reset_index(drop=True)


def _row(frame: pd.DataFrame, index: int = 0) -> dict:
    return frame.drop(columns=["target"]).iloc[index].to_dict()


def _digest(backend: Backend, name: str, version: int) -> str:
    return registry.get_version(backend, name, version).artifact_digest


def test_a_second_local_explanation_reuses_the_opened_model_and_the_parsed_data(backend: Backend,
                                                                                  frame: pd.DataFrame) -> None:
    version = register_on(backend, "cached-rf", RandomForestClassifier(n_estimators=5, random_state=0), frame)
    first = explanations.local(backend, "cached-rf", version, _row(frame))
    assert (analysis_cache.MODELS.cache_info().misses, analysis_cache.MODELS.cache_info().hits) == (1, 0)
    assert (analysis_cache.DATASETS.cache_info().misses, analysis_cache.DATASETS.cache_info().hits) == (1, 0)
    second = explanations.local(backend, "cached-rf", version, _row(frame))
    assert analysis_cache.MODELS.cache_info().hits == 1 and analysis_cache.MODELS.cache_info().misses == 1
    assert analysis_cache.DATASETS.cache_info().hits == 1 and analysis_cache.DATASETS.cache_info().misses == 1
    assert _digest(backend, "cached-rf", version) in analysis_cache.MODELS
    assert second["rows"] == first["rows"] and second["reference"] == first["reference"]


def test_counterfactuals_and_global_explanations_share_the_cached_model(backend: Backend, frame: pd.DataFrame) -> None:
    version = register_on(backend, "shared-rf", RandomForestClassifier(n_estimators=5, random_state=1), frame)
    explanations.local(backend, "shared-rf", version, _row(frame))
    found = counterfactuals.for_version(backend, "shared-rf", version, _row(frame), count=1)
    assert analysis_cache.MODELS.cache_info().hits == 1
    assert found.counterfactuals and found.artifact_digest == _digest(backend, "shared-rf", version)
    explanations.global_(backend, ADMIN, "shared-rf", version, top=2)
    assert analysis_cache.MODELS.cache_info().hits == 2 and analysis_cache.MODELS.cache_info().size == 1


def test_another_version_with_other_files_is_another_entry(backend: Backend, frame: pd.DataFrame) -> None:
    first = register_on(backend, "two-rf", RandomForestClassifier(n_estimators=5, random_state=0), frame)
    second = register_model(backend, "two-rf", RandomForestClassifier(n_estimators=5, random_state=2).fit(
        frame.drop(columns=["target"]), frame["target"]), frame, with_sex=True)
    assert _digest(backend, "two-rf", first) != _digest(backend, "two-rf", second)
    one = explanations.local(backend, "two-rf", first, _row(frame))
    other = explanations.local(backend, "two-rf", second, _row(frame))
    info = analysis_cache.MODELS.cache_info()
    assert (info.misses, info.hits, info.size) == (2, 0, 2)
    assert one["artifact_digest"] != other["artifact_digest"]
    assert one["rows"][0]["prediction"] != other["rows"][0]["prediction"] or \
        one["rows"][0]["attributions"] != other["rows"][0]["attributions"]


def test_a_reuploaded_dataset_is_read_afresh_and_a_deleted_one_is_refused(backend: Backend,
                                                                           frame: pd.DataFrame) -> None:
    version = register_on(backend, "data-rf", RandomForestClassifier(n_estimators=5, random_state=0), frame)
    named = dataset(backend, frame)  # named by the caller: {run_id, path}, read as the run holds it now
    before = explanations.local(backend, "data-rf", version, _row(frame), dataset=named)
    assert before["rows"][0]["nearest"][0]["distance"] == 0.0  # the row itself is in the reference data

    changed = frame.iloc[100:].reset_index(drop=True)  # same path, other bytes: row 0 is no longer in it
    buffer = io.BytesIO()
    changed.to_parquet(buffer)
    artifacts.upload(backend, named["run_id"], named["path"], io.BytesIO(buffer.getvalue()), actor=ADMIN)
    after = explanations.local(backend, "data-rf", version, _row(frame), dataset=named)
    assert after["reference"]["digest"] != before["reference"]["digest"]
    assert analysis_cache.DATASETS.cache_info().hits == 0 and analysis_cache.DATASETS.cache_info().misses == 2
    assert after["rows"][0]["nearest"][0]["distance"] > 0.0

    again = explanations.local(backend, "data-rf", version, _row(frame), dataset=named)  # cached now
    assert analysis_cache.DATASETS.cache_info().hits == 1 and again["reference"] == after["reference"]
    backend.artifacts.delete(after["reference"]["digest"])  # its bytes leave the store (as a purge would)
    with pytest.raises(NotFound):
        explanations.local(backend, "data-rf", version, _row(frame), dataset=named)
    assert (after["reference"]["digest"], "parquet") not in analysis_cache.DATASETS


def test_the_policys_pinned_dataset_is_served_until_its_bytes_are_gone(backend: Backend,
                                                                       frame: pd.DataFrame) -> None:
    version = register_on(backend, "pinned-rf", RandomForestClassifier(n_estimators=5, random_state=0), frame)
    first = explanations.local(backend, "pinned-rf", version, _row(frame))
    found = counterfactuals.for_version(backend, "pinned-rf", version, _row(frame), count=1)
    assert analysis_cache.DATASETS.cache_info().hits == 1 and found.data.digest == first["reference"]["digest"]
    backend.artifacts.delete(first["reference"]["digest"])
    with pytest.raises(NotFound):
        explanations.local(backend, "pinned-rf", version, _row(frame))
    with pytest.raises(NotFound):
        counterfactuals.for_version(backend, "pinned-rf", version, _row(frame), count=1)


def test_a_cached_model_whose_blobs_left_the_store_is_refused(backend: Backend, frame: pd.DataFrame) -> None:
    version = register_on(backend, "purged-rf", RandomForestClassifier(n_estimators=3, random_state=5), frame)
    explanations.local(backend, "purged-rf", version, _row(frame), nearest=0)
    found = registry.get_version(backend, "purged-rf", version)
    assert found.artifact_digest in analysis_cache.MODELS
    model_blob = max(found.files, key=lambda item: item.size)  # the estimator itself, unique to this version
    backend.artifacts.delete(model_blob.digest)
    with pytest.raises(NotFound):
        explanations.local(backend, "purged-rf", version, _row(frame), nearest=0)
    assert found.artifact_digest not in analysis_cache.MODELS


def test_the_least_recently_used_model_is_evicted_first(backend: Backend, frame: pd.DataFrame) -> None:
    versions = [register_on(backend, "many-rf", RandomForestClassifier(n_estimators=2, random_state=seed), frame)
                for seed in range(analysis_cache.MAX_MODELS + 1)]
    for version in versions:
        explanations.local(backend, "many-rf", version, _row(frame), nearest=0)
    info = analysis_cache.MODELS.cache_info()
    assert (info.size, info.evictions) == (analysis_cache.MAX_MODELS, 1)
    assert _digest(backend, "many-rf", versions[0]) not in analysis_cache.MODELS
    assert all(_digest(backend, "many-rf", v) in analysis_cache.MODELS for v in versions[1:])
    explanations.local(backend, "many-rf", versions[0], _row(frame), nearest=0)  # loaded again: a miss
    assert analysis_cache.MODELS.cache_info().misses == len(versions) + 1


class Closable:
    def __init__(self, name: str) -> None:
        self.name, self.closed = name, False

    def close(self) -> None:
        self.closed = True


def test_what_leaves_the_cache_is_closed_and_a_lost_race_keeps_the_first() -> None:
    cache = BoundedCache(2, on_evict=lambda value: value.close())
    a, b, c = Closable("a"), Closable("b"), Closable("c")
    cache.put("a", a)
    cache.put("b", b)
    assert cache.get("a") is a  # now b is the least recently used
    cache.put("c", c)
    assert b.closed and not a.closed and not c.closed
    assert "b" not in cache and cache.cache_info().evictions == 1
    late = Closable("a, loaded twice")
    assert cache.put("a", late) is a and late.closed and not a.closed
    cache.clear()
    assert a.closed and c.closed and cache.cache_info().size == 0


def test_a_model_in_the_isolated_worker_is_not_kept(backend: Backend, frame: pd.DataFrame) -> None:
    small = frame.iloc[:100]
    version = register_on(backend, "isolated-lr", LogisticRegression(max_iter=5000), small, flavor="pickle")
    set_model_policy(backend, "isolated-lr", PLAIN_POLICY + "evaluation: {{code_models: isolated}}\n",
                     dataset(backend, small))
    explanations.local(backend, "isolated-lr", version, _row(small), nearest=0)
    explanations.local(backend, "isolated-lr", version, _row(small), nearest=0)
    info = analysis_cache.MODELS.cache_info()
    assert (info.hits, info.misses, info.size) == (0, 2, 0)
    assert _digest(backend, "isolated-lr", version) not in analysis_cache.MODELS

"""The registry's fast paths answer exactly what the slower, general reads answer."""

from __future__ import annotations

import pytest

from modelward.domain.registry import STAGE_TAG
from modelward.errors import NotFound
from modelward.services import audit, registry, runs
from tests.registry.helpers import ALICE, run_with_model


def _newest_by_brute_force(backend, name: str, stages: set[str] | None) -> list[int]:
    newest: dict[str, int] = {}
    for version in registry.search_versions(backend, model_name=name, max_results=1000).versions:
        stage = version.tags.get(STAGE_TAG, "None")
        if (stages is None or stage in stages) and version.version > newest.get(stage, 0):
            newest[stage] = version.version
    return sorted(newest.values())


def test_newest_per_stage_matches_every_version_read(backend):
    run_id = run_with_model(backend)
    for _ in range(7):
        registry.register_version(backend, ALICE, "m", run_id=run_id)
    registry.set_stage(backend, ALICE, "m", 2, "Production")
    registry.set_stage(backend, ALICE, "m", 3, "Staging")
    registry.set_stage(backend, ALICE, "m", 5, "Staging")
    registry.set_stage(backend, ALICE, "m", 4, "Archived")
    for stages in (None, {"Staging"}, {"Production", "None"}, {"Archived", "Staging"}):
        model, latest = registry.newest_per_stage(
            backend, "m", stages=sorted(stages) if stages else None, with_model=stages is None)
        assert [v.version for v in latest] == _newest_by_brute_force(backend, "m", stages)
        assert latest == [registry.get_version(backend, "m", v.version) for v in latest]
        if stages is None:
            assert model == registry.get_model(backend, "m")
    assert [v.version for v in registry.newest_per_stage(backend, "m")[1]] == [2, 4, 5, 7]
    with pytest.raises(NotFound):
        registry.newest_per_stage(backend, "missing")


def test_a_registered_version_is_answered_as_a_later_read_sees_it(backend):
    run_id = run_with_model(backend)
    registry.create_model(backend, ALICE, "m")
    made = registry.register_version(backend, ALICE, "m", run_id=run_id, tags={"b": "2", "a": "1"}, description="d")
    again = registry.get_version(backend, "m", made.version)
    assert made == again
    assert made.signature is not None and made.flavor == "sklearn" and made.metrics == {"acc": 0.9}
    assert registry.get_model(backend, "m").updated_at == made.created_at


def test_point_alias_moves_the_alias_and_audits_it(backend):
    run_id = run_with_model(backend)
    for _ in range(2):
        registry.register_version(backend, ALICE, "m", run_id=run_id)
    registry.point_alias(backend, ALICE, "m", "champion", 1)
    registry.point_alias(backend, ALICE, "m", "champion", 2, reason="better")
    assert registry.get_by_alias(backend, "m", "champion").version == 2
    moved = audit.list_(backend, model="m", action="alias.moved", newest_first=False)
    assert [(e.details["from_version"], e.details["to_version"]) for e in moved] == [(None, 1), (1, 2)]
    assert moved[-1].reason == "better"
    assert audit.verify(backend).ok


def test_a_new_run_answers_its_tags_as_a_later_read_does(backend):
    run_id = run_with_model(backend)
    experiment_id = runs.get(backend, run_id).experiment_id
    started = runs.start(backend, ALICE, experiment_id=experiment_id, tags={"z": "1", "a": "2"})
    assert started == runs.get(backend, started.id)
    assert started.tags == {"z": "1", "a": "2"} and started.params == {} and started.metrics == {}
    ended = runs.end(backend, started.id, actor=ALICE)
    assert ended == runs.get(backend, started.id) and ended.end_time is not None

"""The tags the server writes on a version cannot be written by anyone else (any door)."""

from __future__ import annotations

import pytest

from modelward.domain.actors import Actor
from modelward.errors import InvalidInput
from modelward.services import registry
from modelward.services.backend import Backend

ACTOR = Actor(name="contributor")


@pytest.fixture
def external(backend: Backend):  # type: ignore[no-untyped-def]
    registry.create_model(backend, ACTOR, "ext")
    return registry.register_external(backend, ACTOR, "ext", source="s3://bucket/model", claimed_run_id="abc123")


def test_an_external_version_records_what_the_server_knows(backend: Backend, external) -> None:  # type: ignore[no-untyped-def]
    assert external.tags[registry.SOURCE_VERIFIED_TAG] == "false"
    assert external.tags[registry.CLAIMED_RUN_TAG] == "abc123"


@pytest.mark.parametrize("key", [registry.SOURCE_VERIFIED_TAG, registry.CLAIMED_RUN_TAG, registry.STAGE_TAG])
def test_server_tags_cannot_be_set_deleted_or_given_at_registration(backend: Backend, external, key: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match=key):
        registry.set_version_tags(backend, ACTOR, "ext", external.version, {key: "true"})
    with pytest.raises(InvalidInput, match=key):
        registry.delete_version_tag(backend, ACTOR, "ext", external.version, key)
    with pytest.raises(InvalidInput, match=key):
        registry.register_external(backend, ACTOR, "ext", source="s3://b/m2", tags={key: "true"})
    stored = registry.get_version(backend, "ext", external.version)
    assert stored.tags.get(registry.SOURCE_VERIFIED_TAG) == "false"

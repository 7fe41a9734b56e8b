"""Migrations are code under test, on both dialects."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from modelward.services.backend import Backend
from modelward.store.db import HEAD_REVISION, MIGRATIONS_DIR, _alembic_config, current_revision, downgrade, upgrade
from modelward.store.rows import Base


def test_head_constant_matches_alembic() -> None:
    script = ScriptDirectory.from_config(_alembic_config(None))
    assert script.get_heads() == [HEAD_REVISION]
    assert MIGRATIONS_DIR.is_dir()


def test_upgraded_schema_matches_the_tables(backend: Backend) -> None:
    with backend.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    assert current_revision(backend.engine) == HEAD_REVISION


def test_downgrade_and_upgrade_keep_tracking_data(backend: Backend) -> None:
    from modelward.domain.actors import Actor
    from modelward.services import experiments, runs

    experiment = experiments.create(backend, "kept")
    run = runs.start(backend, Actor(name="t"), experiment_id=experiment.id)
    runs.log_batch(backend, run.id, actor=Actor(name="t"), metric_keys=["m"], metric_values=[1.5], params={"p": "v"})
    downgrade(backend.engine, "0001")
    assert current_revision(backend.engine) == "0001"
    upgrade(backend.engine)
    stored = runs.get(backend, run.id)
    assert stored.metrics == {"m": 1.5} and stored.params == {"p": "v"}

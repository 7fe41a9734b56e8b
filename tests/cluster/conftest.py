"""docs/deploy.md's recipe, started by the tests: three ``modelward server`` processes on one
fresh PostgreSQL database and one S3 bucket of moto's server mode, behind the tests' round-robin.

The servers are started once per module (``cluster``), with short intervals for the leased
jobs so a test sees them move. PostgreSQL comes from MODELWARD_TEST_POSTGRES_URL: without it
these tests skip on a laptop and fail in CI.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures.cluster import (
    Cluster, ObjectStore, create_database, deployment_env, start_cluster, start_object_store, stop_cluster,
)
from tests.fixtures.postgres import drop_database

# Short intervals: each leased job ticks within a second or two, and a dead holder's lease
# (LEASE_INTERVALS ticks) runs out in a few seconds.
FAST_JOBS = {
    "MODELWARD_RUN_HEARTBEAT_TIMEOUT_S": "2",  # the sweeper ticks every 0.5 s
    "MODELWARD_AUDIT_ANCHOR_INTERVAL_S": "1",
    "MODELWARD_GC_INTERVAL_S": "1",
    "MODELWARD_ALERT_EVALUATION_INTERVAL_S": "1",
    "MODELWARD_CANARY_CHECK_INTERVAL_S": "1",
}


@pytest.fixture(scope="session")
def object_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    from tests.conftest import require_service

    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError as exc:
        require_service("moto server", False, f"pip install 'moto[server]' ({exc})")
    store = start_object_store(tmp_path_factory.mktemp("moto"))
    yield store
    store.stop()


@pytest.fixture(scope="module")
def empty_database(postgres_admin) -> Callable[[], str]:  # type: ignore[no-untyped-def]
    """Makes empty databases (no schema) on the test server, dropped after the module."""
    made: list[str] = []

    def make() -> str:
        from tests.fixtures.postgres import _admin_url

        url = create_database(_admin_url() or "", f"mw_cluster_{uuid.uuid4().hex[:12]}")
        made.append(url)
        return url

    yield make
    for url in made:
        drop_database(postgres_admin, url)


def new_bucket(store: ObjectStore) -> str:
    bucket = f"mw-cluster-{uuid.uuid4().hex[:8]}"
    store.client().create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, object_store: ObjectStore,
            empty_database: Callable[[], str]) -> Iterator[Cluster]:
    folder: Path = tmp_path_factory.mktemp("cluster")
    bucket = new_bucket(object_store)
    env = deployment_env(folder, empty_database(), object_store.endpoint, bucket, extra=FAST_JOBS)
    running = start_cluster(folder, env, bucket, processes=3)
    yield running
    stop_cluster(running)

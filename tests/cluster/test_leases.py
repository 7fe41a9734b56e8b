"""Background work runs once across the processes: each webhook delivery is sent by exactly
one of three, and a leased job moves to another process when its holder is killed."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from modelward.sdk.client import Client
from modelward.domain.webhooks import Delivery
from modelward.services import leases, webhooks
from modelward.services.backend import Backend
from modelward.services.gc import TEMP_FILES_LEASE
from tests.fixtures.cluster import Cluster
from tests.fixtures.webhook_receiver import Receiver

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(600)]  # the cluster starts in the first test

LEASED_JOBS = ["audit-anchor", "heartbeat-sweep", TEMP_FILES_LEASE, "alerts", "canaries"]


@pytest.fixture(scope="module")
def backend(cluster: Cluster):  # type: ignore[no-untyped-def]
    opened = Backend.from_settings(cluster.settings(), migrate=False)
    yield opened
    opened.close()


def _pid_of(holder: str | None) -> int | None:
    return int(holder.split(":")[1]) if holder else None


def _wait_for(check, what: str, *, attempts: int = 600):  # type: ignore[no-untyped-def]
    """``check()`` once it is truthy; bounded (attempts of 0.1 s)."""
    for _ in range(attempts):
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


def test_each_event_is_delivered_exactly_once_by_one_of_three_processes(
        cluster: Cluster, backend: Backend, unique: str) -> None:
    receiver = Receiver([])
    try:
        with Client(cluster.url) as client:
            webhook = client.webhooks.add(receiver.url, ["model.created"]).webhook
            names = [f"hooked-{unique}-{n}" for n in range(6)]
            for name in names:  # each on a new connection: written by each of the three processes in turn
                with Client(cluster.url) as writer:
                    writer.models.create(name)

        def all_delivered() -> list[Delivery]:
            found = webhooks.deliveries(backend, webhook_id=webhook.id)
            return found if len(found) == len(names) and all(d.status == "delivered" for d in found) else []

        deliveries = _wait_for(all_delivered, f"{len(names)} deliveries delivered")
        # One attempt each: a delivery is sent only by the dispatcher whose claim counted an attempt.
        assert [d.attempts for d in deliveries] == [1] * len(names)
        delivered = Counter(json.loads(body)["subject_id"] for _, body in receiver.received)
        assert delivered == Counter(names)
        ids = [headers["x-modelward-delivery"] for headers, _ in receiver.received]
        assert sorted(ids) == sorted(d.id for d in deliveries)
    finally:
        receiver.close()


def test_every_leased_job_has_one_holder_among_the_processes(cluster: Cluster, backend: Backend) -> None:
    pids = {server.process.pid for server in cluster.servers}
    holders = {job: _wait_for(lambda job=job: leases.holder_of(backend, job), f"a holder of {job}")
               for job in LEASED_JOBS}
    assert {_pid_of(holder) for holder in holders.values()} <= pids, holders


def test_killing_the_holder_moves_its_jobs_to_another_process(cluster: Cluster, backend: Backend) -> None:
    holder = _wait_for(lambda: leases.holder_of(backend, "heartbeat-sweep"), "a holder of heartbeat-sweep")
    victim = next(server for server in cluster.servers if server.process.pid == _pid_of(holder))
    held = [job for job in LEASED_JOBS if _pid_of(leases.holder_of(backend, job)) == victim.process.pid]
    cluster.kill(victim)  # kill -9: it cannot give its leases up; they expire after LEASE_INTERVALS ticks
    survivors = {server.process.pid for server in cluster.servers}
    for job in held:
        moved = _wait_for(lambda job=job: _pid_of(leases.holder_of(backend, job)) in survivors,
                          f"{job} taken over by a surviving process")
        assert moved

    with Client(cluster.url) as client:  # the new holder does the job: a silent run is swept
        run = client.runs.create(client.experiments.get_or_create("swept").id)
        client.runs.heartbeat(run.id)
        killed = _wait_for(lambda: client.runs.get(run.id).status.value == "KILLED", "the silent run marked KILLED")
        assert killed

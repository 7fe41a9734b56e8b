"""Pages of a search ordered by a metric equal slices of the one full ordering, including
across the boundary between runs that have the metric and runs that do not."""

from __future__ import annotations

import random

import pytest

from modelward.domain.actors import Actor
from modelward.services import experiments, runs
from modelward.services.backend import Backend


@pytest.mark.parametrize("order", ["metrics.score DESC", "metrics.score ASC", "params.group ASC"])
def test_every_page_is_a_slice_of_the_full_order(backend: Backend, order: str) -> None:
    rng = random.Random(7)
    experiment = experiments.create(backend, "paging")
    for i in range(23):
        run = runs.start(backend, Actor(name="t"), experiment_id=experiment.id, name=f"r{i:02d}")
        has_metric = rng.random() < 0.6
        runs.log_batch(
            backend, run.id, actor=Actor(name="t"),
            metric_keys=["score"] if has_metric else [],
            metric_values=[float(rng.randint(0, 5))] if has_metric else [],
            params={"group": rng.choice("abc")} if rng.random() < 0.7 else {},
        )
    full = [r.id for r in runs.search(backend, experiment_ids=[experiment.id], order_by=[order], max_results=100).runs]
    assert len(full) == 23
    for size in (1, 4, 7, 23):
        paged, token = [], None
        while True:
            page = runs.search(backend, experiment_ids=[experiment.id], order_by=[order], max_results=size, page_token=token)
            paged += [r.id for r in page.runs]
            token = page.next_page_token
            if not token:
                break
        assert paged == full, size
    if not order.startswith("metrics."):
        return
    values = [runs.get(backend, run_id).metrics.get("score") for run_id in full]
    present = [v for v in values if v is not None]
    assert values[: len(present)] == present  # runs without the metric come last
    if order == "metrics.score DESC":
        assert present == sorted(present, reverse=True)

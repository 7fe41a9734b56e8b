"""The run and experiment links the mlflow client prints (``/#/experiments/ID/runs/RUN``)
open the same pages of modelward's UI, in a real headless Chromium against a real server."""

from __future__ import annotations

from typing import Any

import mlflow


def test_mlflow_run_and_experiment_links_open_our_pages(page: Any, live_server: Any, unique: str) -> None:
    client = mlflow.MlflowClient(live_server.url)
    experiment_id = client.create_experiment(f"links-{unique}")
    run = client.create_run(experiment_id, run_name=f"run-{unique}")
    page.goto(f"{live_server.url}/#/experiments/{experiment_id}/runs/{run.info.run_id}")
    page.wait_for_url(f"**/ui/runs/{run.info.run_id}")
    assert f"run-{unique}" in page.content()
    page.goto(f"{live_server.url}/#/experiments/{experiment_id}")
    page.wait_for_url(f"**/ui/experiments/{experiment_id}")
    assert f"links-{unique}" in page.content()
    page.goto(f"{live_server.url}/#/experiments/..%2F..%2Fevil")  # stays on this site, under /ui/
    page.wait_for_load_state()
    assert page.url.startswith(f"{live_server.url}/ui/")

"""No client chooses a run's id or who ran it: only the MLflow import (a service) keeps them."""

from __future__ import annotations

from pathlib import Path

from modelward.settings import Settings
from tests.fixtures.apps import in_process_app

CHOSEN_ID = "ab" * 16


def test_no_door_lets_a_client_choose_a_run_id_or_user(tmp_path: Path) -> None:
    with in_process_app(Settings(home=tmp_path)) as (http, _backend):
        experiment = http.post("/api/v1/experiments", json={"name": "doors"}).json()["id"]
        single = http.post("/api/v1/runs", json={"experiment_id": experiment, "id": CHOSEN_ID})
        assert single.status_code == 400 and "id" in single.json()["message"]
        batch = http.post("/api/v1/runs/batch",
                          json={"runs": [{"experiment_id": experiment, "id": CHOSEN_ID, "user": "someone-else"}]})
        assert batch.status_code == 400
        mlflow = http.post("/api/2.0/mlflow/runs/create",
                           json={"experiment_id": experiment, "run_id": CHOSEN_ID, "user_id": "someone-else"})
        if mlflow.status_code == 200:
            assert mlflow.json()["run"]["info"]["run_id"] != CHOSEN_ID
        assert http.get(f"/api/v1/runs/{CHOSEN_ID}").status_code == 404

"""POST/GET /api/v1/datasets/{dataset}/checks on a real server: JSON results, 4xx JSON naming the problem."""

from __future__ import annotations

import httpx

from modelward.sdk.client import Client
from tests.data.frames import clean, declaration, faulty
from tests.fixtures.servers import ServerProcess


def _logged(url: str, unique: str, frame, **options):
    with Client(url) as client:
        run_id = client.runs.create(client.experiments.get_or_create(f"rest-{unique}").id).id
        return client.datasets.log(frame.assign(tag=unique), name=f"r-{unique}", run_id=run_id, snapshot=True, **options)


def test_check_and_history_over_http(live_server: ServerProcess, unique: str) -> None:
    dataset = _logged(live_server.url, unique, faulty())
    with httpx.Client(base_url=live_server.url) as http:
        made = http.post(f"/api/v1/datasets/{dataset.id}/checks", json={"expectations": declaration()})
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["status"] == "failed" and body["passed"] is False and body["result"]["library"]["name"] == "pandera"
        failing = {(e["column"], e["check"]) for e in body["result"]["expectations"] if not e["passed"]}
        assert failing == {("age", "min"), ("age", "max"), ("id", "unique"), ("email", "missing_max")}
        by_digest = http.get(f"/api/v1/datasets/{dataset.digest}/checks")
        assert by_digest.status_code == 200 and [c["id"] for c in by_digest.json()["checks"]] == [body["id"]]
        assert http.get(f"/api/v1/datasets/{dataset.id}").json()["data_check"]["status"] == "failed"


def test_bad_requests_are_4xx_json_naming_the_problem(live_server: ServerProcess, unique: str) -> None:
    dataset = _logged(live_server.url, unique, clean())
    with httpx.Client(base_url=live_server.url) as http:
        cases = [
            (f"/api/v1/datasets/{dataset.id}/checks", {"expectations": {"columns": {"age": {"max": "old"}}}},
             400, "columns.age.max"),
            (f"/api/v1/datasets/{dataset.id}/checks", {"expectations": {"rows": {"min": 9, "max": 1}}},
             400, "rows: min 9 is greater than max 1"),
            (f"/api/v1/datasets/{dataset.id}/checks", {"expectation": {}}, 400, "expectation"),
            (f"/api/v1/datasets/{dataset.id}/checks", {}, 400, "has no expectations attached"),
            ("/api/v1/datasets/no-such-dataset/checks", {"expectations": {"rows": {"min": 1}}}, 404, "no-such-dataset"),
        ]
        for path, body, status, named in cases:
            answer = http.post(path, json=body)
            assert answer.status_code == status, (body, answer.text)
            error = answer.json()
            assert set(error) >= {"error_code", "message"} and named in error["message"], error
        logged = http.post("/api/v1/datasets", json={"name": f"x-{unique}", "uri": f"s3://b/{unique}",
                                                     "expectations": {"columns": {"a": {"unique": "yes"}}}})
        assert logged.status_code == 400 and "columns.a.unique" in logged.json()["message"]
        assert http.get("/api/v1/datasets", params={"name": f"x-{unique}"}).json()["datasets"] == []
        assert http.get(f"/api/v1/datasets/{dataset.id}/checks").json()["checks"] == []

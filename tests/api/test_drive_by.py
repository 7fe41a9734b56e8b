"""No drive-by changes from a browser: the media type and the Origin rules of api/guards.py.

A page on another site can send a POST with ``text/plain``, form or multipart bodies (or no type)
without a CORS preflight. Every state-changing route therefore takes only its own body types
(JSON, an upload's bytes, a UI form from this server's own pages), and refuses a request that a
browser marks as coming from another site.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.testclient import TestClient

from modelward.errors import UnsupportedMediaType
from modelward.sdk._http import raise_for_error
from modelward.settings import Settings
from tests.fixtures.apps import in_process_app

JSON_BODY = b'{"name": "drive-by"}'
SIMPLE_TYPES = ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x"]


@pytest.fixture
def http(sqlite_settings: Settings) -> Iterator[TestClient]:
    with in_process_app(sqlite_settings) as (client, _backend):
        yield client


def _names(http: TestClient) -> list[str]:
    return [e["name"] for e in http.get("/api/v1/experiments").json()["experiments"]]


def _run(http: TestClient) -> tuple[str, str]:
    experiment = http.post("/api/v1/experiments", json={"name": "base"}).json()
    run = http.post("/api/v1/runs", json={"experiment_id": experiment["id"]}).json()
    return str(experiment["id"]), str(run["id"])


def _assert_415(response: httpx.Response, expected: str) -> None:
    """415 on the native routes; MLflow's own answer (400 INVALID_PARAMETER_VALUE) on its routes."""
    mlflow = "mlflow" in response.request.url.path
    assert response.status_code == (400 if mlflow else 415), response.text
    body = response.json()
    code = "INVALID_PARAMETER_VALUE" if mlflow else "UNSUPPORTED_MEDIA_TYPE"
    assert body["error_code"] == code and expected in body["message"], body


@pytest.mark.parametrize("content_type", SIMPLE_TYPES)
@pytest.mark.parametrize("path", ["/api/v1/experiments", "/api/2.0/mlflow/experiments/create",
                                  "/ajax-api/2.0/mlflow/experiments/create"])
def test_json_routes_refuse_the_types_a_page_sends_without_preflight(http: TestClient, path: str,
                                                                     content_type: str) -> None:
    response = http.post(path, content=JSON_BODY, headers={"content-type": content_type})
    _assert_415(response, "application/json")
    assert _names(http) == []


def test_a_body_without_a_type_and_an_empty_form_are_refused(http: TestClient) -> None:
    _assert_415(http.post("/api/v1/experiments", content=JSON_BODY), "application/json")
    _assert_415(http.post("/api/2.0/mlflow/experiments/create", content=JSON_BODY), "application/json")
    # An HTML form without fields: Content-Length 0, but the form type (a drive-by "button").
    _, run_id = _run(http)
    http.delete(f"/api/v1/runs/{run_id}")
    empty_form = http.post(f"/api/v1/runs/{run_id}/restore", content=b"",
                           headers={"content-type": "application/x-www-form-urlencoded"})
    _assert_415(empty_form, "application/json")
    assert http.get(f"/api/v1/runs/{run_id}").json()["lifecycle"] == "deleted"


def test_json_with_parameters_bodiless_changes_and_queries_still_work(http: TestClient) -> None:
    created = http.post("/api/v1/experiments", content=JSON_BODY,
                        headers={"content-type": "Application/JSON; charset=utf-8"})
    assert created.status_code == 201, created.text
    _, run_id = _run(http)
    assert http.delete(f"/api/v1/runs/{run_id}").status_code == 204
    assert http.post(f"/api/v1/runs/{run_id}/restore").status_code == 200  # no body, no type
    assert http.get("/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": "drive-by"}).status_code == 200
    # MLflow sends DELETE arguments as a JSON body.
    assert http.post("/api/2.0/mlflow/registered-models/create", json={"name": "m"}).status_code == 200
    assert http.request("DELETE", "/api/2.0/mlflow/registered-models/delete", json={"name": "m"}).status_code == 200


def test_the_native_upload_takes_bytes_only(http: TestClient) -> None:
    _, run_id = _run(http)
    url = f"/api/v1/runs/{run_id}/artifacts"
    assert http.put(f"{url}/a.bin", content=b"a").status_code == 201  # the SDK sends no type
    assert http.put(f"{url}/b.bin", content=b"b", headers={"content-type": "application/octet-stream"}).status_code == 201
    for content_type in SIMPLE_TYPES + ["application/json"]:
        _assert_415(http.put(f"{url}/c.txt", content=b"c", headers={"content-type": content_type}),
                    "application/octet-stream")
    assert sorted(f["path"] for f in http.get(url).json()["files"]) == ["a.bin", "b.bin"]


def test_the_mlflow_upload_takes_the_files_own_type_but_no_form(http: TestClient) -> None:
    experiment_id, run_id = _run(http)
    base = f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts"
    # The mlflow client labels each file with the type it guesses from the name.
    for name, content_type in [("notes.txt", "text/plain"), ("m.json", "application/json"), ("w.bin", None)]:
        headers = {"content-type": content_type} if content_type else {}
        assert http.put(f"{base}/{name}", content=b"x", headers=headers).status_code == 200, name
    for content_type in ("application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        _assert_415(http.put(f"{base}/form.txt", content=b"x", headers={"content-type": content_type}),
                    "application/octet-stream")


def test_openlineage_takes_json_only(http: TestClient) -> None:
    for content_type in SIMPLE_TYPES:
        _assert_415(http.post("/api/v1/lineage/openlineage", content=b"{}", headers={"content-type": content_type}),
                    "application/json")
    answer = http.post("/api/v1/lineage/openlineage", content=b"{}", headers={"content-type": "application/json"})
    assert answer.status_code == 400  # past the guard: an empty event is not an event


@pytest.mark.parametrize("origin_headers", [
    {"origin": "http://evil.example"},
    {"origin": "null"},  # sandboxed frames, file:// pages
    {"origin": "http://testserver:8080"},  # another port on the same machine
    {"sec-fetch-site": "cross-site"},
    {"sec-fetch-site": "same-site"},
])
def test_every_change_from_another_site_is_refused(http: TestClient, origin_headers: dict[str, str]) -> None:
    experiment_id, run_id = _run(http)
    changes = [
        ("POST", "/api/v1/experiments", {"json": {"name": "x"}}),
        ("POST", "/api/2.0/mlflow/experiments/create", {"json": {"name": "x"}}),
        ("POST", "/ajax-api/2.0/mlflow/experiments/create", {"json": {"name": "x"}}),
        ("PUT", f"/api/v1/runs/{run_id}/artifacts/x.bin", {"content": b"x"}),
        ("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/x.bin", {"content": b"x"}),
        ("POST", "/api/v1/lineage/openlineage", {"json": {}}),
        ("POST", f"/ui/runs/{run_id}/notes", {"data": {"text": "x"}}),
        ("DELETE", f"/api/v1/runs/{run_id}", {}),
    ]
    for method, path, kwargs in changes:
        response = http.request(method, path, headers=origin_headers, **kwargs)
        assert response.status_code == 403 and "cross-site" in response.json()["message"], (path, response.text)
    assert _names(http) == ["base"]
    assert http.get(f"/api/v1/runs/{run_id}/artifacts").json()["files"] == []
    # Reading stays open: a GET changes nothing.
    assert http.get("/api/v1/experiments", headers=origin_headers).status_code == 200


def test_ui_forms_come_only_from_this_servers_pages(http: TestClient) -> None:
    _, run_id = _run(http)
    notes = f"/ui/runs/{run_id}/notes"
    refused = http.post(notes, data={"text": "no origin"}, follow_redirects=False)
    assert refused.status_code == 403 and "Origin" in refused.json()["message"]
    # A bodiless post without a type is no form a browser sends (and it would carry Origin).
    assert http.post(notes, follow_redirects=False).status_code == 400  # the handler: 'text' is missing
    by_origin = http.post(notes, data={"text": "by origin"}, headers={"origin": "http://testserver"},
                          follow_redirects=False)
    assert by_origin.status_code in (200, 303), by_origin.text
    by_fetch_site = http.post(notes, files={"text": (None, "by fetch metadata")},
                              headers={"sec-fetch-site": "same-origin"}, follow_redirects=False)
    assert by_fetch_site.status_code in (200, 303), by_fetch_site.text
    as_json = http.post(notes, json={"text": "json"}, headers={"origin": "http://testserver"})
    _assert_415(as_json, "application/x-www-form-urlencoded")
    texts = [n["text"] for n in http.get(f"/api/v1/runs/{run_id}/notes").json()["notes"]]
    assert sorted(texts) == ["by fetch metadata", "by origin"]


def test_the_sdk_raises_the_refusal_as_its_error_class(http: TestClient) -> None:
    response = http.post("/api/v1/experiments", content=JSON_BODY, headers={"content-type": "text/plain"})
    with pytest.raises(UnsupportedMediaType, match="application/json"):
        raise_for_error(response)

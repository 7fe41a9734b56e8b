"""The SDK's embedded road: our in-process transport over an ASGI app.

The transport is the I/O edge, so these tests drive it with small raw ASGI apps, plus the
real CLI and SDK in a fresh interpreter for the warnings.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelward.sdk._inprocess import InProcessTransport

WAIT_S = 30  # only a guard against a hang; a passing run never waits this long


def _client(app: Any) -> Iterator[httpx.Client]:
    transport = InProcessTransport(app)
    transport.start()
    with httpx.Client(transport=transport, base_url="http://embedded.modelward") as client:
        yield client


@pytest.fixture
def events() -> list[str]:
    return []


def lifespan_app(events: list[str], body: Any) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                events.append(message["type"])
                if message["type"] == "lifespan.startup":
                    scope["state"]["greeting"] = "hello"
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await body(scope, receive, send)

    return app


async def _start(send: Any, status: int = 200) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})


def test_lifespan_runs_once_and_its_state_reaches_requests(events: list[str]) -> None:
    async def echo_state(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await _start(send)
        await send({"type": "http.response.body", "body": scope["state"]["greeting"].encode()})

    for client in _client(lifespan_app(events, echo_state)):
        assert [client.get("/").text for _ in range(3)] == ["hello"] * 3
        assert events == ["lifespan.startup"]
    assert events == ["lifespan.startup", "lifespan.shutdown"]


def test_a_response_streams_to_the_reader_as_the_app_sends_it(events: list[str]) -> None:
    first_read = threading.Event()

    async def two_parts(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await _start(send)
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        # The second part exists only once the reader has the first: a buffering transport hangs here.
        seen = await asyncio.to_thread(first_read.wait, WAIT_S)
        await send({"type": "http.response.body", "body": b"second" if seen else b"buffered", "more_body": False})

    for client in _client(lifespan_app(events, two_parts)):
        with client.stream("GET", "/") as response:
            parts = []
            for chunk in response.iter_raw():
                parts.append(chunk)
                first_read.set()
    assert parts == [b"first", b"second"]


def test_a_response_the_app_breaks_off_is_an_error_not_a_short_body(events: list[str]) -> None:
    async def breaks_off(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await _start(send)
        if scope["path"] == "/whole":
            await send({"type": "http.response.body", "body": b"all of it"})
            return
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise OSError("disk gone")

    for client in _client(lifespan_app(events, breaks_off)):
        received = []
        with pytest.raises(httpx.RemoteProtocolError, match="before its last byte: OSError: disk gone"):
            with client.stream("GET", "/") as response:
                for chunk in response.iter_raw():
                    received.append(chunk)
        assert received == [b"part"]
        assert client.get("/whole").content == b"all of it"  # the transport still serves


def test_an_app_failing_before_it_answers_is_a_500(events: list[str]) -> None:
    async def fails(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    for client in _client(lifespan_app(events, fails)):
        assert client.get("/").status_code == 500


def test_an_upload_iterator_arrives_whole_and_a_closed_response_stops_the_app(events: list[str]) -> None:
    stopped = threading.Event()

    async def echo_then_endless(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["method"] == "PUT":
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            await _start(send)
            await send({"type": "http.response.body", "body": body})
            return
        await _start(send)
        try:
            while True:
                await send({"type": "http.response.body", "body": b"x" * 1024, "more_body": True})
        finally:
            stopped.set()

    for client in _client(lifespan_app(events, echo_then_endless)):
        parts = [b"a" * 70_000, b"b", b"c" * 3]
        assert client.put("/", content=iter(parts)).content == b"".join(parts)
        with client.stream("GET", "/") as response:
            assert next(response.iter_raw()) == b"x" * 1024
        assert stopped.wait(WAIT_S), "the endless response was not cancelled when its reader closed it"


def test_embedded_cli_and_sdk_emit_no_deprecation_warning_and_skip_the_test_client(tmp_path: Path) -> None:
    env = {**os.environ, "MODELWARD_HOME": str(tmp_path), "MODELWARD_DATABASE_URL": f"sqlite:///{tmp_path}/mw.db"}
    env.pop("MODELWARD_TRACKING_URI", None)
    # Starlette's StarletteDeprecationWarning is a UserWarning (it fires when httpx2 is missing).
    strict = [sys.executable, "-W", "error::DeprecationWarning", "-W", "error::UserWarning"]
    command = subprocess.run([*strict, "-m", "modelward", "experiments", "create", "team/warnings"],
                             env=env, capture_output=True, text=True, cwd=tmp_path)
    assert command.returncode == 0, command.stderr
    assert "created" in command.stdout
    session = (
        "from modelward import Client\n"
        "with Client() as client:\n"
        "    exp = client.experiments.resolve('team/warnings')\n"
        "    run = client.runs.create(exp.id)\n"
        "    client.artifacts.upload_bytes(run.id, 'a.txt', b'abc')\n"
        "    assert client.artifacts.read_bytes(run.id, 'a.txt') == b'abc'\n"
        "import sys\n"
        "assert 'starlette.testclient' not in sys.modules\n"
        "print('ok')\n"
    )
    sdk = subprocess.run([*strict, "-c", session], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert sdk.returncode == 0, sdk.stderr
    assert sdk.stdout.strip() == "ok"
    for output in (command.stderr, sdk.stderr):
        assert "DeprecationWarning" not in output

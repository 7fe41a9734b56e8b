"""The rebinding guard parses Host strictly; a server restarts at once, closes slow
connections in bounded time and says ``Connection: close`` before it drops one.

The Host forms go through the guards middleware with crafted ASGI scopes (duplicate headers
and absolute-form targets cannot be sent through an HTTP client) and over a raw socket to a
live ``modelward server``; the rest needs a real server process on loopback.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from modelward.api.guards import RequestGuards
from tests.fixtures.servers import ServerProcess, free_port

# ---------------------------------------------------------------------------------------------
# Host forms, through the middleware


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _call(headers: list[tuple[bytes, bytes]], *, path: str = "/health", raw_path: bytes | None = None,
          method: str = "GET", loopback_only: bool = True) -> tuple[int, dict[str, Any]]:
    scope = {"type": "http", "method": method, "path": path, "raw_path": raw_path or path.encode(),
             "query_string": b"", "headers": headers, "scheme": "http"}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(RequestGuards(_ok, max_bytes=1000, loopback_only=loopback_only)(scope, receive, send))
    body = sent[1]["body"]
    return sent[0]["status"], (orjson.loads(body) if body != b"ok" else {})


def _host(value: str) -> list[tuple[bytes, bytes]]:
    return [(b"host", value.encode("latin-1"))]


@pytest.mark.parametrize("host", [
    "127.0.0.1", "127.0.0.1:5000", "localhost", "localhost:5000", "LOCALHOST:5000", "LocalHost",
    "127.0.0.2:80", "[::1]", "[::1]:5000", "[0:0:0:0:0:0:0:1]:5000", "testserver",
])
def test_loopback_spellings_are_served(host: str) -> None:
    assert _call(_host(host))[0] == 200


@pytest.mark.parametrize("host", [
    "127.0.0.1:5000@evil.example",  # userinfo: a lax parser reads 127.0.0.1
    "localhost:5000@evil.example", "evil.example@127.0.0.1", "localhost:5000:80", "localhost:",
    "localhost:http", "localhost:+80", "localhost:99999", "localhost:0", "127.0.0.1/evil",
    "localhost evil.example", "", " localhost", "::1", "[::1]evil.example", "[::1]@evil.example",
    "[::1].evil.example", "[fe80::1%eth0]", "[::1", "local..host",
])
def test_malformed_hosts_are_a_400(host: str) -> None:
    status, body = _call(_host(host))
    assert status == 400 and "Host" in body["message"], (host, body)


@pytest.mark.parametrize("host", [
    "evil.example", "EVIL.example:5000", "localhost.", "localhost.:5000", "localhost.evil.example",
    "127.0.0.1.nip.io", "2130706433", "0x7f000001", "127.1", "[::ffff:127.0.0.1]", "[::2]",
])
def test_names_that_are_not_loopback_are_a_403(host: str) -> None:
    status, body = _call(_host(host))
    assert status == 403 and "loopback" in body["message"], (host, body)


@pytest.mark.parametrize("headers", [
    [(b"host", b"evil.example"), (b"host", b"127.0.0.1")],
    [(b"host", b"127.0.0.1"), (b"host", b"evil.example")],
    [(b"host", b"127.0.0.1"), (b"host", b"127.0.0.1")],
    [],
])
def test_exactly_one_host_header(headers: list[tuple[bytes, bytes]]) -> None:
    status, body = _call(headers)
    assert status == 400 and "exactly one Host" in body["message"]


@pytest.mark.parametrize(("path", "raw_path"), [
    ("http://evil.example/health", b"http://evil.example/health"),  # uvicorn's h11 protocol
    ("/health", b"http://evil.example/health"),  # uvicorn's httptools protocol, as modelward server runs it
    ("/health", b"http://127.0.0.1/health"),
    ("*", b"*"),
])
def test_absolute_form_targets_are_refused(path: str, raw_path: bytes) -> None:
    status, body = _call(_host("127.0.0.1"), path=path, raw_path=raw_path)
    assert status == 400 and "not a proxy" in body["message"]


def test_with_auth_any_well_formed_name_is_served_but_not_a_malformed_one() -> None:
    assert _call(_host("models.example.com:443"), loopback_only=False)[0] == 200
    assert _call(_host("models.example.com."), loopback_only=False)[0] == 200
    assert _call(_host("127.0.0.1:5000@evil.example"), loopback_only=False)[0] == 400
    assert _call([(b"host", b"a.example"), (b"host", b"b.example")], loopback_only=False)[0] == 400


def test_origin_compares_as_host_and_port() -> None:
    same = [(b"host", b"LOCALHOST:5000"), (b"origin", b"http://localhost:5000")]
    assert _call(same, method="POST")[0] == 200
    default_port = [(b"host", b"localhost"), (b"origin", b"http://localhost:80")]
    assert _call(default_port, method="POST")[0] == 200
    behind_tls = [(b"host", b"models.example.com"), (b"origin", b"https://models.example.com")]
    assert _call(behind_tls, method="POST", loopback_only=False)[0] == 200
    for origin in (b"http://localhost:5000@evil.example", b"http://localhost:5001", b"http://localhost",
                   b"http://localhost:5000/path", b"null", b"file://", b"localhost:5000"):
        status, body = _call([(b"host", b"localhost:5000"), (b"origin", origin)], method="POST")
        assert status == 403 and "cross-site" in body["message"], origin


# ---------------------------------------------------------------------------------------------
# Live servers


def _launch(home: Path, port: int, *args: str) -> ServerProcess:
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / f"server-{time.monotonic_ns()}.log"
    env = {**os.environ, "MODELWARD_HOME": str(home)}
    env.pop("MODELWARD_TRACKING_URI", None)
    with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen([sys.executable, "-m", "modelward", "server", "--port", str(port), *args],
                                   env=env, stdout=log, stderr=subprocess.STDOUT, cwd=home)
    return ServerProcess(f"http://127.0.0.1:{port}", home, process, log_path)


def _wait_healthy(server: ServerProcess, within_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within_s:
        if server.process.poll() is not None:
            raise AssertionError(f"server exited with {server.process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"server not healthy within {within_s}s:\n{server.log()}")


def _stop(server: ServerProcess) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=5)


def _port_of(server: ServerProcess) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _exchange(port: int, request: bytes, *, within_s: float = 5.0) -> bytes:
    """Send raw bytes and read until the server closes (or ``within_s`` passes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=within_s) as sock:
        sock.sendall(request)
        return _read_until_closed(sock, within_s)


def _read_until_closed(sock: socket.socket, within_s: float) -> bytes:
    received = b""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return received + b"<closed>"
        if not chunk:
            return received + b"<closed>"
        received += chunk
    return received + b"<open>"


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


@pytest.fixture(scope="module")
def tight_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with short header and keep-alive timeouts, over its own SQLite file."""
    server = _launch(tmp_path_factory.mktemp("tight"), free_port(), "--timeout-headers", "1",
                     "--timeout-keep-alive", "1")
    _wait_healthy(server, 60)
    yield server
    _stop(server)


def test_host_forms_over_a_real_socket(live_server: ServerProcess) -> None:
    port = _port_of(live_server)
    forms = {
        f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}@evil.example\r\n": 400,
        "GET /health HTTP/1.1\r\nHost: evil.example\r\nHost: 127.0.0.1\r\n": 400,
        f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: evil.example\r\n": 400,
        f"GET http://evil.example/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n": 400,
        f"GET http://127.0.0.1:{port}/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n": 400,
        f"GET /health HTTP/1.1\r\nHost: [::1]evil.example:{port}\r\n": 400,
        f"GET /health HTTP/1.1\r\nHost: localhost.:{port}\r\n": 403,
        f"GET /health HTTP/1.1\r\nHost: EVIL.example:{port}\r\n": 403,
        f"GET /health HTTP/1.1\r\nHost: LOCALHOST:{port}\r\n": 200,
        f"GET /health HTTP/1.1\r\nHost: [::1]:{port}\r\n": 200,
        f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n": 200,
    }
    for head, expected in forms.items():
        answer = _exchange(port, (head + "Connection: close\r\n\r\n").encode())
        assert _status(answer) == expected, (head, answer[:300])


@pytest.mark.parametrize("how", ["kill -9", "SIGTERM"])
def test_restarts_at_once_on_the_same_port_with_a_keep_alive_client_attached(tmp_path: Path, how: str) -> None:
    port = free_port()
    first = _launch(tmp_path / "home", port)
    try:
        _wait_healthy(first, 60)
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        client.sendall(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        assert client.recv(65536).startswith(b"HTTP/1.1 200")  # the connection stays open (keep-alive)
        if how == "kill -9":
            first.process.kill()
        else:
            first.process.send_signal(signal.SIGTERM)
        first.process.wait(timeout=15)
        second = _launch(tmp_path / "home", port)
        try:
            assert _wait_healthy(second, 20) < 20
        finally:
            _stop(second)
            client.close()
    finally:
        _stop(first)


def test_a_taken_port_is_a_one_line_error(tmp_path: Path, tight_server: ServerProcess) -> None:
    taken = _launch(tmp_path / "home", _port_of(tight_server))
    assert taken.process.wait(timeout=60) != 0
    assert "cannot listen on" in taken.log() and "Traceback" not in taken.log()


def test_a_connection_that_never_finishes_its_headers_is_closed(tight_server: ServerProcess) -> None:
    port = _port_of(tight_server)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
        answer = b""
        for _ in range(30):  # a slow loris: one header byte every 0.2 s, for up to 6 s
            try:
                sock.sendall(b"X")
            except OSError:
                answer = b"<closed>"
                break
            answer = _read_until_closed(sock, 0.2)
            if answer.endswith(b"<closed>"):
                break
    assert answer.endswith(b"<closed>") and time.monotonic() - started < 4, answer


def test_an_idle_connection_is_closed(tight_server: ServerProcess) -> None:
    port = _port_of(tight_server)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        assert _read_until_closed(sock, 4) == b"<closed>"  # never sent a byte
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        answer = _read_until_closed(sock, 4)  # the answer, then the keep-alive timeout
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"<closed>")


def test_an_unexpected_500_says_connection_close(tight_server: ServerProcess) -> None:
    port = _port_of(tight_server)
    experiment = httpx.post(f"{tight_server.url}/api/v1/experiments", json={"name": "crash"}).json()
    run = httpx.post(f"{tight_server.url}/api/v1/runs", json={"experiment_id": experiment["id"]}).json()
    with sqlite3.connect(tight_server.home / "modelward.db") as db:  # the store breaks under the server
        db.execute("ALTER TABLE run_notes RENAME TO run_notes_gone")
    try:
        request = f"GET /api/v1/runs/{run['id']}/notes HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        answer = _exchange(port, request, within_s=3)
        head = answer.split(b"\r\n\r\n", 1)[0].lower()
        assert head.startswith(b"http/1.1 500") and b"\r\nconnection: close" in head, answer
        assert answer.endswith(b"<closed>")
        with httpx.Client(base_url=tight_server.url) as client:  # a pooled client goes on working
            statuses = [client.get(f"/api/v1/runs/{run['id']}/notes").status_code for _ in range(3)]
            assert statuses == [500, 500, 500]
            assert client.get("/health").status_code == 200
    finally:
        with sqlite3.connect(tight_server.home / "modelward.db") as db:
            db.execute("ALTER TABLE run_notes_gone RENAME TO run_notes")

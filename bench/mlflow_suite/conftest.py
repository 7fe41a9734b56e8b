"""Root conftest for MLflow's own REST tests, copied by run.py to the root of the extracted
MLflow test tree (next to MLflow's pyproject.toml, above its ``tests/``).

It rebinds the launchers MLflow's fixtures use, without editing MLflow's files:

* ``ServerThread(app, port)`` (fixtures ``mlflow_client``, ``mlflow_client_with_secrets``,
  ``client``) starts ``modelward server`` on a fresh store (``MW_SUITE_TARGET=modelward``),
  or keeps MLflow's in-process server (``MW_SUITE_TARGET=mlflow``, the control);
* ``_launch_server`` of test_mlflow_artifacts.py (an ``mlflow server`` subprocess) starts
  ``modelward server`` on the port the fixture chose;
* ``_init_server`` (an MLflow server with MLflow-only settings) is refused for modelward.

In both targets the fluent API (``mlflow.*``) is pointed at the server under test: MLflow's
root conftest points it at the SQLite file the control server uses, so tests mixing the
fluent API with ``mlflow_client`` would otherwise not go over HTTP.

Only the ``sqlalchemy`` variant of the ``store_type``/``client`` parameters runs: the
``file`` variant is MLflow's deprecated file store, which says nothing about the REST API.
The deselected tests and their reasons are in deselected.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

TARGET = os.environ.get("MW_SUITE_TARGET", "modelward")
SERVER_PYTHON = os.environ.get("MW_SUITE_SERVER_PYTHON", "python3")
SPAWN = os.environ.get("MW_SUITE_SPAWN") == "1"
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from deselected import DESELECTED  # noqa: E402


class _Launcher:
    """One pre-forking launcher.py process for the session (see its docstring)."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.root = Path(tempfile.mkdtemp(prefix="mw-suite-"))

    def _started(self) -> subprocess.Popen[str]:
        if self.process is None or self.process.poll() is not None:
            self.process = subprocess.Popen(
                [SERVER_PYTHON, str(HERE / "launcher.py"), str(self.root / "template")],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                env=_server_env(),
            )
            line = self.process.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"launcher did not start: {line!r}")
        return self.process

    def fork(self, home: Path, port: int) -> int:
        process = self._started()
        process.stdin.write(f"{home} {port}\n")
        process.stdin.flush()
        return int(process.stdout.readline())

    def close(self) -> None:
        if self.process is not None:
            self.process.stdin.close()
            self.process.wait(timeout=10)


_LAUNCHER = _Launcher()


def _server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "VIRTUAL_ENV"))}
    env.pop("PYTHONPATH", None)
    env["MODELWARD_RUN_HEARTBEAT_TIMEOUT_S"] = "0"
    return env


class ModelwardServer:
    """A ``modelward server`` process on a fresh store (a new MODELWARD_HOME), on ``port``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.home = Path(tempfile.mkdtemp(prefix="home-", dir=_LAUNCHER.root))
        self.pid: int | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        if SPAWN:
            env = {**_server_env(), "MODELWARD_HOME": str(self.home)}
            self.process = subprocess.Popen(
                [SERVER_PYTHON, "-m", "modelward", "server", "--port", str(self.port)],
                env=env, cwd=self.home, start_new_session=True,
                stdout=open(self.home / "server.log", "wb"), stderr=subprocess.STDOUT,
            )
            self.pid = self.process.pid
        else:
            self.pid = _LAUNCHER.fork(self.home, self.port)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/ready", timeout=2).ok:
                    return self.url
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"modelward server did not start:\n{self.log()}")

    def log(self) -> str:
        path = self.home / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _alive(self.pid):
            time.sleep(0.05)
        if _alive(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=10)
        self.pid = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _point_fluent_api_at(url: str) -> None:
    import mlflow

    mlflow.set_tracking_uri(url)


class ModelwardServerThread:
    """Stands in for MLflow's ``ServerThread(app, port)``: ``with ... as url``."""

    def __init__(self, app, port: int) -> None:  # noqa: ANN001 (MLflow's FastAPI app, unused)
        self.server = ModelwardServer(port)
        self.url = self.server.url

    def __enter__(self) -> str:
        url = self.server.start()
        _point_fluent_api_at(url)
        return url

    def __exit__(self, *exc_info) -> None:
        self.server.stop()


def _control_server_thread(original):
    class ControlServerThread(original):
        """MLflow's own ServerThread, with the fluent API pointed at it as for modelward."""

        def __enter__(self) -> str:
            url = super().__enter__()
            _point_fluent_api_at(url)
            return url

    return ControlServerThread


@contextlib.contextmanager
def _launch_modelward_server(host, port, backend_store_uri, default_artifact_root, artifacts_destination):
    server = ModelwardServer(int(port))
    server.start()
    try:
        yield server.process
    finally:
        server.stop()


@contextlib.contextmanager
def _refuse_mlflow_only_server(*args, **kwargs):
    raise RuntimeError("this test starts an MLflow server with MLflow-only settings; deselect it")
    yield  # pragma: no cover


def _rebind_launchers() -> None:
    for name, module in list(sys.modules.items()):
        if not name.startswith("tests.tracking") or module is None:
            continue
        if hasattr(module, "ServerThread") and not getattr(module.ServerThread, "_mw_rebound", False):
            if TARGET == "modelward":
                replacement = ModelwardServerThread
            else:
                replacement = _control_server_thread(module.ServerThread)
            replacement._mw_rebound = True
            module.ServerThread = replacement
        if TARGET == "modelward":
            if hasattr(module, "_launch_server"):
                module._launch_server = _launch_modelward_server
            if hasattr(module, "_init_server"):
                module._init_server = _refuse_mlflow_only_server


def _is_file_store_variant(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return False
    return callspec.params.get("store_type") == "file" or callspec.params.get("client") == "file"


def _deselect_reason(item: pytest.Item) -> str | None:
    base = item.name.split("[", 1)[0]
    return DESELECTED.get(f"{item.path.name}::{item.name}") or DESELECTED.get(f"{item.path.name}::{base}")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    _rebind_launchers()
    kept, dropped = [], []
    for item in items:
        if _is_file_store_variant(item) or _deselect_reason(item) is not None:
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = kept


@pytest.fixture(autouse=True)
def _fail_fast_client(monkeypatch):
    """The client retries a 5xx for minutes by default; one retry keeps the run bounded
    (the same for both targets)."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")


def pytest_sessionfinish(session, exitstatus):
    _LAUNCHER.close()
    shutil.rmtree(_LAUNCHER.root, ignore_errors=True)  # every test's store

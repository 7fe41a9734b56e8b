"""The isolated worker's properties, checked from inside it: no network, a read-only file system
outside its folder, the server's store out of sight, no secrets in its environment, another
user, and limits that stop a model that never answers. Each probe also runs in this process
first, to show it would succeed without the sandbox."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from modelward import models
from modelward.errors import InvalidInput, PolicyViolation
from modelward.evaluation import sandbox
from modelward.evaluation.sandbox import SandboxLimits, Worker, isolated_model
from modelward.formats.loader import stored_description
from tests.evaluation.sandbox_models import Probe

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux namespaces")

FRAME = pd.DataFrame({"x": [0.0, 1.0, 2.0]})


def _saved(model: Any, tmp_path: Path, name: str = "m") -> Path:
    # the signature is given, not inferred: inferring it would call the probe here, at save time
    return models.save(model, tmp_path / name, flavor="pyfunc", signature=models.infer_signature(FRAME))


def _in_sandbox(folder: Path, **worker: Any) -> Any:
    with Worker(folder, **worker) as running:
        return isolated_model(running, stored_description(folder)).predict(FRAME)[0]


def test_the_worker_cannot_open_a_socket_to_loopback(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        folder = _saved(Probe("connect", listener.getsockname()[1]), tmp_path)
        assert models.load(folder).predict(FRAME)[0] == 1  # outside the sandbox it connects
        assert _in_sandbox(folder) == 0


def test_the_worker_cannot_write_outside_its_folder_nor_see_the_store(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "modelward.db").write_bytes(b"secret rows")
    os.chmod(tmp_path, 0o755)
    for target in (store / "planted", Path("/tmp") / f"modelward-escape-{os.getpid()}"):
        folder = _saved(Probe("write", str(target)), tmp_path, name=f"w-{target.name}")
        assert _in_sandbox(folder, hide=[store]) == 0, target
        assert not target.exists()
    reader = _saved(Probe("read", str(store / "modelward.db")), tmp_path, name="r")
    assert models.load(reader).predict(FRAME)[0] == len(b"secret rows")
    assert _in_sandbox(reader, hide=[store]) == -1


def test_the_worker_sees_no_secrets_in_its_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELWARD_DATABASE_URL", "postgresql://modelward:secret@db/modelward")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    folder = _saved(Probe("env", "MODELWARD_DATABASE_URL"), tmp_path)
    assert models.load(folder).predict(FRAME)[0] >= 2
    assert _in_sandbox(folder) == 0


def test_the_worker_runs_as_another_user(tmp_path: Path) -> None:
    uid = _in_sandbox(_saved(Probe("uid"), tmp_path))
    assert uid != os.getuid() and uid != 0


def test_a_model_that_spins_forever_is_stopped_at_the_wall_clock_limit(tmp_path: Path) -> None:
    folder = _saved(Probe("spin"), tmp_path)
    started = time.monotonic()
    with pytest.raises(InvalidInput, match="did not answer within 3 s"):
        _in_sandbox(folder, limits=SandboxLimits(timeout_seconds=3))
    assert time.monotonic() - started < 30


def test_a_model_that_spins_forever_is_killed_at_its_cpu_limit(tmp_path: Path) -> None:
    folder = _saved(Probe("spin"), tmp_path)
    with pytest.raises(InvalidInput, match="CPU time limit|killed"):
        _in_sandbox(folder, limits=SandboxLimits(cpu_seconds=12, timeout_seconds=120))


def test_the_working_folder_is_deleted_afterwards(tmp_path: Path) -> None:
    with Worker(_saved(Probe("uid"), tmp_path)) as running:
        work = running._work
        assert work is not None and (work / "model").is_dir()
    assert not work.exists()


def test_the_worker_fails_closed_when_the_sandbox_cannot_be_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _saved(Probe("uid"), tmp_path)
    if os.geteuid() == 0:
        with pytest.raises(PolicyViolation, match="user 'no-such-sandbox-user' does not exist"):
            _in_sandbox(folder, limits=SandboxLimits(user="no-such-sandbox-user"))
    monkeypatch.setattr(sandbox, "CLONE_NEWNET", 0x1)  # an unshare the kernel refuses
    with pytest.raises(PolicyViolation, match="could not be started.*unshare"):
        _in_sandbox(folder)

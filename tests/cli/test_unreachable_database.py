"""A database that cannot be opened is one line naming it (never its password) and the cause."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelward.errors import ServiceUnavailable
from modelward.sdk.client import Client
from modelward.settings import Settings

REFUSED = "postgresql://u:secret@127.0.0.1:1/x"  # nothing listens on port 1


def _blocked_sqlite(tmp_path: Path) -> str:
    """A SQLite path whose folder cannot exist: a regular file stands where the folder should be."""
    (tmp_path / "a-file").write_text("not a folder")
    return f"sqlite:///{tmp_path}/a-file/sub/mw.db"


def _modelward(*args: str, database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELWARD_")}
    env.update(MODELWARD_DATABASE_URL=database_url, COLUMNS="250")
    return subprocess.run([sys.executable, "-m", "modelward", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: cannot open the database ")
    return lines[0]


@pytest.mark.parametrize("args", [("experiments", "list"), ("server", "--port", "1"), ("db", "upgrade"),
                                  ("db", "current")])
def test_a_refused_postgresql_is_one_line_without_the_password(args: tuple[str, ...], tmp_path: Path) -> None:
    line = _one_error_line(_modelward(*args, database_url=REFUSED, cwd=tmp_path))
    assert "postgresql://u:***@127.0.0.1:1/x" in line
    assert "secret" not in line
    assert "refused" in line.lower()


@pytest.mark.parametrize("args", [("runs", "list"), ("server", "--port", "1")])
def test_a_sqlite_file_whose_folder_cannot_be_made_is_one_line(args: tuple[str, ...], tmp_path: Path) -> None:
    url = _blocked_sqlite(tmp_path)
    line = _one_error_line(_modelward(*args, database_url=url, cwd=tmp_path))
    assert url in line
    assert f"cannot create its folder {tmp_path}/a-file/sub" in line


def test_the_sdk_raises_our_error_with_the_same_message(tmp_path: Path) -> None:
    with pytest.raises(ServiceUnavailable) as refused:
        Client(settings=Settings(home=tmp_path, database_url=REFUSED))
    assert str(refused.value).startswith("cannot open the database postgresql://u:***@127.0.0.1:1/x: ")
    assert "secret" not in str(refused.value)
    with pytest.raises(ServiceUnavailable, match="cannot create its folder"):
        Client(settings=Settings(home=tmp_path, database_url=_blocked_sqlite(tmp_path)))

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from modelward.sdk.environment import (
    capture_environment,
    git_info,
    normalize_name,
    pinned_requirements,
    strip_credentials,
)

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True)
    return out.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    _git(path, "config", "user.email", "t@example.com")
    _git(path, "config", "user.name", "Test")
    (path / "train.py").write_text("print('hi')\n")
    _git(path, "add", "train.py")
    _git(path, "commit", "-q", "-m", "initial")
    return path


def test_git_commit_branch_and_dirty(repo: Path) -> None:
    info = capture_environment(str(repo))["git"]
    assert info["commit"] == _git(repo, "rev-parse", "HEAD")
    assert info["branch"] == "main"
    assert info["dirty"] is False
    assert info["remote"] is None

    (repo / "train.py").write_text("print('changed')\n")
    assert git_info(str(repo))["dirty"] is True


def test_untracked_files_do_not_make_tree_dirty(repo: Path) -> None:
    (repo / "scratch.txt").write_text("x")
    assert git_info(str(repo))["dirty"] is False


def test_detached_head_has_no_branch(repo: Path) -> None:
    _git(repo, "checkout", "-q", "--detach")
    assert git_info(str(repo))["branch"] is None


def test_remote_credentials_are_stripped(repo: Path) -> None:
    _git(repo, "remote", "add", "origin", "https://alice:s3cret@git.example.com/org/proj.git")
    remote = capture_environment(str(repo))["git"]["remote"]
    assert remote == "https://git.example.com/org/proj.git"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://token@github.com/o/r.git", "https://github.com/o/r.git"),
        ("https://u:p@host:8443/o/r", "https://host:8443/o/r"),
        ("ssh://git@host/o/r.git", "ssh://host/o/r.git"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),  # scp-style: user is not secret
        ("https://github.com/o/r.git", "https://github.com/o/r.git"),
        ("https://host/path/with@sign", "https://host/path/with@sign"),
    ],
)
def test_strip_credentials(url: str, expected: str) -> None:
    assert strip_credentials(url) == expected


def test_outside_repo_git_is_none(tmp_path: Path) -> None:
    assert capture_environment(str(tmp_path))["git"] is None


def test_missing_git_binary_gives_none(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    assert capture_environment(str(repo))["git"] is None


def test_snapshot_fields_and_json_serialisable(repo: Path) -> None:
    env = capture_environment(str(repo))
    for key in ("python", "implementation", "platform", "host", "pid", "executable"):
        assert env[key]
    assert isinstance(env["command"], list)
    assert env["cwd"] == str(repo)
    assert "pytest" in env["packages"]
    assert all(name == normalize_name(name) for name in env["packages"])
    json.dumps(env)


def _recording_git_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    """Every git command a capture starts (each run for real), with its arguments."""
    from modelward.sdk import environment

    calls: list[dict[str, object]] = []
    real_run = subprocess.run

    def recorded(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        if args[0] == "git":  # the platform module runs ``uname`` through the same function
            calls.append({"args": list(args), **kwargs})
        return real_run(args, **kwargs)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(environment.subprocess, "run", recorded)
    return calls


def test_capture_starts_a_few_bounded_git_commands(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The work a capture does outside Python is fixed: five git commands in a repository, one
    outside, each with a timeout and no stdin (timings live in bench/small_paths.py)."""
    head = _git(repo, "rev-parse", "HEAD")
    calls = _recording_git_calls(monkeypatch)
    assert capture_environment(str(repo))["git"]["commit"] == head
    assert len(calls) == 5
    assert all(c["args"][:3] == ["git", "-C", str(repo)] for c in calls)  # type: ignore[index]
    assert all(c["timeout"] and c["stdin"] == subprocess.DEVNULL for c in calls)
    calls.clear()
    assert capture_environment(str(repo.parent))["git"] is None
    assert len(calls) == 1


def test_a_hanging_git_does_not_hang_the_capture(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A git that would answer only after 30 s (say "true" to everything) is cut off at the
    timeout: the capture records no git information instead of waiting for it."""
    from modelward.sdk import environment

    fake = repo.parent / "bin"
    fake.mkdir()
    (fake / "git").write_text(f"#!/bin/sh\nexec {sys.executable} -c \"import time; time.sleep(30); print('true')\"\n")
    (fake / "git").chmod(0o755)
    monkeypatch.setenv("PATH", str(fake))
    monkeypatch.setattr(environment, "_GIT_TIMEOUT_S", 0.5)
    assert capture_environment(str(repo))["git"] is None


def test_normalize_name() -> None:
    assert normalize_name("Typing_Extensions") == "typing-extensions"
    assert normalize_name("zope.interface") == "zope-interface"


def test_pinned_requirements_sorted() -> None:
    assert pinned_requirements({"numpy": "1.26.4", "attrs": "23.2.0"}) == [
        "attrs==23.2.0",
        "numpy==1.26.4",
    ]


def test_repo_without_commits(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q", "-b", "trunk")
    info = git_info(str(tmp_path))
    assert info == {"commit": None, "branch": "trunk", "dirty": False, "remote": None}

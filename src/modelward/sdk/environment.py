"""Capture a JSON-serialisable snapshot of the runtime environment of a run."""

from __future__ import annotations

import getpass
import importlib.metadata
import json
import os
import platform
import re
import socket
import subprocess
import sys
from typing import Any

_GIT_TIMEOUT_S = 2.0
# Matches "scheme://user[:pass]@" so credentials never reach the tracking store.
_URL_CREDENTIALS = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]+@")


def capture_environment(cwd: str | None = None) -> dict[str, Any]:
    cwd = os.path.abspath(cwd or os.getcwd())
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "user": _current_user(),
        "pid": os.getpid(),
        "command": list(sys.argv),
        "executable": sys.executable,
        "cwd": cwd,
        "packages": installed_packages(),
        "package_sources": direct_installs(),
        "git": git_info(cwd),
    }


def pinned_requirements(packages: dict[str, str]) -> list[str]:
    return sorted(f"{name}=={version}" for name, version in packages.items())


def normalize_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_packages() -> dict[str, str]:
    packages: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and dist.version:
            # First hit wins, matching import precedence along sys.path.
            packages.setdefault(normalize_name(name), dist.version)
    return packages


def direct_installs() -> dict[str, dict[str, Any]]:
    """Packages not installed from an index (PEP 610 ``direct_url.json``): a local folder
    (``editable`` or not), a VCS checkout or an archive URL; a reproduction cannot pin them."""
    found: dict[str, dict[str, Any]] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        try:
            raw = dist.read_text("direct_url.json")
            direct = json.loads(raw) if raw else None
        except (OSError, ValueError):
            continue
        if not name or not isinstance(direct, dict) or not isinstance(direct.get("url"), str):
            continue
        vcs = direct.get("vcs_info") if isinstance(direct.get("vcs_info"), dict) else {}
        found.setdefault(normalize_name(name), {
            "url": strip_credentials(direct["url"]),
            "editable": bool((direct.get("dir_info") or {}).get("editable")),
            "vcs": vcs.get("vcs"), "commit": vcs.get("commit_id"),
        })
    return found


def git_info(cwd: str) -> dict[str, Any] | None:
    if _git(cwd, "rev-parse", "--is-inside-work-tree") != "true":
        return None
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no")
    branch = _git(cwd, "symbolic-ref", "--quiet", "--short", "HEAD")  # fails when detached
    remote = _git(cwd, "config", "--get", "remote.origin.url")
    return {
        "commit": _git(cwd, "rev-parse", "HEAD"),  # None in a repo without commits
        "branch": branch,
        "dirty": bool(status),
        "remote": strip_credentials(remote) if remote else None,
    }


def strip_credentials(url: str) -> str:
    return _URL_CREDENTIALS.sub(r"\g<scheme>", url, count=1)


def _git(cwd: str, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", cwd, *args],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _current_user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # getuser raises OSError/KeyError when no login name is resolvable
        return os.environ.get("USER") or os.environ.get("USERNAME")

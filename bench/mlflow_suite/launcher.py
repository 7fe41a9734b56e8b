"""A pre-forking launcher of ``modelward server``, run by the system interpreter.

MLflow's fixtures start a fresh server for every test. A cold ``modelward server`` spends
seconds importing its dependencies, which for several hundred tests on a busy machine costs
more than the tests. This process imports the server's modules once and then, for each line
``HOME PORT`` on stdin, forks a child that runs the ``modelward server`` command itself
(``modelward.cli`` with ``server --port PORT``) with ``MODELWARD_HOME=HOME``: the same code
path, settings and store initialisation as a started server, on a fresh store. It answers
each line with the child's pid. The child's output goes to ``HOME/server.log``.

The store of every child starts as a copy of one migrated template database (MLflow's own
fixtures copy a migrated SQLite file the same way), so each test does not run the
migrations again. ``--spawn`` in run.py bypasses this launcher and starts
``python -m modelward server`` per test instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path


def _prepare_template(template_home: Path) -> Path:
    from modelward.services.backend import Backend
    from modelward.settings import Settings

    template_home.mkdir(parents=True, exist_ok=True)
    Backend.from_settings(Settings(home=template_home)).close()
    return template_home / "modelward.db"


def _child(home: Path, port: int, template_db: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "modelward.db").exists():
        shutil.copyfile(template_db, home / "modelward.db")
    log = os.open(home / "server.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.chdir(home)
    os.setsid()  # the harness stops a server by its process group
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.environ["MODELWARD_HOME"] = str(home)
    os.environ.pop("MODELWARD_TRACKING_URI", None)
    os.environ.pop("MODELWARD_CONFIG", None)
    sys.argv = ["modelward", "server", "--port", str(port)]
    from modelward.cli import main

    try:
        main()
    finally:
        os._exit(0)


def main() -> None:
    template_db = _prepare_template(Path(sys.argv[1]))
    import modelward.api.app  # noqa: F401  (the imports a child would otherwise pay for)
    import modelward.cli  # noqa: F401
    import modelward.cli.server  # noqa: F401
    import uvicorn  # noqa: F401

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    print("ready", flush=True)
    for line in sys.stdin:
        home, port = line.split()
        pid = os.fork()
        if pid == 0:
            _child(Path(home), int(port), template_db)
        print(pid, flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Server start-up: from starting ``modelward server`` to its first answered ``GET /health``.

    python bench/startup.py [--runs 7] [--home /tmp/mw-startup] [--command modelward] [--json-out F]
                            [--bytecode-cache DIR]

The store (SQLite and local files under ``--home``) is prepared once, before the first run, so
every run starts on an existing, migrated store, as a restart does. Each run starts the server on
a free port and sends ``GET /health`` on a raw socket every 5 ms (no HTTP library to import or
warm up) until one answers 200; the clock starts just before the process is spawned. Reports the
median, minimum and maximum in seconds, and the median CPU time the server had used when it
answered (its own work: under load the wall clock also counts the waits for a core).
``--command`` is the executable run with ``server --port P``: ``modelward`` is what a user types (on this machine a pyenv shim, which adds
about 50 ms); ``--command entry-point`` uses the console script beside this interpreter.
``--bytecode-cache DIR`` lets the servers write and read compiled modules under DIR, as a
regular install would have them (an editable install with ``PYTHONDONTWRITEBYTECODE=1``
compiles every module of modelward at every start).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

POLL_INTERVAL_S = 0.005
GIVE_UP_S = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def health_answers(port: int) -> bool:
    """One raw ``GET /health``: True on a 200, False while nobody listens or the answer is not in."""
    request = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=GIVE_UP_S) as sock:
            sock.sendall(request)
            status_line = sock.recv(64)
    except OSError:
        return False
    return status_line.startswith(b"HTTP/1.1 200")


def prepare_store(home: Path, command: list[str], bytecode_cache: Path | None) -> None:
    """Start the server once on ``home`` so the store exists and is migrated before any run
    (and, with a bytecode cache, so the cache is written)."""
    if (home / "modelward.db").exists() and bytecode_cache is None:
        return
    home.mkdir(parents=True, exist_ok=True)
    time_to_health(home, command, bytecode_cache)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU the process has used so far (Linux), or None: on a busy machine this moves
    far less than the wall clock, so it tells a slower start from a start that waited for a core."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_to_health(home: Path, command: list[str],
                   bytecode_cache: Path | None = None) -> tuple[float, float | None]:
    """Seconds from spawning the server to its first 200 on /health, and the CPU it used by then."""
    port = free_port()
    env = {**os.environ, "MODELWARD_HOME": str(home)}
    env.pop("MODELWARD_DATABASE_URL", None)
    if bytecode_cache is not None:
        env["PYTHONPYCACHEPREFIX"] = str(bytecode_cache)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    server = subprocess.Popen([*command, "server", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while not health_answers(port):
            if server.poll() is not None:
                log = server.stderr.read().decode()[-2000:] if server.stderr else ""
                raise SystemExit(f"the server exited with {server.returncode}: {log}")
            if time.perf_counter() - start > GIVE_UP_S:
                raise SystemExit(f"no answer from /health within {GIVE_UP_S} s")
            time.sleep(POLL_INTERVAL_S)
        return time.perf_counter() - start, cpu_seconds(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def resolve_command(name: str) -> list[str]:
    if name == "entry-point":
        return [str(Path(sys.executable).parent / "modelward")]
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not on PATH")
    return [found]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--home", type=Path, default=Path("/tmp/mw-startup"))
    parser.add_argument("--command", default="modelward", help="'modelward' (PATH) or 'entry-point'")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--bytecode-cache", type=Path,
                        help="a folder for compiled modules (PYTHONPYCACHEPREFIX)")
    args = parser.parse_args()
    command = resolve_command(args.command)
    prepare_store(args.home, command, args.bytecode_cache)
    runs = [time_to_health(args.home, command, args.bytecode_cache) for _ in range(args.runs)]
    samples = [wall for wall, _ in runs]
    cpu = [used for _, used in runs if used is not None]
    result = {
        "command": " ".join(command) + " server --port P",
        "bytecode_cache": str(args.bytecode_cache) if args.bytecode_cache else None,
        "runs": args.runs,
        "median_s": round(statistics.median(samples), 3),
        "min_s": round(min(samples), 3),
        "max_s": round(max(samples), 3),
        "samples_s": [round(sample, 3) for sample in samples],
        "cpu_median_s": round(statistics.median(cpu), 3) if cpu else None,
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(result, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

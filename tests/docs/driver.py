"""Run one document's code blocks in order, as a reader would: ``python driver.py SPEC.json``.

Started by tests/docs/test_examples.py in a fresh folder (the working directory) with a
fresh store. Standard library only, and not importable from the blocks: a snippet sees
what a reader's script sees. Python blocks share one namespace; shell blocks run with
``bash`` in the same folder; the first failure stops the run and is written to the
report file as ``FILE:LINE: what failed``, the rest of the output going to stdout/stderr.

Python code is compiled with the Markdown file as its file name and its first line at
the block's line, so a traceback points into the document itself.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

_LOOPBACK_URL = re.compile(r"http://(?:127\.0\.0\.1|localhost):\d+")
_EXPORTED_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


class BlockFailed(Exception):
    pass


def exported(namespace: dict[str, Any]) -> dict[str, str]:
    """UPPER_CASE names of the Python blocks that hold a str or an int: the shell blocks' variables."""
    return {
        name: str(value) for name, value in namespace.items()
        if _EXPORTED_NAME.match(name) and isinstance(value, str | int) and not isinstance(value, bool)
    }


def run_python(block: dict[str, Any], namespace: dict[str, Any], doc: str, timeout_s: float) -> None:
    code = compile("\n" * (block["line"] - 1) + block["code"], doc, "exec")
    signal.signal(signal.SIGALRM, _out_of_time)
    signal.alarm(int(timeout_s))
    try:
        exec(code, namespace)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from a snippet are failures too
        frames = traceback.extract_tb(exc.__traceback__)[1:]  # drop this function's frame
        text = "".join(traceback.format_list(frames)) + "".join(traceback.format_exception_only(exc))
        line = next((f.lineno for f in reversed(frames) if f.filename == doc), block["line"])
        raise BlockFailed(f"{block['where'].split(':')[0]}:{line}: python block failed\n{text}") from None
    finally:
        signal.alarm(0)


def _out_of_time(signum: int, frame: Any) -> None:
    raise TimeoutError("the block did not finish in time (a server it waits for? mark it docs-test: server)")


def run_bash(block: dict[str, Any], namespace: dict[str, Any], timeout_s: float) -> None:
    # Line 1 sets strict mode; the code starts on the block's own line, so $LINENO is the document's.
    script = ("set -euo pipefail; trap 'echo \"docs-test: line $LINENO: $BASH_COMMAND\" >&2' ERR\n"
              + "\n" * (block["line"] - 2) + block["code"])
    env = {**os.environ, **exported(namespace)}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    try:
        done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise BlockFailed(f"{block['where']}: shell block did not finish within {timeout_s:g} s\n"
                          f"{exc.stdout or ''}{exc.stderr or ''}") from None
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        failed = re.findall(r"docs-test: line (\d+): (.*)", done.stderr)
        line, command = failed[-1] if failed else (str(block["line"]), "")
        name = block["where"].split(":")[0]
        raise BlockFailed(f"{name}:{line}: shell command failed with exit status {done.returncode}: {command}\n"
                          f"{done.stdout[-4000:]}{done.stderr[-4000:]}")


def run_block(block: dict[str, Any], namespace: dict[str, Any], spec: dict[str, Any]) -> None:
    if spec.get("server_url") and block.get("needs_server"):
        block = {**block, "code": _LOOPBACK_URL.sub(spec["server_url"], block["code"])}
    if block["kind"] == "write":
        target = Path(block["write_to"])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block["code"], encoding="utf-8")
    elif block["kind"] == "python":
        run_python(block, namespace, spec["doc"], spec["timeout_s"])
    elif block["kind"] == "bash":
        run_bash(block, namespace, spec["timeout_s"])


def main(spec_path: str) -> int:
    # The blocks import what a script in the folder can (its own modules too), not this folder.
    sys.path[0] = os.getcwd()
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    report = Path(spec["report"])
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for block in spec["blocks"]:
        print(f"--- docs-test: {block['where']} ({block['kind']})", flush=True)
        started = time.monotonic()
        try:
            run_block(block, namespace, spec)
        except BlockFailed as failure:
            report.write_text(str(failure), encoding="utf-8")
            return 1
        print(f"--- docs-test: {block['where']} took {time.monotonic() - started:.1f} s", flush=True)
    report.write_text("", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

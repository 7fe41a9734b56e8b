"""The code in README.md and docs/*.md runs as written (as Datasette and SQLModel test their docs).

The convention, for everyone who writes these files:

* Every fenced ``python`` block and every ``bash``/``sh``/``shell`` block runs, in document
  order, unless it is marked skip. Other fences (``yaml``, ``json``, ``text``, output shown
  after ``$``, a fence without a language) are shown, not run.
* Each file runs in a fresh temporary folder (the working directory) with a fresh embedded
  store: ``MODELWARD_HOME`` is that folder's ``.modelward``, every other ``MODELWARD_*``
  variable is unset. So a file's examples must work top to bottom on an empty store: make
  the data in the snippet (scikit-learn, pandas), write the files it logs, look ids and
  version numbers up instead of hard-coding them.
* The Python blocks of a file share one namespace, in one process (a subprocess of the test).
  A shell block runs with ``bash -euo pipefail`` in the same folder, after the blocks above
  it; every UPPER_CASE name the Python blocks defined as a str or an int is in its
  environment, so ``RUN_ID = run.id`` in Python makes ``$RUN_ID`` work in the shell below.
  ``modelward`` is the CLI of the Python running the tests.
* A directive is an HTML comment (invisible on GitHub) on the last non-blank line before
  the fence:

  - ``<!-- docs-test: skip (REASON) -->``: not run; the reason is required, e.g.
    ``(starts a long-running server)``, ``(installs packages)``, ``(a benchmark of minutes)``.
  - ``<!-- docs-test: write FILE -->``: the block's text is written to ``FILE`` (relative to
    the folder) for the blocks below, e.g. a policy YAML that ``modelward policy set FILE`` reads.
  - ``<!-- docs-test: server -->``: a ``modelward server`` is started on a free loopback port
    over the file's store (once per file, before its first block), and every
    ``http://127.0.0.1:PORT`` or ``http://localhost:PORT`` in this block is replaced by its URL.

  An unknown directive, a skip without a reason, or a directive not followed by a block fails
  ``test_directives_are_well_formed``.
* A failure names the file and line (``README.md:57: ...``): Python tracebacks point into
  the Markdown file, a failed shell command gives its own line.

Run: ``python -m pytest tests/docs -q -p no:cacheprovider``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.blocks import Block, DirectiveError, collect
from tests.fixtures.servers import start_server, stop_server

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DRIVER = Path(__file__).with_name("driver.py")
FILE_TIMEOUT_S = 420
BLOCK_TIMEOUT_S = 180


def run_document(doc: Path, folder: Path, blocks: list[Block] | None = None) -> tuple[int, str, str]:
    """Run ``doc``'s blocks in ``folder`` with a fresh store: (exit status, failure report, output)."""
    blocks = collect(doc, _name(doc)) if blocks is None else blocks
    folder.mkdir(parents=True, exist_ok=True)
    home = folder / ".modelward"
    server = start_server(home) if any(b.needs_server and b.kind != "skip" for b in blocks) else None
    spec = {
        "doc": str(doc), "report": str(folder.parent / f"{folder.name}.report"), "timeout_s": BLOCK_TIMEOUT_S,
        "server_url": server.url if server else None,
        "blocks": [
            {"where": b.where, "line": b.line, "kind": b.kind, "code": b.code, "write_to": b.write_to,
             "needs_server": b.needs_server}
            for b in blocks if b.kind in ("python", "bash", "write")
        ],
    }
    spec_path = folder.parent / f"{folder.name}.spec.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELWARD_")}
    env["MODELWARD_HOME"] = str(home)
    try:
        done = subprocess.run([sys.executable, str(DRIVER), str(spec_path)], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=FILE_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        output = _text(exc.stdout) + _text(exc.stderr)
        return -1, f"{_name(doc)}: its blocks did not finish within {FILE_TIMEOUT_S} s (see the last block started)", output
    finally:
        if server is not None:
            stop_server(server)
    report = Path(spec["report"])
    failure = report.read_text(encoding="utf-8") if report.exists() else "the driver wrote no report"
    return done.returncode, failure, done.stdout + done.stderr


def _name(doc: Path) -> str:
    return str(doc.relative_to(ROOT)) if doc.is_relative_to(ROOT) else doc.name


def _text(data: str | bytes | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def test_directives_are_well_formed() -> None:
    problems = []
    for doc in DOCS:
        try:
            collect(doc, _name(doc))
        except DirectiveError as exc:
            problems.append(str(exc))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("doc", DOCS, ids=[_name(d) for d in DOCS])
def test_code_blocks_run(doc: Path, tmp_path: Path) -> None:
    blocks = collect(doc, _name(doc))
    runnable = [b for b in blocks if b.kind in ("python", "bash")]
    if not runnable:
        pytest.skip(f"{_name(doc)} has no python or shell block to run")
    status, failure, output = run_document(doc, tmp_path / "work", blocks)
    if status != 0:
        pytest.fail(f"{failure}\n--- output of the run (last 6000 characters) ---\n{output[-6000:]}", pytrace=False)


def test_every_setting_is_in_the_readme_table() -> None:
    from modelward.settings import Settings

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields
               if f"| `{name}` | `MODELWARD_{name.upper()}`" not in readme]
    assert not missing, f"README.md's settings table lacks: {', '.join(missing)}"


def test_a_script_that_leaves_its_client_open_exits(tmp_path: Path) -> None:
    """What the README's snippets do (``client = mw.Client()``, never closed): the interpreter
    must still exit. It hung at exit in most runs when the embedded app's lifespan task was
    left to the final garbage collection."""
    script = "import modelward as mw\nclient = mw.Client()\nclient.experiments.get_or_create('left-open')\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELWARD_")}
    env["MODELWARD_HOME"] = str(tmp_path / ".modelward")
    for _ in range(3):  # the hang did not happen every time
        done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr


# -- the harness itself: a failure names the right line, the state carries over ----------------------

SAMPLE = """\
# Sample

```python
answer = 6 * 7
RUN_NAME = f"run-{answer}"
```

<!-- docs-test: write greeting.txt -->
```text
hello
```

```bash
test "$RUN_NAME" = run-42
grep -q hello greeting.txt
```

```python
assert answer == 42
{failing}
```
"""


def test_a_failing_python_line_is_named(tmp_path: Path) -> None:
    doc = tmp_path / "sample.md"
    doc.write_text(SAMPLE.replace("{failing}", "raise RuntimeError('boom')"), encoding="utf-8")
    status, failure, _ = run_document(doc, tmp_path / "work")
    assert status == 1
    assert failure.startswith("sample.md:20: python block failed"), failure
    assert "RuntimeError: boom" in failure


def test_a_failing_shell_line_is_named(tmp_path: Path) -> None:
    doc = tmp_path / "sample.md"
    doc.write_text(SAMPLE.replace("grep -q hello", "grep -q goodbye").replace("{failing}", "pass"), encoding="utf-8")
    status, failure, _ = run_document(doc, tmp_path / "work")
    assert status == 1
    assert failure.startswith("sample.md:15: shell command failed with exit status 1: grep -q goodbye"), failure


def test_a_directive_without_its_reason_is_refused(tmp_path: Path) -> None:
    doc = tmp_path / "bad.md"
    doc.write_text("<!-- docs-test: skip -->\n```bash\nmodelward server\n```\n\n<!-- docs-test: sikp (x) -->\n"
                   "```bash\ntrue\n```\n", encoding="utf-8")
    with pytest.raises(DirectiveError) as caught:
        collect(doc)
    assert "bad.md:1: 'docs-test: skip' needs its reason" in str(caught.value)
    assert "bad.md:6: unknown docs-test directive 'sikp (x)'" in str(caught.value)

"""Run MLflow's own REST tests against a modelward server, or against MLflow's server.

    python bench/mlflow_suite/run.py --target modelward          # all three test files
    python bench/mlflow_suite/run.py --target mlflow             # the control, same selection
    python bench/mlflow_suite/run.py --target modelward --file test_model_registry.py
    python bench/mlflow_suite/run.py summarize                   # rewrite the summary only

It prepares, once, under bench/mlflow_suite/.cache/ (or $MW_SUITE_CACHE):

* a virtualenv with the client of the tests' release (mlflow==3.11.1, pytest 9 and MLflow's
  test plugins), never the system site-packages;
* MLflow's ``tests/`` and ``pyproject.toml`` of tag v3.11.1, from a git mirror
  ($MW_SUITE_MLFLOW_GIT, a bare clone of MLflow or a fork carrying its tags), with this
  folder's conftest.py, deselected.py and launcher.py copied to its root.

The modelward server runs under the interpreter that runs this script (the system one,
with modelward installed), one fresh store per test. Results: junit XML per target and
file under bench/results/mlflow_suite/, then summary.json and summary.md beside them, which
list the tests that pass on MLflow's server but not on modelward's with the verdicts of
verdicts.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import io
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RESULTS = REPO / "bench" / "results" / "mlflow_suite"
MLFLOW_TAG = "v3.11.1"
MLFLOW_VERSION = "3.11.1"
FILES = ("test_rest_tracking.py", "test_model_registry.py", "test_mlflow_artifacts.py")
CLIENT_REQUIREMENTS = [
    f"mlflow=={MLFLOW_VERSION}", "pytest==9.0.2", "pytest-asyncio", "pytest-timeout", "psutil",
]
DEFAULT_MIRROR = "/work/.mirror/luharshekhar2000-dot+mlflow/repo"


def cache_dir() -> Path:
    return Path(os.environ.get("MW_SUITE_CACHE", HERE / ".cache"))


def ensure_venv() -> Path:
    venv = cache_dir() / f"venv-mlflow-{MLFLOW_VERSION}"
    python = venv / "bin" / "python"
    marker = venv / ".requirements"
    wanted = "\n".join(CLIENT_REQUIREMENTS)
    if marker.exists() and marker.read_text() == wanted:
        return python
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *CLIENT_REQUIREMENTS], check=True)
    marker.write_text(wanted)
    return python


def ensure_sources() -> Path:
    root = cache_dir() / f"mlflow-{MLFLOW_TAG}"
    if not (root / "tests" / "tracking" / "test_rest_tracking.py").exists():
        git_dir = os.environ.get("MW_SUITE_MLFLOW_GIT", DEFAULT_MIRROR)
        archive = subprocess.run(
            ["git", "--git-dir", git_dir, "archive", MLFLOW_TAG, "tests/", "pyproject.toml"],
            check=True, capture_output=True,
        ).stdout
        root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(root, filter="data")
    for name in ("conftest.py", "deselected.py", "launcher.py"):
        shutil.copyfile(HERE / name, root / name)
    return root


def run_file(target: str, test_file: str, python: Path, root: Path, timeout_s: int,
             spawn: bool, keyword: str | None) -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"{target}-{test_file.removesuffix('.py')}" + ("-partial" if keyword else "")  # -k keeps the full results
    junit, log = RESULTS / f"{stem}.xml", RESULTS / f"{stem}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MODELWARD_"))}
    env.pop("PYTHONPATH", None)
    env.update({
        "MW_SUITE_TARGET": target,
        "MW_SUITE_SERVER_PYTHON": sys.executable,
        "MW_SUITE_SPAWN": "1" if spawn else "0",
        "PATH": f"{python.parent}{os.pathsep}{env.get('PATH', '')}",  # `mlflow` of the venv
    })
    command = [
        str(python), "-m", "pytest", f"tests/tracking/{test_file}", "-p", "no:cacheprovider",
        f"--junitxml={junit}", "--timeout=300", "-q", "--color=no", "-o", "addopts=",
        "-p", "no:legacypath",
    ]
    if keyword:
        command += ["-k", keyword]
    with open(log, "wb") as out:
        try:
            return subprocess.run(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  timeout=timeout_s).returncode
        except subprocess.TimeoutExpired:
            out.write(f"\n[run.py] stopped after {timeout_s} s\n".encode())
            return -1


def read_junit(path: Path) -> dict[str, dict[str, str]]:
    """test id -> {outcome, message} from one junit file."""
    outcomes: dict[str, dict[str, str]] = {}
    if not path.exists():
        return outcomes
    for case in ET.parse(path).getroot().iter("testcase"):
        test_id = f"{case.get('classname', '').rsplit('.', 1)[-1]}.py::{case.get('name')}"
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                message = (child.get("message") or "").splitlines()[0][:300] if child.get("message") else ""
                if child.tag == "skipped" and child.get("type") == "pytest.xfail":
                    outcome = "xfailed"
        outcomes[test_id] = {"outcome": outcome, "message": message}
    return outcomes


def summarize() -> dict:
    sys.path.insert(0, str(HERE))
    from deselected import DESELECTED
    from verdicts import verdict_for

    summary: dict = {"mlflow_tag": MLFLOW_TAG, "client": f"mlflow=={MLFLOW_VERSION}", "files": {},
                     "deselected": DESELECTED, "differences": []}
    for test_file in FILES:
        stem = test_file.removesuffix(".py")
        ours = read_junit(RESULTS / f"modelward-{stem}.xml")
        theirs = read_junit(RESULTS / f"mlflow-{stem}.xml")
        counts = {}
        for target, results in (("modelward", ours), ("mlflow", theirs)):
            tally: dict[str, int] = {}
            for result in results.values():
                tally[result["outcome"]] = tally.get(result["outcome"], 0) + 1
            counts[target] = tally
        summary["files"][test_file] = counts
        for test_id in sorted(theirs):
            if theirs[test_id]["outcome"] != "passed":
                continue
            mine = ours.get(test_id, {"outcome": "not run", "message": ""})
            if mine["outcome"] == "passed":
                continue
            kind, reason = verdict_for(test_id)
            summary["differences"].append({
                "test": test_id, "modelward": mine["outcome"], "kind": kind, "reason": reason,
                "message": mine["message"],
            })
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (RESULTS / "summary.md").write_text(render_markdown(summary))
    return summary


def render_markdown(summary: dict) -> str:
    lines = [f"# MLflow {summary['mlflow_tag']} REST tests: modelward vs MLflow's server", "",
             f"Client: {summary['client']}. Generated by bench/mlflow_suite/run.py.", "",
             "| file | target | passed | failed | error | skipped | xfailed |",
             "|---|---|---|---|---|---|---|"]
    for test_file, counts in summary["files"].items():
        for target in ("modelward", "mlflow"):
            tally = counts[target]
            lines.append(f"| {test_file} | {target} | " + " | ".join(
                str(tally.get(k, 0)) for k in ("passed", "failed", "error", "skipped", "xfailed")) + " |")
    lines += ["", "Of the tests that pass on MLflow's server:", "",
              "| file | pass on MLflow | pass on modelward too | declined | gap | unclassified |",
              "|---|---|---|---|---|---|"]
    for test_file, counts in summary["files"].items():
        rows = [d for d in summary["differences"] if d["test"].startswith(test_file)]
        kinds = {kind: sum(d["kind"] == kind for d in rows) for kind in ("declined", "gap", "unclassified")}
        passing = counts["mlflow"].get("passed", 0)
        lines.append(f"| {test_file} | {passing} | {passing - len(rows)} | {kinds['declined']} | {kinds['gap']} | "
                     f"{kinds['unclassified']} |")
    for kind in ("declined", "gap", "unclassified"):
        rows = [d for d in summary["differences"] if d["kind"] == kind]
        if not rows:
            continue
        lines += ["", f"## Passes on MLflow, not on modelward: {kind} ({len(rows)})", ""]
        for row in rows:
            lines.append(f"- `{row['test']}` ({row['modelward']}): {row['reason'] or row['message']}")
    lines += ["", "## Deselected for both targets", ""]
    lines += [f"- `{test}`: {reason}" for test, reason in summary["deselected"].items()]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", nargs="?", default="run", choices=("run", "summarize", "prepare"))
    parser.add_argument("--target", choices=("modelward", "mlflow"), default="modelward")
    parser.add_argument("--file", action="append", choices=FILES, help="one test file (repeatable)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per test file")
    parser.add_argument("--spawn", action="store_true",
                        help="start `python -m modelward server` per test instead of forking launcher.py")
    parser.add_argument("-k", dest="keyword", help="pytest -k expression")
    args = parser.parse_args()
    if args.action == "summarize":
        summarize()
        return 0
    python, root = ensure_venv(), ensure_sources()
    if args.action == "prepare":
        print(root)
        return 0
    status = 0
    for test_file in args.file or FILES:
        code = run_file(args.target, test_file, python, root, args.timeout, args.spawn, args.keyword)
        print(f"{args.target} {test_file}: pytest exit {code}", flush=True)
        status = status or (code not in (0, 1))
    if args.keyword:
        print(f"results of the -k selection: {RESULTS}/{args.target}-*-partial.xml (the summary is unchanged)")
        return status
    summary = summarize()
    print(f"summary: {RESULTS / 'summary.md'} ({len(summary['differences'])} differences)")
    return status


if __name__ == "__main__":
    raise SystemExit(main())

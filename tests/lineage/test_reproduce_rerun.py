"""`modelward runs reproduce RUN --into DIR` then DIR/run.sh reruns the run for real.

A small training script committed in a real git repository (in a subfolder) reads a CSV
that git ignores and a param from its command line; it runs as a modelward run on the
embedded store. The reproduction clones the commit into a fresh folder, restores the CSV
from the stored snapshot, and runs the recorded command: the new run has the same params,
metrics and input digest, is tagged as a reproduction, and the user's checkout is untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from modelward.cli import app
from modelward.domain.lineage import REPRODUCES_TAG
from modelward.sdk.client import Client
from modelward.settings import Settings

TRAIN = """\
import argparse

import pandas as pd

import modelward

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float, required=True)
args = parser.parse_args()
modelward.set_experiment("reproduce-e2e")
with modelward.start_run(name="train", synchronous=True):
    frame = pd.read_csv("data/train.csv")
    modelward.log_dataset("data/train.csv", name="train-csv", snapshot=True)
    modelward.log_param("alpha", args.alpha)
    modelward.log_metric("score", float((frame["y"] * args.alpha).sum()))
    modelward.log_metric("rows", float(len(frame)))
    assert modelward.reproduction_params() in ({}, {"alpha": str(args.alpha)})
"""
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1"}


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                          env={**os.environ, **GIT_ENV})
    return done.stdout.strip()


def _repository(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "project").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    (repo / "project" / "train.py").write_text(TRAIN)
    (repo / ".gitignore").write_text("project/data/\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "a training script")
    (repo / "project" / "data").mkdir()
    (repo / "project" / "data" / "train.csv").write_text("x,y\n1,3\n2,5\n3,8\n")
    return repo


def _only_run(client: Client, experiment_id: str, filter: str) -> object:
    [run] = client.runs.search([experiment_id], filter).runs
    return run


def test_reproduce_into_a_fresh_folder_and_rerun(tmp_path: Path) -> None:
    repo = _repository(tmp_path)
    home = tmp_path / "store"
    env = {**os.environ, "MODELWARD_HOME": str(home)}
    for name in ("MODELWARD_TRACKING_URI", "MODELWARD_DATABASE_URL", "MODELWARD_ARTIFACT_ROOT"):
        env.pop(name, None)
    subprocess.run([sys.executable, "train.py", "--alpha", "0.5"], cwd=repo / "project", env=env, check=True)
    commit = _git(repo, "rev-parse", "HEAD")
    with Client(settings=Settings(home=home)) as client:
        experiment = client.experiments.get_by_name("reproduce-e2e")
        [original] = client.runs.search([experiment.id]).runs
        [original_input] = client.datasets.of_run(original.id, "input")

    into = tmp_path / "rerun"
    result = CliRunner().invoke(app, ["runs", "reproduce", original.id, "--into", str(into)],
                                env={"MODELWARD_HOME": str(home), "COLUMNS": "200"})
    assert result.exit_code == 0, (result.output, result.exception)
    requirements = (into / "requirements.txt").read_text().splitlines()
    assert not any(line.startswith("modelward==") for line in requirements)
    assert any(line.startswith("# not pinned: modelward==") and "modelward itself" in line for line in requirements)
    assert "pandas==" + __import__("pandas").__version__ in requirements
    assert json.loads((into / "params.json").read_text()) == {"alpha": "0.5"}
    assert (into / "inputs" / "data" / "train.csv").read_text() == "x,y\n1,3\n2,5\n3,8\n"
    assert _git(repo, "symbolic-ref", "--short", "HEAD") == "main"  # nothing ran in the checkout yet

    (repo / "project" / "data" / "train.csv").unlink()  # the rerun can only read the restored snapshot
    rerun = subprocess.run(["sh", str(into / "run.sh")], env={
        **env, "MODELWARD_REPRODUCE_SKIP_INSTALL": "1", "MODELWARD_REPRODUCE_PYTHON": sys.executable,
    }, capture_output=True, text=True, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr

    with Client(settings=Settings(home=home)) as client:
        again = _only_run(client, experiment.id, f"tags.`{REPRODUCES_TAG}` = '{original.id}'")
        assert again.id != original.id  # type: ignore[attr-defined]
        new = client.runs.get(again.id)  # type: ignore[attr-defined]
        old = client.runs.get(original.id)
        assert new.params == old.params == {"alpha": "0.5"}
        assert new.metrics == old.metrics == {"score": 8.0, "rows": 3.0}
        assert new.process.trigger_type == "reproduction"
        [new_input] = client.datasets.of_run(new.id, "input")
        assert new_input.digest == original_input.digest and new_input.id == original_input.id
        assert (new.environment or {})["git"]["commit"] == commit
        assert (new.environment or {})["cwd"] == str((into / "code" / "project").resolve())
    # the user's repository: still on its branch, at its commit, clean
    assert _git(repo, "symbolic-ref", "--short", "HEAD") == "main"
    assert _git(repo, "rev-parse", "HEAD") == commit
    assert _git(repo, "status", "--porcelain") == ""
    assert _git(into / "code", "rev-parse", "HEAD") == commit


def test_reproduce_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    with Client() as client:
        experiment = client.experiments.get_or_create("refuse")
        run_id = client.runs.create(experiment.id).id
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    result = CliRunner().invoke(app, ["runs", "reproduce", run_id, "--into", str(tmp_path / "busy")])
    assert result.exit_code != 0 and "not an empty folder" in str(result.exception or result.output)
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["notes.txt"]


def test_requirements_pin_only_packages_from_an_index() -> None:
    from modelward.services.reproduce import requirements

    pinned, unpinned = requirements({
        "packages": {"numpy": "2.1.0", "modelward": "0.1.0", "my-lib": "0.3", "tool": "1.0", "wheelish": "2.0"},
        "package_sources": {
            "My_Lib": {"url": "file:///home/me/my-lib", "editable": True},
            "tool": {"url": "https://github.com/o/tool", "vcs": "git", "commit": "abc123"},
            "wheelish": {"url": "https://example.org/wheelish-2.0-py3-none-any.whl"},
        },
    })
    assert pinned == ["numpy==2.1.0"]
    reasons = {p.name: p.reason for p in unpinned}
    assert reasons["modelward"].startswith("modelward itself")
    assert reasons["my-lib"] == "installed editable from file:///home/me/my-lib, not from an index"
    assert reasons["tool"] == "installed from git https://github.com/o/tool@abc123, not from an index"
    assert reasons["wheelish"].startswith("installed from https://example.org/wheelish")

"""modelward lineage ... / runs reproduce / runs diff, on the embedded store in the test's cwd."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

import modelward
from modelward.cli import app
from modelward.errors import NotFound
from modelward.sdk.client import Client
from tests.lineage.scenario import PARAMS, Pipeline, build


def cli(*args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
    if ok:
        assert result.exit_code == 0, (result.output, result.exception)
    return result


@pytest.fixture
def store() -> Iterator[Client]:
    with Client() as embedded:
        yield embedded


@pytest.fixture
def pipeline(store: Client) -> Pipeline:
    return build(store, "cli")


def test_up_prints_a_tree_with_params_and_exports(pipeline: Pipeline, tmp_path: Path) -> None:
    out = cli("lineage", "up", f"artifact:{pipeline.model.id}").output
    lines = out.splitlines()
    assert lines[0].startswith("model: model.skops")
    assert "pipeline_step: train" in lines[1] and "learning_rate=0.05" in lines[1]
    assert any("data_split: clean/train" in line for line in lines)
    assert any(line.strip().startswith("raw_source: raw") for line in lines)
    graph = json.loads(cli("lineage", "up", pipeline.model.id, "--format", "json").output)
    assert graph["root"] == f"artifact:{pipeline.model.id}" and graph["direction"] == "upstream"
    cli("lineage", "up", pipeline.model.id, "-f", "dot", "-o", str(tmp_path / "g.dot"))
    assert (tmp_path / "g.dot").read_text().startswith("digraph lineage {")
    assert cli("lineage", "down", f"dataset:{pipeline.raw.id}", "-f", "mermaid").output.startswith("flowchart LR")
    assert len(json.loads(cli("lineage", "up", pipeline.model.id, "-d", "1", "-f", "json").output)["nodes"]) == 2
    bad = cli("lineage", "up", pipeline.model.id, "-f", "png", ok=False)
    assert bad.exit_code != 0


def test_the_seed_questions_each_have_a_command(pipeline: Pipeline, tmp_path: Path) -> None:
    assert json.loads(cli("lineage", "params", pipeline.model.id, "--json").output) == {pipeline.train: PARAMS}
    out = cli("lineage", "evaluations", pipeline.model.id).output
    assert "holdout" in out and "fairness" in out and "auc=0.88" in out
    cli("lineage", "snapshot", f"run:{pipeline.prep}", "-o", str(tmp_path / "clean.parquet"))
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "clean.parquet"), pipeline.clean_frame)
    shown = cli("lineage", "dataset", f"dataset:{pipeline.raw.id}").output
    assert "digest: sha256:" in shown and "rows: 60" in shown and "x:" in shown and "#" in shown
    assert json.loads(cli("lineage", "dataset", pipeline.raw.id, "--json").output)["schema"]["columns"][0]["name"] == "x"
    impact = cli("lineage", "impact", f"dataset:{pipeline.raw.id}").output
    assert "model (1)" in impact and "evaluation (2)" in impact
    assert "no lineage path" in cli("lineage", "path", pipeline.evaluations[0].id, pipeline.evaluations[1].id).output


def test_reproduce_writes_what_is_needed_to_rerun(store: Client, pipeline: Pipeline, tmp_path: Path) -> None:
    experiment = store.experiments.get_or_create("repro")
    env = {"python": "3.12.1", "command": ["train.py", "--fast"], "cwd": "/src/proj",
           "packages": {"pandas": "2.2.0", "scikit-learn": "1.5.0", "modelward": "0.1.0", "mylib": "0.3"},
           "package_sources": {"modelward": {"url": "file:///src/modelward", "editable": True},
                               "mylib": {"url": "file:///src/mylib", "editable": True}},
           "git": {"commit": "abc123", "branch": "main", "dirty": False, "remote": "https://git/x"}}
    run_id = store.runs.create(experiment.id, name="again", environment=env).id
    store.runs.log_params(run_id, {"alpha": "1"})
    store.lineage.log_input(run_id, {"id": pipeline.clean.id})
    out_dir = tmp_path / "repro"
    cli("runs", "reproduce", run_id, "-o", str(out_dir))
    spec = json.loads((out_dir / "reproduce.json").read_text())
    assert spec["code"]["commit"] == "abc123" and spec["command"] == ["train.py", "--fast"]
    requirements = (out_dir / "requirements.txt").read_text().splitlines()
    assert [line for line in requirements if not line.startswith("#")] == ["pandas==2.2.0", "scikit-learn==1.5.0"]
    assert "# not pinned: mylib==0.3 (installed editable from file:///src/mylib, not from an index)" in requirements
    assert any(line.startswith("# not pinned: modelward==0.1.0 (modelward itself") for line in requirements)
    assert json.loads((out_dir / "params.json").read_text()) == {"alpha": "1"}
    inputs = json.loads((out_dir / "inputs.json").read_text())
    assert inputs[0]["digest"] == pipeline.clean.digest and inputs[0]["snapshot"]["path"].endswith(".parquet")
    restored = out_dir / "inputs" / "datasets" / inputs[0]["snapshot"]["path"].rsplit("/", 1)[-1]
    pd.testing.assert_frame_equal(pd.read_parquet(restored), pipeline.clean_frame)  # a DataFrame: where it is unknown
    script = (out_dir / "run.sh").read_text()
    # the commit is cloned into the folder (the recorded checkout is not here: from the remote), then run there
    assert "git clone --quiet --no-checkout https://git/x \"$HERE/code\"" in script
    assert 'git -C "$HERE/code" checkout --quiet --detach abc123' in script
    assert script.index("git clone") < script.index('cd "$HERE"/code') < script.index('exec "$PY" train.py --fast')
    assert "cd /src/proj" not in script and "\ngit checkout" not in script
    assert f"export MODELWARD_REPRODUCES_RUN={run_id}" in script


def test_diff_shows_params_metrics_environment_and_data(store: Client, pipeline: Pipeline) -> None:
    experiment = store.experiments.get_or_create("diff")
    a = store.runs.create(experiment.id, environment={"python": "3.11", "packages": {"numpy": "1.0"}}).id
    b = store.runs.create(experiment.id, environment={"python": "3.12", "packages": {"numpy": "2.0"}}).id
    store.runs.log_params(a, {"lr": "0.1", "same": "x"})
    store.runs.log_params(b, {"lr": "0.2", "same": "x"})
    store.runs.log_metric(a, "auc", 0.8)
    store.lineage.log_input(a, {"id": pipeline.clean.id})
    store.lineage.log_input(b, {"id": pipeline.train_split.id})
    result = json.loads(cli("runs", "diff", a, b, "--json").output)
    assert result["params"] == {"lr": ["0.1", "0.2"]}
    assert result["metrics"] == {"auc": [0.8, None]}
    assert result["environment"]["python"] == ["3.11", "3.12"] and result["packages"] == {"numpy": ["1.0", "2.0"]}
    assert result["data"] == {"dataset:clean": [pipeline.clean.digest, None],
                              "data_split:clean/train": [None, pipeline.train_split.digest]}
    table = cli("runs", "diff", a, b).output
    assert "lr" in table and "numpy" in table
    assert cli("runs", "diff", a, a).output.strip() == "no differences"
    assert isinstance(cli("runs", "reproduce", "nope", ok=False).exception, NotFound)


def test_fluent_log_dataset_input_and_output(tmp_path: Path) -> None:
    modelward.set_tracking_uri(None)
    try:
        modelward.set_experiment("fluent-lineage")
        frame = pd.DataFrame({"a": [1, 2, 3]})
        with modelward.start_run(synchronous=True) as run:
            data = modelward.log_dataset(frame, name="tiny")
            modelward.log_param("k", 3)
            (tmp_path / "m.bin").write_bytes(b"weights")
            modelward.log_artifact(tmp_path / "m.bin")
            model = modelward.log_output({"kind": "model", "run_artifact_path": "m.bin"})
            again = modelward.log_input(data)
        client = modelward.get_client()
        assert again.id == data.id
        assert client.lineage.hyperparameters(model.id) == {"k": "3"}
        record = client.lineage.run(run.id)
        assert [a.id for a in record.inputs] == [data.id] and [a.id for a in record.outputs] == [model.id]
    finally:
        modelward.set_tracking_uri(None)

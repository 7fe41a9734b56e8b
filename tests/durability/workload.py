"""One writer process of the durability tests: the real mlflow client or modelward's SDK,
writing to one server until told to stop, and recording every write the server acknowledged.

Run as ``python workload.py SPEC.json`` (a process per writer: 16 clients in one interpreter
would measure the GIL, not the server). SPEC names the client (``mlflow`` or ``sdk``), the
server URL, the experiment, the folder to write to, and a hard time limit. The writer:

- writes ``acks-<name>.jsonl``: one line per acknowledged write (``run``, ``metric``, ``param``,
  ``tag``, ``artifact`` with its SHA-256), flushed at once, so a record survives the writer;
  a call that failed is a line ``{"op": "error", ...}`` and is not counted as acknowledged;
- waits for the file ``go`` in the folder, so all writers start together after their imports;
- stops when the file ``stop`` appears or its time limit passes, then writes
  ``latency-<name>.json``: milliseconds per call kind.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

RUN_EVERY = 20  # iterations per run: a new run then
ARTIFACT_EVERY = 4  # an artifact every 4th iteration


class Recorder:
    def __init__(self, folder: Path, name: str) -> None:
        self._acks = open(folder / f"acks-{name}.jsonl", "a", buffering=1)
        self.latency: dict[str, list[float]] = defaultdict(list)

    def ack(self, **record: Any) -> None:
        self._acks.write(json.dumps(record) + "\n")

    def timed(self, kind: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = call(*args, **kwargs)
        self.latency[kind].append((time.perf_counter() - started) * 1000)
        return result

    def close(self) -> None:
        self._acks.close()


class MlflowWriter:
    def __init__(self, url: str) -> None:
        os.environ["MLFLOW_TRACKING_URI"] = url  # mlflow-artifacts: URIs resolve against it
        from mlflow import MlflowClient

        self.client = MlflowClient(tracking_uri=url)

    def create_run(self, rec: Recorder, experiment_id: str) -> str:
        return str(rec.timed("mlflow.create_run", self.client.create_run, experiment_id).info.run_id)

    def metric(self, rec: Recorder, run_id: str, key: str, value: float, step: int) -> None:
        rec.timed("mlflow.log_metric", self.client.log_metric, run_id, key, value, step=step)

    def batch(self, rec: Recorder, run_id: str, points: list[tuple[str, float, int]], params: dict[str, str],
              tags: dict[str, str]) -> None:
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        rec.timed("mlflow.log_batch", self.client.log_batch, run_id,
                  metrics=[Metric(k, v, now, s) for k, v, s in points],
                  params=[Param(k, v) for k, v in params.items()], tags=[RunTag(k, v) for k, v in tags.items()])

    def tag(self, rec: Recorder, run_id: str, key: str, value: str) -> None:
        rec.timed("mlflow.set_tag", self.client.set_tag, run_id, key, value)

    def param(self, rec: Recorder, run_id: str, key: str, value: str) -> None:
        rec.timed("mlflow.log_param", self.client.log_param, run_id, key, value)

    def artifact(self, rec: Recorder, run_id: str, local: Path, folder: str) -> None:
        rec.timed("mlflow.log_artifact", self.client.log_artifact, run_id, str(local), artifact_path=folder)


class SdkWriter:
    def __init__(self, url: str) -> None:
        import modelward

        self.client = modelward.Client(tracking_uri=url)

    def create_run(self, rec: Recorder, experiment_id: str) -> str:
        return str(rec.timed("sdk.create_run", self.client.runs.create, experiment_id).id)

    def metric(self, rec: Recorder, run_id: str, key: str, value: float, step: int) -> None:
        rec.timed("sdk.log_metric", self.client.runs.log_metric, run_id, key, value, step)

    def batch(self, rec: Recorder, run_id: str, points: list[tuple[str, float, int]], params: dict[str, str],
              tags: dict[str, str]) -> None:
        from modelward.domain.tracking import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key=k, value=v, step=s, timestamp_ms=now) for k, v, s in points]
        rec.timed("sdk.log_batch", self.client.runs.log_batch, run_id, metrics=metrics, params=params, tags=tags)

    def tag(self, rec: Recorder, run_id: str, key: str, value: str) -> None:
        rec.timed("sdk.set_tags", self.client.runs.set_tags, run_id, {key: value})

    def param(self, rec: Recorder, run_id: str, key: str, value: str) -> None:
        rec.timed("sdk.log_params", self.client.runs.log_params, run_id, {key: value})

    def artifact(self, rec: Recorder, run_id: str, local: Path, folder: str) -> None:
        rec.timed("sdk.upload_artifact", self.client.artifacts.upload, run_id, local, folder)


def iteration(writer: Any, rec: Recorder, run_id: str, n: int, name: str, scratch: Path) -> None:
    """One of each write, each acknowledged write recorded as soon as its call returned."""
    value = n + random.random()
    writer.metric(rec, run_id, "m", value, n)
    rec.ack(op="metric", run=run_id, key="m", step=n, value=value)
    points = [("b", n * 10 + i + 0.5, n * 10 + i) for i in range(5)]
    params, tags = {f"bp{n}": f"{name}-{n}"}, {f"bt{n}": f"{name}-{n}"}
    writer.batch(rec, run_id, points, params, tags)
    for key, point_value, step in points:
        rec.ack(op="metric", run=run_id, key=key, step=step, value=point_value)
    rec.ack(op="param", run=run_id, key=f"bp{n}", value=params[f"bp{n}"])
    rec.ack(op="tag", run=run_id, key=f"bt{n}", value=tags[f"bt{n}"])
    writer.tag(rec, run_id, f"t{n}", f"{name}-{n}")
    rec.ack(op="tag", run=run_id, key=f"t{n}", value=f"{name}-{n}")
    writer.param(rec, run_id, f"p{n}", f"{name}-{n}")
    rec.ack(op="param", run=run_id, key=f"p{n}", value=f"{name}-{n}")
    if n % ARTIFACT_EVERY == 0:
        data = os.urandom(random.randint(1024, 32 * 1024))
        local = scratch / f"a{n}.bin"
        local.write_bytes(data)
        writer.artifact(rec, run_id, local, "files")
        rec.ack(op="artifact", run=run_id, path=f"files/a{n}.bin", sha256=hashlib.sha256(data).hexdigest(),
                size=len(data))


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    folder, name = Path(spec["folder"]), spec["name"]
    scratch = folder / f"scratch-{name}"
    scratch.mkdir(parents=True, exist_ok=True)
    rec = Recorder(folder, name)
    writer = MlflowWriter(spec["url"]) if spec["client"] == "mlflow" else SdkWriter(spec["url"])
    hard_stop = time.monotonic() + spec["max_seconds"]
    # The first run before the start: its call loads the rest of the client (half a minute for
    # mlflow's on a busy machine), which is no latency of the server.
    run_id: str | None = writer.create_run(Recorder(folder, f"warmup-{name}"), spec["experiment_id"])
    rec.ack(op="run", run=run_id)
    (folder / f"ready-{name}").touch()
    while not (folder / "go").exists() and time.monotonic() < hard_stop:
        time.sleep(0.05)
    stop_at = min(hard_stop, time.monotonic() + spec["seconds"])
    n = 1
    while time.monotonic() < stop_at and not (folder / "stop").exists():
        try:
            if n % RUN_EVERY == 0:
                run_id = writer.create_run(rec, spec["experiment_id"])
                rec.ack(op="run", run=run_id)
            iteration(writer, rec, run_id, n, name, scratch)
        except Exception as exc:  # recorded, never counted as acknowledged; the writer goes on
            rec.ack(op="error", error=f"{type(exc).__name__}: {' '.join(str(exc).split())[:500]}",
                    at=time.time())
            time.sleep(0.2)
        n += 1
    rec.close()
    (folder / f"latency-{name}.json").write_text(json.dumps(rec.latency))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

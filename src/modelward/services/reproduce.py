"""Reproducibility: what a run needs to be rerun, and what differs between two runs."""

from __future__ import annotations

import math
import re
from typing import Any

from modelward.domain.datasets import DATASET_PATHS
from modelward.domain.lineage import Direction, InputData, ReproSpec, RunDiff, UnpinnedPackage, diff_maps
from modelward.domain.tracking import Run
from modelward.services.backend import Backend
from modelward.store import lineage as lineage_store
from modelward.store import runs as run_store
from modelward.store.lineage import UnitOfWork


SELF = "modelward"


def normalize_name(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _inputs(session: UnitOfWork, run_id: str) -> list[InputData]:
    execution = lineage_store.execution_of_run(session, run_id)
    if execution is None:
        return []
    paths = execution.properties.get(DATASET_PATHS) or {}
    return [
        InputData(id=a.id, name=a.name, kind=a.kind.value, digest=a.digest, uri=a.uri, path=paths.get(a.id),
                  snapshot=a.properties.get("snapshot"))
        for a in lineage_store.artifacts_of_execution(session, execution.id, Direction.INPUT)
    ]


def _why_unpinned(name: str, source: dict[str, Any] | None) -> str | None:
    """Why ``name`` cannot be a 'name==version' line: modelward itself, or not from an index."""
    if normalize_name(name) == SELF:
        return "modelward itself: the reproduction runs with the modelward you reproduce with"
    if not isinstance(source, dict):
        return None
    url = source.get("url") or "a direct URL"
    if source.get("editable"):
        return f"installed editable from {url}, not from an index"
    if source.get("vcs"):
        commit = f"@{source['commit']}" if source.get("commit") else ""
        return f"installed from {source['vcs']} {url}{commit}, not from an index"
    return f"installed from {url}, not from an index"


def requirements(env: dict[str, Any]) -> tuple[list[str], list[UnpinnedPackage]]:
    """The recorded packages as pins, except modelward and packages not installed from an index."""
    packages: dict[str, str] = env.get("packages") or {}
    sources = {normalize_name(k): v for k, v in (env.get("package_sources") or {}).items()}
    pinned, unpinned = [], []
    for name, version in sorted(packages.items()):
        reason = _why_unpinned(name, sources.get(normalize_name(name)))
        if reason is None:
            pinned.append(f"{name}=={version}")
        else:
            unpinned.append(UnpinnedPackage(name=name, version=version, reason=reason))
    return pinned, unpinned


def spec(backend: Backend, run_id: str) -> ReproSpec:
    with backend.read() as session:
        run = run_store.get(session, run_id)
        inputs = _inputs(session, run_id)
    env: dict[str, Any] = run.environment or {}
    git = env.get("git") or {}
    packages: dict[str, str] = env.get("packages") or {}
    warnings = []
    if not git.get("commit"):
        warnings.append("no git commit was recorded: the code version is unknown")
    elif git.get("dirty"):
        warnings.append("the working tree had uncommitted changes: the commit alone may not reproduce the run")
    if not env.get("command"):
        warnings.append("no command line was recorded")
    if not packages:
        warnings.append("no package list was recorded")
    warnings.extend(f"input '{i.name}' has no digest: its content cannot be checked" for i in inputs if not i.digest)
    warnings.extend(f"input '{i.name}' has no stored snapshot: the rerun must find it at {i.uri or i.path or 'its source'}"
                    for i in inputs if not i.snapshot)
    pinned, unpinned = requirements(env)
    return ReproSpec(
        run_id=run.id, run_name=run.name, experiment_id=run.experiment_id,
        code={key: git.get(key) for key in ("commit", "branch", "remote", "dirty")} if git else {},
        command=[str(part) for part in env.get("command") or []], cwd=env.get("cwd"), python=env.get("python"),
        executable=env.get("executable"), params=run.params, requirements=pinned, unpinned=unpinned,
        inputs=inputs, pipeline_run_id=run.process.pipeline_run_id, step_name=run.process.step_name,
        warnings=warnings,
    )


def _metrics(run: Run) -> dict[str, float | None]:
    return {key: (None if math.isnan(value) else value) for key, value in run.metrics.items()}


def _environment(run: Run) -> dict[str, Any]:
    env = run.environment or {}
    git = env.get("git") or {}
    return {"python": env.get("python"), "platform": env.get("platform"), "git_commit": git.get("commit"),
            "git_dirty": git.get("dirty"), "command": env.get("command")}


def _data(inputs: list[InputData]) -> dict[str, str | None]:
    return {f"{i.kind}:{i.name}": i.digest for i in inputs}


def diff(backend: Backend, run_a: str, run_b: str) -> RunDiff:
    with backend.read() as session:
        a, b = run_store.get(session, run_a), run_store.get(session, run_b)
        inputs_a, inputs_b = _inputs(session, run_a), _inputs(session, run_b)
    return RunDiff(
        a=a.id, b=b.id,
        params=diff_maps(a.params, b.params),
        metrics=diff_maps(_metrics(a), _metrics(b)),
        environment=diff_maps(_environment(a), _environment(b)),
        packages=diff_maps((a.environment or {}).get("packages") or {}, (b.environment or {}).get("packages") or {}),
        data=diff_maps(_data(inputs_a), _data(inputs_b)),
    )

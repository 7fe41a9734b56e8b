"""Module-level lineage for the active run: ``modelward.log_input``, ``log_output``, ``log_dataset``.

    with modelward.start_run():
        train = modelward.log_dataset(df, name="customers")          # an input of the run
        ...
        modelward.log_artifact("model.skops")
        modelward.log_output({"kind": "model", "run_artifact_path": "model.skops"})
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from modelward.domain.datasets import Dataset
from modelward.domain.lineage import PARAMS_FILE_ENV, ArtifactSpec, LineageArtifact
from modelward.sdk.fluent import _require_run


def _spec(item: Dataset | ArtifactSpec | dict[str, Any] | str) -> ArtifactSpec | dict[str, Any]:
    if isinstance(item, Dataset):
        return ArtifactSpec(id=item.id)
    if isinstance(item, str):
        return ArtifactSpec(id=item)
    return item


def log_dataset(data: Any = None, *, context: str = "input", snapshot: bool = False, **options: Any) -> Dataset:
    """Profile a DataFrame, file or ``uri=`` and record it as an input (or ``context="output"``) of the active run."""
    run = _require_run()
    return run.client.datasets.log(data, run_id=run.run.id, context=context, snapshot=snapshot, **options)


def log_input(item: Dataset | ArtifactSpec | dict[str, Any] | str) -> LineageArtifact:
    """Record that the active run read ``item`` (a Dataset, an artifact id, or an ArtifactSpec/dict)."""
    run = _require_run()
    return run.client.lineage.log_input(run.run.id, _spec(item))


def log_output(item: Dataset | ArtifactSpec | dict[str, Any] | str) -> LineageArtifact:
    """Record that the active run wrote ``item``, e.g. ``{"kind": "model", "run_artifact_path": "model.skops"}``."""
    run = _require_run()
    return run.client.lineage.log_output(run.run.id, _spec(item))


def reproduction_params() -> dict[str, str]:
    """The params of the run being reproduced (the params.json that ``modelward runs reproduce``
    wrote, named by ``MODELWARD_PARAMS_FILE`` in its run.sh); empty when not reproducing::

        alpha = float(modelward.reproduction_params().get("alpha", args.alpha))
    """
    where = os.environ.get(PARAMS_FILE_ENV, "").strip()
    if not where:
        return {}
    params = json.loads(Path(where).read_text())
    return {str(key): str(value) for key, value in params.items()}

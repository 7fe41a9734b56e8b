"""Loading a model from ``runs:/RUN_ID/path``, ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``,
and logging one to the active run: the SDK's part of ``modelward.models``.

Remote models are downloaded through the SDK into a temporary folder, every file checked
against its SHA-256, then loaded into memory by ``modelward.formats.loader``; the folder is
removed afterwards.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

from modelward.errors import IntegrityError, InvalidInput
from modelward.formats import flavors
from modelward.formats.loader import LoadedModel, load_folder, save
from modelward.formats.signature import Signature
from modelward.sdk.fluent import _require_run, get_client


def load(
    uri_or_path: str | Path, *, client: Any = None, trust_pickle: bool = False,
    trusted_types: list[str] | None = None,
) -> LoadedModel:
    """Load a model from a folder, ``runs:/RUN_ID/path``, ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``."""
    text = str(uri_or_path)
    if not text.startswith(("runs:/", "models:/")):
        return load_folder(text, trust_pickle=trust_pickle, trusted_types=trusted_types)
    if client is None:
        client = get_client()
    with tempfile.TemporaryDirectory(prefix="modelward-model-") as tmp:
        folder = _download(client, text, Path(tmp))
        return load_folder(folder, trust_pickle=trust_pickle, trusted_types=trusted_types, source=text)


def _download(client: Any, uri: str, dest: Path) -> Path:
    if uri.startswith("runs:/"):
        run_id, _, path = uri[len("runs:/"):].partition("/")
        if not run_id or not path:
            raise InvalidInput(f"invalid URI {uri!r}: use runs:/RUN_ID/artifact/path")
        return download_run_artifacts(client, run_id, path.strip("/"), dest)
    resolved = client.models.resolve(uri)
    version = getattr(resolved, "version", None) or resolved  # Resolved wraps the ModelVersion
    if not version.files:  # registered through MLflow's API from a source that held nothing
        label = f"version {version.version} of model '{version.model_name}'"
        if version.source_run_id is None:
            raise InvalidInput(f"{label} has no verified files: its source {version.source!r} is an external "
                               "reference modelward never opens; there is nothing to load (register the files "
                               "from a run to attach them)")
        raise InvalidInput(f"{label} has no files: its source {version.source!r} held no artifacts when "
                           "registered; there is nothing to load")
    client.models.download(version.model_name, version.version, dest)
    return dest


def download_run_artifacts(client: Any, run_id: str, prefix: str, dest: Path) -> Path:
    """Every file under the run's ``prefix``, each checked against the digest the server recorded."""
    files = client.artifacts.list(run_id, prefix)
    if not files:
        raise InvalidInput(f"run {run_id} has no artifacts under {prefix!r}")
    for item in files:
        relative = item.path[len(prefix):].lstrip("/")
        target = flavors.confined(dest, relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        hasher = hashlib.sha256()
        with open(target, "wb") as out:
            for chunk in client.artifacts.iter_bytes(run_id, item.path):
                hasher.update(chunk)
                out.write(chunk)
        if hasher.hexdigest() != item.digest:
            raise IntegrityError(f"artifact {item.path} of run {run_id} does not match its digest {item.digest}")
    return dest


def log_model(
    model: Any,
    artifact_path: str = "model",
    *,
    input_example: Any = None,
    registered_model_name: str | None = None,
    flavor: str | None = None,
    signature: Signature | None = None,
) -> Any:
    """Save ``model`` and upload it to the active run under ``artifact_path``; register it if asked.

    Returns the new ModelVersion when ``registered_model_name`` is given, else the ``runs:/`` URI.
    """
    run = _require_run()
    tmp = Path(tempfile.mkdtemp(prefix="modelward-log-"))
    try:
        folder = save(model, tmp / "model", flavor=flavor, input_example=input_example, signature=signature)
        run.client.artifacts.upload(run.id, folder, artifact_path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if registered_model_name is not None:
        return run.client.models.register(registered_model_name, run_id=run.id, artifact_path=artifact_path)
    return f"runs:/{run.id}/{artifact_path}"

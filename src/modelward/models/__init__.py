"""Models on disk: save in a safe format, load from anywhere, describe with a model card.

    save(model, path, input_example=...)       # sklearn (skops), onnx, pyfunc, pickle
    load("models:/churn@champion")             # or models:/NAME/VERSION, runs:/RUN/path, a folder
    log_model(model, "model", input_example=X, registered_model_name="churn")

See ``modelward.models.flavors`` for the folder format (``modelward-model.yaml``) and
what each flavor deserializes.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from modelward.errors import InvalidInput
from modelward.models import flavors
from modelward.models.cards import ModelCard, build_card, card_diff, render_html, render_markdown
from modelward.models.loader import LoadedModel, ProbabilisticLoadedModel, load
from modelward.models.requirements import RequirementsMismatchWarning
from modelward.models.signature import ColumnSpec, Signature, infer_signature


def save(
    model: Any,
    path: str | Path,
    *,
    flavor: str | None = None,
    input_example: Any = None,
    signature: Signature | None = None,
    requirements: list[str] | None = None,
) -> Path:
    """Write ``model`` to the folder ``path`` (created; must be empty or absent) and return it.

    The signature is inferred from ``input_example`` (and the model's output on it) unless
    given; ``requirements`` replaces the pinned list captured for the flavor.
    """
    folder = Path(path)
    if folder.exists() and any(folder.iterdir()):
        raise InvalidInput(f"{folder} is not empty: save a model into a new folder")
    folder.mkdir(parents=True, exist_ok=True)
    flavor = flavor or flavors.detect_flavor(model)
    manifest = flavors.write_model(model, folder, flavor)
    if signature is None and input_example is not None:
        signature = _infer(model, flavor, input_example)
    if signature is not None:
        manifest.signature = signature.to_dict()
    if requirements is not None:
        manifest.requirements = list(requirements)
    (folder / flavors.MANIFEST).write_text(manifest.to_yaml(), "utf-8")
    return folder


def _infer(model: Any, flavor: str, example: Any) -> Signature:
    output = None
    try:
        if flavor == "onnx":
            output = None  # ONNX graphs are not run at save time; the graph describes its outputs
        elif hasattr(model, "predict"):
            output = model.predict(example)
        elif callable(model):
            output = model(example)
    except Exception:  # the output part of a signature is optional; the input part is what is enforced
        output = None
    return infer_signature(example, output)


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
    from modelward.sdk.fluent import _require_run

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


__all__ = [
    "ColumnSpec",
    "LoadedModel",
    "ModelCard",
    "ProbabilisticLoadedModel",
    "RequirementsMismatchWarning",
    "Signature",
    "build_card",
    "card_diff",
    "infer_signature",
    "load",
    "log_model",
    "render_html",
    "render_markdown",
    "save",
]
